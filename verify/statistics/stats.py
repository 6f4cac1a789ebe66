"""Ensemble statistics and pass rules (07 §3-4).

Sample size is the number of networks ``E``: units of one network share weights and state, so
they are not independent samples. Every check reports ``(prediction, estimate, SE, E, k, B_N)``.

Pass rule (single width): ``|pred - mean| <= k * SE + B_N`` with

* ``k = t^{-1}_{E-1}(1 - (ALPHA/2) / (2 m))``: Bonferroni over the ``m`` checks of one report in
  each of two families (per-step trajectory checks, where each time point counts; fixed-point and
  timescale checks), Student ``t`` because ``E`` is tens, not thousands;
* ``B_N``: the finite-width allowance of :func:`allowance`, fixed before any run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

ALPHA = 0.01
"""Family-wise false-alarm rate of one report (each check at ``ALPHA/m``)."""

FINITE_WIDTH_COEF = 5.0
"""``B_N = FINITE_WIDTH_COEF * scale / N``. Means of the quadratic estimators carry an ``a/N`` bias
(Jensen: ``E f(q_hat) - f(E q_hat) = f''(q) Var(q_hat)/2`` with ``Var(q_hat) ~ 2 q^2 / N`` per step,
accumulated through a contracting map, and the ``O(1/N)`` bias of a ratio ``c = q_ab/sqrt(q_a q_b)``).
``scale`` is ``|prediction|`` for second moments and chi and 1 for correlations. Fixed before the
agreement tests from a pilot width sweep (seed 12345, E = 32, N = 64 ... 512, fixed points of
vanilla-tanh at sigma_w = 1.2 and 2.5 and of untied minimalrnn) against an independent scratch
quadrature: the fitted ``a = N (Xbar_N - X_MF) / scale`` stayed within ``|a| <= 2.7 +- 0.9`` (tied
vanilla-tanh chi at N = 128; most ``|a| < 1.5``), so 5 leaves room for cells not in the pilot.
It is never enlarged after a failure (07 §4).  Where the bias is derived (untied vanilla and feed-forward
``q``/``Q``: :mod:`verify.statistics.finite_width`, applied by ``verify.judge.compare.apply_derived_bias``)
the check uses the derived bias instead and this allowance does not apply."""

TIMESCALE_WINDOW_TOL = 0.1
"""Timescales are fitted only where the theory trajectory itself decays at its asymptotic rate
to within this fraction (the fit window is stated in the report), and the comparison allows
``TIMESCALE_WINDOW_TOL / xi + FINITE_WIDTH_COEF / N`` on ``1/xi``: the residual non-exponential
part inside that window plus an ``O(1/N)`` shift of the per-step rate. Fixed before the agreement
tests; a pilot with fits from step 1 (seed 4242) showed that early, non-linear steps bias ``1/xi``
upwards by up to 40% (minimalrnn sigma_w = 3.5), which is why the window is restricted."""

CORRELATIONS = frozenset({"c", "c_h", "c_star", "c_h_star"})
"""Quantities bounded by 1 in magnitude: allowance and resolution use scale 1."""


@dataclass(frozen=True)
class Estimate:
    """Ensemble mean and its standard error over ``n`` networks (arrays broadcast over time)."""

    mean: np.ndarray | float
    se: np.ndarray | float
    n: int


def ensemble_estimate(per_network: np.ndarray) -> Estimate:
    """``mean = (1/E) sum_k X_k``, ``SE = s / sqrt(E)`` with ``s`` the sample std (ddof=1)."""
    x = np.asarray(per_network, dtype=np.float64)
    e = x.shape[0]
    if e < 2:
        raise ValueError("need at least two networks for a standard error")
    return Estimate(x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(e), e)


def bonferroni_k(m: int, n_networks: int, alpha: float = ALPHA) -> float:
    """``k = t^{-1}_{E-1}(1 - alpha/(2m))``."""
    if m < 1:
        raise ValueError("m >= 1 checks")
    return _t_quantile(float(1.0 - alpha / (2.0 * m)), int(n_networks) - 1)


@lru_cache(maxsize=4096)
def _t_quantile(p: float, df: int) -> float:
    """Student-t quantile, memoised: a report asks for the same ``k`` for thousands of checks."""
    return float(sps.t.ppf(p, df=df))


def allowance(quantity: str, prediction, width: int, coef: float = FINITE_WIDTH_COEF):
    """Finite-width allowance ``B_N = coef * scale / N`` (see :data:`FINITE_WIDTH_COEF`)."""
    scale = 1.0 if quantity in CORRELATIONS else np.abs(prediction)
    return coef * scale / width


def agrees(prediction, estimate: Estimate, k: float, allowance_) -> np.ndarray | bool:
    """``|pred - mean| <= k SE + B_N`` (elementwise); NaN anywhere counts as disagreement."""
    ok = np.abs(np.asarray(prediction) - estimate.mean) <= k * estimate.se + allowance_
    return ok


@dataclass(frozen=True)
class LineFit:
    """Weighted least squares ``y = intercept + slope * x``; SEs from the weights (known
    variances), with a ``t`` interval on ``dof = n - 2`` when the residuals are overdispersed."""

    slope: float
    slope_se: float
    intercept: float
    intercept_se: float
    dof: int
    chi2: float


def weighted_line(x, y, y_se) -> LineFit:
    x, y, s = (np.asarray(a, dtype=np.float64) for a in (x, y, y_se))
    if x.size < 3:
        raise ValueError("a line fit with an uncertainty needs at least 3 points")
    w = 1.0 / np.maximum(s, 1e-300) ** 2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    beta = cov @ (A.T @ (w * y))
    resid = y - A @ beta
    chi2 = float(np.sum(w * resid**2))
    dof = x.size - 2
    # Inflate by the reduced chi^2 when the scatter exceeds the stated errors (never deflate).
    cov = cov * max(1.0, chi2 / dof)
    return LineFit(float(beta[1]), float(math.sqrt(cov[1, 1])), float(beta[0]),
                   float(math.sqrt(cov[0, 0])), dof, chi2)


@dataclass(frozen=True)
class SlopeFit:
    """``log|err_N| = const - p log N``; reported as ``slope = -p``."""

    slope: float
    slope_se: float
    dof: int
    widths: list
    errors: list
    errors_se: list


def log_log_slope(widths, errors, errors_se) -> SlopeFit:
    """Weighted fit of ``log|err|`` on ``log N``; ``SE(log|err|) = SE(err)/|err|`` (delta method)."""
    err = np.maximum(np.abs(np.asarray(errors, dtype=np.float64)), 1e-300)
    se = np.asarray(errors_se, dtype=np.float64)
    fit = weighted_line(np.log(widths), np.log(err), se / err)
    return SlopeFit(fit.slope, fit.slope_se, fit.dof, list(map(int, widths)),
                    err.tolist(), se.tolist())


def slope_matches(slope: float, slope_se: float, declared: float, k: float,
                  allowance_: float = 0.0) -> bool:
    """``|slope - declared| <= k * SE + allowance``: the declared order of convergence."""
    return bool(abs(slope - declared) <= k * slope_se + allowance_)


def extrapolate_width(widths, means, ses) -> tuple[float, float, float, float]:
    """Fit ``X_N = X_inf + a / N``; returns ``(X_inf, SE(X_inf), a, SE(a))``."""
    fit = weighted_line(1.0 / np.asarray(widths, dtype=np.float64), means, ses)
    return fit.intercept, fit.intercept_se, fit.slope, fit.slope_se


def rms_error(per_network: np.ndarray, target: float) -> tuple[float, float]:
    """RMS over networks of ``X_k - target`` and its SE (delta method on the mean square)."""
    d2 = (np.asarray(per_network, dtype=np.float64) - target) ** 2
    ms = d2.mean()
    ms_se = d2.std(ddof=1) / math.sqrt(d2.size)
    rms = math.sqrt(ms)
    return rms, ms_se / (2.0 * rms)
