r"""Tied (real-network) :math:`m_1(T)`: the mean squared singular value of the T-step state Jacobian.

``theory.predict(cell, "isometry_mean", T=..., tied=True)`` for every recurrent cell.  The single-site
process of :mod:`theory.tied.engine` runs to stationarity (``burn`` steps), then a Hutchinson probe
:math:`v\sim\mathcal N(0,I)` (``block=k``: only in component ``k``) is carried ``T`` steps as the engine's
tangent: its field perturbations are the Gaussian process over the tangent's own reads with the
*same* recurrent matrix at every step (two-time covariance :math:`\sigma_w^2\overline{\delta r_x\delta r_y}`,
the tied memory the annealed theory drops).  With the per-step growth :math:`g_s` of the carried
squared norm and the share :math:`p_k(t)` of component ``k`` in it,

.. math:: m_1(T)=\prod_{s=1}^{T}g_s,\qquad m_1^{(k)}(T)=p_k(T)\prod_{s=1}^{T}g_s

(the probe's total mean square per component starts at 1, so ``n`` in total; a block probe puts all
of it in ``k``, and its mean square in ``k`` after ``T`` steps is :math:`n\,p_k(T)\prod_sg_s`).

Errors: ``groups`` independent populations of ``size`` paths; mean and standard error over groups.
For the vanilla RNN the tied and annealed :math:`m_1` coincide (:math:`\chi^T`; a control in the tests).
Only i.i.d. Gaussian recurrent weights: the tied theory of orthogonal weights is not derived.
"""
from __future__ import annotations

import math

import numpy as np

from .. import api
from . import engine
from .start import annealed_start

#: defaults: independent groups x paths per group, burn-in steps (at least; 12 annealed xi_q otherwise)
GROUPS = 8
SIZE = 4096
BURN_MIN, BURN_MAX = 60, 1000


def default_burn(c, params: dict) -> int:
    """12 x the annealed variance relaxation time, clipped to [BURN_MIN, BURN_MAX] (the tied second
    moments relax on a comparable scale; the stationarity of the result is the caller's check)."""
    try:
        xq = float(api.predict(c, "xi_q", **params))
    except (api.FixedPointError, ValueError):
        return BURN_MAX
    return int(min(BURN_MAX, max(BURN_MIN, math.ceil(12 * xq) if math.isfinite(xq) else BURN_MAX)))


def isometry_mean_tied(c, params: dict, T: int, block=None, *, groups: int = GROUPS, size: int = SIZE,
                       burn: int | None = None, seed: int = 0) -> tuple:
    r"""``(means, standard errors)`` of the tied :math:`m_1(t)`, arrays over :math:`t=1..T` (module
    docstring), at scalar cell parameters ``params`` (all of ``c.param_names``)."""
    mod = api.generated_module(c, "tied_numba")
    comps = tuple(mod.COMPONENTS)
    if block is not None and block not in comps:
        raise ValueError(f"{c.name}: block must be None (the full state {list(comps)}) or one of its "
                         f"components {list(comps)}, got {block!r}")
    burn = default_burn(c, params) if burn is None else int(burn)
    weights = None if block is None else {k: float(k == block) for k in comps}
    start = annealed_start(mod, c, params)
    out = np.empty((int(groups), int(T)))
    seeds = np.random.SeedSequence([int(seed), 8081]).spawn(int(groups))
    for g, sq in enumerate(seeds):
        run = engine.forward(mod, params, steps=burn + int(T), burn=burn, paths=int(size), seed=sq,
                             Q0=start, probe=False, tangent_start=burn, tangent_weights=weights)
        growth = np.exp(np.cumsum(run.log_growth[burn:]))
        out[g] = growth if block is None else growth * run.tangent_share[block][burn:]
    return out.mean(axis=0), out.std(axis=0, ddof=1) / math.sqrt(int(groups))





#: keyword options of ``predict(cell, "isometry_mean", tied=True, ...)`` with their defaults
OPTIONS = {"T": 1, "block": None, "weights": "gaussian", "groups": GROUPS, "paths": None, "burn": None,
           "seed": 0, "return_error": False}


def isometry_point(c, params: dict):
    r"""The options of ``theory.predict(cell, "isometry_mean", tied=True, T=..., block=...)`` popped from
    ``params`` and checked; returns ``(point, return_error)``, where ``point(p)`` gives the tied
    :math:`m_1(T)` and its SE at scalar cell parameters ``p`` (:func:`theory.tied.api.predict_tied`
    broadcasts it over array parameters).  ``paths``: total paths (``groups`` x paths per group; default
    ``GROUPS`` x ``SIZE``).  ``T``: one step count, or a 1-D array of them with scalar parameters (one
    run to the largest: arrays, the same run's steps).  A non-finite value raises FixedPointError."""
    from ..validate import count
    opts = {k: params.pop(k, v) for k, v in OPTIONS.items()}
    if opts["weights"] != "gaussian":
        raise ValueError(f"{c.name}: the tied theory is for i.i.d. Gaussian recurrent weights; weights="
                         f"{opts['weights']!r} is served by the annealed theory only (tied=False)")
    grid = any(np.ndim(v) for v in params.values())
    if np.ndim(opts["T"]) > 1 or (grid and np.ndim(opts["T"])):
        raise ValueError(f"{c.name}: tied isometry_mean takes T as one number or a 1-D array; with array "
                         f"parameters, one T")
    many = np.ndim(opts["T"]) == 1
    Ts = [count("T", t) for t in (np.asarray(opts["T"]).tolist() if many else [opts["T"]])]
    if not Ts:
        raise ValueError("T must hold at least one step count")
    groups = count("groups", opts["groups"], low=2)
    size = SIZE if opts["paths"] is None else max(2, count("paths", opts["paths"], low=2 * groups) // groups)
    burn = None if opts["burn"] is None else count("burn", opts["burn"], low=0)
    seed = count("seed", opts["seed"], low=0, limit=2 ** 63 - 1)

    def point(p):
        mean, se = isometry_mean_tied(c, {k: float(v) for k, v in p.items()}, max(Ts), opts["block"],
                                      groups=groups, size=size, burn=burn, seed=seed)
        idx = np.asarray(Ts) - 1
        value, err = mean[idx], se[idx]
        if not np.all(np.isfinite(value)):
            raise api.FixedPointError(f"{c.name}: tied isometry_mean is not finite at T = "
                                      f"{[t for t, v in zip(Ts, value) if not math.isfinite(v)]}")
        return (value, err) if many else (float(value[0]), float(err[0]))
    return point, bool(opts["return_error"])


__all__ = ["isometry_mean_tied", "isometry_point", "default_burn", "OPTIONS", "GROUPS", "SIZE"]
