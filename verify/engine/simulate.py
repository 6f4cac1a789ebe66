"""Generic engine: one network's per-step statistics, scanned over time (07 §3, §7).

For network ``k`` the keys are ``fold_in(master, k)`` split by purpose into
``(weights, inputs, initial states, probes)``, so a network's samples do not depend on the batch
size, the chunking or the device count. Untied runs regenerate ``W_t, V_t, b_t`` from
``fold_in(weights_key, t)`` inside the time loop (no ``T x N^2`` storage); both input sequences
and the Jacobian probes of step ``t`` use the same draw.  By default (``RunShape.untied_engine``)
an untied step of a ``projectable`` cell draws ``W_t`` only on the span of the states and probes it
multiplies, and ``V_t`` on the span of the two inputs (:mod:`verify.simulators.projected`): the same
law as a dense draw, with ``O(N k)`` normals instead of ``N^2`` (``k = 2 + probes``).

Per step ``t = 1..T`` and network, with pre-activations ``e^a, e^b``, states ``h^a, h^b`` and the
known bias mean ``mu_b`` (all sums over units, divided by ``N``):

* ``q_a = (1/N) sum (e^a - mu_b)^2``, ``q_b`` likewise, ``q_ab = (1/N) sum (e^a-mu_b)(e^b-mu_b)``;
* ``Q_a = |h^a|^2/N``, ``Q_b``, ``C = h^a.h^b/N``;
* ``c = q_ab / sqrt(q_a q_b)`` (field correlation), ``c_h = C / sqrt(Q_a Q_b)`` (hidden);
* ``chi = (1/(N P)) sum_p |J_t v_p|^2`` with ``v_p ~ N(0, I)`` and ``J_t v = jax.jvp`` of the real
  step at ``h^a_{t-1}`` (Hutchinson: unbiased for ``(1/N)||J_t||_F^2``);
* ``chi_exact``: the cell's closed-form ``(1/N)||J_t||_F^2`` (NaN if the cell has none);
* ``rec_lag1``: across-unit correlation of ``(W h^a_{t-1})`` with the previous step's
  (near 0 untied; the tied-weight mechanism of 02 §5), NaN at ``t = 1``;
* cell extras (minimalRNN: ``gate_state_cov``).

Compiled programs are shared (on a CPU compiling dominates a run): the cells of a *family*
(:func:`family_key`: the vanilla activations, the feed-forward activations) run one program with
the cell as a runtime index, the regime (``tied``) is a runtime flag, and several starts
``(Q0, C0)`` of one seed run together on the same samples (:func:`family_network`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from ..simulators.base import Simulator, initial_pair

UNTIED_ENGINES = ("projected", "dense")
BASE_STATS = ("q_a", "q_b", "q_ab", "Q_a", "Q_b", "C", "c", "c_h", "chi", "chi_exact", "rec_lag1")


@dataclass(frozen=True)
class RunShape:
    """Static (compile-time) description of a run."""

    width: int
    steps: int
    tied: bool
    probes: int = 4
    dtype: str = "float64"
    sample_dtype: str | None = None  # dtype of the random draws (default: dtype)
    #: untied runs: "projected" draws each step's fresh matrices only on the span of the vectors
    #: they multiply (exact law, O(N k) per step; cells that declare ``projectable``), "dense" draws
    #: every N x N matrix (the reference the projected engine is tested against)
    untied_engine: str = "projected"

    def __post_init__(self):
        if self.width < 2 or self.steps < 1 or self.probes < 1:
            raise ValueError(f"need width >= 2, steps >= 1, probes >= 1; got {self}")
        if self.untied_engine not in UNTIED_ENGINES:
            raise ValueError(f"untied_engine must be one of {UNTIED_ENGINES}, got {self.untied_engine!r}")
        for d in (self.dtype, self.sample_dtype or self.dtype):
            if d not in ("float32", "float64"):
                raise ValueError(f"dtype must be float32 or float64, got {d!r}")


def stat_names(sim: Simulator) -> tuple[str, ...]:
    extras = ("gate_state_cov",) if sim.extra_stats is not None else ()
    return BASE_STATS + extras


def network_keys(master_key, index):
    """``fold_in(master, index)`` split into (weights, inputs, init, probes) keys."""
    k = jax.random.fold_in(master_key, index)
    kw, kx, k0, kp = jax.random.split(k, 4)
    return kw, kx, k0, kp


def _mean(x):
    return jnp.mean(x)


def family_key(sim: Simulator) -> tuple:
    """Simulators with equal keys draw the same weights and inputs and return the same statistics;
    they differ only in their elementwise functions (``vanilla-tanh`` vs ``vanilla-relu``).  One
    compiled program serves such a family: the cell is a *runtime* index into ``lax.switch``
    (:func:`family_network`), so on a CPU, where compilation dominates, the suite compiles once per
    family instead of once per cell."""
    return (sim.param_names, sim.recurrent, sim.n_square, sim.draw_weights, sim.draw_inputs,
            sim.exact_chi is None, sim.extra_stats is None, sim.projectable)


def _select(fns, which):
    """``fns[which]`` as one function: the shared function itself, or a ``lax.switch`` on ``which``
    (an unbatched runtime index; under ``vmap`` it stays a conditional, one branch runs)."""
    fns = tuple(fns)
    if all(f is fns[0] for f in fns):
        return fns[0]
    return lambda *args: jax.lax.switch(which, fns, *args)


def simulate_network(sim: Simulator, shape: RunShape, master_key, index, params, Q0, C0):
    """Run one network for ``shape.steps`` steps; returns ``{stat: array (steps,)}``."""
    if shape.tied and not sim.recurrent:
        raise ValueError(f"{sim.cell} draws fresh weights per layer; tied=True is meaningless")
    return family_network((sim,), shape, master_key, index, params, Q0, C0, 0, shape.tied)


def family_network(sims: tuple, shape: RunShape, master_key, index, params, Q0, C0, which, tied):
    """One network of cell ``sims[which]`` (a family, :func:`family_key`) for ``shape.steps``
    steps; ``{stat: array (steps,)}``.  ``tied`` is a Python bool (compiled in) or, for recurrent
    families, a traced bool (one program for both regimes; ``lax.cond`` picks the regime's run).
    ``shape.tied`` is not used.  The samples do not depend on ``which``, ``tied`` being traced or
    the number of steps compiled: step ``t`` uses ``fold_in(purpose_key, t)`` in every case.

    ``Q0``, ``C0`` of shape ``(K,)`` (several starts): the network is run from each start with the
    *same* samples (weights, inputs, initial directions and probes depend on the keys only), as K
    separate runs with the same seed would be, but the weights of a step are drawn once for all K
    (the random draws are most of an untied run's cost); ``{stat: array (K, steps)}``.  On the
    projected untied engine each start draws its step's matrices on its own reads from the same key,
    which is what its separate run does, so each start's statistics are still that run's."""
    sim = sims[0]
    if len({family_key(s) for s in sims}) != 1:
        raise ValueError(f"cells {[s.cell for s in sims]} are not one family; see family_key")
    if not isinstance(tied, bool):
        if not sim.recurrent:
            raise ValueError(f"{sim.cell} draws fresh weights per layer; tied is meaningless")
        # One program for both regimes: each branch is the whole run of its regime (the untied one
        # draws no N x N matrix when it is projected), and the branches see the same samples.
        def run(regime):
            return lambda: family_network(sims, shape, master_key, index, params, Q0, C0, which, regime)
        return jax.lax.cond(tied, run(True), run(False))
    if not sim.recurrent and tied:
        raise ValueError(f"{sim.cell} draws fresh weights per layer; tied is meaningless")
    draw_weights = sim.draw_weights
    draw_inputs = sim.draw_inputs
    # a projected draw needs at most N - 2 reads (two states and the probes); below that width the
    # dense draw is cheap anyway
    projected = (not tied and sim.projectable and shape.untied_engine == "projected"
                 and shape.probes + 2 <= shape.width - 2)
    step = _select([s.step for s in sims], which)
    bias_mean = _select([s.bias_mean for s in sims], which)
    exact_chi = None if sim.exact_chi is None else _select([s.exact_chi for s in sims], which)
    extra_stats = None if sim.extra_stats is None else _select([s.extra_stats for s in sims], which)
    dtype = jnp.dtype(shape.dtype)
    # Random draws are made in ``sample_dtype`` and cast: a float64 rerun of a float32 run with
    # sample_dtype=float32 sees the same samples, so the difference is arithmetic rounding only.
    sdtype = jnp.dtype(shape.sample_dtype or shape.dtype)
    n = shape.width
    p = {k: jnp.asarray(v, dtype) for k, v in params.items()}
    ps = {k: jnp.asarray(v, sdtype) for k, v in params.items()}

    def cast(tree):
        return jax.tree.map(lambda a: a.astype(dtype), tree)

    kw, kx, k0, kp = network_keys(master_key, index)
    mu_b = jnp.asarray(bias_mean(p), dtype)
    Q0, C0 = jnp.asarray(Q0, sdtype), jnp.asarray(C0, sdtype)
    starts = Q0.ndim == 1

    def pair(q0, c0):
        return cast(initial_pair(k0, n, q0, c0, sdtype))

    h_a, h_b = jax.vmap(pair)(Q0, C0) if starts else pair(Q0, C0)
    tied_weights = cast(draw_weights(kw, n, ps, sdtype)) if tied else None
    ts = jnp.arange(1, shape.steps + 1)
    # Per-step keys fold_in(purpose_key, t), made in one vectorised call (fewer Threefry
    # instances to compile than a fold_in per purpose inside the loop; same values).
    step_keys = jax.vmap(jax.vmap(jax.random.fold_in, (None, 0)), (0, None))(
        jnp.stack([kw, kx, kp]), ts
    )

    def body(carry, xs):
        t, (kw_t, kx_t, kp_t) = xs
        if draw_inputs is not None:
            x_a, x_b = cast(draw_inputs(kx_t, n, ps, sdtype))
        else:
            x_a = x_b = None
        v = jax.random.normal(kp_t, (shape.probes, n), sdtype).astype(dtype)
        if tied:
            w = tied_weights
        elif projected:
            w = kw_t  # each start draws on its own reads (advance): a start's run is a separate run's
        else:
            w = cast(draw_weights(kw_t, n, ps, sdtype))
        if starts:  # the step's samples (w, x, v) are shared by the K starts
            return jax.vmap(advance, in_axes=(0, None, None, None, None, None))(carry, t, w, x_a, x_b, v)
        return advance(carry, t, w, x_a, x_b, v)

    def advance(carry, t, w, x_a, x_b, v):
        h_a, h_b, rec_prev = carry
        if projected:  # W reads the two states and the probes (the jvp's tangents), V the two inputs
            inputs = None if x_a is None else jnp.stack([x_a, x_b])
            w = draw_weights(w, n, ps, sdtype, reads=(jnp.concatenate([jnp.stack([h_a, h_b]), v]), inputs))
        out_a = step(w, h_a, x_a, p)
        out_b = step(w, h_b, x_b, p)

        def state_map(h):
            return step(w, h, x_a, p).h

        jv = jax.vmap(lambda vp: jax.jvp(state_map, (h_a,), (vp,))[1])(v)
        ea, eb = out_a.e - mu_b, out_b.e - mu_b
        s = {
            "q_a": _mean(ea * ea),
            "q_b": _mean(eb * eb),
            "q_ab": _mean(ea * eb),
            "Q_a": _mean(out_a.h * out_a.h),
            "Q_b": _mean(out_b.h * out_b.h),
            "C": _mean(out_a.h * out_b.h),
            "chi": jnp.sum(jv * jv) / (n * shape.probes),
        }
        s["c"] = s["q_ab"] / jnp.sqrt(s["q_a"] * s["q_b"])
        s["c_h"] = s["C"] / jnp.sqrt(s["Q_a"] * s["Q_b"])
        if exact_chi is not None:
            s["chi_exact"] = exact_chi(w, h_a, x_a, out_a, p)
        else:
            s["chi_exact"] = jnp.asarray(jnp.nan, dtype)
        r = out_a.rec
        denom = jnp.sqrt(_mean(r * r) * _mean(rec_prev * rec_prev))
        s["rec_lag1"] = jnp.where(t > 1, _mean(r * rec_prev) / denom, jnp.nan)
        if extra_stats is not None:
            s.update(extra_stats(w, h_a, x_a, out_a, p))
        return (out_a.h, out_b.h, r), s

    carry0 = (h_a, h_b, jnp.zeros_like(h_a))
    _, stats = jax.lax.scan(body, carry0, (ts, (step_keys[0], step_keys[1], step_keys[2])))
    if starts:  # (steps, K) -> (K, steps)
        stats = {k: jnp.moveaxis(v, 0, -1) for k, v in stats.items()}
    return stats


def ensemble_function(sim: Simulator, shape: RunShape):
    """``(master_key, indices (E,), params, Q0, C0) -> {stat: (E, steps)}``, vmapped, not jitted."""
    one = partial(simulate_network, sim, shape)
    return jax.vmap(one, in_axes=(None, 0, None, None, None))


def family_ensemble_function(sims: tuple, shape: RunShape):
    """``(master_key, indices (E,), params, Q0, C0, which, tied) -> {stat: (E, steps)}`` for the
    family ``sims`` (:func:`family_network`; ``tied`` traced for recurrent families, ignored and
    False otherwise), vmapped over the networks, not jitted."""
    recurrent = sims[0].recurrent

    def one(master_key, index, params, Q0, C0, which, tied):
        return family_network(sims, shape, master_key, index, params, Q0, C0, which,
                              tied if recurrent else False)

    return jax.vmap(one, in_axes=(None, 0, None, None, None, None, None))
