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
``xi``                    correlation timescale: :math:`-1/\ln\lambda_{\max}` where the correlation fixed
                          point is ``C* = Q*`` (identical inputs, ordered phase); elsewhere (chaotic, or
                          ``Sigma < 1``) the late-time rate of the two-input overlap's linear response
                          (:mod:`theory.tied.relaxation`)
``xi_q``                  late-time relaxation time of the second moment (linear response, common random
                          numbers; the tied relaxation is not one exponential, 08 §6)
``isometry_mean``         :math:`m_1(T)=\mathrm{Tr}(J_T^\top J_T)/(nN)` of the T-step state Jacobian at
                          stationarity (``T=``, ``block=``; :mod:`theory.tied.jacobian`)
========================= ============================================================================

Options: ``paths`` (default None: adaptive, groups of :data:`GROUP_PATHS` paths are added until the
relative SE of ``Q_star`` is <= ``rtol`` and the SE of lambda_max <= ``lambda_atol``, both
1e-3 by default; a number: a fixed budget), ``steps`` (default :data:`STEPS`, doubled while the window
drifts, up to ``max_steps``), ``burn``, ``seed`` (default 0; deterministic for a seed),
``return_error`` (``(value, standard_error)`` instead of the value).  Array parameters broadcast: one
solve per grid point, progress on stderr for long grids.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .. import api, grid
from ..codegen.render import EXTENSIONS
from . import engine, jacobian, relaxation
from .start import annealed_start
from .render import render_extension

#: paths per independent group (sub-population); the standard error is the spread of the groups.
#: A group is a finite population: its self-consistency bias on lambda_max was measured at about
#: 1.5/size (minimalRNN, sigma_w = 3.49: 0.9066, 0.9158, 0.9181 at 128, 1024, 4096 paths per group,
#: SE 0.001) and 0.5/size (LSTM, mu_f = 1); at 4096 it is <= 4e-4, below the default target.
GROUP_PATHS = 4096
#: fewest groups (the SE of the SE is ~1/sqrt(2 (groups - 1)))
MIN_GROUPS = 8
#: default error targets of an adaptive solve: relative SE of second moments, absolute SE of lambda_max
RTOL = 1e-3
LAMBDA_ATOL = 1e-3
#: largest adaptive budget, and the rounds of adding groups
MAX_PATHS = 1 << 17
#: paths of the stationary solve and of the relaxation runs behind a tied xi_q / xi (fixed budget)
RELAX_PATHS = 32768
ADAPT_ROUNDS = 4
#: steps of one run (the window is the second half); doubled while the window drifts
STEPS = 100
#: longest run the automatic extension goes to (steps double while a second moment drifts)
MAX_STEPS = 800
SEED = 0
#: window-split stationarity check: halves differing by more than this many combined SEs -> warning
STATIONARITY_K = 5.0
OPTIONS = ("paths", "steps", "burn", "seed", "max_steps", "groups", "rtol", "lambda_atol", "max_paths", "return_error")


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



def solve(name, *, paths: int | None = None, steps: int = STEPS, burn: int | None = None, seed: int = SEED,
          pairs: bool = True, max_steps: int = MAX_STEPS, groups: int | None = None, rtol: float = RTOL,
          lambda_atol: float = LAMBDA_ATOL, max_paths: int = MAX_PATHS, **params) -> TiedSolution:
    """Solve the tied-weight site process of cell ``name`` at scalar ``params`` (08 §2-§5).

    The sample paths are split into independent **groups** (sub-populations, seeds spawned from
    ``seed``): each is a complete site process, every value is the mean over groups and its standard
    error their spread / sqrt(groups).  (Paths of one population share its estimated covariance and its
    sample of quenched biases: their collective O(paths^-1/2) fluctuation is not in a per-path spread,
    measured at 5x the per-path SE for a chaotic vanilla RNN.)  Each group is a finite population with a
    self-consistency bias O(1/size) (see :data:`GROUP_PATHS`: <= 4e-4 on lambda_max at the default size);
    groups run one after another, so a group's history stays in cache (one group of 8192 paths over
    200 steps with two replicas was ~5x slower per path than groups of 1024, measured).

    ``paths=None`` (default): groups are added until ``Q_star`` (the hidden state's second moment) has
    relative SE <= ``rtol`` and ``lambda_max`` has SE <= ``lambda_atol`` (defaults 1e-3), or
    ``max_paths`` is reached (then ``notes`` says so); the other components report their SE.  ``paths=n``: a fixed budget (``groups`` default
    ``max(8, n // GROUP_PATHS)``).  ``pairs``: also run the second replica (inputs with correlation
    ``Sigma``) for ``c_star``, ``c_h_star`` (~4x the cost).  The window is the last ``steps - burn``
    steps (``burn`` default ``steps // 2``); while a second moment or the growth rate drifts between
    the window's halves (:data:`STATIONARITY_K` SE over groups) and ``burn`` was not given, ``steps``
    doubles up to ``max_steps``; a drift left there is reported in ``notes`` and warned.
    Returns a :class:`TiedSolution` with every served quantity and its standard error."""
    c = api.cell(name)
    mod = api.generated_module(c, "tied_numba")
    p = api.resolve_params(c, params)
    for k, v in p.items():
        if np.ndim(v) != 0:
            raise ValueError(f"solve takes scalar parameters; {k} has shape {np.shape(v)}")
    steps = _positive_int("steps", steps, 4)
    max_steps = max(steps, _positive_int("max_steps", max_steps, 4))
    if burn is not None:
        burn = _positive_int("burn", burn, 1)
        if burn >= steps - 1:
            raise ValueError(f"burn must leave a window of at least 2 steps: burn={burn}, steps={steps}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    for nm, v in (("rtol", rtol), ("lambda_atol", lambda_atol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{nm} must be a positive number, got {v!r}")
    adaptive = paths is None
    if adaptive:
        max_paths = _positive_int("max_paths", max_paths, 16 * MIN_GROUPS)
        size, n_groups = GROUP_PATHS, MIN_GROUPS
    else:
        paths = _positive_int("paths", paths, 16)
        n_groups = max(MIN_GROUPS, paths // GROUP_PATHS) if groups is None else _positive_int("groups", groups, 2)
        if paths < 16 * n_groups:
            raise ValueError(f"paths must be >= 16 per group ({n_groups} groups), got {paths}")
        size = paths // n_groups
    start = annealed_start(mod, c, p)
    notes = []
    while True:  # restarts with doubled steps while the window drifts
        b = steps // 2 if burn is None else burn
        family = np.random.SeedSequence(int(seed))
        runs = []
        want = n_groups
        for round_ in range(ADAPT_ROUNDS if adaptive else 1):
            with np.errstate(over="ignore", invalid="ignore"):
                runs += [engine.forward(mod, p, steps=steps, burn=b, paths=size, seed=sq,
                                        replicas=2 if pairs else 1, Q0=start, C0=0.5)
                         for sq in family.spawn(want - len(runs))]
            if not adaptive:
                break
            need = _groups_needed(mod, runs, rtol, lambda_atol)
            if need <= len(runs):
                break
            cap = max_paths // size
            if len(runs) >= cap or round_ == ADAPT_ROUNDS - 1:
                notes.append(f"error targets (rtol {rtol:g}, lambda_atol {lambda_atol:g}) not reached with "
                             f"{len(runs) * size} paths (max_paths = {max_paths})")
                break
            want = min(cap, int(math.ceil(1.2 * need)))
        drift = _drift(runs)
        final = not drift or burn is not None or 2 * steps > max_steps
        _check_bounded(c, runs, final)
        if final:
            break
        steps *= 2
        notes = []
    per = _per_group(mod, runs, pairs)
    mean = {k: float(v.mean()) for k, v in per.items()}
    se = {k: float(v.std(ddof=1) / math.sqrt(v.size)) for k, v in per.items()}
    notes = tuple(drift + notes)
    if notes:
        warnings.warn(f"{c.name}: tied solve ({steps} steps): {'; '.join(notes)}", RuntimeWarning, stacklevel=2)
    return TiedSolution(cell=c.name, params={k: float(v) for k, v in p.items()}, mean=mean, se=se,
                        paths=size * len(runs), steps=steps, burn=runs[0].burn, notes=notes)


def _per_group(mod, runs, pairs) -> dict:
    """quantity -> array of per-group estimates."""
    per = {}
    h, rf = mod.HIDDEN, mod.READ_FIELD
    for k in mod.COMPONENTS:
        per[f"Q_{k}_star"] = np.array([r.window["Q_" + k].mean() for r in runs])
        if pairs:
            per[f"c_{k}_star"] = np.array([r.window["C_" + k].mean() / r.window["Q_" + k].mean() for r in runs])
    for f, _ in mod.FIELDS:
        per[f"q_star_{f}"] = np.array([r.window["q_" + f].mean() for r in runs])
    if pairs:
        per["c_star"] = np.array([r.window["qab_" + rf].mean() / r.window["q_" + rf].mean() for r in runs])
    per["chi"] = np.array([r.window["chi"].mean() for r in runs])
    per["lambda_max"] = np.array([math.exp(np.mean(r.log_growth[r.burn:])) for r in runs])
    per["Q_star"], per["q_star"] = per[f"Q_{h}_star"], per[f"q_star_{rf}"]
    if pairs:
        per["c_h_star"] = per[f"c_{h}_star"]
    return per


def _groups_needed(mod, runs, rtol, lambda_atol) -> int:
    """Groups for the error targets of ``Q_star`` (relative) and ``lambda_max`` (absolute), from the
    spread of the groups so far (SE ~ groups^-1/2).  Other components (the LSTM cell state, heavy-tailed
    near the edge of chaos) report their SE without driving the budget."""
    per = _per_group(mod, runs, False)
    n = len(runs)
    factor = 1.0
    v = per["Q_star"]
    if v.mean() > 0:
        factor = max(factor, (v.std(ddof=1) / math.sqrt(n) / (rtol * v.mean())) ** 2)
    lam = per["lambda_max"]
    if np.all(np.isfinite(lam)):
        factor = max(factor, (lam.std(ddof=1) / math.sqrt(n) / lambda_atol) ** 2)
    return int(math.ceil(n * factor))


#: a second moment above this (or non-finite) means the state diverges: no stationary state
Q_MAX = 1e15
#: a window whose late half's second moment exceeds its early half's by this factor grows without bound
GROWTH_FACTOR = 4.0


def _check_bounded(c, runs, final: bool):
    """FixedPointError where the state's second moment diverges (non-finite or above Q_MAX; on the last
    run, ``final``, also growing by GROWTH_FACTOR within the window): no stationary state there.  A slow
    approach that a longer run may still settle is left to the drift test and the extension of steps."""
    r0 = runs[0]
    half = r0.burn + (r0.steps - r0.burn) // 2
    for k in r0.Q:
        series = np.array([r.Q[k] for r in runs]).mean(axis=0)
        early, late = series[r0.burn:half].mean(), series[half:].mean()
        if not (np.all(np.isfinite(series)) and series.max() <= Q_MAX) or (final and early > 0
                                                                             and late > GROWTH_FACTOR * early):
            raise api.FixedPointError(
                f"{c.name}: no stationary state of the tied network: the second moment of {k} grows without bound "
                f"(population mean {series[r0.burn]:.3g} -> {series[-1]:.3g} over steps {r0.burn}..{r0.steps})")


def _drift(runs) -> list:
    """Second moments, replica overlaps and the growth rate whose window halves differ by more than
    STATIONARITY_K standard errors (late half - early half of the population mean, spread over groups)."""
    out = []
    r0 = runs[0]
    n_all = r0.steps - r0.burn
    half = r0.burn + n_all // 2
    n_late = r0.steps - half
    series = {}
    for key in [k for k in r0.window if k.startswith(("Q_", "C_"))]:
        series[key] = [r.window["late:" + key].mean() - (r.window[key].mean() * n_all - r.window["late:" + key].mean()
                                                            * n_late) / (n_all - n_late) for r in runs]
    if r0.log_growth is not None and all(np.all(np.isfinite(r.log_growth[r.burn:])) for r in runs):
        series["log growth"] = [r.log_growth[half:].mean() - r.log_growth[r.burn:half].mean() for r in runs]
    for key, d in series.items():
        d = np.asarray(d)
        m, s = float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))
        if abs(m) > STATIONARITY_K * s:
            out.append(f"{key} changes by {m:+.4g} +- {s:.2g} between the window's halves")
    return out


def _positive_int(name, v, least):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or not math.isfinite(v) or v != int(v):
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if int(v) < least:
        raise ValueError(f"{name} must be >= {least}, got {v!r}")
    return int(v)


def _served(mod) -> set:
    """Names ``predict(..., tied=True)`` serves for a cell's generated site module."""
    out = {"Q_star", "q_star", "c_star", "c_h_star", "chi", "lambda_max", "xi", "xi_q", "isometry_mean"}
    out |= {f"Q_{k}_star" for k in mod.COMPONENTS} | {f"c_{k}_star" for k in mod.COMPONENTS}
    return out | {f"q_star_{f}" for f, _ in mod.FIELDS}


def _value(sol: TiedSolution, quantity: str, relax=None, identical: bool = False):
    """(value, SE) of ``quantity`` from a stationary solution; ``relax(which)``: the relaxation
    measurement (:mod:`theory.tied.relaxation`) for ``xi_q`` and for ``xi`` off the ordered, identical-
    copies case (``identical``: Σ = 1 and no independent noise, :meth:`Cell.identical_copies`)."""
    if quantity == "xi" and identical and sol.mean["lambda_max"] < 1.0:
        lam, lse = sol.mean["lambda_max"], sol.se["lambda_max"]  # ordered, C* = Q*: xi = -1/ln lambda_max
        return -1.0 / math.log(lam), lse / (lam * math.log(lam) ** 2)
    if quantity in ("xi", "xi_q"):
        r = relax(quantity)
        if "unresolved" in r:
            raise api.FixedPointError(
                f"{sol.cell}: tied {quantity}: the linear response is not resolved above the noise for 2 steps "
                f"(steps {r['unresolved']}): the relaxation is too fast or the error too large at this budget")
        return r["xi"], r["xi_se"]
    if quantity not in sol.mean:
        raise ValueError(f"{sol.cell}: tied quantity {quantity!r} is not served; choose one of "
                         f"{sorted(sol.mean) + ['xi', 'xi_q']}")
    return sol.mean[quantity], sol.se[quantity]


def _point(c, mod, quantity: str, opts: dict, p: dict):
    """(value, SE) of one tied quantity at scalar parameters ``p``."""
    relaxing = quantity == "xi_q" or quantity == "xi"
    if relaxing and opts.get("paths") is None:
        opts = {**opts, "paths": RELAX_PATHS}  # the relaxation fit needs a fixed set of groups
    sol = solve(c, **opts, **p)

    def relax(which):
        paths = int(sol.paths)
        groups = max(MIN_GROUPS, paths // GROUP_PATHS)
        return relaxation.relaxation_time(mod, sol.params, sol, which, groups=groups, size=paths // groups,
                                          seed=int(opts.get("seed", SEED)))
    return _value(sol, quantity, relax if relaxing else None, c.identical_copies(sol.params))


def predict_tied(c, quantity: str, backend: str, params: dict, progress=None):
    """``theory.predict(..., tied=True)``: see the module docstring.  ``params`` holds cell parameters
    and the options :data:`OPTIONS` (``isometry_mean``: those of :data:`theory.tied.jacobian.OPTIONS`).
    Array parameters broadcast: one solve per point, progress on stderr for long grids
    (:class:`theory.grid.Progress`; ``progress`` None, True or False as in ``theory.predict``), NaN with
    a warning where a point has no value."""
    if backend not in api.BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(api.BACKENDS)}")
    if quantity == "isometry_mean":
        point, return_error = jacobian.isometry_point(c, params)
    else:
        opts = {k: params.pop(k) for k in OPTIONS if k in params}
        return_error = bool(opts.pop("return_error", False))
        mod = api.generated_module(c, "tied_numba")
        served = _served(mod)
        if quantity not in served:
            raise ValueError(f"{c.name}: tied quantity {quantity!r} is not served; choose one of {sorted(served)}")
        opts["pairs"] = quantity in ("c_star", "c_h_star", "xi") or (quantity.startswith("c_") and quantity.endswith("_star"))

        def point(q):
            return _point(c, mod, quantity, opts, q)
    p = api.resolve_params(c, params)
    arrays = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    if shape == ():
        v, e = point(p)
        return (v, e) if return_error else v
    flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in arrays.items()}
    n = int(np.prod(shape))
    vals, errs = np.full(n, np.nan), np.full(n, np.nan)
    failed = 0
    report = grid.Progress(f"predict {c.name} {quantity} (tied)", n, progress)
    for i in range(n):
        try:
            vals[i], errs[i] = point({k: float(a[i]) for k, a in flat.items()})
        except api.FixedPointError:
            failed += 1
        report.update(i + 1)
    report.finish()
    if failed:
        warnings.warn(f"{c.name}: tied {quantity} undefined at {failed} of {n} points (NaN)", RuntimeWarning,
                      stacklevel=3)
    vals, errs = vals.reshape(shape), errs.reshape(shape)
    return (vals, errs) if return_error else vals


#: independent groups of a tied trajectory (its per-step standard error is their spread)
TRAJECTORY_GROUPS = 8


def trajectory_tied(c, steps, Q0, C0=None, *, paths: int = 8192, groups: int = TRAJECTORY_GROUPS, seed: int = SEED,
                    return_error: bool = False, **params):
    """``theory.trajectory(..., tied=True)``: population means per step of the tied site process from
    i.i.d. Gaussian states with second moment ``Q0`` (a number, or {component: number}).

    ``C0`` has the meaning it has in the annealed ``trajectory``: the initial **covariance** of the two
    states (inputs correlated ``Sigma``), ``|C0| <= Q0`` (with per-component ``Q0``, a number ``C0`` is the
    hidden state's covariance and every component starts at the same correlation ``C0 / Q0_h``; a dict
    gives each component's).  ``None``: one sequence only (no ``C``).

    Returns arrays of length ``steps`` (entry t-1 is after step t): ``Q_<c>`` per state component, ``Q``
    (the hidden one), ``q_<field>`` and ``q`` (field variances about their means), ``lambda`` (per-step
    growth factor of the carried tangent); with ``C0`` also ``C_<c>``, ``C``, ``c_<c>`` (= C/Q), ``c_h``
    and ``c`` (the read field's correlation ``q_ab / q``).  The ``paths`` are split into ``groups``
    independent populations (seeds spawned from ``seed``); each entry is the mean of the group means.
    ``return_error=True``: ``(means, standard_errors)``, two dicts of arrays; the standard error is the
    spread of the groups / sqrt(groups) (a ratio such as ``c_h`` is formed per group).  A group of
    ``paths / groups`` paths carries an O(groups / paths) self-consistency bias (see GROUP_PATHS)."""
    mod = api.generated_module(c, "tied_numba")
    steps = _positive_int("steps", steps, 1)
    paths = _positive_int("paths", paths, 16)
    groups = _positive_int("groups", groups, 1)
    if paths < 16 * groups:
        raise ValueError(f"paths must be >= 16 per group ({groups} groups), got {paths}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    p = api.resolve_params(c, params)
    for k, v in p.items():
        if np.ndim(v) != 0:
            raise ValueError(f"trajectory takes scalar parameters; {k} has shape {np.shape(v)}")
    q0 = {}
    for k in mod.COMPONENTS:
        v = Q0[k] if isinstance(Q0, dict) else Q0
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"Q0 must be a finite second moment >= 0, got {Q0!r}")
        q0[k] = float(v)
    rho0 = None
    if C0 is not None:
        ch = C0[mod.HIDDEN] if isinstance(C0, dict) else C0
        if isinstance(ch, bool) or not isinstance(ch, (int, float, np.number)) or not np.isfinite(ch):
            raise ValueError(f"C0 must be a finite covariance, got {C0!r}")
        if abs(ch) > q0[mod.HIDDEN] * (1 + 1e-12) + 1e-300:
            raise ValueError(f"C0 must satisfy |C0| <= Q0 (Cauchy-Schwarz), got C0={C0!r}, Q0={Q0!r}")
        rho0 = float(ch) / q0[mod.HIDDEN] if q0[mod.HIDDEN] > 0 else 1.0
        if isinstance(C0, dict) and any(k in C0 and q0[k] > 0 and abs(C0[k] / q0[k] - rho0) > 1e-12
                                        for k in mod.COMPONENTS):
            raise ValueError("the tied site process starts every component at one correlation; "
                             f"C0 / Q0 must be equal across components, got C0={C0!r}, Q0={Q0!r}")
    size = paths // groups
    per = []
    for sq in np.random.SeedSequence(int(seed)).spawn(groups):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            run = engine.forward(mod, p, steps=steps, burn=0, paths=size, seed=sq,
                                 replicas=1 if rho0 is None else 2, Q0=q0, C0=0.0 if rho0 is None else rho0,
                                 probe=False)
            one = {f"Q_{k}": v for k, v in run.Q.items()}
            one.update({f"q_{f}": v for f, v in run.q.items()})
            one["Q"], one["q"] = run.Q[mod.HIDDEN], run.q[mod.READ_FIELD]
            one["lambda"] = np.exp(run.log_growth)
            if rho0 is not None:
                for k in mod.COMPONENTS:
                    one[f"C_{k}"] = run.C[k]
                    one[f"c_{k}"] = run.C[k] / run.Q[k]
                one["C"], one["c_h"] = run.C[mod.HIDDEN], one[f"c_{mod.HIDDEN}"]
                one["c"] = run.q_ab[mod.READ_FIELD] / run.q[mod.READ_FIELD]
        per.append(one)
    mean = {k: np.mean([g[k] for g in per], axis=0) for k in per[0]}
    if not return_error:
        return mean
    se = {k: (np.std([g[k] for g in per], axis=0, ddof=1) / math.sqrt(groups) if groups > 1
              else np.full(steps, np.nan)) for k in per[0]}
    return mean, se


def _register():
    if render_extension not in EXTENSIONS:
        EXTENSIONS.append(render_extension)
    api.register_tied(predict=predict_tied, trajectory=trajectory_tied)


_register()

__all__ = ["solve", "TiedSolution", "predict_tied", "trajectory_tied", "GROUP_PATHS", "STEPS", "RTOL",
           "TRAJECTORY_GROUPS"]
