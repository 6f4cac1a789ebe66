"""The standard suite behind ``verify all`` (ordered, chaotic, near-critical per cell).

Points are chosen in advance by rule, not tuned to pass:

* ``ordered`` / ``chaotic``: ``sigma_w`` from :data:`ORDERED_SIGMA_W` / :data:`CHAOTIC_SIGMA_W`
  (other parameters at the theory defaults);
* ``near-critical``: ``sigma_w`` solving ``chi(sigma_w) = NEAR_CRITICAL_CHI`` with the theory's
  chi (``xi ~ 10`` steps) between the ordered and chaotic values;
* ``inputs-differ``: the ordered point with input correlation ``Sigma = 0.5`` (recurrent cells):
  ``c* < 1`` persists (01 §4 regime 2);
* horizon ``T = clip(12 max(xi, xi_q), 40, 150)`` from the theory's timescales (so the late-window
  fixed points are reached), the largest over the cell's points with a fixed point and shared by
  them (one compiled program per cell and regime); where the theory has no fixed point (ReLU and
  linear, chaotic) ``T = 40`` and the growing trajectories are compared step by step (over longer
  horizons at small N the spread of ``log Q_t`` grows like ``t/N``, the mean becomes heavy-tailed
  and the fixed-``T`` closure no longer describes a 32-network ensemble).

A width sweep of the gated cell (minimalrnn, ``near-critical`` point, where the tied gap is
largest) over ``N/2, N, 2N`` shows whether the tied-untied gap shrinks with ``N``; the tied
vanilla control is part of every vanilla point.
"""

from __future__ import annotations

import math
from typing import Optional

from scipy.optimize import brentq

from ..judge.compare import PointConfig, theory_defaults
from ..simulators import get as get_simulator

ORDERED_SIGMA_W = {"tanh": 0.8, "erf": 0.6, "relu": 1.0, "hard-tanh": 0.8, "linear": 0.6,
                   "minimalrnn": 1.0}
CHAOTIC_SIGMA_W = {"tanh": 2.5, "erf": 2.0, "relu": 1.6, "hard-tanh": 2.5, "linear": 1.15,
                   "minimalrnn": 8.0}
NEAR_CRITICAL_CHI = 0.9
STEPS_PER_XI = 12
MIN_STEPS, MAX_STEPS = 40, 150
SWEEP_CELLS = ("minimalrnn",)
SWEEP_POINT = "near-critical"
CPU_WIDTH, ACCELERATOR_WIDTH = 64, 1024


def _family_key(cell: str) -> str:
    return cell.split("-", 1)[1] if "-" in cell else cell


def _predict(cell: str, quantity: str, params: dict) -> Optional[float]:
    import theory

    try:
        v = float(theory.predict(cell, quantity, **params))
    except (RuntimeError, ArithmeticError):
        return None
    return v if math.isfinite(v) else None


def first_bracketed_root(f, grid, xtol: float = 1e-10) -> Optional[float]:
    """Root of ``f`` (Brent, ``xtol``) in the first pair of neighbouring ``grid`` points, from the
    left, where ``f`` is finite at both ends and changes sign; None if there is none.  ``f`` is
    evaluated lazily and memoised (the same pair as scanning the whole grid first; Brent's calls
    at the pair's ends come from the memo)."""
    memo = {}

    def g(x):
        x = float(x)
        if x not in memo:
            memo[x] = float(f(x))
        return memo[x]

    for a, b in zip(grid, grid[1:]):
        fa, fb = g(a), g(b)
        if math.isfinite(fa) and math.isfinite(fb) and fa * fb <= 0:
            return brentq(g, a, b, xtol=xtol)
    return None


def near_critical_sigma_w(cell: str, params: dict, lo: float, hi: float) -> Optional[float]:
    """``sigma_w`` in ``[lo, hi]`` with theory ``chi = NEAR_CRITICAL_CHI`` (None if not bracketed)."""

    def f(sw):
        v = _predict(cell, "chi", {**params, "sigma_w": sw})
        return (v if v is not None else math.inf) - NEAR_CRITICAL_CHI

    return first_bracketed_root(f, [lo + (hi - lo) * i / 16 for i in range(17)])


def horizon(cell: str, params: dict) -> int:
    xis = [_predict(cell, q, params) for q in ("xi", "xi_q")]
    xis = [x for x in xis if x is not None and x > 0]
    if not xis:
        return MIN_STEPS
    return int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(STEPS_PER_XI * max(xis)))))


def standard_points(cell: str, *, width: int, ensemble: int, seed: int, dtype: str,
                    probes: int = 4) -> list[PointConfig]:
    sim = get_simulator(cell)
    base = theory_defaults(cell)
    key = _family_key(cell)
    lo, hi = ORDERED_SIGMA_W[key], CHAOTIC_SIGMA_W[key]
    pts = [("ordered", {**base, "sigma_w": lo}), ("chaotic", {**base, "sigma_w": hi})]
    sw = near_critical_sigma_w(cell, base, lo, hi)
    if sw is not None:
        pts.append(("near-critical", {**base, "sigma_w": sw}))
    if sim.recurrent and "Sigma" in base:
        pts.append(("inputs-differ", {**base, "sigma_w": lo, "Sigma": 0.5}))
    regimes = ("untied", "tied") if sim.recurrent else ("untied",)
    own = {label: horizon(cell, params) for label, params in pts}
    shared = max((own[label] for label, params in pts if has_fixed_point(cell, params)),
                 default=MIN_STEPS)
    return [PointConfig(cell=cell, params=params, width=width, ensemble=ensemble,
                        steps=shared if has_fixed_point(cell, params) else own[label],
                        regimes=regimes, seed=seed + i, probes=probes, dtype=dtype, label=label)
            for i, (label, params) in enumerate(pts)]


def has_fixed_point(cell: str, params: dict) -> bool:
    return _predict(cell, "Q_star", params) is not None


def sweep_widths(width: int) -> list[int]:
    """``N/2, N, 2N`` (``N, 2N, 4N`` when ``N/2 < 16``: three distinct widths, none below 16);
    ``N`` reuses the suite's compiled program."""
    return [width // 2, width, 2 * width] if width // 2 >= 16 else [width, 2 * width, 4 * width]
