r"""Binomial statistics for death probabilities (05 §6, 07 §4): never normal intervals near 0 or 1.

* :func:`wilson` — Wilson (1927) score interval
  :math:`\frac{\hat p+z^2/2n\pm z\sqrt{\hat p(1-\hat p)/n+z^2/4n^2}}{1+z^2/n}`;
* :func:`clopper_pearson` — exact interval from Beta quantiles (Clopper & Pearson 1934);
* :func:`dkw` — half-width :math:`\sqrt{\ln(2/\alpha)/2E}` of a band valid over all depths at once
  (Dvoretzky–Kiefer–Wolfowitz with Massart's constant);
* :func:`binom_p` — two-sided exact binomial test (scipy ``binomtest``);
* :func:`rai_vs_he_p` — one-sided Fisher exact test that the first proportion exceeds the second;
* :func:`z_p` — two-sided normal p-value of an ensemble mean against a prediction (E >> 1);
* :func:`growth_fits` — least-squares fits of ``log Q_t`` to ``a + p log t`` (polynomial) and
  ``a + r t`` (exponential), compared by residual sum of squares (same number of parameters).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def wilson(k, n, alpha: float):
    """Wilson score interval for ``k`` successes of ``n`` at level ``1 - alpha`` (arrays broadcast)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = sps.norm.ppf(1 - alpha / 2)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return np.clip(mid - half, 0, 1), np.clip(mid + half, 0, 1)


def clopper_pearson(k, n, alpha: float):
    """Exact (conservative) interval: Beta(k, n-k+1) and Beta(k+1, n-k) quantiles."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    lo = np.where(k > 0, sps.beta.ppf(alpha / 2, np.maximum(k, 1e-300), n - k + 1), 0.0)
    hi = np.where(k < n, sps.beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1e-300)), 1.0)
    return lo, hi


def dkw(n: int, alpha: float) -> float:
    """Half-width of the simultaneous band over all depths for an empirical distribution of E draws."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def binom_p(k, n: int, p) -> np.ndarray:
    """Two-sided exact binomial p-values of ``k`` successes in ``n`` against probabilities ``p``."""
    k, p = np.broadcast_arrays(np.asarray(k, dtype=int), np.asarray(p, dtype=float))
    return np.array([sps.binomtest(int(a), int(n), float(min(max(b, 0.0), 1.0))).pvalue
                     for a, b in zip(k.ravel(), p.ravel())]).reshape(k.shape)


def rai_vs_he_p(k_he: int, n_he: int, k_rai: int, n_rai: int) -> float:
    """One-sided Fisher exact p-value for ``P_he > P_rai`` (born dead counts ``k`` of ``n``)."""
    table = [[k_he, n_he - k_he], [k_rai, n_rai - k_rai]]
    return float(sps.fisher_exact(table, alternative="greater").pvalue)


def z_p(mean, se, prediction) -> np.ndarray:
    """Two-sided normal p-value of ``(mean - prediction)/se`` (se = 0 with mean = prediction gives 1)."""
    mean, se, prediction = (np.asarray(a, dtype=float) for a in (mean, se, prediction))
    diff = np.abs(mean - prediction)
    z = np.where(se > 0, diff / np.where(se > 0, se, 1), np.where(diff > 0, np.inf, 0))
    return 2 * sps.norm.sf(z)


def growth_fits(t, logq) -> dict:
    """Fit ``log Q = a + p log t`` and ``log Q = a + r t`` by least squares; the form with the smaller
    residual sum of squares wins (both have two parameters)."""
    t, y = np.asarray(t, dtype=float), np.asarray(logq, dtype=float)
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    out = {"t_first": float(t[0]) if t.size else None, "t_last": float(t[-1]) if t.size else None,
           "points": int(t.size)}
    if t.size < 3:
        return {**out, "winner": "undetermined"}
    tss = float(np.sum((y - y.mean()) ** 2))
    for name, x in (("polynomial", np.log(t)), ("exponential", t)):
        A = np.stack([np.ones_like(x), x], axis=1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        rss = float(np.sum((y - A @ coef) ** 2))
        out[name] = {"slope": float(coef[1]), "intercept": float(coef[0]), "rss": rss,
                     "r2": 1 - rss / tss if tss > 0 else float("nan")}
    out["slope_meaning"] = {"polynomial": "p in Q ~ t^p", "exponential": "r in Q ~ exp(r t)"}
    pr, er = out["polynomial"]["rss"], out["exponential"]["rss"]
    out["winner"] = "polynomial" if pr < er else "exponential"
    out["rss_ratio_poly_over_exp"] = pr / er if er > 0 else float("inf")
    return out
