"""Theory vs simulation for gated cells with several gates and state components (GRU, LSTM).

The generic engine (:mod:`verify.engine.simulate`) carries one state vector; gated simulators carry a
tuple (``(c, h)``), so this module is their engine *and* their ``compare`` (it imports ``theory``;
the simulators in :mod:`verify.simulators` do not).  Per network and step (two input sequences
with correlation ``Sigma`` sharing the step's weights; untied runs redraw every ``W, U, b`` each
step from ``fold_in(weights_key, t)``):

* ``Q_<k>``, ``C_<k>``, ``c_<k>`` per state component; ``q_<g>`` per gate (field variance about the
  known mean), ``c`` (memory-gate field correlation);
* ``chi``: Hutchinson, :math:`\\frac1{nNP}\\sum_p\\|J_tv_p\\|^2` with :math:`v_p\\sim\\mathcal N(0,I_{nN})` over the
  whole state and ``J_t v`` by ``jax.jvp`` of the real step (unbiased for the mean squared
  singular value of the full state Jacobian);
* ``growth``: a tangent vector carried along the run, :math:`u_t=J_tu_{t-1}` (``jax.jvp``), the ratio
  :math:`\\|u_t\\|^2/\\|u_{t-1}\\|^2`, then renormalised: over the late window its mean estimates
  :math:`\\lambda_{\\max}` (the perturbation direction aligns with the top eigenvector of M);
* mechanism checks of 06 §8: ``rec_lag1`` (lag-one across-unit correlation of the memory gate's
  recurrent field; near 0 untied) and ``gate_state_cov`` (across-unit covariance of the memory
  gate squared and the carried component squared, relative; near 0 untied).

Checks (:class:`verify.judge.compare.Check`) use the package's pass rule
``|pred - est| <= k SE + B_N``: SE over ``E`` networks, ``k`` Bonferroni over the report
(trajectory and point families, ``verify.judge.compare.assign_verdicts``), ``B_N = 5 scale / N``
(``verify.statistics.stats.allowance``; scale 1 for correlations, ``|pred|`` otherwise).  A tied failure
whose untied twin agrees is **closure-limited** (06 §8), never folded into ``B_N`` -- only for tied checks
with no tied prediction: tied ``Q*``, ``Q_<c>*``, ``q*_<g>``, ``chi``, ``lambda_max``, ``c_h*`` are judged against
the tied theory (``verify.judge.compare.judge_tied``, one cached solve per point, theory SE in quadrature), and
tied per-step checks against the tied trajectory (``verify.judge.compare.judge_tied_trajectories``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import COMPILER_OPTIONS
from ..reporting.atomic import begin, write_json, write_manifest
from .compare import (CONVERGED_FRACTION, Check, assign_verdicts, judge_tied, judge_tied_trajectories,
                      tied_trajectory)
from ..statistics.estimators import late_window, window_average
from ..engine.simulate import UNTIED_ENGINES
from ..simulators.base import correlated_inputs, initial_pair
from ..simulators.gated_base import GatedSimulator
from ..statistics.stats import ALPHA, allowance, ensemble_estimate
from ..statistics.timescale import xi_from_lambda  # noqa: F401  (also served here)


@dataclass
class GatedPoint:
    cell: str
    params: dict
    width: int = 128
    ensemble: int = 32
    steps: int = 60
    regimes: tuple = ("untied", "tied")
    seed: int = 0
    probes: int = 2
    Q0: object = 0.5     # number or {component: number}
    C0: object = 0.0
    window_fraction: float = 0.5
    label: str = ""
    tied_paths: int = 0  # tied theory's sample paths / steps; 0: compare.TIED_PATHS / TIED_STEPS
    tied_steps: int = 0
    untied_engine: str = "projected"  # "projected" (exact, O(N k) per step) or "dense"


@dataclass
class GatedReport:
    config: GatedPoint
    predictions: dict
    checks: list
    stats: dict = field(default_factory=dict)      # regime -> {stat: (E, T) list}
    theory: dict = field(default_factory=dict)     # trajectory arrays
    mechanism: dict = field(default_factory=dict)

    def verdict(self) -> str:
        vs = {c.verdict for c in self.checks}
        for v in ("disagree", "closure-limited", "agree"):
            if v in vs:
                return v
        return "not checked"


# ----------------------------------------------------------------------------------------------
# simulation
# ----------------------------------------------------------------------------------------------

def _keys(master, index):
    k = jax.random.fold_in(master, index)
    return jax.random.split(k, 5)


def simulate_network(sim: GatedSimulator, width: int, steps: int, tied, probes: int, master, index,
                     params: dict, Q0, C0, untied_engine: str = "projected"):
    """One network: ``{stat: (steps,)}``.  ``tied``: a Python bool, or a traced bool (one compiled
    program for both regimes; ``lax.cond`` picks the regime's run, the samples are the same).
    ``untied_engine``: ``"projected"`` draws an untied step's matrices only on the span of what they
    multiply (cells that declare ``projectable``; :mod:`verify.simulators.projected`), ``"dense"``
    draws them whole."""
    if not isinstance(tied, bool):
        def run(regime):
            return lambda: simulate_network(sim, width, steps, regime, probes, master, index, params, Q0, C0,
                                            untied_engine)
        return jax.lax.cond(tied, run(True), run(False))
    if untied_engine not in UNTIED_ENGINES:
        raise ValueError(f"untied_engine must be one of {UNTIED_ENGINES}, got {untied_engine!r}")
    # a projected draw needs at most N - 2 reads (two states, the probes, the growth vector); below
    # that width the dense draw is cheap anyway
    projected = not tied and sim.projectable and untied_engine == "projected" and probes + 3 <= width - 2
    n, dtype = width, jnp.float64
    kw, kx, k0, kp, ku = _keys(master, index)
    p = {k: jnp.asarray(v, dtype) for k, v in params.items()}
    comps = sim.components
    init = [initial_pair(jax.random.fold_in(k0, i), n, Q0[i], C0[i], dtype) for i in range(len(comps))]
    s_a = tuple(pair[0] for pair in init)
    s_b = tuple(pair[1] for pair in init)
    u0 = tuple(jax.random.normal(jax.random.fold_in(ku, i), (n,), dtype) for i in range(len(comps)))
    tied_w = sim.draw_weights(kw, n, p, dtype) if tied else None
    ts = jnp.arange(1, steps + 1)
    mg = sim.memory_gate
    ic = comps.index("c") if "c" in comps else comps.index(sim.read)
    ir = comps.index(sim.read)

    def body(carry, t):
        s_a, s_b, u, rec_prev = carry
        x_a, x_b = correlated_inputs(jax.random.fold_in(kx, t), n, p["R"], p["Sigma"], dtype)
        v = jax.random.normal(jax.random.fold_in(kp, t), (probes, len(comps), n), dtype)
        if tied:
            w = tied_w
        elif projected:  # W reads the two states' read component and its tangents (probes, u)
            reads = jnp.concatenate([jnp.stack([s_a[ir], s_b[ir]]), v[:, ir, :], u[ir][None]])
            w = sim.draw_weights(jax.random.fold_in(kw, t), n, p, dtype, reads=(reads, jnp.stack([x_a, x_b])))
        else:
            w = sim.draw_weights(jax.random.fold_in(kw, t), n, p, dtype)
        new_a, a_a = sim.step(w, s_a, x_a, p)
        new_b, a_b = sim.step(w, s_b, x_b, p)

        def fmap(s):
            return sim.step(w, s, x_a, p)[0]

        jv = jax.vmap(lambda vp: jax.jvp(fmap, (s_a,), (tuple(vp),))[1])(v)
        ju = jax.jvp(fmap, (s_a,), (u,))[1]
        nu = sum(jnp.sum(x * x) for x in u)
        nju = sum(jnp.sum(x * x) for x in ju)
        u_new = tuple(x * jnp.sqrt(len(comps) * n / nju) for x in ju)
        st = {"chi": sum(jnp.sum(x * x) for x in jv) / (len(comps) * n * probes), "growth": nju / nu}
        for i, k in enumerate(comps):
            qa, qb = jnp.mean(new_a[i] ** 2), jnp.mean(new_b[i] ** 2)
            st[f"Q_{k}"] = 0.5 * (qa + qb)
            st[f"C_{k}"] = jnp.mean(new_a[i] * new_b[i])
            st[f"c_{k}"] = st[f"C_{k}"] / jnp.sqrt(qa * qb)
        for g in sim.gates:
            mu = p.get(f"mu_b_{g}", 0.0)
            ea, eb = a_a[g] - mu, a_b[g] - mu
            st[f"q_{g}"] = 0.5 * (jnp.mean(ea * ea) + jnp.mean(eb * eb))
            if g == mg:
                st["c"] = jnp.mean(ea * eb) / jnp.sqrt(jnp.mean(ea * ea) * jnp.mean(eb * eb))
        rec = sim.recurrent_field(w, s_a)
        den = jnp.sqrt(jnp.mean(rec * rec) * jnp.mean(rec_prev * rec_prev))
        st["rec_lag1"] = jnp.where(t > 1, jnp.mean(rec * rec_prev) / jnp.where(den > 0, den, 1.0), jnp.nan)
        gate2 = jax.nn.sigmoid(a_a[mg]) ** 2
        held2 = s_a[ic] ** 2
        st["gate_state_cov"] = (jnp.mean(gate2 * held2) - jnp.mean(gate2) * jnp.mean(held2)) / (
            jnp.mean(gate2) * jnp.mean(held2))
        return (new_a, new_b, u_new, rec), st

    carry0 = (s_a, s_b, u0, jnp.zeros((n,), dtype))
    _, stats = jax.lax.scan(body, carry0, ts)
    return stats


@lru_cache(maxsize=None)
def _ensemble_fn(sim, width, steps, probes, points=None, untied_engine="projected"):
    """One compiled program per cell, width, horizon, probe count (and batch of points): the regime
    (``tied``) is a runtime argument and the parameters are traced, so every point and regime of a
    cell shares it (on a CPU compilation dominates).  ``points = K``: ``params``, ``Q0``, ``C0`` carry
    a leading axis of K parameter points run with the same keys; the random draws depend on the
    keys only, so ``vmap`` leaves them unbatched: each step's weights are drawn once for the K
    points (output ``(E, K, steps)``)."""
    def one(master, index, params, Q0, C0, tied):
        return simulate_network(sim, width, steps, tied, probes, master, index, params, Q0, C0, untied_engine)
    if points is not None:
        inner = jax.vmap(one, in_axes=(None, None, 0, 0, 0, None))
        return jax.jit(jax.vmap(inner, in_axes=(None, 0, None, None, None, None)), compiler_options=COMPILER_OPTIONS)
    return jax.jit(jax.vmap(one, in_axes=(None, 0, None, None, None, None)), compiler_options=COMPILER_OPTIONS)


def per_component(comps, x) -> list:
    """A number (same for every component) or {component: number} -> list in component order."""
    return [float(x[k] if isinstance(x, dict) else x) for k in comps]


def networks_per_chunk(sim: GatedSimulator, width: int, free_bytes: int | None = None) -> int:
    """First guess of how many networks of width ``N`` fit in one call: each holds ``2 * #gates``
    float64 ``N x N`` matrices (``W, U`` per gate), drawn at once, so ``WEIGHT_COPIES`` live copies
    (raw bits, conversion, result); at most ``HEADROOM`` of the device's free memory is used.
    Raises :class:`MemoryPlanError` naming the bytes needed when one network does not fit.  The
    compiled program's measured need decides in the end (:func:`compiled_chunk`)."""
    from ..engine.sharding import HEADROOM, WEIGHT_COPIES, MemoryPlanError, free_bytes_per_device

    per_net = WEIGHT_COPIES * 2 * len(sim.gates) * width * width * 8
    free = free_bytes_per_device(jax.devices()[:1]) if free_bytes is None else int(free_bytes)
    n = int(HEADROOM * free // per_net)
    if n < 1:
        raise MemoryPlanError(f"{sim.cell} at width {width} (float64) needs about {per_net / 2**30:.3g} GiB "
                              f"per network (x{1 / HEADROOM:g} headroom); only {free / 2**30:.3g} GiB free")
    return n


@lru_cache(maxsize=64)
def _compiled(sim, width: int, steps: int, probes: int, points, chunk: int, names: tuple,
              untied_engine: str = "projected"):
    """:func:`_ensemble_fn` lowered and compiled for ``chunk`` networks (called directly, measured)."""
    k = () if points is None else (points,)
    comps = len(sim.components)
    p = {n: jax.ShapeDtypeStruct(k, jnp.float64) for n in names}
    q = jax.ShapeDtypeStruct(k + (comps,), jnp.float64)
    return _ensemble_fn(sim, width, steps, probes, points, untied_engine).lower(
        jax.random.PRNGKey(0), jax.ShapeDtypeStruct((chunk,), jnp.int32), p, q, q, np.bool_(False)).compile()


def compiled_chunk(sim: GatedSimulator, width: int, steps: int, probes: int, ensemble: int, chunk: int,
                   points=None, names: tuple = (), untied_engine: str = "projected"):
    """``(compiled, chunk)``: the chunk program measured by XLA's memory analysis before anything runs
    (:func:`verify.engine.sharding.fit_chunk`: shrinks the chunk until it fits, or raises
    :class:`MemoryPlanError` with the measured bytes of one network)."""
    from ..engine.sharding import MemoryPlanError, fit_chunk, free_bytes_per_device

    try:
        first = min(int(chunk), ensemble, networks_per_chunk(sim, width) // (points or 1))
    except MemoryPlanError:  # the formula is only the first guess
        first = 1
    free = free_bytes_per_device(jax.devices()[:1])
    compiled, chunk, _ = fit_chunk(lambda ch: _compiled(sim, width, steps, probes, points, ch, names, untied_engine),
                                   max(1, first), 1, free, f"{sim.cell} at width {width} (float64, {steps} steps)",
                                   program=(sim.cell, width, steps, probes, points, names, untied_engine))
    return compiled, chunk


def _run_chunks(compiled, chunk: int, ensemble: int, args: tuple) -> list:
    """Every chunk of ``chunk`` networks (the last padded to the compiled size, its extra rows dropped)."""
    parts = []
    for start in range(0, ensemble, chunk):
        idx = jnp.arange(start, start + chunk, dtype=jnp.int32)
        out = jax.device_get(compiled(args[0], idx, *args[1:]))
        parts.append({k: np.asarray(v)[: min(chunk, ensemble - start)] for k, v in out.items()})
    return parts


def simulate(sim: GatedSimulator, params: dict, *, width: int, ensemble: int, steps: int, tied: bool,
             seed: int = 0, probes: int = 2, Q0=0.5, C0=0.0, chunk: int = 16,
             program_steps: Optional[int] = None, untied_engine: str = "projected") -> dict:
    """``{stat: array (E, T)}`` for ``ensemble`` networks (chunks of at most ``chunk`` networks per
    call, fewer where XLA's memory analysis of the compiled program says they do not fit).
    ``Q0``/``C0``: initial second moment / overlap, one number or {component: number}; the pair of
    initial states has them exactly (:func:`verify.simulators.base.initial_pair`).
    ``program_steps`` (>= ``steps``): run the program compiled for that many steps and keep the
    first ``steps`` (step ``t`` depends only on steps ``<= t`` and keys ``fold_in(., t)``: the
    same statistics, one compiled program for runs of different lengths)."""
    sim.check_params(params)
    run_steps = max(int(steps), int(program_steps or 0))
    names = tuple(params)
    compiled, chunk = compiled_chunk(sim, int(width), run_steps, int(probes), int(ensemble), int(chunk), None, names,
                                     untied_engine)
    p = {k: jnp.asarray(float(params[k]), dtype=jnp.float64) for k in names}
    q0, c0 = per_component(sim.components, Q0), per_component(sim.components, C0)
    args = (jax.random.PRNGKey(seed), p, jnp.asarray(q0, dtype=jnp.float64), jnp.asarray(c0, dtype=jnp.float64),
            np.bool_(tied))
    parts = _run_chunks(compiled, chunk, int(ensemble), args)
    return {k: np.concatenate([d[k] for d in parts], axis=0)[:, :steps] for k in parts[0]}


def simulate_points(sim: GatedSimulator, points: list, *, width: int, ensemble: int, steps: int, tied: bool,
                    seed: int = 0, probes: int = 2, chunk: int = 16, program_steps: Optional[int] = None,
                    untied_engine: str = "projected") -> list:
    """:func:`simulate` at several parameter points ``[(params, Q0, C0), ...]`` with the same ``seed``
    (common random numbers: the points see the same standard-normal draws, as separate runs with
    that seed would, and each step's draws are made once for all of them; on the projected untied
    engine each point draws on its own reads from the same key, as its separate run does).  One stats
    dict per point; each equals ``simulate(sim, params, ..., seed=seed, Q0=Q0, C0=C0)`` up to rounding."""
    for params, _, _ in points:
        sim.check_params(params)
    run_steps = max(int(steps), int(program_steps or 0))
    names = tuple(points[0][0])
    # the K points' weights scale with their parameters, so each network holds K copies
    compiled, chunk = compiled_chunk(sim, int(width), run_steps, int(probes), int(ensemble), int(chunk),
                                     len(points), names, untied_engine)
    p = {k: jnp.asarray([float(pt[0][k]) for pt in points], dtype=jnp.float64) for k in names}
    q0 = jnp.asarray([per_component(sim.components, pt[1]) for pt in points], dtype=jnp.float64)
    c0 = jnp.asarray([per_component(sim.components, pt[2]) for pt in points], dtype=jnp.float64)
    parts = _run_chunks(compiled, chunk, int(ensemble), (jax.random.PRNGKey(seed), p, q0, c0, np.bool_(tied)))
    stats = {k: np.concatenate([d[k] for d in parts], axis=0) for k in parts[0]}  # (E, K, T)
    return [{k: np.ascontiguousarray(v[:, i, :steps]) for k, v in stats.items()} for i in range(len(points))]


# ----------------------------------------------------------------------------------------------
# theory and checks
# ----------------------------------------------------------------------------------------------

def predictions(cell: str, params: dict) -> dict:
    import theory

    c = theory.cell(cell)
    names = ["Q_star", "chi", "lambda_max", "xi_q", "c_h_star", "xi"]
    names += [f"Q_{k}_star" for k in c.state if k != c.read] + [f"q_star_{g.name}" for g in c.gates]
    out = {}
    for q in names:
        try:
            out[q] = float(theory.predict(cell, q, **params))
        except (RuntimeError, ArithmeticError, ValueError):
            pass
    return out


def theory_trajectory(cell: str, steps: int, Q0: float, C0: float, params: dict, pairs: bool = True) -> dict:
    from theory.closures.gated_api import trajectory

    return trajectory(cell, steps, Q0, C0, pairs=pairs, **params)


def _checks_c_h(preds: dict) -> bool:
    """Whether a c_h_star fixed-point check is made (:func:`checks_for` skips c_h* = 1)."""
    return "c_h_star" in preds and preds["c_h_star"] < 1.0 - 1e-12


FIXED = {"Q_star": "Q_h", "Q_c_star": "Q_c", "chi": "chi", "lambda_max": "growth", "c_h_star": "c_h"}


def _fixed_pairs(cell_gates):
    pairs = dict(FIXED)
    pairs.update({f"q_star_{g}": f"q_{g}" for g in cell_gates})
    return pairs


def _convergence_ref(quantity, traj, preds):
    """The theory trajectory whose convergence a fixed-point check needs (chi, lambda follow Q_h)."""
    obs = {"Q_star": "Q_h", "Q_c_star": "Q_c", "c_h_star": "c_h"}.get(quantity, "Q_h")
    ref = {"Q_h": "Q_star", "Q_c": "Q_c_star", "c_h": "c_h_star"}[obs]
    return obs, ref


def checks_for(stats: dict, traj: dict, preds: dict, regime: str, width: int, window, gates,
               trajectories: bool = True) -> list:
    """Per-step trajectory checks (unless ``trajectories=False``) and fixed-point checks."""
    out = []
    n = next(iter(stats.values())).shape[0]
    for name in [k for k in traj if trajectories and k.startswith(("Q_", "C_", "q_"))]:
        if name not in stats:
            continue
        e = ensemble_estimate(stats[name])
        for i in range(traj[name].size):
            pred = float(traj[name][i])
            out.append(Check(name, "trajectory", regime, "approach", pred, float(e.mean[i]), float(e.se[i]), n,
                             float(allowance(name, pred, width)), t=i + 1, verdict=""))
    for quantity, obs in _fixed_pairs(gates).items():
        if quantity not in preds or obs not in stats:
            continue
        if quantity == "c_h_star" and not _checks_c_h(preds):
            continue
        pred = preds[quantity]
        e = ensemble_estimate(window_average(stats[obs], window))
        c = Check(quantity, "fixed point", regime, "approach", pred, float(e.mean), float(e.se), n,
                  float(allowance(quantity, pred, width)), verdict="")
        tobs, ref = _convergence_ref(quantity, traj, preds)
        if tobs in traj and ref in preds:
            tw = float(np.mean(traj[tobs][window[0] - 1: window[1] - 1]))
            if abs(tw - preds[ref]) > CONVERGED_FRACTION * float(allowance(ref, preds[ref], width)):
                c.verdict, c.note = "not checked", f"horizon too short: theory {tobs} window mean {tw:.6g} vs {preds[ref]:.6g}"
        out.append(c)
    return out


def verify_point(cfg: GatedPoint, predict_params: Optional[dict] = None, finalize: bool = True,
                 alpha: float = ALPHA, sims: Optional[dict] = None,
                 program_steps: Optional[int] = None, fixed_points_only: bool = False,
                 preds: Optional[dict] = None) -> GatedReport:
    """Simulate (or reuse ``sims`` = {regime: stats}) and judge one point (``program_steps``: see
    :func:`simulate`).  ``fixed_points_only``: no per-step trajectory checks, and the theory's
    two-sequence trajectory only where a c_h* check needs its convergence (the bias sweep).
    ``preds``: :func:`predictions` at the prediction parameters, if the caller has them already."""
    import theory

    from ..simulators import get_gated

    sim = get_gated(cfg.cell)
    pp = dict(cfg.params if predict_params is None else predict_params)
    preds = predictions(cfg.cell, pp) if preds is None else preds
    traj = theory_trajectory(cfg.cell, cfg.steps, cfg.Q0, cfg.C0, pp,
                             pairs=not fixed_points_only or _checks_c_h(preds))
    window = late_window(cfg.steps, cfg.window_fraction)
    gates = [g.name for g in theory.cell(cfg.cell).gates]
    checks, stats, mech = [], {}, {}
    for regime in cfg.regimes:
        if sims is not None and regime in sims:
            s = sims[regime]
        else:
            s = simulate(sim, cfg.params, width=cfg.width, ensemble=cfg.ensemble, steps=cfg.steps,
                         tied=regime == "tied", seed=cfg.seed, probes=cfg.probes, Q0=cfg.Q0, C0=cfg.C0,
                         program_steps=program_steps, untied_engine=cfg.untied_engine)
        stats[regime] = s
        checks += checks_for(s, traj, preds, regime, cfg.width, window, gates, trajectories=not fixed_points_only)
        mech[regime] = {k: _describe(ensemble_estimate(window_average(s[k], window)))
                        for k in ("rec_lag1", "gate_state_cov")}
    if "tied" in cfg.regimes:  # tied fixed points against the tied theory (one cached solve per point)
        judge_tied(checks, cfg.cell, pp, cfg.width, cfg.tied_paths, cfg.tied_steps)
        if not fixed_points_only:  # per-step checks against the tied trajectory (with its SE)
            tmean, tse, why = tied_trajectory(cfg.cell, cfg.steps, cfg.Q0, cfg.C0, pp, cfg.tied_paths)
            judge_tied_trajectories(checks, "approach", tmean, tse, cfg.width, why or "")
    rep = GatedReport(cfg, preds, checks, stats, traj, mech)
    if finalize:
        assign_verdicts(rep.checks, True, alpha=alpha)
        population_rejudge(rep)
    return rep


def population_rejudge(rep: GatedReport, solve=None) -> int:
    """Re-judge untied fixed-point checks that disagree with the Gaussian closure against population
    dynamics (:mod:`theory.closures.population`, the exact one-site solution of the untied recursion).

    The LSTM cell state is not Gaussian; at large N the simulation resolves the Gaussian closure's
    error (N = 2048, reports/verify_gpu_h100: Q* up to 2.5 % off the closure, 7-17 SE, and within
    1 SE of population dynamics).  An untied check whose estimate agrees with the population value,
    ``|est - pop| <= k sqrt(SE^2 + SE_pop^2) + B_N`` with the check's own ``k`` and ``B_N``, becomes
    **closure-limited** with both numbers in its note; its disagreeing tied twin too (the
    single-time closure is not exact for tied gated cells either).  A check that disagrees with both
    stays "disagree".  ``solve``: ``(cell, params) -> PopulationResult`` (default
    :func:`theory.closures.population.solve`); it runs (~1 min on CPU) only when an untied check disagrees.
    Returns the number of checks re-labelled."""
    return rejudge_checks(rep.config.cell, rep.config.params, rep.checks, solve=solve)


def rejudge_checks(cell_name: str, params: dict, checks: list, solve=None, result=None) -> int:
    """:func:`population_rejudge` on a list of checks of one parameter point (``result``: an
    already computed :class:`theory.closures.population.PopulationResult`)."""
    import theory
    from theory.closures import population as popmod

    bad = [c for c in checks if c.kind == "fixed point" and c.regime == "untied" and c.verdict == "disagree"]
    if not bad:
        return 0
    cell = theory.cell(cell_name)
    if result is None:
        solve = solve or (lambda c, p: popmod.solve(c, theory.api.resolve_params(c, p)))
        try:
            result = solve(cell, params)
        except ValueError:  # population dynamics does not serve this cell: the verdicts stand
            return 0
    rescued, n = {}, 0
    for c in bad:
        key = popmod.observable(cell, c.quantity)
        if key is None or key not in result.mean:
            continue
        v, sv = float(result.mean[key]), float(result.se[key])
        tol = c.k * math.hypot(c.se, sv) + c.allowance
        if abs(c.estimate - v) <= tol:
            c.verdict = "closure-limited"
            c.note = (f"Gaussian closure {c.prediction:.5g} off by {c.estimate - c.prediction:+.3g}; population "
                      f"dynamics (exact untied) {v:.5g} ± {sv:.2g} agrees (|est - pop| {abs(c.estimate - v):.2g} "
                      f"<= {tol:.2g})" + ("; " + c.note if c.note else ""))
            rescued[(c.quantity, c.run)] = v
            n += 1
    for c in checks:
        if (c.kind == "fixed point" and c.regime == "tied" and c.verdict == "disagree"
                and c.theory == "annealed" and (c.quantity, c.run) in rescued):  # tied-judged: stands
            c.verdict = "closure-limited"
            c.note = (f"untied twin agrees with population dynamics ({rescued[(c.quantity, c.run)]:.5g}), not with "
                      f"the Gaussian closure; single-time closure not exact for tied gated cells"
                      + ("; " + c.note if c.note else ""))
            n += 1
    return n


def _describe(e):
    return {"mean": float(e.mean), "se": float(e.se), "n": int(e.n)}


# ----------------------------------------------------------------------------------------------
# gate-bias sweep: lambda_max and the timescale -1/ln(lambda_max) from short to long memory
# ----------------------------------------------------------------------------------------------

def bias_sweep(cell: str, mus, base: dict, *, width: int, ensemble: int, steps: int, regimes=("untied", "tied"),
               seed: int = 0, alpha: float = ALPHA, population: bool = True,
               program_steps: Optional[int] = None, population_size: Optional[int] = None) -> dict:
    """For each memory-gate bias mean in ``mus``: simulated ``lambda_max`` (tangent growth over the
    late window) and fixed points vs theory (Gaussian closure and, if asked, population dynamics).
    Each point starts at the theory's fixed-point second moments (C0 = 0), so the late window holds
    the fixed point even where xi_q is long; the relaxation itself is checked by the points of
    :func:`verify_point`.  Verdicts over the whole sweep share one Bonferroni family per kind.

    All biases are simulated with the same ``seed`` (common random numbers) in one batched program
    per regime (:func:`simulate_points`): every bias point still has ``E`` independent networks, so
    each check's SE and power are those of a separate run; the points are correlated with each
    other, which the Bonferroni bound allows (it holds under any dependence) and which makes the
    trend across biases more precise.  The random draws, most of an untied run's cost, are made
    once for all biases.

    The population reference (reported, not a check) uses ``population_size`` samples per replica
    (default: the theory's) and one burn-in for the whole sweep, the longest of the theory's rule
    (``12 xi_q``, clipped) over the biases, so one compiled program serves every bias; a longer
    burn-in only relaxes further."""
    import theory

    from .compare import count_open

    c = theory.cell(cell)
    key = f"mu_b_{c.memory_gate}"
    rows, per_point, results = [], [], []
    burn = max(_population_burn(cell, {**base, key: float(mu)}) for mu in mus) if population else None
    from ..simulators import get_gated

    cfgs, preds = [], []
    for mu in mus:
        params = {**base, key: float(mu)}
        pr = predictions(cell, params)
        preds.append(pr)
        q0 = {k: pr["Q_star" if k == c.read else f"Q_{k}_star"] for k in c.state}
        cfgs.append(GatedPoint(cell, params, width=width, ensemble=ensemble, steps=steps, regimes=tuple(regimes),
                               seed=seed, Q0=q0, C0=0.0, label=f"{key}={mu:g}"))
    sims = [{} for _ in cfgs]
    for regime in regimes:
        batch = simulate_points(get_gated(cell), [(cfg.params, cfg.Q0, cfg.C0) for cfg in cfgs], width=width,
                                ensemble=ensemble, steps=steps, tied=regime == "tied", seed=seed,
                                probes=cfgs[0].probes, program_steps=program_steps,
                                untied_engine=cfgs[0].untied_engine)
        for sim_, stats in zip(sims, batch):
            sim_[regime] = stats
    for mu, cfg, sim_, pr in zip(mus, cfgs, sims, preds):
        params = cfg.params
        rep = verify_point(cfg, finalize=False, sims=sim_, fixed_points_only=True, preds=pr)
        point = [ch for ch in rep.checks if ch.kind == "fixed point"]
        for ch in point:
            ch.note = (ch.note + "; " if ch.note else "") + cfg.label
        per_point.append(point)
        row = {"mu": float(mu), "Q0": cfg.Q0, "theory": {q: rep.predictions.get(q) for q in ("lambda_max", "xi", "xi_q", "Q_star", "chi")}}
        res = None
        if population:
            from theory.closures import population as popmod
            try:
                res = popmod.solve(c, theory.api.resolve_params(c, params), size=population_size, burn=burn)
            except ValueError as exc:  # a cell population dynamics does not serve (gru-reset-after)
                row["population"] = {"unavailable": str(exc)}
            else:
                row["population"] = {"lambda_max": res.mean["growth"], "lambda_max_se": res.se["growth"],
                                     "Q_star": res.mean["Q_h"], "Q_star_se": res.se["Q_h"],
                                     "size": res.size, "replicas": res.replicas, "burn": res.burn}
        results.append(res)
        rows.append(row)
    checks = [ch for point in per_point for ch in point]
    m = count_open(checks)
    for row, point, res in zip(rows, per_point, results):
        assign_verdicts(point, True, m=m, alpha=alpha)  # closure-limited twins matched within a point
        if res is not None:
            rejudge_checks(cell, {**base, key: row["mu"]}, point, result=res)
    if "tied" in regimes:
        width_ladder(cell, cfgs, preds, per_point, width=width, ensemble=ensemble, steps=steps, seed=seed,
                     program_steps=program_steps)
    for row, point in zip(rows, per_point):
        for ch in point:
            row.setdefault(ch.regime, {})[ch.quantity] = {"estimate": ch.estimate, "se": ch.se, "verdict": ch.verdict}
    return {"cell": cell, "gate_bias": key, "rows": rows, "checks": checks, "width": width, "ensemble": ensemble,
            "steps": steps}


def width_ladder(cell: str, cfgs: list, preds: list, per_point: list, *, width: int, ensemble: int, steps: int,
                 seed: int, program_steps: Optional[int] = None) -> int:
    """Positive evidence for a finite-width gap (issue 17): tied checks judged against the tied theory
    (N -> infinity) that disagree at width N are re-simulated at 2N (one batched program for the whole
    sweep, same seed).  With X(N) = X_inf + a/N, the extrapolation X_inf = 2 X(2N) - X(N) (SE
    sqrt(4 SE_2N^2 + SE_N^2)) agreeing with the tied theory within the check's k combined SE, and the
    gap at 2N smaller than at N, makes the verdict "finite-width" (both widths and X_inf in the note);
    otherwise it stays "disagree".  Returns the number of checks relabelled.

    Measured (tied GRU, mu_z = 4, sigma_w = 1): (X(N) - X_inf) N = 0.314, 0.314, 0.315, 0.41 +- 0.13 at
    N = 64, 128, 256, 512 against the tied theory's X_inf = 0.01384: a clean 1/N correction ~23x the
    quantity, far beyond the 5 |pred| / N allowance."""
    from ..simulators import get_gated

    todo = [(i, ch) for i, point in enumerate(per_point) for ch in point
            if ch.regime == "tied" and ch.theory == "tied" and ch.verdict == "disagree"]
    if not todo:
        return 0
    idx = sorted({i for i, _ in todo})
    wide = [GatedPoint(cfgs[i].cell, cfgs[i].params, width=2 * width, ensemble=ensemble, steps=steps,
                       regimes=("tied",), seed=seed, Q0=cfgs[i].Q0, C0=cfgs[i].C0, label=cfgs[i].label) for i in idx]
    batch = simulate_points(get_gated(cell), [(w.params, w.Q0, w.C0) for w in wide], width=2 * width,
                            ensemble=ensemble, steps=steps, tied=True, seed=seed, probes=wide[0].probes,
                            program_steps=program_steps)
    at2 = {}
    for i, w, stats in zip(idx, wide, batch):
        rep = verify_point(w, finalize=False, sims={"tied": stats}, fixed_points_only=True, preds=preds[i])
        for ch in rep.checks:
            at2[(i, ch.quantity, ch.run)] = ch
    n = 0
    for i, ch in todo:
        w = at2.get((i, ch.quantity, ch.run))
        if w is None or not (math.isfinite(w.estimate) and math.isfinite(w.se)):
            continue
        x_inf = 2.0 * w.estimate - ch.estimate
        se_inf = math.hypot(2.0 * w.se, ch.se)
        agrees = abs(x_inf - ch.prediction) <= ch.k * math.hypot(se_inf, ch.theory_se)
        shrinks = abs(w.estimate - ch.prediction) < abs(ch.estimate - ch.prediction)
        ch.note = (ch.note + "; " if ch.note else "") + (
            f"width ladder: {ch.estimate:.5g} at N={width}, {w.estimate:.5g} +- {w.se:.2g} at N={2 * width}, "
            f"1/N extrapolation {x_inf:.5g} +- {se_inf:.2g} (detects >= "
            f"{ch.k * math.hypot(se_inf, ch.theory_se) / max(abs(ch.prediction), 1e-300):.0%} errors)")
        if agrees and shrinks:
            ch.verdict = "finite-width"
            n += 1
    return n


def _population_burn(cell: str, params: dict) -> int:
    """The burn-in :func:`theory.closures.population.solve` would choose: ``12 xi_q`` clipped to
    ``[BURN_MIN, BURN_MAX]`` (``xi_q = 10`` where the closure has no fixed point)."""
    import theory
    from theory.closures import population as popmod

    try:
        xq = float(theory.predict(cell, "xi_q", **params))
    except (RuntimeError, ArithmeticError):
        xq = 10.0
    return int(min(popmod.BURN_MAX, max(popmod.BURN_MIN, math.ceil(12 * xq if math.isfinite(xq) else popmod.BURN_MAX))))


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------

def check_dict(c: Check) -> dict:
    d = asdict(c)
    d["detectable"] = c.detectable  # power: relative error flagged with >= 90 % probability
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def table(reports: list) -> str:
    lines = [f"{'cell':5s} {'point':16s} {'regime':7s} {'quantity':12s} {'pred':>10s} {'est':>10s} {'SE':>8s} "
             f"{'k':>5s} {'B_N':>8s} {'detects':>8s}  verdict"]
    for r in reports:
        for c in r.checks:
            if c.kind == "trajectory":
                continue
            lines.append(f"{r.config.cell:5s} {r.config.label[:16]:16s} {c.regime:7s} {c.quantity:12s} {c.prediction:10.5g} "
                         f"{c.estimate:10.5g} {c.se:8.2g} {c.k:5.2f} {c.allowance:8.2g} {100 * c.detectable:7.2g}%  {c.verdict} "
                         + (f"[tied theory ± {c.theory_se:.2g}, annealed {c.annealed:.5g}] " if c.theory == "tied" else "")
                         + c.note[:60])
        traj = [c for c in r.checks if c.kind == "trajectory"]
        for regime in r.config.regimes:
            tr = [c for c in traj if c.regime == regime]
            counts = {v: sum(c.verdict == v for c in tr) for v in ("agree", "disagree", "closure-limited")}
            lines.append(f"{r.config.cell:5s} {r.config.label[:16]:16s} {regime:7s} trajectory   {len(tr)} per-step checks: "
                         + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)


def write_report(out, reports: list, sweeps: list = (), meta: Optional[dict] = None, plots: bool = True) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from ..reporting.report import environment

    doc = {"meta": {**(meta or {}), "environment": environment()}, "points": [], "bias_sweeps": []}
    for r in reports:
        doc["points"].append({"config": asdict(r.config), "predictions": r.predictions, "verdict": r.verdict(),
                              "mechanism": r.mechanism, "checks": [check_dict(c) for c in r.checks]})
    for s in sweeps:
        doc["bias_sweeps"].append({k: v for k, v in s.items() if k != "checks"} | {"checks": [check_dict(c) for c in s["checks"]]})
    begin(out)
    figures = []
    if plots:
        from ..reporting.gated_plots import plot_point, plot_sweep
        for r in reports:
            figures.append(f"{r.config.cell}_{r.config.label or 'point'}.png")
            plot_point(r, out / figures[-1])
        for s in sweeps:
            figures.append(f"{s['cell']}_bias_sweep.png")
            plot_sweep(s, out / figures[-1])
    path = write_json(out / "report.json", doc, indent=1, default=float)
    write_manifest(out, [*figures, path.name])
    return path


__all__ = ["width_ladder", "GatedPoint", "GatedReport", "simulate", "verify_point", "bias_sweep", "predictions", "write_report",
           "table", "xi_from_lambda"]
