r"""Critical initialisation of real (tied-weight) networks: the parameter where the tied
:math:`\lambda_{\max}=1` (or :math:`=e^{-1/\xi}` for a requested perturbation timescale ξ).

The tied λ_max is a Monte-Carlo estimate; with **common random numbers** (one seed, a fixed number
of steps and burn-in, so every evaluation sees the same standard normals) it is a smooth function of
the parameter, and an ordinary bracketed root solve applies to it: a scan of ``bracket`` finds the
first crossing of the target, Brent's method refines it.  The uncertainty of the root is the
Monte-Carlo error propagated through the slope, :math:`\delta\theta=\mathrm{SE}(\lambda)/|d\lambda/d\theta|`
(the slope from the bracketing scan points); the root-finder's own tolerance is far below it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from .. import api
from ..criticality.result import CriticalInit
from .api import solve

#: scan points of the bracket
SCAN = 9
#: first run length of an adaptive solve, and the longest it doubles to
START_STEPS = 160
MAX_STEPS = 1280
#: a root whose lambda_max moves by more than this many combined SEs when the run is doubled is not stationary
STATIONARY_Z = 3.0


def default_solve_for(c) -> str:
    """The memory-gate bias mean of a gated cell (``mu_b_f`` for the LSTM, ``mu_b_z`` for a GRU), else σ_w."""
    gate = getattr(c, "memory_gate", None)
    return f"mu_b_{gate}" if gate else "sigma_w"


def critical_init_tied(name, *, solve_for: str | None = None, target: float = 1.0, xi: float | None = None,
                       bracket=None, paths: int = 4096, steps: int | None = None, burn: int | None = None,
                       seed: int = 0, max_steps: int = MAX_STEPS, **params) -> CriticalInit:
    """Parameter ``solve_for`` (default :func:`default_solve_for`) where the tied λ_max equals
    ``target`` (or ``exp(-1/xi)`` when ``xi`` is given), other parameters at ``params``/defaults.

    Returns a :class:`~theory.criticality.result.CriticalInit` with ``theory="tied"``, ``predicted`` =
    ``{"lambda_max", "lambda_max_se", "xi"}`` (the solver's tied values at the root) and ``details`` =
    ``{"solve_for", "value", "value_se", "target", "paths", "steps", "seed"}`` (``value_se`` =
    SE(λ)/|dλ/dθ|, the root's error); ``feasible`` is False (with the reason) when the target is not
    crossed inside ``bracket`` (default: (-4, 12) for a bias mean, (0.05, 6) for a scale).

    Stationarity: λ_max is the late-window rate of a run of ``steps`` steps (window: after ``burn``,
    default ``steps // 2``).  A slow cell (a memory gate near 1) can still be relaxing there, and
    its root then belongs to the transient, not the stationary network.  At the root the rate is
    therefore recomputed over twice the steps; when the two differ by more than
    :data:`STATIONARY_Z` combined SEs, ``steps=None`` (default: start at :data:`START_STEPS`) doubles the
    steps and solves again, up to ``max_steps``; a drift left there, or with ``steps`` given, is
    warned and said in ``message`` and ``details["drift"]``.

    Accuracy: the default 4096 paths run as 8 groups of 512, whose self-consistency bias (O(1/size),
    :data:`theory.tied.api.GROUP_PATHS`) is as large as the Monte-Carlo error; the LSTM's ξ = 10 root at
    4096 paths gave real networks ξ = 9.4, at 16384 paths 9.9 (README, examples/lstm_timescales.py).
    Pass ``paths=16384`` or more when the root's value matters beyond its stated SE."""
    c = api.cell(name)
    solve_for = solve_for or default_solve_for(c)
    members = api.axis_members(c, solve_for, role="solve_for")  # "sigma_w": every gate's scale together
    if xi is not None:
        if isinstance(xi, bool) or not (isinstance(xi, (int, float)) and math.isfinite(xi) and xi > 0):
            raise ValueError(f"xi must be a positive finite number of steps, got {xi!r}")
        target = math.exp(-1.0 / float(xi))
    if isinstance(target, bool) or not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
        raise ValueError(f"target must be a positive growth factor, got {target!r}")
    if bracket is None:
        bracket = (-4.0, 12.0) if solve_for.startswith("mu_b") else (0.05, 6.0)
    lo, hi = (float(b) for b in bracket)
    if not lo < hi:
        raise ValueError(f"bracket must be (low, high) with low < high, got {bracket!r}")
    fixed = sorted(set(members) & set(params))
    if fixed and fixed != [solve_for]:
        raise ValueError(f"{solve_for} is solved for; do not also fix {fixed}")
    base = api.resolve_params(c, {k: v for k, v in params.items() if k not in members})
    adaptive = steps is None
    steps = START_STEPS if adaptive else steps
    while True:
        r = _root(c, solve_for, members, base, target, xi, lo, hi, paths, steps, burn, seed)
        if not r.feasible:
            return r
        check = solve(c, paths=paths, steps=2 * steps, burn=steps if burn is None else burn, seed=seed, pairs=False,
                      **r.params)
        drift = check.mean["lambda_max"] - r.predicted["lambda_max"]
        drift_se = math.hypot(check.se["lambda_max"], r.predicted["lambda_max_se"])
        stationary = abs(drift) <= STATIONARY_Z * drift_se
        if stationary or not adaptive or 2 * steps > max_steps:
            break
        steps *= 2
    details = {**r.details, "drift": drift, "drift_se": drift_se}
    if stationary:
        return replace(r, details=details)
    note = (f"not stationary: over {2 * steps} steps lambda_max at the root is {check.mean['lambda_max']:.6g} "
            f"({drift:+.2g} +- {drift_se:.1g}); the root is that of a still-relaxing network"
            + ("" if adaptive else ", give steps=None to extend the run") )
    warnings.warn(f"{c.name}: tied critical init {note}", RuntimeWarning, stacklevel=3)
    return replace(r, message=f"{r.message}; {note}", details=details)


def _root(c, solve_for, members, base, target, xi, lo, hi, paths, steps, burn, seed) -> CriticalInit:
    """The root of the tied λ_max = target in ``solve_for`` at one run length (common random numbers)."""
    burn = steps // 2 if burn is None else burn  # given explicitly: no automatic extension (CRN)

    def lam(v):
        # a scan point far from the root may not be stationary (a memory gate near 1: the cell state
        # diffuses); its drift warning says nothing about the root, whose own run is checked (and its
        # warnings shown) by critical_init_tied
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = solve(c, paths=paths, steps=steps, burn=burn, seed=seed, pairs=False,
                      **{**base, **{m: v for m in members}})
        return s.mean["lambda_max"] - target, s

    grid = np.linspace(lo, hi, SCAN)
    vals = []
    for v in grid:
        f, s = lam(v)
        vals.append((v, f, s))
        if len(vals) > 1 and np.sign(vals[-2][1]) != np.sign(f) and math.isfinite(f) and math.isfinite(vals[-2][1]):
            break
    crossing = [(a, b) for a, b in zip(vals[:-1], vals[1:]) if math.isfinite(a[1]) and math.isfinite(b[1])
                and np.sign(a[1]) != np.sign(b[1])]
    criterion = f"tied lambda_max = {target:.6g}" + ("" if xi is None else f" = exp(-1/xi), xi = {xi:g}")
    method = (f"scan of {solve_for} over [{lo:g}, {hi:g}], then Brent on the tied solver's lambda_max "
              f"(common random numbers, seed {seed}, {paths} paths, {steps} steps)")

    def result(p, feasible, message, value=math.nan, value_se=math.nan, lam=math.nan, lam_se=math.nan):
        xi_at = -1.0 / math.log(lam) if 0 < lam < 1 else (math.inf if lam >= 1 else math.nan)
        return CriticalInit(cell=c.name, params={k: float(v) for k, v in p.items()}, theory="tied",
                            criterion=criterion, feasible=feasible, message=message, method=method,
                            predicted={"lambda_max": lam, "lambda_max_se": lam_se, "xi": xi_at},
                            details={"solve_for": solve_for, "value": value, "value_se": value_se, "target": target,
                                     "paths": paths, "steps": steps, "seed": seed})

    if not crossing:
        return result(base, False, f"tied lambda_max = {target:.6g} is not crossed for {solve_for} in [{lo}, {hi}] "
                                   f"(lambda_max - target from {vals[0][1]:+.4g} to {vals[-1][1]:+.4g})")
    (a, fa, _), (b, fb, _) = crossing[0]
    from scipy.optimize import brentq
    cache = {}

    def f(v):
        if v not in cache:
            cache[v] = lam(v)
        return cache[v][0]

    root = brentq(f, a, b, xtol=1e-6 * max(1.0, abs(a), abs(b)), rtol=1e-10)
    _, sol = cache.get(root) or lam(root)
    slope = (fb - fa) / (b - a)
    lam_se = sol.se["lambda_max"]
    lam_v = sol.mean["lambda_max"]
    root_se = abs(lam_se / slope) if slope else math.inf
    return result({**base, **{m: root for m in members}}, True,
                  f"{solve_for} = {root:.6g} +- {root_se:.2g} gives tied lambda_max = {lam_v:.6g} "
                  f"(target {target:.6g}; common random numbers, seed {seed}, {paths} paths, {steps} steps)",
                  value=root, value_se=root_se, lam=lam_v, lam_se=lam_se)


def critical_line_tied(c, along: str, values, solve_for: str | None = None, **params) -> dict:
    """``theory.critical_line(cell, along=..., values=..., tied=True)``: for each value of ``along`` (a
    parameter or family), :func:`critical_init_tied`'s root of the tied λ_max = 1 in ``solve_for``.
    Returns ``{along: values, solve_for: roots, solve_for + "_se": their SEs}``; NaN (and a warning
    saying why) where the line is not crossed inside the bracket.  ``params`` holds cell parameters
    and the solver's options (``paths``, ``steps``, ``burn``, ``seed``, ``bracket``)."""
    import sys
    import time
    import warnings

    from ..validate import finite
    solve_for = solve_for or default_solve_for(c)
    moved, _ = api.axis_pair(c, along, solve_for, roles=("along", "solve_for"))
    vals = np.atleast_1d(np.asarray(finite("values", values), dtype=float))
    roots, ses, missed = np.full(vals.shape, np.nan), np.full(vals.shape, np.nan), []
    t0 = time.time()
    for i, v in enumerate(vals):
        r = critical_init_tied(c, solve_for=solve_for, **params, **{m: float(v) for m in moved})
        if r.feasible:
            roots[i], ses[i] = r.details["value"], r.details["value_se"]
        else:
            missed.append(f"{along}={v:g}: {r.message}")
        if vals.size > 1:  # seconds per value: say how far it is
            print(f"\rtied critical line of {c.name}: {i + 1}/{vals.size} values, {time.time() - t0:.0f} s",
                  end="" if i + 1 < vals.size else "\n", file=sys.stderr)
    if missed:
        warnings.warn(f"{c.name}: tied lambda_max = 1 not crossed at {len(missed)} of {vals.size} values (NaN): "
                      + "; ".join(missed[:3]), RuntimeWarning, stacklevel=3)
    return {along: vals, solve_for: roots, f"{solve_for}_se": ses}


api.register_tied(critical_line=critical_line_tied)

__all__ = ["critical_init_tied", "critical_line_tied", "default_solve_for"]
