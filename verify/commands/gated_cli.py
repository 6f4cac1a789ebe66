"""``verify cell=gru|lstm ...`` and the gated part of ``verify all`` (dispatched from verify.cli).

Single cell: same keys as other cells (width, ensemble, steps, tied, seed, probes, Q0, C0,
window, out, plots, quiet, parameters) plus ``bias=MU1,MU2,...`` for a memory-gate bias sweep.
Suite points, chosen by rule in advance: ``default`` (theory defaults), ``chaotic`` (every
``sigma_w_*`` set to the common value where the theory's lambda_max = :data:`CHAOTIC_LAMBDA`; chi is
not the criterion for the LSTM: chi > 1 while lambda_max < 1 is common), ``inputs-differ``
(``Sigma = 0.5``), and the bias sweep :data:`SUITE_BIASES` of the memory gate (untied and tied),
from short to long memory.  Horizon ``T = clip(12 xi_q, 40, 150)`` from the theory.
"""

from __future__ import annotations

import math
import sys

from .cliutil import REGIMES, BadInput, check_out, parse_bool, parse_choice, parse_float, parse_int, progress_printer

CHAOTIC_LAMBDA = 1.2
SUITE_BIASES = (-2.0, 0.0, 2.0, 4.0)
SUITE_POPULATION_SIZE = 1 << 12
"""Samples per replica of the population-dynamics reference in the suite's bias sweep (reported beside
the Gaussian closure, not a check; the theory's default is 2^15).  Its SE grows by sqrt(8) ~ 2.8 (8
replicas: lambda_max SE 1e-4..8e-4 at N = 64), still below the simulated ensemble's SE (7e-4..2e-3 at
E = 32), so the population column still resolves what the simulation can; the solve is 8x cheaper."""
STEPS_PER_XI, MIN_STEPS, MAX_STEPS = 12, 40, 150
KEYS = ("width", "ensemble", "steps", "tied", "seed", "probes", "Q0", "C0", "window", "out", "plots", "quiet",
        "bias")
#: keys of the single-field verify command a gated run does not serve, with the reason (issue 18:
#: accepted and silently ignored before)
REFUSED = {"widths": "the width sweep (widths=N1,N2,...) is served for single-field cells; a gated run takes one "
                     "width=N (its finite-width check compares N and 2N itself)",
           "dtype": "gated simulations run in float64 only (dtype= is for single-field cells)"}


def horizon(cell, params) -> int:
    import theory

    try:
        xi = float(theory.predict(cell, "xi_q", **params))
    except (RuntimeError, ArithmeticError):
        return MIN_STEPS
    return int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(STEPS_PER_XI * xi)))) if math.isfinite(xi) else MAX_STEPS


def parse(kv: dict) -> dict:
    import theory

    cell = kv.pop("cell")
    params = dict(theory.parameters(cell))
    for k, why in REFUSED.items():
        if k in kv:
            raise BadInput(f"{k}= is not accepted for {cell}: {why}")
    unknown = [k for k in kv if k not in KEYS and k not in params]
    if unknown:
        raise BadInput(f"unknown key {unknown[0]!r} for {cell}; valid keys: cell, {', '.join(sorted(KEYS + tuple(params)))}")
    for k in list(kv):
        if k in params:
            params[k] = parse_float(k, kv.pop(k))
    try:
        theory.api.resolve_params(theory.cell(cell), params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    s = {"cell": cell, "params": params,
         "width": parse_int("width", kv.get("width", "128"), 2), "ensemble": parse_int("ensemble", kv.get("ensemble", "32"), 2),
         "seed": parse_int("seed", kv.get("seed", "0"), 0), "probes": parse_int("probes", kv.get("probes", "2"), 1),
         "Q0": parse_float("Q0", kv.get("Q0", "0.5")), "C0": parse_float("C0", kv.get("C0", "0")),
         "window": parse_float("window", kv.get("window", "0.5")), "out": kv.get("out", f"out/verify-{cell}"),
         "plots": parse_bool("plots", kv.get("plots", "true")), "quiet": parse_bool("quiet", kv.get("quiet", "false"))}
    s["steps"] = parse_int("steps", kv["steps"], 4) if "steps" in kv else horizon(cell, params)
    tied = parse_choice("tied", kv.get("tied", "both"), ("true", "false", "both"))
    s["regimes"] = REGIMES[tied]
    if s["Q0"] < 0 or abs(s["C0"]) > s["Q0"]:
        raise BadInput(f"need Q0 >= 0 and |C0| <= Q0; got Q0={s['Q0']}, C0={s['C0']}")
    s["bias"] = [parse_float("bias", b) for b in kv["bias"].split(",")] if "bias" in kv else []
    return s


def run_cell(kv: dict) -> int:
    from ..judge.gated import GatedPoint, bias_sweep, table, verify_point, write_report

    s = parse(dict(kv))
    check_out(s["out"])
    progress = progress_printer(s["quiet"])
    cfg = GatedPoint(s["cell"], s["params"], width=s["width"], ensemble=s["ensemble"], steps=s["steps"],
                     regimes=s["regimes"], seed=s["seed"], probes=s["probes"], Q0=s["Q0"], C0=s["C0"],
                     window_fraction=s["window"], label="cli")
    if progress:
        progress(f"{cfg.cell}: N={cfg.width} E={cfg.ensemble} T={cfg.steps} {','.join(cfg.regimes)}")
    rep = verify_point(cfg)
    sweeps = []
    if s["bias"]:
        if progress:
            progress(f"bias sweep {s['bias']}")
        sweeps.append(bias_sweep(s["cell"], s["bias"], s["params"], width=s["width"], ensemble=s["ensemble"],
                                 steps=s["steps"], regimes=s["regimes"], seed=s["seed"] + 100))
    path = write_report(s["out"], [rep], sweeps, meta={"argv": sys.argv[1:]}, plots=s["plots"])
    print(table([rep]))
    _print_sweeps(sweeps)
    print(f"verdict: {rep.verdict()}\nreport: {path}")
    bad = rep.verdict() == "disagree" or any(c.verdict == "disagree" for sw in sweeps for c in sw["checks"])
    return 1 if bad else 0


def _print_sweeps(sweeps):
    from ..judge.gated import xi_from_lambda

    for sw in sweeps:
        print(f"\n{sw['cell']} bias sweep over {sw['gate_bias']} (N={sw['width']}, E={sw['ensemble']}, T={sw['steps']}):")
        for r in sw["rows"]:
            lam = r["theory"].get("lambda_max")
            parts = [f"{sw['gate_bias']}={r['mu']:+.1f}  theory lambda {lam:.4f} (xi {-1 / math.log(lam):.3g})" if lam else ""]
            for regime in ("untied", "tied"):
                if regime in r and "lambda_max" in r[regime]:
                    e = r[regime]["lambda_max"]
                    xi, xse = xi_from_lambda(e["estimate"], e["se"])
                    parts.append(f"{regime} {e['estimate']:.4f}±{e['se']:.1g} (xi {xi:.3g}±{xse:.1g}) {e.get('verdict', '')}")
            if "lambda_max" in r.get("population", {}):
                parts.append(f"population {r['population']['lambda_max']:.4f}")
            print("  " + "  |  ".join(parts))


def chaotic_sigma_w(cell, target=CHAOTIC_LAMBDA):
    """Common recurrent scale with theory lambda_max = ``target`` (numba scan + brentq)."""
    import numpy as np
    import theory

    from .suite import first_bracketed_root

    base = dict(theory.parameters(cell))
    names = [k for k in base if k.startswith("sigma_w_")]

    def f(s):
        try:
            return float(theory.predict(cell, "lambda_max", **{**base, **{k: s for k in names}})) - target
        except (RuntimeError, ArithmeticError):
            return float("nan")
    root = first_bracketed_root(f, np.linspace(0.5, 12.0, 47))
    if root is not None:
        return root
    raise RuntimeError(f"{cell}: lambda_max = {target} not bracketed for sigma_w in [0.5, 12]")


def suite_points(cell, width, ensemble, seed):
    import theory

    from ..judge.gated import GatedPoint

    base = dict(theory.parameters(cell))
    sw = chaotic_sigma_w(cell)
    chaotic = {**base, **{k: sw for k in base if k.startswith("sigma_w_")}}
    pts = [("default", base), ("chaotic", chaotic), ("inputs-differ", {**base, "Sigma": 0.5})]
    return [GatedPoint(cell, p, width=width, ensemble=ensemble, steps=horizon(cell, p), seed=seed + i, label=label)
            for i, (label, p) in enumerate(pts)]


def run_suite(cells, *, width, ensemble, seed, out, plots, quiet) -> int:
    """The gated part of ``verify all``: standard points and a memory-gate bias sweep per cell."""
    import theory

    from ..judge.compare import assign_verdicts
    from ..judge.gated import bias_sweep, population_rejudge, table, verify_point, write_report

    progress = progress_printer(quiet)
    reports, sweeps = [], []
    for cell in cells:
        points = suite_points(cell, width, ensemble, seed)
        base = dict(theory.parameters(cell))
        steps = max(horizon(cell, {**base, f"mu_b_{theory.cell(cell).memory_gate}": b}) for b in SUITE_BIASES)
        # two compiled programs per cell, each serving both regimes: the points' (the longest of
        # their horizons; each run keeps its own first T steps, the same statistics as a T-step run)
        # and the bias sweep's (all biases batched, verify.judge.gated.bias_sweep)
        program_steps = max(cfg.steps for cfg in points)
        for cfg in points:
            if progress:
                progress(f"gated {cell} {cfg.label} T={cfg.steps}")
            reports.append(verify_point(cfg, finalize=False, program_steps=program_steps))
        if progress:
            progress(f"gated {cell} bias sweep {SUITE_BIASES} T={steps}")
        sweeps.append(bias_sweep(cell, SUITE_BIASES, base, width=width, ensemble=ensemble, steps=steps, seed=seed + 50,
                                 population_size=SUITE_POPULATION_SIZE))
    m = {"trajectory": sum(c.kind == "trajectory" and c.verdict == "" for r in reports for c in r.checks),
         "point": sum(c.kind != "trajectory" and c.verdict == "" for r in reports for c in r.checks)}
    for r in reports:
        assign_verdicts(r.checks, True, m=m)
        population_rejudge(r)
    path = write_report(out, reports, sweeps, meta={"argv": sys.argv[1:], "suite": "gated"}, plots=plots)
    print(table(reports))
    _print_sweeps(sweeps)
    print(f"gated report: {path}")
    bad = any(r.verdict() == "disagree" for r in reports) or any(
        c.verdict == "disagree" for sw in sweeps for c in sw["checks"])
    return 1 if bad else 0
