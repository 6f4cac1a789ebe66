r"""``theory.predict(..., tied=True)`` and ``theory.trajectory(..., tied=True)``: real (tied) networks.

Registered with :mod:`theory.api` through :mod:`theory.extensions`.  Every value is a Monte-Carlo
estimate of the exact large-width single-site process (08) with its standard error:

========================= ============================================================================
``Q_star``                second moment of the hidden state (``h``) at stationarity
``Q_<c>_star``            second moment of state component ``c`` (LSTM ``Q_c_star``)
``q_star``                variance of the field ``q_star`` names in the annealed theory (vanilla/minimalRNN:
                          the field ``e``; gated cells: the memory gate's) about its mean, and
                          ``q_star_<gate>`` per gate
``c_star``, ``c_h_star``  field / hidden correlation of two input sequences (correlation ``Sigma``) through
                          the same network, at stationarity (two replicas sharing the unit's biases)
``lambda_max``            per-step growth factor of a perturbation's squared norm (renormalised carried
                          tangent, late-window geometric mean; Benettin)
``chi``                   mean squared singular value of the one-step state Jacobian (fresh probe each step);
                          for a one-field, one-component cell with untied-equivalent statistics
                          (vanilla) it equals ``lambda_max``
``xi``                    :math:`-1/\ln\lambda_{\max}` where the correlation fixed point is ``C* = Q*``
                          (identical inputs, ordered phase); elsewhere an error says why
========================= ============================================================================

Options: ``paths`` (sample paths M, default :data:`PATHS`), ``steps`` (default :data:`STEPS`),
``burn`` (default half of ``steps``), ``seed`` (default 0; results are deterministic for a seed),
``return_error`` (``(value, standard_error)`` instead of the value).  Array parameters broadcast: one
solve per grid point, progress on stderr for long grids.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .. import api
from ..render import EXTENSIONS
from . import engine
from .render import render_extension

PATHS = 8192
STEPS = 200
SEED = 0
#: window-split stationarity check: halves differing by more than this many combined SEs -> warning
STATIONARITY_K = 5.0
OPTIONS = ("paths", "steps", "burn", "seed", "return_error")


@dataclass(frozen=True)
class TiedSolution:
    """Stationary statistics of the tied network at one parameter point: ``mean`` and ``se`` keyed by
    quantity name; ``paths``, ``steps``, ``burn``; ``notes`` (stationarity, etc.)."""

    cell: str
    params: dict
    mean: dict
    se: dict
    paths: int
    steps: int
    burn: int
    notes: tuple = ()


def _mean_se(x):
    x = np.asarray(x, dtype=float)
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size))


def _ratio_se(num, den):
    """Ratio of means with the delta-method SE over per-path pairs."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    r = float(np.mean(num) / np.mean(den))
    resid = num - r * den
    return r, float(np.std(resid, ddof=1) / math.sqrt(num.size) / abs(np.mean(den)))


def _growth(log_growth, burn):
    """Geometric-mean growth factor over the window and its batch-means SE (delta method)."""
    w = np.asarray(log_growth[burn:], dtype=float)
    if not np.all(np.isfinite(w)):
        return math.nan, math.nan
    blocks = np.array([b.mean() for b in np.array_split(w, min(engine.BLOCKS, w.size)) if b.size])
    m = float(np.mean(w))
    se = float(np.std(blocks, ddof=1) / math.sqrt(blocks.size)) if blocks.size > 1 else math.nan
    return math.exp(m), math.exp(m) * se


def _start(mod, c, p):
    """Initial second moments: the annealed fixed point where it exists (shorter transient), else 1."""
    comps = mod.COMPONENTS
    try:
        if len(comps) == 1:
            q = float(api.predict(c, "Q_star", **p))
            return {comps[0]: q if q > 0 else 1.0}
        return {k: float(api.predict(c, f"Q_{k}_star" if k != mod.HIDDEN else "Q_star", **p)) or 1.0 for k in comps}
    except (api.FixedPointError, ValueError):
        return 1.0


def solve(name, *, paths: int = PATHS, steps: int = STEPS, burn: int | None = None, seed: int = SEED,
          **params) -> TiedSolution:
    """Solve the tied-weight site process of cell ``name`` at scalar ``params`` (08 §2-§5).

    Two replicas (inputs with correlation ``Sigma``) and the carried and probe tangents are run
    together; returns a :class:`TiedSolution` with every served quantity and its standard error."""
    c = api.cell(name)
    mod = api.generated_module(c, "tied_numba")
    p = api.resolve_params(c, params)
    for k, v in p.items():
        if np.ndim(v) != 0:
            raise ValueError(f"solve takes scalar parameters; {k} has shape {np.shape(v)}")
    paths, steps = _positive_int("paths", paths, 16), _positive_int("steps", steps, 4)
    burn = steps // 2 if burn is None else _positive_int("burn", burn, 1)
    if burn >= steps - 1:
        raise ValueError(f"burn must leave a window of at least 2 steps: burn={burn}, steps={steps}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        run = engine.forward(mod, p, steps=steps, burn=burn, paths=paths, seed=int(seed), replicas=2,
                             Q0=_start(mod, c, p), C0=0.5)
    w = run.window
    mean, se, notes = {}, {}, []
    for k in mod.COMPONENTS:
        mean[f"Q_{k}_star"], se[f"Q_{k}_star"] = _mean_se(w["Q_" + k])
        mean[f"c_{k}_star"], se[f"c_{k}_star"] = _ratio_se(w["C_" + k], w["Q_" + k])
    for f, _ in mod.FIELDS:
        mean[f"q_star_{f}"], se[f"q_star_{f}"] = _mean_se(w["q_" + f])
    h, rf = mod.HIDDEN, mod.READ_FIELD
    mean["Q_star"], se["Q_star"] = mean[f"Q_{h}_star"], se[f"Q_{h}_star"]
    mean["c_h_star"], se["c_h_star"] = mean[f"c_{h}_star"], se[f"c_{h}_star"]
    mean["q_star"], se["q_star"] = mean[f"q_star_{rf}"], se[f"q_star_{rf}"]
    mean["c_star"], se["c_star"] = _ratio_se(w["qab_" + rf], w["q_" + rf])
    mean["chi"], se["chi"] = _mean_se(w["chi"])
    mean["lambda_max"], se["lambda_max"] = _growth(run.log_growth, burn)
    for k in mod.COMPONENTS:  # stationarity: the two halves of the window agree within STATIONARITY_K SE
        series = run.Q[k][burn:]
        half = series.size // 2
        a, b = series[:half].mean(), series[half:].mean()
        tol = STATIONARITY_K * se[f"Q_{k}_star"] * math.sqrt(2.0) * math.sqrt(2.0)
        if abs(a - b) > tol:
            notes.append(f"Q_{k} drifts over the window ({a:.6g} -> {b:.6g}): not stationary; "
                         f"increase steps/burn")
    return TiedSolution(cell=c.name, params={k: float(v) for k, v in p.items()}, mean=mean, se=se,
                        paths=paths, steps=steps, burn=burn, notes=tuple(notes))


def _positive_int(name, v, least):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or not math.isfinite(v) or v != int(v):
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if int(v) < least:
        raise ValueError(f"{name} must be >= {least}, got {v!r}")
    return int(v)


def _value(sol: TiedSolution, quantity: str):
    if quantity == "xi":
        lam, lse = sol.mean["lambda_max"], sol.se["lambda_max"]
        if sol.params.get("Sigma", 1.0) != 1.0:
            raise ValueError(f"{sol.cell}: tied xi is served for identical inputs (Sigma = 1), where C* = Q* in "
                             f"the ordered phase and xi = -1/ln lambda_max; got Sigma = {sol.params['Sigma']}")
        if not lam < 1.0:
            raise api.FixedPointError(
                f"{sol.cell}: tied lambda_max = {lam:.4f} +- {lse:.4f} >= 1 (chaotic or critical): the correlation "
                f"fixed point lies below Q* and its relaxation time is not served for tied weights; use lambda_max")
        xi = -1.0 / math.log(lam)
        return xi, lse / (lam * math.log(lam) ** 2)
    if quantity not in sol.mean:
        raise ValueError(f"{sol.cell}: tied quantity {quantity!r} is not served; choose one of "
                         f"{sorted(sol.mean) + ['xi']}")
    return sol.mean[quantity], sol.se[quantity]


def predict_tied(c, quantity: str, backend: str, params: dict):
    """``theory.predict(..., tied=True)``: see the module docstring.  ``params`` holds cell parameters
    and the options :data:`OPTIONS`."""
    opts = {k: params.pop(k) for k in OPTIONS if k in params}
    return_error = bool(opts.pop("return_error", False))
    if backend not in api.BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(api.BACKENDS)}")
    if quantity in ("xi_q",):
        raise ValueError(f"{c.name}: tied xi_q is not served (tied relaxation is not a single exponential, 08 §6); "
                         f"use theory.trajectory({c.name!r}, tied=True, ...) for the path")
    p = api.resolve_params(c, params)
    arrays = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    if shape == ():
        v, e = _value(solve(c, **opts, **p), quantity)
        return (v, e) if return_error else v
    flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in arrays.items()}
    n = int(np.prod(shape))
    vals, errs = np.full(n, np.nan), np.full(n, np.nan)
    t0, failed = time.time(), 0
    for i in range(n):
        try:
            vals[i], errs[i] = _value(solve(c, **opts, **{k: float(a[i]) for k, a in flat.items()}), quantity)
        except api.FixedPointError:
            failed += 1
        if n > 1 and time.time() - t0 > 5.0:
            print(f"\rtied {c.name} {quantity}: {i + 1}/{n} points, {time.time() - t0:.0f} s", end="", file=sys.stderr)
    if n > 1 and time.time() - t0 > 5.0:
        print(file=sys.stderr)
    if failed:
        warnings.warn(f"{c.name}: tied {quantity} undefined at {failed} of {n} points (NaN)", RuntimeWarning,
                      stacklevel=3)
    vals, errs = vals.reshape(shape), errs.reshape(shape)
    return (vals, errs) if return_error else vals


def trajectory_tied(c, steps, Q0, C0=None, *, paths: int = PATHS, seed: int = SEED, **params) -> dict:
    """``theory.trajectory(..., tied=True)``: population means per step of the tied site process from
    i.i.d. Gaussian states with second moment ``Q0`` (number or {component: number}).

    Returns arrays of length ``steps`` (entry t-1 is after step t): ``Q_<c>`` per state component,
    ``Q`` (the hidden one), ``q_<field>`` and ``q`` (field variances about their means), ``lambda``
    (per-step growth factor of the carried tangent); with ``C0`` (initial correlation of two states,
    inputs correlated ``Sigma``) also ``C_<c>``, ``C``, ``c_h`` (= C/Q).  The ``paths`` sample paths set
    the Monte-Carlo error (~1/sqrt(paths) relative)."""
    mod = api.generated_module(c, "tied_numba")
    steps = _positive_int("steps", steps, 1)
    paths = _positive_int("paths", paths, 16)
    p = api.resolve_params(c, params)
    for k in mod.COMPONENTS:
        q0 = Q0[k] if isinstance(Q0, dict) else Q0
        if isinstance(q0, bool) or not np.isfinite(q0) or q0 < 0:
            raise ValueError(f"Q0 must be a finite second moment >= 0, got {Q0!r}")
    c0 = 0.5 if C0 is None else float(C0)
    if not -1.0 <= c0 <= 1.0:
        raise ValueError(f"C0 is a correlation of the two initial states, in [-1, 1]; got {C0!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        run = engine.forward(mod, p, steps=steps, burn=0, paths=paths, seed=int(seed),
                             replicas=2 if C0 is not None else 1, Q0=Q0, C0=c0, probe=False)
    out = {f"Q_{k}": v for k, v in run.Q.items()}
    out.update({f"q_{f}": v for f, v in run.q.items()})
    out["Q"], out["q"] = run.Q[mod.HIDDEN], run.q[mod.READ_FIELD]
    out["lambda"] = np.exp(run.log_growth)
    if C0 is not None:
        out.update({f"C_{k}": v for k, v in run.C.items()})
        out["C"] = run.C[mod.HIDDEN]
        out["c_h"] = out["C"] / out["Q"]
    return out


def _register():
    if render_extension not in EXTENSIONS:
        EXTENSIONS.append(render_extension)
    api.register_tied(predict_tied, trajectory_tied)


_register()

__all__ = ["solve", "TiedSolution", "predict_tied", "trajectory_tied", "PATHS", "STEPS"]
