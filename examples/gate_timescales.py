"""At which gate biases and weight scales does each cell keep signal for T steps?

The practical question behind LSTM-vs-GRU comparisons on long sequences (e.g. EEG; Golmohammadi
et al. 2017): at initialisation, a perturbation of the state (or the difference between two input
histories) decays like exp(-t / xi) with xi = -1/ln lambda_max (gated cells: top eigenvalue of the
perturbation map; minimalRNN: chi).  A cell keeps signal over a sequence of length T when xi >= T.

Left: xi against the memory-gate bias mean (GRU update gate mu_b_z, LSTM forget gate mu_b_f,
minimalRNN mu_b) at the default weight scales.  Right, one panel per cell: log10 xi in the plane of
that bias and the recurrent weight scale (every sigma_w_* of a gated cell set to sigma_w), with the
line xi = T; grey beyond lambda_max = 1, where the cell is chaotic (perturbations grow, two input
histories decorrelate instead of being remembered).

    python examples/gate_timescales.py [T=100] [out=reports/gate_timescales.png]
"""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import numpy as np

import theory

CELLS = {"gru": ("mu_b_z", "C0"), "lstm": ("mu_b_f", "C3"), "minimalrnn": ("mu_b", "C2")}


def timescale(cell, mu, sigma_w=None):
    """xi = -1/ln(lambda_max) (gated) or -1/ln(chi) (minimalRNN); inf at or beyond criticality."""
    key = CELLS[cell][0]
    over = {key: mu}
    if sigma_w is not None:
        names = [n for n in theory.parameters(cell) if n.startswith("sigma_w")]
        over.update({n: sigma_w for n in names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lam = np.asarray(theory.predict(cell, "lambda_max" if cell != "minimalrnn" else "chi", **over), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lam >= 1.0, np.inf, -1.0 / np.log(lam)), lam


def smallest_bias(cell, T, mus):
    xi, _ = timescale(cell, mus)
    ok = np.nonzero(xi >= T)[0]
    return float(mus[ok[0]]) if ok.size else math.nan


def main(argv=None):
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv))
    T = float(args.get("T", 100))
    out = Path(args.get("out", "reports/gate_timescales.png"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mus = np.linspace(-2.0, 10.0, 121)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.0), gridspec_kw={"width_ratios": [1.25, 1, 1, 1]})
    a1 = axes[0]
    for cell, (key, col) in CELLS.items():
        xi, _ = timescale(cell, mus)
        a1.plot(mus, np.where(np.isfinite(xi), xi, np.nan), color=col, label=f"{cell} (bias {key})")
        mu_T = smallest_bias(cell, T, mus)
        print(f"{cell:10s}: xi >= {T:g} from {key} = {mu_T:.2f} (default weight scales)")
    a1.axhline(T, color="k", ls=":", lw=1)
    a1.text(mus[0], T * 1.15, f"T = {T:g}", fontsize=8)
    a1.set_yscale("log")
    a1.set_xlabel("memory-gate bias mean")
    a1.set_ylabel(r"$\xi=-1/\ln\lambda_{\max}$ (steps)")
    a1.set_title("timescale at default weight scales", fontsize=10)
    a1.legend(fontsize=8)

    mu_g = np.linspace(-2.0, 10.0, 61)
    sw_g = np.linspace(0.25, 6.0, 47)
    M, S = np.meshgrid(mu_g, sw_g)
    for ax, (cell, (key, col)) in zip(axes[1:], CELLS.items()):
        xi, lam = timescale(cell, M, S)
        logxi = np.log10(np.clip(np.where(np.isfinite(xi), xi, 1e4), 1e-1, 1e4))
        im = ax.pcolormesh(M, S, np.where(lam < 1.0, logxi, np.nan), cmap="viridis", vmin=-1, vmax=4, shading="auto")
        ax.contourf(M, S, (lam >= 1.0).astype(float), levels=[0.5, 1.5], colors="0.85")
        ax.contour(M, S, logxi, levels=[math.log10(T)], colors="w", linewidths=1.5)
        ax.contour(M, S, lam, levels=[1.0], colors="k", linestyles="--", linewidths=1)
        ax.set_title(cell, fontsize=10)
        ax.set_xlabel(f"{key}")
        ax.set_ylabel("sigma_w (every recurrent matrix)" if cell != "minimalrnn" else "sigma_w")
    fig.colorbar(im, ax=axes[1:], label="log10 xi (ordered phase)", fraction=0.02)
    fig.suptitle(f"Gaussian-closure mean field, untied weights. Heat maps: white line xi = T = {T:g}, dashed lambda_max = 1, "
                 "grey chaotic (theory only; checks: reports/gated_cpu)", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
