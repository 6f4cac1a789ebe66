"""PNG figures of the dying-ReLU study (matplotlib Agg; saved, never shown).

* ``collapse_vs_depth.png`` — point collapse frequency per width with 99% Wilson bands and the exact
  law (dashed: the wrong 2^(1-N) law of the power check); below, the d = 1 domain born-dead frequency
  with the point-law upper bound, the orthant lower bound and the mean-field-angle estimate;
* ``rai_vs_he.png`` — born-dead frequency on [-1, 1] for He and RAI, and the dead-unit fraction per layer;
* ``crossover.png`` — mean field vs fixed width: survivors' |x^L|^2/|x^0|^2 (median, 10–90%) against
  L/N beside the mean-field value 1 and the exact relative variance, and collapse against L 2^-N;
* ``rnn.png`` — ReLU RNN at sigma_w^2 = 2: mean |h_t|^2/N tied vs untied with the mean-field line,
  inactive and never-active fractions, and death with input only at t = 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..reporting.atomic import save_figure


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_log_ticks(fig):
    """Log axes labelled 0.01, 1, 100, 1e+06 (``%g``) instead of mantissa-exponent pairs."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(NullFormatter())


def _save(fig, path):
    _plain_log_ticks(fig)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)


def _a(x):
    return np.asarray([np.nan if v is None else v for v in x], dtype=float) if isinstance(x, list) else np.asarray(x, float)


def _entries(group: dict, init: str):
    return {int(k.split("N=")[1]): v for k, v in group.items() if k.split(" ")[0] == init}


COLORS = {"he": "C0", "orthogonal": "C2", "rademacher": "C3", "rai": "C1"}


def collapse_vs_depth(r: dict, path: Path):
    plt = _plt()
    widths = sorted({int(k.split("N=")[1]) for k in r["point"]})
    fig, axes = plt.subplots(2, len(widths), figsize=(4.2 * len(widths), 7), squeeze=False)
    for j, w in enumerate(widths):
        ax = axes[0, j]
        for key, e in r["point"].items():
            init, n = key.split(" ")[0], int(key.split("N=")[1])
            if n != w:
                continue
            d = np.arange(1, len(e["freq"]) + 1)
            ax.fill_between(d, _a(e["wilson_lo"]), _a(e["wilson_hi"]), color=COLORS[init], alpha=0.3, lw=0)
            ax.plot(d, _a(e["freq"]), ".", ms=3, color=COLORS[init], label=f"{init} (E={e['n']})")
        ax.plot(d, 1 - (1 - 2.0 ** -w) ** d, "k-", lw=1, label=r"$1-(1-2^{-N})^L$")
        ax.plot(d, 1 - (1 - 2.0 ** (1 - w)) ** d, "k--", lw=0.8, alpha=0.6, label=r"wrong: $2^{1-N}$")
        ax.set(title=f"point collapse, N={w}", xlabel="hidden layers L", ylabel="P(x^L = 0)", xscale="log")
        ax.legend(fontsize=7)
        ax = axes[1, j]
        for key, e in r["domain_d1"].items():
            init, n = key.split(" ")[0], int(key.split("N=")[1])
            if n != w:
                continue
            d = np.arange(1, len(e["freq"]) + 1)
            ax.fill_between(d, _a(e["wilson_lo"]), _a(e["wilson_hi"]), color=COLORS[init], alpha=0.3, lw=0)
            ax.plot(d, _a(e["freq"]), ".", ms=3, color=COLORS[init], label=f"{init}")
            if init == "he":
                ax.plot(d, _a(e["upper"]), "k-", lw=1, label="upper (point law)")
                ax.plot(d, _a(e["lower"]), "k:", lw=1, label="lower (orthant)")
                ax.plot(d, _a(e["estimate"]), "m--", lw=1, label="estimate (MF angles)")
        ax.set(title=f"born dead on [-1,1], N={w}", xlabel="hidden layers L", ylabel="BDP", xscale="log")
        ax.legend(fontsize=7)
    _save(fig, path)


def rai_vs_he(r: dict, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for init, ls in (("he", "-"), ("rai", "--")):
        for i, (w, e) in enumerate(sorted(_entries(r["domain_d1"], init).items())):
            d = np.arange(1, len(e["freq"]) + 1)
            axes[0].plot(d, _a(e["freq"]), ls, color=f"C{i}", label=f"{init} N={w}")
            axes[0].fill_between(d, _a(e["wilson_lo"]), _a(e["wilson_hi"]), color=f"C{i}", alpha=0.2, lw=0)
        for i, (w, e) in enumerate(sorted(_entries(r["point"], init).items())):
            f = e["dead_fraction"]
            d = np.arange(1, len(f["mean"]) + 1)
            axes[1].plot(d, _a(f["mean"]), ls, color=f"C{i}", label=f"{init} N={w}")
            if init == "he":
                axes[1].plot(d, _a(f["theory"]), "k:", lw=0.8)
    for row in r["rai_vs_he"]:
        axes[0].axvline(row["depth"], color="grey", lw=0.5)
    axes[0].set(title="born dead on [-1,1]: He (solid) vs RAI (dashed)", xlabel="hidden layers L", ylabel="BDP",
                xscale="log")
    axes[1].set(title="units with h <= 0 at the point (dotted: exact, He)", xlabel="layer", ylabel="fraction",
                xscale="log")
    for ax in axes:
        ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def crossover(r: dict, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (w, e) in enumerate(sorted(_entries(r["point"], "he").items())):
        d = np.arange(1, len(e["freq"]) + 1)
        q = np.asarray([_a(row) for row in e["norms"]["survivor_q10_q50_q90"]])
        axes[0].plot(d / w, q[1], "-", color=f"C{i}", label=f"He N={w}: median survivors")
        axes[0].fill_between(d / w, q[0], q[2], color=f"C{i}", alpha=0.15, lw=0)
        axes[0].plot(d / w, np.sqrt(1 + _a(e["norms"]["relvar_theory"])), ":", color=f"C{i}", lw=0.8)
        axes[1].plot(d * 2.0 ** -w, _a(e["freq"]), ".", ms=3, color=f"C{i}", label=f"N={w}")
    axes[0].axhline(1.0, color="k", lw=1, label="mean field (= exact mean)")
    axes[0].set(yscale="log", xscale="log", xlabel="L / N", ylabel=r"$Q_L/Q_0$", ylim=(1e-4, 1e4),
                title="fixed width vs mean field (dotted: sqrt(1 + exact rel. variance))")
    x = np.logspace(-3, 2, 200)
    axes[1].plot(x, 1 - np.exp(-x), "k-", lw=1, label=r"$1-e^{-L2^{-N}}$ (large N)")
    axes[1].set(xscale="log", xlabel=r"$L\,2^{-N}$", ylabel="P(x^L = 0)", title="death needs L ~ 2^N")
    for ax in axes:
        ax.legend(fontsize=7)
    _save(fig, path)


def rnn(r: dict, path: Path):
    plt = _plt()
    R = r["rnn"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    T = len(_a(R["mean_field_Q"]))
    t = np.arange(1, T + 1)
    for ax in axes[:2]:
        ax.plot(t, np.log(_a(R["mean_field_Q"])), "k-", lw=1, label="mean field (untied): Q_t = t/2")
    for i, (key, g) in enumerate(sorted(R["growth"].items())):
        ls = "-" if g["regime"] == "tied" else "--"
        q = np.asarray([_a(row) for row in g["q10_q90_log_Q"]])
        x = g["exploding"]
        axes[0].plot(t, _a(g["median_log_Q"]), ls, color=f"C{i}",
                     label=f"{key}: median fits {g['fit_median_log_Q'].get('winner')}")
        axes[0].fill_between(t, q[0], q[1], color=f"C{i}", alpha=0.12, lw=0)
        axes[1].plot(t, _a(g["log_mean_Q"]), ls, color=f"C{i}",
                     label=f"{key}: {x['count']}/{x['n']} explode")
        axes[2].plot(t, _a(g["never_active"]), ls, color=f"C{i}", label=f"{key} never active")
        axes[2].plot(t, _a(g["inactive"]), ls, color=f"C{i}", alpha=0.4)
    axes[0].set(xlabel="t", ylabel="log |h_t|^2/N", ylim=(-3, 12),
                title=r"ReLU RNN, $\sigma_w^2=2$: median, 10-90% band")
    axes[1].set(xlabel="t", ylabel="log mean |h_t|^2/N", title="log of the ensemble mean")
    axes[2].set(xlabel="t", ylabel="fraction of units", xscale="log",
                title="never active so far (faint: inactive at t)")
    for i, (key, e) in enumerate(sorted(R["death"].items())):
        tt = np.arange(1, len(e["freq"]) + 1)
        ls = "-" if key.startswith("tied") else "--"
        axes[3].plot(tt, _a(e["freq"]), ls, color=f"C{i}", label=key)
        axes[3].fill_between(tt, _a(e["wilson_lo"]), _a(e["wilson_hi"]), color=f"C{i}", alpha=0.2, lw=0)
        axes[3].plot(tt, _a(e["theory"]), "k:", lw=0.8)
    axes[3].set(xlabel="t", ylabel="P(h_t = 0)", xscale="log",
                title="input only at t=1 (dotted: 1-(1-2^-N)^t)")
    for ax in axes:
        ax.legend(fontsize=7)
    _save(fig, path)


def make_all(report: dict, out: Path) -> list:
    """Write every figure into ``out``; returns the file names.  Works on the JSON-safe report too."""
    from ..reporting.jsonutil import jsonable
    r = jsonable(report)
    names = []
    for name, fn in (("collapse_vs_depth.png", collapse_vs_depth), ("rai_vs_he.png", rai_vs_he),
                     ("crossover.png", crossover), ("rnn.png", rnn)):
        if name == "rai_vs_he.png" and not r["rai_vs_he"]:
            continue
        fn(r, Path(out) / name)
        names.append(name)
    return names
