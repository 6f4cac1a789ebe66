"""CPU verification report for the gated cells (GRU, LSTM): theory vs simulation, untied and tied.

Writes ``reports/gated_cpu/{report.json, *.png}``; the prose summary is ``reports/gated_cpu/REPORT.md``
(written by hand from these numbers).  Sizes fixed in advance (CPU, float64):

* points (N = 128, E = 32, T = clip(12 xi_q, 40, 150)): default, chaotic (every sigma_w = 3),
  inputs-differ (Sigma = 0.5), long-memory (memory-gate bias 4), untied and tied;
* memory-gate bias sweep -2, 0, 2, 4 (N = 128, E = 16), untied and tied, with population dynamics;
* width ladder N = 32, 64, 128, 256 (E = 16, T = 40) at the default point: X_N = X_inf + a/N fits
  for Q_star, Q_c_star and lambda_max (tied gap closure-limited if X_inf misses the theory by more
  than k SE);
* population dynamics vs Gaussian closure for the LSTM over a grid of forget-gate means/variances.

    python benchmarks/gated_cpu_report.py [part=points,sweep,ladder,population]
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import theory
import verify  # noqa: F401
from theory.closures import population
from verify.judge.gated import GatedPoint, bias_sweep, check_dict, table, verify_point, write_report, xi_from_lambda
from verify.commands.gated_cli import chaotic_sigma_w, horizon
from verify.statistics.stats import bonferroni_k, ensemble_estimate, extrapolate_width
from verify.statistics.estimators import late_window, window_average

OUT = Path("reports/gated_cpu")


def points():
    reps = []
    for cell in ("gru", "lstm"):
        base = dict(theory.parameters(cell))
        mg = f"mu_b_{theory.cell(cell).memory_gate}"
        pts = [("default", base), ("chaotic", {**base, **{k: 3.0 for k in base if k.startswith("sigma_w_")}}),
               ("inputs-differ", {**base, "Sigma": 0.5}), ("long-memory", {**base, mg: 4.0})]
        for i, (label, p) in enumerate(pts):
            t0 = time.time()
            cfg = GatedPoint(cell, p, width=128, ensemble=32, steps=horizon(cell, p), seed=100 + i, label=label)
            reps.append(verify_point(cfg))
            print(f"{cell} {label}: T={cfg.steps} {reps[-1].verdict()} ({time.time() - t0:.0f} s)", flush=True)
    return reps


def extra():
    """Follow-ups fixed after the first pass: the chaotic point by rule (lambda_max = 1.2; sigma_w = 3
    is not chaotic for the LSTM), and the GRU long-memory point started near Q* (T = 150 was too
    short from Q0 = 0.5)."""
    reps = []
    for cell in ("gru", "lstm"):
        base = dict(theory.parameters(cell))
        sw = chaotic_sigma_w(cell)
        p = {**base, **{k: sw for k in base if k.startswith("sigma_w_")}}
        cfg = GatedPoint(cell, p, width=128, ensemble=32, steps=horizon(cell, p), seed=201, label="chaotic-rule")
        reps.append(verify_point(cfg))
        print(f"{cell} chaotic-rule sigma_w={sw:.4f}: {reps[-1].verdict()}", flush=True)
    p = {**dict(theory.parameters("gru")), "mu_b_z": 4.0}
    cfg = GatedPoint("gru", p, width=128, ensemble=32, steps=150, seed=203, Q0=0.015, C0=0.0, label="long-memory-Q0")
    reps.append(verify_point(cfg))
    print(f"gru long-memory-Q0: {reps[-1].verdict()}", flush=True)
    return reps


def sweep():
    out = []
    for cell in ("gru", "lstm"):
        base = dict(theory.parameters(cell))
        t0 = time.time()
        out.append(bias_sweep(cell, (-2.0, 0.0, 2.0, 4.0), base, width=128, ensemble=16, steps=60, seed=300))
        print(f"{cell} sweep ({time.time() - t0:.0f} s)", flush=True)
    return out


def ladder():
    rows = []
    widths = [32, 64, 128, 256]
    for cell in ("gru", "lstm"):
        p = dict(theory.parameters(cell))
        preds = {q: float(theory.predict(cell, q, **p)) for q in ("Q_star", "lambda_max", "chi")}
        if cell == "lstm":
            preds["Q_c_star"] = float(theory.predict(cell, "Q_c_star", **p))
        obs = {"Q_star": "Q_h", "lambda_max": "growth", "chi": "chi", "Q_c_star": "Q_c"}
        for regime in ("untied", "tied"):
            means = {q: [] for q in preds}
            ses = {q: [] for q in preds}
            for n in widths:
                cfg = GatedPoint(cell, p, width=n, ensemble=16, steps=40, regimes=(regime,), seed=500 + n)
                rep = verify_point(cfg, finalize=False)
                s = rep.stats[regime]
                win = late_window(40, 0.5)
                for q in preds:
                    e = ensemble_estimate(window_average(s[obs[q]], win))
                    means[q].append(float(e.mean))
                    ses[q].append(float(e.se))
            k = bonferroni_k(2 * len(preds) * 2, 16)
            for q in preds:
                x_inf, se_inf, a, se_a = extrapolate_width(widths, means[q], ses[q])
                gap = x_inf - preds[q]
                verdict = "agree" if abs(gap) <= k * se_inf else ("closure-limited" if regime == "tied" else "disagree")
                rows.append({"cell": cell, "regime": regime, "quantity": q, "prediction": preds[q], "widths": widths,
                             "means": means[q], "ses": ses[q], "x_inf": x_inf, "x_inf_se": se_inf, "a": a, "a_se": se_a,
                             "k": k, "verdict": verdict})
                print(f"{cell} {regime} {q}: pred {preds[q]:.5g} X_inf {x_inf:.5g} ± {se_inf:.2g} (a {a:.3g}) -> {verdict}",
                      flush=True)
    return rows


def population_grid():
    c = theory.cell("lstm")
    rows = []
    for sf in (0.0, 1.0, 2.5):
        for mu in (-1.0, 1.0, 3.0):
            p = theory.api.resolve_params(c, {"mu_b_f": mu, "sigma_w_f": sf, "sigma_v_f": sf})
            res = population.solve(c, p, size=1 << 14, replicas=16, seed=9)
            row = {"mu_b_f": mu, "sigma_f": sf, "burn": res.burn}
            for key, q in (("Q_h", "Q_star"), ("Q_c", "Q_c_star"), ("growth", "lambda_max"), ("kurtosis_c", "kurtosis_c")):
                row[q] = {"closure": float(theory.predict("lstm", q, **p)), "population": res.mean[key], "se": res.se[key]}
            rows.append(row)
            print(f"lstm sigma_f={sf} mu_f={mu}: " + "  ".join(
                f"{q} {row[q]['closure']:.5g}/{row[q]['population']:.5g}±{row[q]['se']:.1g}" for q in ("Q_star", "lambda_max", "kurtosis_c")),
                flush=True)
    return rows


def main(argv=None):
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv))
    parts = args.get("part", "points,sweep,ladder,population").split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    if "points" in parts or "sweep" in parts:
        reps = points() if "points" in parts else []
        sweeps = sweep() if "sweep" in parts else []
        write_report(OUT / ("points" if reps else "sweep"), reps, sweeps, meta={"script": "benchmarks/gated_cpu_report.py"})
        if reps:
            (OUT / "points_table.txt").write_text(table(reps) + "\n")
    if "extra" in parts:
        reps = extra()
        write_report(OUT / "points_extra", reps, meta={"script": "benchmarks/gated_cpu_report.py part=extra"})
        (OUT / "points_extra_table.txt").write_text(table(reps) + "\n")
    if "ladder" in parts:
        (OUT / "width_ladder.json").write_text(json.dumps(ladder(), indent=1))
    if "population" in parts:
        (OUT / "population_vs_closure.json").write_text(json.dumps(population_grid(), indent=1))


if __name__ == "__main__":
    main()
