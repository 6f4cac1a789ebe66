r"""``verify study=dying-relu``: born-dead ReLU networks simulated against the theory (05-dying-relu.md).

Huge ensembles of small networks (:mod:`verify.studies.dying_relu_sim`, ``vmap`` + ``shard_map`` over all
devices) measured against :mod:`theory.studies.dying_relu`:

1. **Point collapse** (input ``x = +1``): ``P(x^l = 0)`` for every depth ``l <= depth`` per width and
   init, exact two-sided binomial test against :math:`1-(1-2^{-N})^l` for the inits satisfying A3
   (He, orthogonal); the censored hazard ``deaths / layers at risk`` against :math:`2^{-N}`;
   **power check**: the same tests against the wrong law with :math:`2^{1-N}` must reject.
   Rademacher weights (atoms, A3 fails) and RAI are reported against the same curve, no verdict.
2. **Dead-unit fraction per layer** at the point against ``dead_fraction_point`` (exact).
3. **Norms**: ``E[Q_l/Q_0] = 1`` with ``Q = |x|^2/dim`` (He, sigma_w^2 = 2: the mean-field map is exact
   for the mean) at depths where the exact relative variance ``(1+5/N)^l - 1 <= 1``, SE from that
   variance; survivors' medians beside mean field.
4. **Domain, d = 1** (interval [-1, 1]): bias-free nets are dead on it iff dead at +1 and -1 (exact);
   RAI (biases) by exact breakpoint tracking.  Compared with ``bdp_upper``, ``bdp_lower`` (one-sided
   tests: the bounds must hold), ``domain_bdp`` (He, N <= 64: the exact law computed to +-1e-3;
   two-sided exact binomial test against the nearest end of that interval, a verdict) and
   ``bdp_estimate`` (reported, an approximation).
5. **Domain, d >= 2**: a regular grid of ``g^d`` points on [-1, 1]^d (resolution ``2/(g-1)``) and its
   every-other-point sub-grid; a finite sample can only over-estimate the born-dead probability.
6. **RAI vs He**: born-dead frequency on the d = 1 domain at depth ``L* = min(depth, round(2^N ln 2))``
   (the median first-death depth of He nets, where the difference is large), one-sided Fisher test.
7. **ReLU RNN** at sigma_w^2 = 2: tied and untied, input every step: ``|h_t|^2/N``, fraction of
   inactive and never-active units, polynomial vs exponential fits; input only at t = 1: death of
   untied nets against the exact point law (verdict), tied reported beside it (open question, 05 §7).

All p-values of the report share one Bonferroni budget ``ALPHA / m``; a check disagrees when its
p-value is below it.  Exit status 0 all agree, 1 some disagree, 2 bad input.
"""
from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..reporting.atomic import begin, write_json, write_manifest
from ..reporting.jsonutil import jsonable
from .dying_relu_checks import (ALPHA, Checks, dead_by, analyse_domain, analyse_point, analyse_rnn,
                                rai_vs_he)

LOGRATIO_KEEP = 2000
"""Networks whose per-layer log norm ratios are kept for medians and quantiles."""

USAGE = """\
usage: verify study=dying-relu [key=value ...]

keys (defaults in brackets):
  width=2,4,8         hidden widths
  depth=1:100         depths reported (simulated up to the last); "100" means 1:100
  ensemble=100000     networks per (width, init)
  init=he,rai         from he, orthogonal, rademacher, rai (he is always included)
  domain_ensemble=E   networks for the domain runs (default: ensemble)
  d=2 grid=9          sampled domain: dimension and points per axis of the grid on [-1, 1]^d
  capacity=C          breakpoints kept by the exact d = 1 tracker (default max(32, 8 N))
  rnn_width=16,64 rnn_steps=200 rnn_ensemble=256 death_width=2,3,4
  seed=0 dtype=float64|float32 chunk=8192 out=out/verify-dying-relu plots=true quiet=false
exit status: 0 all agree, 1 some disagree, 2 bad input
"""


class BadInput(ValueError):
    """A one-line message for the user; exit status 2."""


@dataclass
class Config:
    widths: tuple = (2, 4, 8)
    depth_lo: int = 1
    depth: int = 100
    ensemble: int = 100000
    inits: tuple = ("he", "rai")
    domain_ensemble: Optional[int] = None
    d: int = 2
    grid: int = 9
    capacity: Optional[int] = None
    rnn_widths: tuple = (16, 64)
    rnn_steps: int = 200
    rnn_ensemble: int = 256
    death_widths: tuple = (2, 3, 4)
    seed: int = 0
    dtype: str = "float64"
    chunk: int = 8192
    out: str = "out/verify-dying-relu"
    plots: bool = True
    quiet: bool = False
    argv: list = field(default_factory=list)


def _ints(key, v, lo, many=True):
    try:
        xs = [int(s) for s in v.split(",")] if many else [int(v)]
    except ValueError:
        raise BadInput(f"{key} must be {'comma-separated integers' if many else 'an integer'}, got {v!r}") from None
    if any(x < lo for x in xs):
        raise BadInput(f"{key} must be >= {lo}, got {v!r}")
    return tuple(xs) if many else xs[0]


def parse(kv: dict) -> Config:
    """Typed settings from ``key=value`` strings (already split); BadInput on anything invalid."""
    from .dying_relu_sim import INITS
    kv = dict(kv)
    kv.pop("study", None)
    keys = ("width", "depth", "ensemble", "init", "domain_ensemble", "d", "grid", "capacity", "rnn_width",
            "rnn_steps", "rnn_ensemble", "death_width", "seed", "dtype", "chunk", "out", "plots", "quiet")
    bad = [k for k in kv if k not in keys]
    if bad:
        raise BadInput(f"unknown key {bad[0]!r} for study=dying-relu; valid keys: {', '.join(keys)}")
    c = Config(argv=[f"{k}={v}" for k, v in kv.items()])
    if "width" in kv:
        c.widths = _ints("width", kv["width"], 1)
    if "depth" in kv:
        parts = kv["depth"].split(":")
        if len(parts) > 2:
            raise BadInput(f"depth must be L or A:B, got {kv['depth']!r}")
        lo, hi = (_ints("depth", parts[0], 1, False), _ints("depth", parts[-1], 1, False))
        if lo > hi:
            raise BadInput(f"depth A:B needs A <= B, got {kv['depth']!r}")
        c.depth_lo, c.depth = (lo, hi) if len(parts) == 2 else (1, hi)
    for key, attr, lo in (("ensemble", "ensemble", 2), ("domain_ensemble", "domain_ensemble", 2), ("d", "d", 2),
                          ("grid", "grid", 2), ("capacity", "capacity", 4), ("rnn_steps", "rnn_steps", 8),
                          ("rnn_ensemble", "rnn_ensemble", 2), ("seed", "seed", 0), ("chunk", "chunk", 1)):
        if key in kv:
            setattr(c, attr, _ints(key, kv[key], lo, False))
    for key, attr in (("rnn_width", "rnn_widths"), ("death_width", "death_widths")):
        if key in kv:
            setattr(c, attr, _ints(key, kv[key], 1))
    if "init" in kv:
        inits = tuple(kv["init"].split(","))
        for i in inits:
            if i not in INITS:
                raise BadInput(f"unknown init {i!r}; choose from {', '.join(INITS)}")
        c.inits = tuple(dict.fromkeys(("he",) + inits))
    else:
        c.inits = tuple(dict.fromkeys(("he",) + c.inits))
    if "dtype" in kv:
        if kv["dtype"] not in ("float64", "float32"):
            raise BadInput(f"dtype must be float64 or float32, got {kv['dtype']!r}")
        c.dtype = kv["dtype"]
    for key in ("plots", "quiet"):
        if key in kv:
            v = kv[key].lower()
            if v not in ("true", "false"):
                raise BadInput(f"{key} must be true or false, got {kv[key]!r}")
            setattr(c, key, v == "true")
    c.out = kv.get("out", c.out)
    from ..commands.cliutil import check_out

    check_out(c.out)
    return c


# ----------------------------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------------------------

def _hist(first, depth):
    return np.bincount(np.asarray(first, dtype=np.int64), minlength=depth + 2)[: depth + 2]


def _points_reducer(depth):
    def reduce(acc, out, n):
        ratio = np.exp(np.asarray(out["log_ratio"], dtype=np.float64))
        part = {"n": n, "hist_point": _hist(out["first_dead_point"], depth), "hist": _hist(out["first_dead"], depth),
                "hist_sub": _hist(out["first_dead_sub"], depth) if "first_dead_sub" in out else None,
                "frac_point": out["dead_frac_point"].sum(0), "frac_point_sq": (out["dead_frac_point"] ** 2).sum(0),
                "frac": out["dead_frac"].sum(0), "ratio": ratio.sum(0), "ratio_sq": (ratio ** 2).sum(0),
                "log_ratio": out["log_ratio"][:LOGRATIO_KEEP]}
        if acc is None:
            return part
        merged = {k: (acc[k] + part[k] if k not in ("log_ratio",) and acc[k] is not None else acc[k]) for k in acc}
        keep = LOGRATIO_KEEP - acc["log_ratio"].shape[0]
        merged["log_ratio"] = np.concatenate([acc["log_ratio"], part["log_ratio"][:max(keep, 0)]])
        return merged
    return reduce


def run_points(c: Config, width: int, init: str, inputs, ensemble: int, progress, sub=None):
    """One (width, init) ensemble through :func:`points_network` on ``inputs``; ``sub`` (indices):
    also record the first layer dead on that subset of inputs."""
    import jax
    from .dying_relu_sim import NetShape, points_network, run_ensemble
    shape = NetShape(width, c.depth, int(np.asarray(inputs).shape[1]), init, c.dtype)
    master = jax.random.key(c.seed)
    inputs = np.asarray(inputs, dtype=float)

    return run_ensemble(lambda i: points_network(shape, master, i, inputs, sub), ensemble, c.chunk,
                        reduce=_points_reducer(c.depth), progress=progress)


def run_tracker(c: Config, width: int, init: str, ensemble: int, progress):
    import jax
    from .dying_relu_sim import NetShape, run_ensemble, tracked_network
    shape = NetShape(width, c.depth, 1, init, c.dtype)
    cap = c.capacity or max(32, 8 * width)
    master = jax.random.key(c.seed)

    def fn(i):
        o = tracked_network(shape, master, i, capacity=cap)
        return {"first_dead": o["first_dead"], "overflow": o["overflow"], "points": o["points"]}

    def reduce(acc, out, n):
        part = {"n": n, "hist": _hist(out["first_dead"], c.depth), "overflow": int(out["overflow"].sum()),
                "max_points": int(out["points"].max())}
        if acc is None:
            return part
        return {"n": acc["n"] + n, "hist": acc["hist"] + part["hist"], "overflow": acc["overflow"] + part["overflow"],
                "max_points": max(acc["max_points"], part["max_points"])}
    res = run_ensemble(fn, ensemble, c.chunk, reduce=reduce, progress=progress)
    res["capacity"] = cap
    return res


RNN_CHUNK_BYTES = 2 ** 31
"""Live weight bytes per RNN chunk: about three N x N matrices per network (draw, cast, product)."""


def run_rnn(c: Config, width: int, tied: bool, steps: int, ensemble: int, input_steps, progress):
    import jax
    from .dying_relu_sim import RnnShape, rnn_network, run_ensemble
    shape = RnnShape(width, steps, tied, input_steps=input_steps, dtype=c.dtype)
    master = jax.random.key(c.seed + 7)
    per_net = 3 * width * width * (8 if c.dtype == "float64" else 4) + 64 * steps
    chunk = max(1, min(c.chunk, RNN_CHUNK_BYTES // per_net))
    return run_ensemble(lambda i: rnn_network(shape, master, i), ensemble, chunk, progress=progress)


def grid_points(d: int, g: int):
    """``g**d`` points of the regular grid on [-1, 1]^d (spacing 2/(g-1)) and the indices of the
    sub-grid of every other point per axis (spacing 4/(g-1) for odd g)."""
    axis = np.linspace(-1.0, 1.0, g)
    mesh = np.stack(np.meshgrid(*([axis] * d), indexing="ij"), axis=-1).reshape(-1, d)
    idx = np.arange(g ** d).reshape((g,) * d)[tuple([slice(None, None, 2)] * d)].ravel()
    # input 0 must be a non-zero point (the "point" statistics use it)
    return mesh, idx


def _environment(c: Config) -> dict:
    import os

    from ..reporting.report import environment
    env = environment()
    env["machine"] = {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                      "cpu_count": os.cpu_count()}
    env["dtype"] = c.dtype
    return env


def run_study(c: Config, progress=None) -> dict:
    """Simulate and compare everything; returns the report dict (not yet JSON-safe)."""
    say = progress or (lambda m: None)
    checks, pending = Checks(), []
    point, domain, sampled = {}, {}, {}
    t0 = time.perf_counter()
    E_dom = c.domain_ensemble or c.ensemble
    grid, sub = grid_points(c.d, c.grid)
    for w in c.widths:
        for init in c.inits:
            say(f"point + d=1 domain: N={w} init={init} E={c.ensemble} depth={c.depth}")
            res = run_points(c, w, init, [[1.0], [-1.0]], c.ensemble, progress)
            point[(init, w)] = analyse_point(c, w, init, res, checks, pending)
            if init != "rai":   # bias-free: dead on [-1, 1] iff dead at +1 and -1 (exact)
                domain[(init, w)] = analyse_domain(c, w, init, dead_by(res["hist"], c.depth), res["n"], checks,
                                                   "two points +-1 (exact, bias-free)")
            else:
                say(f"d=1 domain, exact breakpoint tracking: N={w} init=rai E={E_dom}")
                tr = run_tracker(c, w, "rai", E_dom, progress)
                domain[(init, w)] = analyse_domain(
                    c, w, init, dead_by(tr["hist"], c.depth), tr["n"], checks, "breakpoint tracking (exact)",
                    {"overflow": tr["overflow"], "max_points": tr["max_points"], "capacity": tr["capacity"]})
            if init in ("he", "rai"):
                say(f"sampled domain d={c.d}, grid {c.grid}^{c.d}: N={w} init={init} E={E_dom}")
                rs = run_points(c, w, init, grid, E_dom, progress, sub=sub)
                sampled[(init, w)] = analyse_domain(
                    c, w, init, dead_by(rs["hist"], c.depth), rs["n"], checks,
                    f"grid {c.grid}^{c.d} on [-1,1]^{c.d} (spacing {2 / (c.grid - 1):.3g})",
                    {"coarse_dead": dead_by(rs["hist_sub"], c.depth), "coarse_points": int(len(sub)),
                     "points": int(grid.shape[0]), "dead_fraction_domain": rs["frac"] / rs["n"]})
    say("ReLU RNN at sigma_w^2 = 2")
    runs, death = {}, {}
    for w in c.rnn_widths:
        for tied in (True, False):
            runs[(w, "tied" if tied else "untied")] = run_rnn(c, w, tied, c.rnn_steps, c.rnn_ensemble, None, progress)
    for w in c.death_widths:
        for tied in (True, False):
            death[(w, "tied" if tied else "untied")] = run_rnn(c, w, tied, c.depth, E_dom, 1, progress)
    rnn = analyse_rnn(c, runs, death, checks)
    rvh = rai_vs_he(c, domain, point) if "rai" in c.inits else []
    thr = checks.threshold()
    for entry, kind, pv in pending:
        rejected = bool(np.any(pv < thr))
        entry["power_check" if kind == "power" else "negative_control"] = {
            "wrong_law": "2^(1-N) per layer" if kind == "power" else "the 2^-N law (A3 fails for this init)",
            "rejected": rejected, "min_p": float(np.min(pv))}
    for group in (point, domain, sampled):
        for e in group.values():
            for key in ("check", "upper_check", "lower_check", "exact_check"):
                if key in e:
                    e[key.replace("check", "verdict")] = checks.verdict(e.pop(key))
            for sub_ in ("dead_fraction", "norms"):
                if sub_ in e and "check" in e[sub_]:
                    e[sub_]["verdict"] = checks.verdict(e[sub_].pop("check"))
    for e in rnn["death"].values():
        if "check" in e:
            e["verdict"] = checks.verdict(e.pop("check"))
    families = [{"name": n, "comparisons": int(p.size), "min_p": float(np.min(p)),
                 "verdict": "agree" if np.all(p >= thr) else "disagree"} for n, p in checks.items]
    disagree = any(f["verdict"] == "disagree" for f in families) or any(r["verdict"] == "disagree" for r in rvh)
    power_ok = all(e["power_check"]["rejected"] for e, k, _ in pending if k == "power")
    report = {
        "study": "dying-relu", "config": asdict(c), "elapsed_s": time.perf_counter() - t0,
        "rules": {"alpha": ALPHA, "m": checks.m, "threshold": thr,
                  "intervals": f"Wilson {100 * (1 - ALPHA):g}% per depth; DKW band for all depths at once",
                  "tests": "exact binomial (point law, bounds, untied RNN death), normal z (ensemble means), "
                           "one-sided Fisher exact (RAI vs He, own budget ALPHA / #widths)",
                  "depth_convention": "L = hidden layers (Lu et al.: L + 1)"},
        "point": {f"{i} N={w}": v for (i, w), v in point.items()},
        "domain_d1": {f"{i} N={w}": v for (i, w), v in domain.items()},
        "domain_sampled": {f"{i} N={w}": v for (i, w), v in sampled.items()},
        "rai_vs_he": rvh, "rnn": rnn, "families": families,
        "power_checks_all_rejected": power_ok,
        "verdict": "disagree" if disagree else "agree",
        "environment": _environment(c),
    }
    report["summary"] = summary_lines(report)
    return report


def summary_lines(r: dict) -> list:
    out = [f"dying-relu study: {r['verdict']} ({r['rules']['m']} comparisons at alpha/m = "
           f"{r['rules']['threshold']:.2g}; power checks all rejected the 2^(1-N) law: {r['power_checks_all_rejected']})"]
    for key, e in r["point"].items():
        dev = np.max(np.abs(np.asarray(e["freq"]) - np.asarray(e["theory"])))
        tag = e.get("verdict", "no verdict (A3 fails)")
        out.append(f"  point {key}: P(dead by {len(e['freq'])}) = {e['freq'][-1]:.4f} vs 1-(1-2^-N)^L = "
                   f"{e['theory'][-1]:.4f}; max |sim - theory| = {dev:.4f}; hazard {e['hazard']['estimate']:.5f} vs "
                   f"{e['hazard']['theory']:.5f}; {tag}")
    for key, e in r["domain_d1"].items():
        if "domain_bdp" in e:
            x = e["domain_bdp"]
            out.append(f"  domain [-1,1] {key}: P(dead by {len(e['freq'])}) = {e['freq'][-1]:.4f} vs domain_bdp "
                       f"{x['theory'][-1]:.4f} (+-{x['numerical_error']:g}); max |sim - theory| = "
                       f"{x['max_abs_error']:.4f} (bdp_estimate: {e['estimate_max_abs_error']:.4f}); "
                       f"{e.get('exact_verdict', '')}")
    for row in r["rai_vs_he"]:
        d = row["domain"]
        out.append(f"  RAI vs He N={row['width']} at L={row['depth']} (domain [-1,1]): He {d['he_freq']:.4f}, "
                   f"RAI {d['rai_freq']:.4f}, Fisher p = {d['fisher_p']:.3g}: {row['verdict']}")
    for key, g in r["rnn"]["growth"].items():
        x = g["exploding"]
        out.append(f"  RNN {key}: {x['count']}/{x['n']} networks grow exponentially (late rate > "
                   f"{x['rate_threshold']}/step), Wilson [{x['wilson'][0]:.3f}, {x['wilson'][1]:.3f}]")
        for label, fk in (("median", "fit_median_log_Q"), ("mean", "fit_log_mean_Q")):
            f = g[fk]
            if f.get("winner") in ("polynomial", "exponential"):
                out.append(f"  RNN {key} ({label} |h_t|^2/N): {f['winner']} fits better: t^{f['polynomial']['slope']:.2f} "
                           f"(rss {f['polynomial']['rss']:.3g}) vs exp({f['exponential']['slope']:.4f} t) "
                           f"(rss {f['exponential']['rss']:.3g}); never-active units at T: {g['never_active'][-1]:.3f}")
    return out


def main(kv: dict) -> int:
    """``verify study=dying-relu key=value ...`` with ``kv`` already split into strings."""
    try:
        c = parse(kv)
    except BadInput as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    progress = None if c.quiet else (lambda m: print(f"[{time.perf_counter() - t0:7.1f}s] {m}", file=sys.stderr,
                                                     flush=True))
    report = run_study(c, progress)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    begin(out)
    if c.plots:
        from .dying_relu_plots import make_all
        report["figures"] = make_all(report, out)
    write_json(out / "report.json", jsonable(report), indent=1)
    write_manifest(out, [*report.get("figures", []), "report.json"])
    print("\n".join(report["summary"]))
    print(f"report: {out / 'report.json'}")
    return 1 if report["verdict"] == "disagree" else 0


#: the CI-sized study behind ``verify all``: about 12 compilations and seconds of simulation on one CPU core
SUITE_ARGS = {"width": "2,4", "depth": "1:16", "ensemble": "4000", "init": "he,rai", "domain_ensemble": "1000",
              "grid": "5", "rnn_width": "8", "rnn_steps": "48", "rnn_ensemble": "32", "death_width": "2"}


def suite_run(out, seed: int = 0, plots: bool = True, quiet: bool = False) -> int:
    """The dying-ReLU part of ``verify all``: :data:`SUITE_ARGS` written to ``out``; exit status 0/1."""
    return main({**SUITE_ARGS, "seed": str(seed), "out": str(out), "plots": str(bool(plots)).lower(),
                 "quiet": str(bool(quiet)).lower()})


if __name__ == "__main__":
    from ..commands.cliutil import split_pairs
    sys.exit(main(split_pairs(sys.argv[1:])))
