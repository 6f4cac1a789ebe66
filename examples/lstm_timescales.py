"""Critical initialisation of an LSTM for a chosen memory timescale: predicted vs measured, in PyTorch,
Flax or Equinox.

For each requested perturbation timescale xi, ``theory.critical_init(..., tied=True, xi=xi)`` solves the
forget-gate bias mean at which the *tied* theory (the real network: one W at every step) gives a per-step
growth factor lambda_max = exp(-1/xi), and the framework bridge writes it into LSTM cells
(``signalprop.torch.initialize_`` into ``nn.LSTM``, ``signalprop.flax.initialize`` into ``LSTMCell``
params, ``signalprop.equinox.initialize`` into ``eqx.nn.LSTMCell``).  Each cell is then measured as its
framework runs it (``lyapunov``: Benettin on its own forward, fresh N(0, 1) inputs), and the measured
xi = -1/ln(lambda) is set beside the requested one, and beside what the annealed (untied-weight)
theory predicts at the same parameters.

    python examples/lstm_timescales.py [framework=torch|flax|equinox] [xis=3,10,30] [width=512] [nets=4]
                                       [paths=16384] [out=reports/<framework>_lstm]

Writes ``out/table.md`` and ``out/timescales.png`` and prints the table.  Cost on a 2-core CPU at the
defaults: a few minutes (the solve lengthens its run for the slow cells of large xi).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import theory

DEFAULTS = {"framework": "torch", "xis": "3,10,30", "width": "512", "nets": "4", "paths": "16384", "out": None}


def torch_lstm(width, params, k, **run):
    """One ``nn.LSTM(width, width)`` written with ``params`` (seed k) and measured on itself."""
    import torch
    import signalprop.torch as st
    m = st.initialize_(torch.nn.LSTM(width, width), params, generator=torch.Generator().manual_seed(k))
    return st.lyapunov(m, batch=8, seed=k, **run)


def flax_lstm(width, params, k, **run):
    """One Flax ``LSTMCell(features=width)`` with its params written from ``params`` (key k), measured."""
    import jax
    import jax.numpy as jnp
    import flax.linen as nn
    import signalprop.flax as sf
    cell, key = nn.LSTMCell(features=width), jax.random.PRNGKey(k)
    v = cell.init(key, cell.initialize_carry(key, (1, width)), jnp.zeros((1, width)))
    return sf.lyapunov(cell, sf.initialize(cell, v, params, key), batch=8, seed=k, **run)


def equinox_lstm(width, params, k, **run):
    """One ``eqx.nn.LSTMCell(width, width)`` written from ``params`` (key k), measured."""
    import jax
    import equinox as eqx
    import signalprop.equinox as se
    key = jax.random.PRNGKey(k)
    return se.lyapunov(se.initialize(eqx.nn.LSTMCell(width, width, key=key), params, key), batch=8, seed=k, **run)


#: framework -> one measured cell (a registry)
FRAMEWORKS = {"torch": torch_lstm, "flax": flax_lstm, "equinox": equinox_lstm}


def run(xis, width, nets, paths, out, framework="torch"):
    rows = []
    measure = FRAMEWORKS[framework]
    for xi in xis:
        r = theory.critical_init("lstm", tied=True, xi=xi, paths=paths)
        if not r.feasible:
            raise SystemExit(f"xi = {xi:g}: {r.message}")
        logs = []
        for k in range(nets):
            lam, _ = measure(width, r.params, k, steps=max(300, int(10 * xi)), burn=max(100, int(4 * xi)))
            logs.append(math.log(lam))
        mean = sum(logs) / nets
        se = math.sqrt(sum((x - mean) ** 2 for x in logs) / (nets - 1) / nets)
        annealed = theory.predict("lstm", "lambda_max", **r.params)
        rows.append(dict(xi=xi, mu_b_f=r.params["mu_b_f"], mu_se=r.value_se, lam_tied=r.lambda_max,
                         lam_measured=math.exp(mean), lam_measured_se=math.exp(mean) * se,
                         xi_measured=-1 / mean, xi_measured_se=se / mean ** 2,
                         lam_annealed=annealed, xi_annealed=-1 / math.log(annealed) if 0 < annealed < 1 else math.inf))
        print(f"xi = {xi:g}: mu_b_f = {r.params['mu_b_f']:.4f}, measured xi = {rows[-1]['xi_measured']:.2f} "
              f"+- {rows[-1]['xi_measured_se']:.2f}, annealed theory's xi there = {rows[-1]['xi_annealed']:.2f}",
              file=sys.stderr)
    return rows


LABELS = {"torch": "nn.LSTM({w}, {w})", "flax": "flax LSTMCell(features={w})", "equinox": "eqx.nn.LSTMCell({w}, {w})"}


def write(rows, out, width, nets, framework="torch"):
    out.mkdir(parents=True, exist_ok=True)
    label = LABELS[framework].format(w=width)
    lines = [f"{label} at the tied critical init for each xi; {nets} cells each, measured by Benettin on the "
             "cell's own forward (SE over cells).", "",
             "| requested xi | forget bias mu_b_f | tied lambda_max | measured lambda_max | measured xi | "
             "annealed lambda_max there | annealed xi there |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['xi']:g} | {r['mu_b_f']:.4f} ± {r['mu_se']:.4f} | {r['lam_tied']:.5f} | "
                     f"{r['lam_measured']:.5f} ± {r['lam_measured_se']:.5f} | {r['xi_measured']:.2f} ± "
                     f"{r['xi_measured_se']:.2f} | {r['lam_annealed']:.5f} | {r['xi_annealed']:.2f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    xs = [r["xi"] for r in rows]
    ax.plot([min(xs), max(xs)], [min(xs), max(xs)], "k:", lw=1, label="requested")
    ax.errorbar(xs, [r["xi_measured"] for r in rows], yerr=[r["xi_measured_se"] for r in rows], fmt="o",
                label=f"measured {label.split('(')[0]} (tied init)")
    ax.plot(xs, [r["xi_annealed"] for r in rows], "s--", mfc="none", label="annealed theory at that init")
    ax.set(xscale="log", yscale="log", xlabel="requested xi (steps)", ylabel="xi (steps)",
           title=f"{label}: critical init for a timescale")
    ticks = sorted(set(xs) | {round(r["xi_annealed"], 1) for r in rows if math.isfinite(r["xi_annealed"])})
    for axis in (ax.xaxis, ax.yaxis):  # plain step counts, no overlapping 3x10^0-style minor labels
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(xs)
    ax.set_yticks(ticks)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "timescales.png", dpi=120)
    plt.close(fig)
    print("\n".join(lines))


def main(argv=None):
    args = dict(DEFAULTS)
    for a in (sys.argv[1:] if argv is None else argv):
        k, sep, v = a.partition("=")
        if not sep or k not in DEFAULTS:
            raise SystemExit(f"usage: python examples/lstm_timescales.py [{' '.join(f'{k}=...' for k in DEFAULTS)}]"
                             f"; got {a!r}")
        args[k] = v
    if args["framework"] not in FRAMEWORKS:
        raise SystemExit(f"usage: framework must be one of {sorted(FRAMEWORKS)}, got {args['framework']!r}")
    out = Path(args["out"] or f"reports/{args['framework']}_lstm")
    xis = [float(x) for x in args["xis"].split(",")]
    width, nets, paths = int(args["width"]), int(args["nets"]), int(args["paths"])
    if any(not (x > 0 and math.isfinite(x)) for x in xis) or width < 2 or nets < 2 or paths < 64:
        raise SystemExit("xis must be positive numbers, width >= 2, nets >= 2, paths >= 64")
    rows = run(xis, width, nets, paths, out, args["framework"])
    write(rows, out, width, nets, args["framework"])
    return rows


if __name__ == "__main__":
    main()
