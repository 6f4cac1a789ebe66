"""Critical initialisation of a PyTorch LSTM for a chosen memory timescale: predicted vs measured.

For each requested perturbation timescale xi, ``signalprop.torch.critical_init_`` solves the forget-gate
bias mean at which the *tied* theory (the real network: one W at every step) gives a per-step growth
factor lambda_max = exp(-1/xi), and writes it into ``nn.LSTM`` modules.  Each module is then measured
as PyTorch runs it (``signalprop.torch.lyapunov``: Benettin on its own forward, fresh N(0, 1) inputs),
and the measured xi = -1/ln(lambda) is set beside the requested one, and beside what the annealed
(untied-weight) theory predicts at the same parameters.

    python examples/torch_lstm_timescales.py [xis=3,10,30] [width=512] [nets=4] [paths=16384] [out=reports/torch_lstm]

Writes ``out/table.md`` and ``out/timescales.png`` and prints the table.  Cost on a 2-core CPU at the
defaults: a few minutes (the solve lengthens its run for the slow cells of large xi).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

import signalprop.torch as st
import theory

DEFAULTS = {"xis": "3,10,30", "width": "512", "nets": "4", "paths": "16384", "out": "reports/torch_lstm"}


def run(xis, width, nets, paths, out):
    rows = []
    for xi in xis:
        first = torch.nn.LSTM(width, width)
        r = st.critical_init_(first, xi=xi, paths=paths, generator=torch.Generator().manual_seed(0))
        logs = []
        for k in range(nets):
            m = first if k == 0 else st.initialize_(torch.nn.LSTM(width, width), r.params,
                                                    generator=torch.Generator().manual_seed(k))
            lam, _ = st.lyapunov(m, steps=max(300, int(10 * xi)), burn=max(100, int(4 * xi)), batch=8, seed=k)
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


def write(rows, out, width, nets):
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"nn.LSTM({width}, {width}) at the tied critical init for each xi; {nets} modules each, measured by "
             "Benettin on the module's own forward (SE over modules).", "",
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
                label="measured nn.LSTM (tied init)")
    ax.plot(xs, [r["xi_annealed"] for r in rows], "s--", mfc="none", label="annealed theory at that init")
    ax.set(xscale="log", yscale="log", xlabel="requested xi (steps)", ylabel="xi (steps)",
           title=f"nn.LSTM({width}, {width}): critical init for a timescale")
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
            raise SystemExit(f"usage: python examples/torch_lstm_timescales.py [{' '.join(f'{k}=...' for k in DEFAULTS)}]"
                             f"; got {a!r}")
        args[k] = v
    xis = [float(x) for x in args["xis"].split(",")]
    width, nets, paths = int(args["width"]), int(args["nets"]), int(args["paths"])
    if any(not (x > 0 and math.isfinite(x)) for x in xis) or width < 2 or nets < 2 or paths < 64:
        raise SystemExit("xis must be positive numbers, width >= 2, nets >= 2, paths >= 64")
    rows = run(xis, width, nets, paths, Path(args["out"]))
    write(rows, Path(args["out"]), width, nets)
    return rows


if __name__ == "__main__":
    main()
