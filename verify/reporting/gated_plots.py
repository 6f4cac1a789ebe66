"""Figures for gated-cell reports: trajectories (theory vs simulation, untied/tied) and the
memory-gate bias sweep (timescale -1/ln lambda_max against the bias mean)."""

from __future__ import annotations

import math

import numpy as np

from .atomic import save_figure


def plot_point(rep, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = [k[2:] for k in rep.theory if k.startswith("Q_")]
    fig, axes = plt.subplots(1, len(comps) + 1, figsize=(4.2 * (len(comps) + 1), 3.4))
    t = np.arange(1, rep.config.steps + 1)
    colors = {"untied": "C0", "tied": "C3"}
    for ax, k in zip(axes, comps):
        for regime, s in rep.stats.items():
            m = s[f"Q_{k}"].mean(0)
            se = s[f"Q_{k}"].std(0, ddof=1) / math.sqrt(s[f"Q_{k}"].shape[0])
            ax.fill_between(t, m - 2 * se, m + 2 * se, color=colors[regime], alpha=0.25)
            ax.plot(t, m, color=colors[regime], lw=1, label=f"sim {regime}")
        ax.plot(t, rep.theory[f"Q_{k}"], "k--", lw=1, label="theory (closure)")
        ax.set_xlabel("step t")
        ax.set_ylabel(f"Q_{k}")
        ax.legend(fontsize=7)
    ax = axes[-1]
    for regime, s in rep.stats.items():
        ax.plot(t, s["growth"].mean(0), color=colors[regime], lw=1, label=f"growth {regime}")
    if "lambda_max" in rep.predictions:
        ax.axhline(rep.predictions["lambda_max"], color="k", ls="--", lw=1, label="lambda_max (theory)")
    ax.set_xlabel("step t")
    ax.set_ylabel("|J u|^2 / |u|^2")
    ax.legend(fontsize=7)
    fig.suptitle(f"{rep.config.cell} {rep.config.label}: N={rep.config.width}, E={rep.config.ensemble}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_sweep(sweep, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..statistics.timescale import xi_from_lambda

    rows = sweep["rows"]
    mu = np.array([r["mu"] for r in rows])
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    xi_t = [r["theory"].get("lambda_max") for r in rows]
    ax.plot(mu, [-1 / math.log(x) if x and 0 < x < 1 else np.nan for x in xi_t], "k-", label="theory, Gaussian closure")
    if all("lambda_max" in r.get("population", {}) for r in rows):
        ax.plot(mu, [-1 / math.log(r["population"]["lambda_max"]) for r in rows], "k:", label="theory, population")
    for regime, col in (("untied", "C0"), ("tied", "C3")):
        pts = [(r["mu"],) + xi_from_lambda(r[regime]["lambda_max"]["estimate"], r[regime]["lambda_max"]["se"])
               for r in rows if regime in r and "lambda_max" in r[regime]]
        if pts:
            m, x, e = map(np.array, zip(*pts))
            ax.errorbar(m, x, yerr=2 * e, fmt="o", color=col, ms=4, capsize=2, label=f"simulation {regime} (±2 SE)")
    ax.set_yscale("log")
    ax.set_xlabel(sweep["gate_bias"])
    ax.set_ylabel("xi = -1/ln lambda_max (steps)")
    ax.set_title(f"{sweep['cell']}: N={sweep['width']}, E={sweep['ensemble']}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
