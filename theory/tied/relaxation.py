r"""Relaxation times of the real (tied) network: ξ_q (second moment) and ξ (two-input correlation).

The tied relaxation is not one exponential (08 §6): several modes and the memory of the recurrent
fields' two-time covariance contribute.  What is served is the **late-time rate** of the linear
response, measured with common random numbers:

* ξ_q: two site processes started at :math:`Q_0=Q^*(1\pm\epsilon)` (every component scaled), the same
  random draws; their difference :math:`D_t=(Q^+_t-Q^-_t)/(2\epsilon Q^*)` of the hidden second moment is
  the linear response (the symmetric difference cancels the :math:`O(\epsilon^2)` term), and the shared
  draws cancel most of the Monte-Carlo noise;
* ξ: two two-replica processes at stationary second moments, with initial replica correlations
  :math:`c^*\pm\epsilon`; :math:`D_t` is the difference of the hidden overlaps :math:`C_t`.

:math:`\ln D_t` is fitted linearly over the later half of the steps where :math:`D_t` exceeds
:data:`NOISE_K` standard errors (at least 3 steps where the response dies within a few), giving the
rate :math:`\rho` and :math:`\xi=-1/\ln\rho`.  Errors: each independent group of paths is a complete
pair of runs; the fit's standard error is the jackknife over groups.  For the vanilla RNN the tied
and annealed maps coincide, so ξ_q and ξ equal the annealed ones (a control in the tests).
"""
from __future__ import annotations

import math

import numpy as np

from . import engine

#: a step is resolved while the mean response exceeds this many of its standard errors
NOISE_K = 5.0
#: size of the symmetric perturbation (relative for Q, absolute in correlation for C)
EPS = 0.1


def _fit(D: np.ndarray):
    """(slope of ln D over the late half of the resolved steps, index range) for D of shape (G, T)."""
    m = D.mean(axis=0)
    se = D.std(axis=0, ddof=1) / math.sqrt(D.shape[0])
    ok = (m > 0) & (m > NOISE_K * se)
    end = 1
    while end < m.size and ok[end]:
        end += 1
    start = max(0, min(end // 2, end - 3))  # the late half, at least 3 steps where resolved
    if end - start < 2:
        return math.nan, (start, end)
    t = np.arange(start, end)
    return float(np.polyfit(t, np.log(m[start:end]), 1)[0]), (start, end)


def relaxation_time(mod, params: dict, stationary, which: str = "xi_q", *, groups: int, size: int, steps: int = 60,
                    eps: float = EPS, seed: int = 0) -> dict:
    """Late-time relaxation rate of the tied network (module docstring) for the generated site module
    ``mod`` at ``params``: ``which="xi_q"`` (second moment) or ``"xi"`` (correlation of two inputs
    through the same network), starting from the stationary solution ``stationary`` (a
    :class:`theory.tied.api.TiedSolution`; with ``c_h_star`` for ``"xi"``); ``groups`` independent
    pairs of runs of ``size`` paths.

    Returns ``{"xi", "xi_se", "rate", "rate_se", "window", "response", "steps", "paths"}``
    (``response``: the mean normalised difference per step), or ``{"unresolved": window}`` where the
    response is not resolved above the noise for 2 steps (the caller says why)."""
    if which not in ("xi_q", "xi"):
        raise ValueError(f"which must be 'xi_q' or 'xi', got {which!r}")
    p = params
    q_star = {k: stationary.mean[f"Q_{k}_star"] for k in mod.COMPONENTS}
    stat = stationary
    h = mod.HIDDEN
    D = []
    c_lo, c_hi = (max(-1.0, stat.mean["c_h_star"] - eps), min(1.0, stat.mean["c_h_star"] + eps)) if which == "xi" \
        else (0.0, 0.0)
    for sq in np.random.SeedSequence(int(seed)).spawn(groups):
        runs = []
        for sign in (1.0, -1.0):
            if which == "xi_q":
                q0, c0, reps = {k: v * (1.0 + sign * eps) for k, v in q_star.items()}, 0.5, 1
            else:
                q0, c0, reps = q_star, (c_hi if sign > 0 else c_lo), 2
            with np.errstate(over="ignore", invalid="ignore"):
                runs.append(engine.forward(mod, p, steps=steps, burn=0, paths=size, seed=sq, replicas=reps,
                                           Q0=q0, C0=c0, tangent=False, probe=False))
        if which == "xi_q":
            D.append((runs[0].Q[h] - runs[1].Q[h]) / (2.0 * eps * q_star[h]))
        else:
            D.append((runs[0].C[h] - runs[1].C[h]) / ((c_hi - c_lo) * q_star[h]))
    D = np.asarray(D)
    slope, window = _fit(D)
    if not math.isfinite(slope) or slope >= 0:
        return {"unresolved": window}
    jack = []
    for g in range(D.shape[0]):
        s, _ = _fit(np.delete(D, g, axis=0))
        jack.append(s)
    jack = np.asarray(jack)
    n = D.shape[0]
    slope_se = math.sqrt((n - 1) / n * np.nansum((jack - np.nanmean(jack)) ** 2)) if np.isfinite(jack).sum() > 1 \
        else math.nan
    xi = -1.0 / slope
    return {"xi": xi, "xi_se": slope_se / slope ** 2, "rate": math.exp(slope), "rate_se": math.exp(slope) * slope_se,
            "window": window, "response": D.mean(axis=0), "steps": steps, "paths": size * groups}


__all__ = ["relaxation_time"]
