"""Estimators built from the per-network, per-step statistics of :mod:`verify.engine.simulate` (07 §3).

Input everywhere: ``stats = {name: array (E, T)}``, row ``k`` = network ``k``, column ``t-1`` =
step ``t``. Observables (sequence-averaged where both sequences estimate the same thing):

* ``q = (q_a + q_b)/2``, ``Q = (Q_a + Q_b)/2``, ``q_ab``, ``C``, ``c``, ``c_h``, ``chi``,
  ``chi_exact``, ``rec_lag1``, cell extras.

Fixed points: each network is first averaged over the stated late window ``[start, stop)``
(steps, 1-based, ``stop`` exclusive), then the ensemble mean and SE over networks are taken.
Timescales: weighted least-squares fit of ``log|Xbar_t - X_target|`` against ``t`` over a stated
window (see :func:`fit_timescale`), with a bootstrap over networks (Efron 1979).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .stats import Estimate, ensemble_estimate, weighted_line

SEQUENCE_PAIRS = {"q": ("q_a", "q_b"), "Q": ("Q_a", "Q_b")}


def observable(stats: dict, name: str) -> np.ndarray:
    """Per-network series ``(E, T)`` of an observable (``q``, ``Q`` average the two sequences)."""
    if name in SEQUENCE_PAIRS:
        a, b = SEQUENCE_PAIRS[name]
        return 0.5 * (stats[a] + stats[b])
    return stats[name]


def late_window(steps: int, fraction: float = 0.5) -> tuple[int, int]:
    """Default fixed-point window: the last ``fraction`` of the run, ``[T - floor(fT) + 1, T + 1)``."""
    width = max(1, int(math.floor(fraction * steps)))
    return steps - width + 1, steps + 1


def window_average(series: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Per-network mean over steps ``window[0] .. window[1]-1`` (1-based)."""
    start, stop = window
    if not 1 <= start < stop <= series.shape[1] + 1:
        raise ValueError(f"window {window} outside steps 1..{series.shape[1]}")
    return series[:, start - 1 : stop - 1].mean(axis=1)


def fixed_point(stats: dict, name: str, window: tuple[int, int]) -> Estimate:
    return ensemble_estimate(window_average(observable(stats, name), window))


def trajectory(stats: dict, name: str) -> Estimate:
    """Per-step ensemble mean and SE (arrays of length T)."""
    return ensemble_estimate(observable(stats, name))


@dataclass(frozen=True)
class TimescaleFit:
    """``log|Xbar_t - target| ~ a - t / xi`` fitted over steps ``window``."""

    inv_xi: float
    inv_xi_se: float  # bootstrap over networks
    window: tuple[int, int]
    target: float
    points: int
    bootstrap: int
    rule: str = field(default="")

    @property
    def xi(self) -> float:
        return 1.0 / self.inv_xi if self.inv_xi > 0 else math.inf


def _fit_window(dev: np.ndarray, se: np.ndarray, start: int, k: float, floor: float) -> int:
    """Last usable step (exclusive) after ``start``: the fit stops at the first step whose
    deviation is no longer clearly resolved, ``|dev_t| <= k SE_t + floor``."""
    stop = start
    while stop <= dev.size and abs(dev[stop - 1]) > k * se[stop - 1] + floor:
        stop += 1
    return stop


def _rate(dev: np.ndarray, se: np.ndarray, window: tuple[int, int]) -> float:
    t = np.arange(window[0], window[1], dtype=np.float64)
    d = np.abs(dev[window[0] - 1 : window[1] - 1])
    s = se[window[0] - 1 : window[1] - 1]
    fit = weighted_line(t, np.log(d), s / d)
    return -fit.slope


def fit_timescale(
    series: np.ndarray,
    target_window: tuple[int, int],
    *,
    start: int,
    k: float,
    floor: float,
    min_points: int = 3,
    n_boot: int = 200,
    seed: int = 0,
) -> TimescaleFit | None:
    """Fit the exponential approach of the ensemble mean to its own late-window value.

    ``target`` is the simulated ensemble mean over ``target_window`` (not a theory number, so the
    fitted rate is independent of the fixed-point checks). Window: from ``start`` while
    ``|Xbar_t - target| > k SE_t + floor`` (resolved above noise and above the finite-width floor).
    Weighted LS with ``SE(log|d|) = SE(d)/|d|``. The interval on ``1/xi`` comes from ``n_boot``
    resamples of whole networks with the window held fixed. Returns ``None`` with fewer than
    ``min_points`` resolved steps (no measurable approach, e.g. a run started at the fixed point).
    """
    x = np.asarray(series, dtype=np.float64)
    e = x.shape[0]
    target = float(window_average(x, target_window).mean())
    est = ensemble_estimate(x)
    dev = est.mean - target
    stop = min(_fit_window(dev, est.se, start, k, floor), target_window[0])
    if stop - start < min_points:
        return None
    window = (start, stop)
    rate = _rate(dev, est.se, window)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        xb = x[rng.integers(0, e, size=e)]
        tb = float(window_average(xb, target_window).mean())
        eb = ensemble_estimate(xb)
        db = eb.mean - tb
        seg = db[start - 1 : stop - 1]
        if np.all(np.abs(seg) > 0) and np.all(np.isfinite(seg)):
            boots.append(_rate(db, np.maximum(eb.se, 1e-300), window))
    se = float(np.std(boots, ddof=1)) if len(boots) > 1 else math.inf
    rule = (f"steps {start}..{stop - 1}: from step {start} while |mean - target| > k*SE + {floor:.3g}; "
            f"target = ensemble mean over steps {target_window[0]}..{target_window[1] - 1}")
    return TimescaleFit(rate, se, window, target, stop - start, len(boots), rule)
