"""Tied vs annealed order-chaos boundary of the LSTM in (sigma_w, forget-gate bias) (issue 16, item 3).

    python benchmarks/tied_phase_diagram.py --out reports/tied_cpu [--n 7] [--paths 2048] [--steps 120]

sigma_w is the recurrent scale of all four gates together.  The tied lambda_max (theory.tied.api.solve,
common random numbers: one seed for every grid point) on an n x n grid; the annealed lambda_max on a
fine grid (generated kernels).  Writes phase.json and phase.png: tied lambda_max as colour, the tied
lambda_max = 1 contour (solid) and the annealed one (dashed).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

GATES = ("i", "f", "g", "o")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/tied_cpu")
    ap.add_argument("--n", type=int, default=11)
    ap.add_argument("--paths", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=120)
    a = ap.parse_args(argv)
    import theory
    from theory.tied.api import solve
    sw = np.linspace(0.5, 3.0, a.n)
    mu = np.linspace(-1.0, 6.0, a.n)
    lam = np.full((a.n, a.n), np.nan)
    se = np.full((a.n, a.n), np.nan)
    t0 = time.time()
    for i, m in enumerate(mu):
        for j, s in enumerate(sw):
            p = {f"sigma_w_{g}": s for g in GATES}
            p["mu_b_f"] = m
            try:
                sol = solve("lstm", paths=a.paths, steps=a.steps, burn=a.steps // 2, pairs=False, **p)
            except theory.FixedPointError as exc:  # no stationary state: left blank, said why
                print(f"sigma_w={s:.3g} mu_b_f={m:.3g}: {exc}", flush=True)
                continue
            lam[i, j], se[i, j] = sol.mean["lambda_max"], sol.se["lambda_max"]
        print(f"row {i + 1}/{a.n} ({time.time() - t0:.0f} s)", flush=True)
    swf, muf = np.linspace(0.5, 3.0, 60), np.linspace(-1.0, 6.0, 60)
    S, M = np.meshgrid(swf, muf)
    kw = {f"sigma_w_{g}": S for g in GATES}
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ann = np.asarray(theory.predict("lstm", "lambda_max", mu_b_f=M, **kw))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "phase.json").write_text(json.dumps({
        "sigma_w": sw.tolist(), "mu_b_f": mu.tolist(), "tied_lambda_max": lam.tolist(), "tied_se": se.tolist(),
        "paths": a.paths, "steps": a.steps, "seconds": round(time.time() - t0),
        "machine": "2-core x86-64 CPU (shared)"}, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.8))
    from matplotlib.colors import TwoSlopeNorm
    im = ax.pcolormesh(sw, mu, lam, shading="nearest", cmap="coolwarm",
                       norm=TwoSlopeNorm(vcenter=1.0, vmin=min(0.3, np.nanmin(lam)), vmax=max(1.1, np.nanmax(lam))))
    fig.colorbar(im, ax=ax, label="tied λ_max")
    ax.contour(sw, mu, lam, levels=[1.0], colors="k", linewidths=2)
    ax.contour(swf, muf, ann, levels=[1.0], colors="k", linestyles="--", linewidths=1.5)
    ax.plot([], [], "k-", lw=2, label="tied λ_max = 1 (real network)")
    ax.plot([], [], "k--", label="annealed λ_max = 1")
    ax.set_xlabel("σ_w (all gates)")
    ax.set_ylabel("forget-gate bias μ_f")
    ax.set_title("LSTM order–chaos boundary (σ_v = 1, R = 1, σ_b = 0)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "phase.png", dpi=110)


if __name__ == "__main__":
    main()
