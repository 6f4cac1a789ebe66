"""Real untied minimalRNN Jacobian spectra against the free-steps law (``theory.spectrum``) and the
operator-valued law (``theory.jacobian.spectrum_ov``), through the standard spectral checks of ``verify``.

The case that disagreed on the H100 (reports/verify_gpu_h100: N = 512, E = 8, T = 4, orthogonal W,
untied, KS 0.0368 +- 0.0035 against a bound of 0.034), rerun on a CPU with both laws and the
same simulated networks (same seed), plus Gaussian W::

    python benchmarks/spectra_ov_real_networks.py [--width 512] [--ensemble 8] [--out reports/spectra_ov]

Writes ``OUT/real_networks_<law>/spectra.json`` (and PNGs) per law and prints the KS rows.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import verify  # noqa: F401  (x64)
from verify.judge.spectra_report import SpectralPoint, near_critical_params, spectral_point, write_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--ensemble", type=int, default=8)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/spectra_ov")
    a = ap.parse_args()

    import theory
    from theory.jacobian.spectrum import spectrum
    from theory.jacobian.spectrum_ov import spectrum_ov
    from verify.judge.spectra_report import SPECTRUM_GRID

    params = near_critical_params("minimalrnn")
    pt = SpectralPoint(cell="minimalrnn", label="near-critical", params=params, width=a.width, ensemble=a.ensemble,
                       steps=tuple(sorted({1, 2, a.T})), regimes=("untied",), ks_steps=(a.T,), seed=a.seed)
    print(f"minimalrnn {params}  N={a.width} E={a.ensemble} T={a.T}")
    laws = {"free-steps": lambda w: spectrum("minimalrnn", T=a.T, weights=w, n=SPECTRUM_GRID, **params),
            "operator-valued": lambda w: spectrum_ov("minimalrnn", T=a.T, weights=w, **params)}
    for name, law in laws.items():
        dens = {}
        for w in pt.weights:
            t0 = time.perf_counter()
            try:
                dens[(w, a.T)] = law(w)
            except Exception as exc:  # noqa: BLE001 - a "no prediction" row, as in verify spectra
                dens[(w, a.T)] = f"{type(exc).__name__}: {exc}"
            print(f"  {name} {w} T={a.T}: density in {time.perf_counter() - t0:.1f} s"
                  + (f" FAILED ({dens[(w, a.T)]})" if isinstance(dens[(w, a.T)], str) else ""))
        res = spectral_point(pt, densities=dens)
        out = Path(a.out) / f"real_networks_{name}"
        write_report([res], out, plots=True, meta={"law": name, "theory": theory.__name__},
                     echo=lambda s: None)
        for c in res["checks"]:
            if c.quantity == "ks" or c.quantity.startswith("cdf"):
                print(f"  {name:16s} {c.weights:10s} T={c.T} {c.quantity:9s} pred {c.prediction:.4f} est "
                      f"{c.estimate:.4f} +- {c.se:.4f}  B_N {c.allowance:.4f}  k {c.k:.2f}  {c.verdict}")


if __name__ == "__main__":
    main()
