"""Tied theory vs real tied networks vs annealed theory over a memory-bias sweep (issue 16, item 5).

    python benchmarks/tied_report.py --out reports/tied_cpu [--width 1024] [--ensemble 4] [--steps 200]
                                     [--paths 8192] [--cells minimalrnn,gru,gru-reset-after,lstm]

For each cell and bias mean of its memory gate (minimalRNN: mu_b): the tied solver's Q* and
lambda_max with standard errors (theory.tied.api.solve), the annealed theory (theory.predict), and
simulated real tied networks of width N (GRU/LSTM: verify's hand-written simulators; minimalRNN: the
numpy network below with its tangent) over the late half of the run, SE over networks.  Writes
sweep.json and sweep.png (Q* and lambda_max vs bias, three curves per cell).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

SWEEPS = {
    "minimalrnn": ("mu_b", [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], {"sigma_w": 3.0}),
    "gru": ("mu_b_z", [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], {"sigma_w_n": 1.8}),
    "gru-reset-after": ("mu_b_z", [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], {"sigma_w_n": 1.8}),
    "lstm": ("mu_b_f", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], {}),
}


def minimalrnn_network(p, N, ensemble, steps, seed, Q0):
    """Real tied minimalRNNs (numpy): per network the late-half mean of |h|^2/N and of the log growth
    of a carried tangent, J = diag(u) + diag(u(1-u)(h_prev - z)) W."""
    rng = np.random.default_rng(seed)
    Q, L = [], []
    for _ in range(ensemble):
        W = rng.standard_normal((N, N)) * p["sigma_w"] / math.sqrt(N)
        V = rng.standard_normal((N, N)) * p["sigma_v"] / math.sqrt(N)
        b = p["mu_b"] + p["sigma_b"] * rng.standard_normal(N)
        h = math.sqrt(Q0) * rng.standard_normal(N)
        d = rng.standard_normal(N)
        d /= np.linalg.norm(d)
        q, lg = [], []
        for t in range(steps):
            z = math.sqrt(p["R"]) * rng.standard_normal(N)
            u = 1.0 / (1.0 + np.exp(-(W @ h + V @ z + b)))
            d = u * d + u * (1.0 - u) * (h - z) * (W @ d)
            h = u * h + (1.0 - u) * z
            n = np.linalg.norm(d)
            lg.append(2.0 * math.log(n))
            d /= n
            q.append(float(h @ h) / N)
        Q.append(np.mean(q[steps // 2:]))
        L.append(np.mean(lg[steps // 2:]))
    return np.asarray(Q), np.exp(np.asarray(L))


def gated_network(cell, p, N, ensemble, steps, seed, Q0):
    from verify.judge.gated import simulate
    from verify.simulators import get_gated
    stats = simulate(get_gated(cell), p, width=N, ensemble=ensemble, steps=steps, tied=True, seed=seed, probes=1,
                     Q0=Q0, C0=0.0)
    half = steps // 2
    return stats["Q_h"][:, half:].mean(axis=1), np.exp(np.log(stats["growth"][:, half:]).mean(axis=1))


def mean_se(x):
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/tied_cpu")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--ensemble", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300, help="simulated steps (at least the solve's)")
    ap.add_argument("--paths", type=int, default=None, help="tied solver paths (default: adaptive, 1e-3 targets)")
    ap.add_argument("--cells", default=",".join(SWEEPS))
    a = ap.parse_args(argv)
    import theory
    from theory.tied.api import solve
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    t_all = time.time()
    for cell in a.cells.split(","):
        key, mus, fixed = SWEEPS[cell]
        rows[cell] = []
        for mu in mus:
            p = theory.api.resolve_params(theory.cell(cell), {**fixed, key: mu})
            t0 = time.time()
            sol = solve(cell, paths=a.paths, pairs=False, **p)  # default steps, extended while drifting
            t_theory = time.time() - t0
            lam_name = "lambda_max" if cell != "minimalrnn" else "chi"  # annealed one-component: chi = growth
            ann = {"Q_star": float(theory.predict(cell, "Q_star", **p)),
                   "lambda_max": float(theory.predict(cell, lam_name, **p))}
            # the networks start at the tied theory's second moments and run at least as long as the solve
            # needed to become stationary (a start far from Q* biases the late window at large bias means)
            steps = max(a.steps, sol.steps)
            start = {k[2:-5]: sol.mean[k] for k in sol.mean if k.startswith("Q_") and k.endswith("_star") and k != "Q_star"}
            t0 = time.time()
            if cell == "minimalrnn":
                Q, lam = minimalrnn_network(p, a.width, a.ensemble, steps, int(10 * mu) + 100, sol.mean["Q_star"])
            else:
                Q, lam = gated_network(cell, p, a.width, a.ensemble, steps, int(10 * mu) + 100, start)
            t_sim = time.time() - t0
            row = {"bias": mu, "params": p,
                   "tied": {"Q_star": [sol.mean["Q_star"], sol.se["Q_star"]],
                            "lambda_max": [sol.mean["lambda_max"], sol.se["lambda_max"]],
                            "steps": sol.steps, "paths": sol.paths, "notes": list(sol.notes)},
                   "annealed": ann,
                   "simulation": {"Q_star": mean_se(Q), "lambda_max": mean_se(lam), "width": a.width,
                                  "networks": a.ensemble, "steps": steps, "start": "tied theory's Q*"},
                   "seconds": {"tied_theory": round(t_theory, 1), "simulation": round(t_sim, 1)}}
            rows[cell].append(row)
            print(f"{cell} {key}={mu}: tied Q {sol.mean['Q_star']:.4f}+-{sol.se['Q_star']:.4f} "
                  f"sim {row['simulation']['Q_star'][0]:.4f}+-{row['simulation']['Q_star'][1]:.4f} "
                  f"ann {ann['Q_star']:.4f} | lam tied {sol.mean['lambda_max']:.4f}+-{sol.se['lambda_max']:.4f} "
                  f"sim {row['simulation']['lambda_max'][0]:.4f}+-{row['simulation']['lambda_max'][1]:.4f} "
                  f"ann {ann['lambda_max']:.4f}  ({t_theory:.0f}+{t_sim:.0f} s)", flush=True)
    meta = {"machine": "2-core x86-64 CPU (shared)", "seconds": round(time.time() - t_all), "argv": sys.argv[1:],
            "convention": "simulation: late half of the run; lambda: geometric mean of the per-step growth of a "
                          "renormalised tangent (tied theory: same definition, per group)"}
    (out / "sweep.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    plot(rows, out / "sweep.png")


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cells = list(rows)
    fig, axes = plt.subplots(2, len(cells), figsize=(4 * len(cells), 6.5), squeeze=False)
    for j, cell in enumerate(cells):
        key = SWEEPS[cell][0]
        x = np.array([r["bias"] for r in rows[cell]])
        for i, q in enumerate(("Q_star", "lambda_max")):
            ax = axes[i, j]
            t = np.array([r["tied"][q] for r in rows[cell]])
            s = np.array([r["simulation"][q] for r in rows[cell]])
            an = np.array([r["annealed"][q] for r in rows[cell]])
            ax.errorbar(x, t[:, 0], yerr=2 * t[:, 1], fmt="o-", label="tied theory (±2 SE)")
            ax.errorbar(x + 0.05, s[:, 0], yerr=2 * s[:, 1], fmt="s", mfc="none",
                        label=f"real tied nets N={rows[cell][0]['simulation']['width']} (±2 SE)")
            ax.plot(x, an, "k--", label="annealed theory")
            if q == "lambda_max":
                ax.axhline(1.0, color="grey", lw=0.5)
            ax.set_xlabel(key)
            ax.set_ylabel("Q*" if q == "Q_star" else "λ_max")
            ax.set_title(cell if i == 0 else "")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
