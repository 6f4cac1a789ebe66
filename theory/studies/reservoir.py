r"""The edge of chaos of a leaky echo-state reservoir over spectral radius × input scale (issue 20 item 1).

The reservoir is the leaky RNN of :mod:`theory.cells.leaky`,
:math:`h_t=(1-a)h_{t-1}+a\tanh(Wh_{t-1}+Vx_t+b)`, with Gaussian :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)`.  At
large :math:`N` the spectral radius of :math:`W` is :math:`\sigma_w` (circular law), so the x axis is the
spectral radius ρ reservoir users set; the y axis is the input scale :math:`\sigma_v` (inputs
:math:`x_t\sim\mathcal N(0,R\,I)`, :math:`R=1`).

For each leak rate the map shows, on a grid of (ρ, σ_v):

* the **real (tied) reservoir's** largest Lyapunov exponent of :math:`|\delta h|^2` per step,
  :math:`\ln\lambda_{\max}` (``theory.phase_diagram(..., tied=True)``: the tied single-site process; its
  SE is in the report), colour, with its zero contour (the edge of chaos);
* the annealed theory's :math:`\ln\chi` = 0 contour (weights redrawn every step), dashed: for a leaky
  cell it is not the real reservoir's edge (the cell has memory), and the plot shows by how much;
* grey: points where the tied solve's own SE of :math:`\ln\lambda_{\max}` exceeds :data:`MAX_LN_SE`.  Without
  input (σ_v = 0) and a small leak the tied tangent estimate is not resolved at ρ ≈ 1.2-1.8 (values up to
  λ_max ≈ 18 ± 13 there, beyond the bound :math:`((1-a)+2a\rho)^2` of the one-step Jacobian's norm): they
  are shown as unresolved, not as chaos.

Run::

    python -m theory.studies.reservoir out=DIR [leaks=0.2,0.5,1] [n=9,5] [paths=2048]

Writes ``DIR/reservoir_edge_of_chaos.png`` and ``DIR/reservoir_edge_of_chaos.json``.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

XLIM = (0.5, 4.0)
YLIM = (0.0, 2.0)
#: SE of ln λ_max above which a tied point is shown as unresolved (grey), not coloured
MAX_LN_SE = 0.05


def edge_of_chaos(leaks=(0.2, 0.5, 1.0), n=(9, 5), paths: int = 2048, seed: int = 0, progress=print) -> dict:
    """{leak: PhaseDiagram} of the tied λ_max (and the annealed χ on the same grid) over (σ_w, σ_v)."""
    import theory
    from ..cells.leaky import leaky
    cell = theory.register(leaky("tanh", name="leaky-tanh-reservoir"))
    out = {}
    for a in leaks:
        t0 = time.time()
        out[a] = theory.phase_diagram(cell, x="sigma_w", y="sigma_v", xlim=XLIM, ylim=YLIM, n=n, tied=True,
                                      paths=paths, seed=seed, leak=float(a))
        if progress:
            progress(f"leak {a}: {n[0]} x {n[1]} points in {time.time() - t0:.0f} s")
    return out


def summary(diagrams: dict) -> dict:
    """JSON-ready grids: ln λ_max (tied) with its SE, ln χ (annealed), per leak."""
    out = {}
    for a, pd in diagrams.items():
        lam, se = np.asarray(pd.order), np.asarray(pd.order_se)
        out[str(a)] = {"spectral_radius": pd.xs.tolist(), "input_scale": pd.ys.tolist(),
                       "ln_lambda_max_tied": np.log(lam).tolist(), "ln_lambda_max_tied_se": (se / lam).tolist(),
                       "resolved": ((se / lam) <= MAX_LN_SE).tolist(),
                       "ln_chi_annealed": np.log(np.asarray(pd.annealed_order)).tolist(), "fixed": pd.fixed}
    return out


def plot(diagrams: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    fig, axes = plt.subplots(1, len(diagrams), figsize=(5.2 * len(diagrams), 4.2), squeeze=False)
    for ax, (a, pd) in zip(axes[0], diagrams.items()):
        lam = np.log(np.asarray(pd.order))
        # unresolved points (the tied solve's own SE too large) are left grey rather than coloured
        lam = np.where(np.asarray(pd.order_se) / np.asarray(pd.order) <= MAX_LN_SE, lam, np.nan)
        ax.set_facecolor("0.8")
        lim = max(float(np.nanmax(np.abs(lam))), 1e-3)
        im = ax.pcolormesh(pd.xs, pd.ys, lam, shading="nearest", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim))
        ax.contour(pd.xs, pd.ys, lam, levels=[0.0], colors="k", linewidths=1.5)
        ax.contour(pd.xs, pd.ys, np.log(np.asarray(pd.annealed_order)), levels=[0.0], colors="k", linestyles="--",
                   linewidths=1.0)
        ax.plot([], [], "k-", label="edge of chaos, real (tied) reservoir")
        ax.plot([], [], "k--", label="annealed χ = 1 (untied weights)")
        if np.isnan(lam).any():
            ax.plot([], [], "s", color="0.8", label=f"tied solve unresolved (SE of ln λ > {MAX_LN_SE:g})")
        ax.set_xlabel("spectral radius ρ = σ_w")
        ax.set_ylabel("input scale σ_v (R = 1)")
        ax.set_title(f"leaky tanh reservoir, leak a = {a:g}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(im, ax=ax, label="ln λ_max (tied) per step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    """``python -m theory.studies.reservoir out=DIR [leaks=...] [n=NX,NY] [paths=P]``."""
    kv = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    unknown = sorted(set(kv) - {"out", "leaks", "n", "paths", "seed"})
    if unknown or "out" not in kv:
        print(f"usage: python -m theory.studies.reservoir out=DIR [leaks=0.2,0.5,1] [n=9,5] [paths=2048] [seed=0]"
              f"{f'; unknown {unknown}' if unknown else ''}", file=sys.stderr)
        return 2
    leaks = tuple(float(x) for x in kv.get("leaks", "0.2,0.5,1").split(","))
    n = tuple(int(x) for x in kv.get("n", "9,5").split(","))
    if len(n) != 2 or any(not 0 <= a <= 1 for a in leaks) or not all(math.isfinite(a) for a in leaks):
        print("reservoir: n takes two counts NX,NY and leaks lie in [0, 1]", file=sys.stderr)
        return 2
    out = Path(kv["out"])
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    d = edge_of_chaos(leaks, n, int(kv.get("paths", "2048")), int(kv.get("seed", "0")))
    rep = {"theory": "tied (real reservoir): ln lambda_max of the tied single-site process; annealed: ln chi",
           "seconds": time.time() - t0, "paths": int(kv.get("paths", "2048")), "leaks": summary(d)}
    (out / "reservoir_edge_of_chaos.json").write_text(json.dumps(rep, indent=1))
    plot(d, out / "reservoir_edge_of_chaos.png")
    print(f"reservoir: wrote {out / 'reservoir_edge_of_chaos.png'} ({rep['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
