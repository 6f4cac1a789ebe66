r"""Exact one-site solution of the untied gated recursion by **population dynamics** (06 §3).

At large width with weights redrawn every step, one unit's update sees, at step :math:`t`, gate
fields that are fresh Gaussians :math:`a^k\sim\mathcal N(\mu_k,q^k_t)`, independent of the unit's
own state, with variances set by the *population*:
:math:`q^k_t=\sigma_{w,k}^2\,\overline{(s^k)^2}+\sigma_{v,k}^2R+\sigma_{b,k}^2` where :math:`s^k` is what
the gate's recurrent matrix reads (``h``, or ``r*h``) and the bar is the mean over units.  So the
exact large-width law of the state is the fixed point of a map on *distributions*, which we
represent by a large sample (the population) and push through the declared update with freshly
drawn fields each step.  No Gaussian assumption is made about the state: the LSTM cell state
keeps its heavy-tailed perpetuity law (:math:`c=\sum_s\prod_{r>s}f_r\,i_sg_s`), so
:math:`\overline{\tanh^2c}` is exact where the Gaussian closure uses :math:`\mathcal N(0,Q^c)`.

**Tangent pair.** Each sample also carries a perturbation :math:`(\delta c,\delta h)`; the gate field
perturbations are fresh :math:`\delta a^k\sim\mathcal N(0,\sigma_{w,k}^2\overline{(\delta s^k)^2})`, independent
of :math:`a^k` (the correlation-mode subspace :math:`\tfrac1Ns\cdot\delta s=0`, i.e. the perturbation
map :math:`\mathsf M` of :mod:`theory.symbolic.gated_derive`), and the state perturbation follows by ``jax.jvp`` of
the update.  The per-step growth :math:`\sum_k\overline{\delta k_t^2}/\sum_k\overline{\delta k_{t-1}^2}`
(renormalised each step) converges to :math:`\lambda_{\max}`.

**Errors.** ``replicas`` independent populations of ``size`` samples each; every estimate is the
late-window time average, with its standard error from the spread across replicas (each replica's
estimate carries an :math:`O(\text{size}^{-1/2})` fluctuation and a self-consistency bias of
:math:`O(1/\text{size})`, far below the SE at the default sizes).

**χ.** The mean squared singular value of the one-step state Jacobian,
:math:`\chi=\operatorname{Tr}(J^\top J)/(nN)=\mathbb E_v\|Jv\|^2/(nN)` for a probe :math:`v\sim\mathcal N(0,I)`
(Hutchinson).  Each step draws a *fresh* probe per sample and component, independent of the state;
its field perturbations are fresh :math:`\mathcal N(0,\sigma_{w,k}^2\overline{(\delta s^k)^2})` as for the tangent,
and ``chi`` is :math:`\sum_k\overline{(Jv)_k^2}/n`.  It differs from the carried tangent's growth
(:math:`\lambda_{\max}`) wherever :math:`\mathsf M` has more than one component.

The update, reads and gate laws come from the cell's SymPy declaration (``lambdify``): this module
solves the *same* recursion as the closure without its approximation; the independent check of the
recursion itself is ``verify`` (hand-written simulators).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import float64

SIZE = 1 << 15          #: samples per replica
REPLICAS = 8            #: independent populations (SE from their spread)
BURN_MIN, BURN_MAX = 60, 2000
WINDOW = 200            #: late-window steps averaged per replica
SEED = 0
_PROBE = 7919          #: fold_in offset of the chi probe's keys (leaves the other streams unchanged)


@dataclass(frozen=True)
class PopulationResult:
    """Means and standard errors (over replicas) of the fixed-point observables."""

    mean: dict
    se: dict
    size: int
    replicas: int
    burn: int
    window: int


@lru_cache(maxsize=None)
def _compiled(cell, burn, window, size):
    import jax
    import jax.numpy as jnp
    import sympy as sp

    from ..declare.gated import field, new, old

    comps = tuple(cell.state)
    gates = cell.gates
    mods = [{"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}, "jax"]
    olds = [old(k) for k in comps]
    news = [new(k) for k in comps]
    fields = [g.field for g in gates]
    reads = [sp.lambdify(olds + fields, sp.sympify(g.reads), modules=mods) for g in gates]
    # scaled gate (reset-after GRU): a = U x + b + scale(a_j) (W reads + b_h), scale a function of an
    # earlier gate j's field; per unit, scale(a_j) multiplies a fresh N(0, sigma_w^2 mean(s^2) + sigma_b_h^2)
    def _scale(g):  # (index of the gate whose field scales g, the scale as a function of that field)
        (f,) = sp.sympify(g.scale).free_symbols  # one earlier gate's field (checked by the cell declaration)
        return fields.index(f), sp.lambdify([f], sp.sympify(g.scale), modules=mods)
    scales = [None if g.scale is None else _scale(g) for g in gates]
    upd = [sp.lambdify(olds + news + fields, sp.sympify(e), modules=mods) for _, e in cell.update]
    pnames = cell.param_names
    ir = comps.index(cell.read)

    def P(p, stem, g):
        n = f"{stem}_{g.name}"
        return p[pnames.index(n)] if n in pnames else 0.0

    def update(state, a):
        """New state (tuple over components) from old state and all gate fields, per sample."""
        new_vals = [jnp.zeros_like(state[0]) for _ in comps]
        for i in range(len(comps)):
            new_vals[i] = upd[i](*state, *new_vals, *a)
        return tuple(new_vals)

    def step(carry, key, p):
        state, tang = carry
        R, Sigma = p[pnames.index("R")], p[pnames.index("Sigma")]
        keys = jax.random.split(key, 2 * len(gates))
        a, da, qs, recs = [], [], [], {}
        for k, g in enumerate(gates):
            pad = a + [jnp.zeros_like(state[0])] * (len(gates) - k)
            dpad = da + [jnp.zeros_like(state[0])] * (len(gates) - k)
            s, ds = jax.jvp(lambda st, ff: reads[k](*st, *ff), (state, tuple(pad)), (tang, tuple(dpad)))
            s = jnp.broadcast_to(s, state[0].shape)
            ds = jnp.broadcast_to(ds, state[0].shape)
            sw = P(p, "sigma_w", g)
            dq = sw ** 2 * jnp.mean(ds * ds)
            if scales[k] is None:
                q = sw ** 2 * jnp.mean(s * s) + P(p, "sigma_v", g) ** 2 * R + P(p, "sigma_b", g) ** 2
                a.append(P(p, "mu_b", g) + jnp.sqrt(q) * jax.random.normal(keys[2 * k], state[0].shape))
                da.append(jnp.sqrt(dq) * jax.random.normal(keys[2 * k + 1], state[0].shape))
            else:  # a = (U x + b) + scale(a_j) m, m = W reads + b_h; da = scale'(a_j) da_j m + scale(a_j) dm
                j, fn = scales[k]
                kin, krec = jax.random.split(keys[2 * k])
                vin = P(p, "sigma_v", g) ** 2 * R + P(p, "sigma_b", g) ** 2
                vrec = sw ** 2 * jnp.mean(s * s) + p[pnames.index(f"sigma_b_h{g.name}")] ** 2  # b_h: sigma_b_hn
                m = jnp.sqrt(vrec) * jax.random.normal(krec, state[0].shape)
                sc, dsc = jax.jvp(fn, (a[j],), (da[j],))
                a.append(jnp.sqrt(vin) * jax.random.normal(kin, state[0].shape) + sc * m)
                recs[k] = m
                da.append(dsc * m + sc * jnp.sqrt(dq) * jax.random.normal(keys[2 * k + 1], state[0].shape))
                q = vin + jnp.mean(sc * sc) * vrec  # the field's variance (a scale mixture, not Gaussian)
            qs.append(q)
        new_state, new_tang = jax.jvp(update, (state, tuple(a)), (tang, tuple(da)))
        # chi: a fresh probe v ~ N(0, 1) per unit and component, independent of the state
        v = tuple(jax.random.normal(jax.random.fold_in(key, _PROBE + i), state[0].shape) for i in range(len(comps)))
        dv = []
        for k, g in enumerate(gates):
            pad = a[:k] + [jnp.zeros_like(state[0])] * (len(gates) - k)
            dpad = dv + [jnp.zeros_like(state[0])] * (len(gates) - k)
            _, ds = jax.jvp(lambda st, ff: reads[k](*st, *ff), (state, tuple(pad)), (v, tuple(dpad)))
            ds = jnp.broadcast_to(ds, state[0].shape)
            dq = P(p, "sigma_w", g) ** 2 * jnp.mean(ds * ds)
            fresh = jnp.sqrt(dq) * jax.random.normal(jax.random.fold_in(key, _PROBE + 100 + k), state[0].shape)
            if scales[k] is None:
                dv.append(fresh)
            else:  # the same product rule as the tangent's, with the probe's own field perturbations
                j, fn = scales[k]
                sc, dsc = jax.jvp(fn, (a[j],), (dv[j],))
                dv.append(dsc * recs[k] + sc * fresh)
        _, Jv = jax.jvp(update, (state, tuple(a)), (v, tuple(dv)))
        obs = {"chi": sum(jnp.mean(t * t) for t in Jv) / len(comps)}
        for i, k in enumerate(comps):
            m2 = jnp.mean(new_state[i] ** 2)
            obs[f"Q_{k}"] = m2
            obs[f"kurtosis_{k}"] = jnp.mean(new_state[i] ** 4) / m2 ** 2
        for g, q in zip(gates, qs):
            obs[f"q_{g.name}"] = q
        return (new_state, new_tang), obs

    def renormalised(carry, key, p):
        """One step whose tangent is rescaled to unit norm; its growth is the step's observable."""
        (state, tang), obs = step(carry, key, p)
        before = sum(jnp.mean(t * t) for t in carry[1])
        after = sum(jnp.mean(t * t) for t in tang)
        obs["growth"] = after / before
        return (state, tuple(t / jnp.sqrt(after) for t in tang)), obs

    def start(p, key, init):
        k0, k1, key = jax.random.split(key, 3)
        state = tuple(jnp.sqrt(init[i]) * jax.random.normal(jax.random.fold_in(k0, i), (size,)) for i in range(len(comps)))
        tang = tuple(jax.random.normal(jax.random.fold_in(k1, i), (size,)) for i in range(len(comps)))
        keys = jax.random.split(key, burn + window)
        f = lambda c, k: renormalised(c, k, p)  # noqa: E731
        carry, _ = jax.lax.scan(f, (state, tang), keys[:burn])
        return carry, keys[burn:], f

    def run(p, key, init):
        carry, keys, f = start(p, key, init)
        _, obs = jax.lax.scan(f, carry, keys)
        return {k: jnp.mean(v) for k, v in obs.items()}

    def jacobian(p, key, init, u):
        """Hutchinson m_1(t), t = 1..window: a probe u_k v_k (v ~ N(0, 1) per sample) started at
        stationarity and pushed ``window`` steps without rescaling; sum_k mean(dk_t^2) / sum_k mean(dk_0^2)."""
        (state, _), keys, _ = start(p, key, init)
        kv = jax.random.fold_in(key, _PROBE + 200)
        tang = tuple(u[i] * jax.random.normal(jax.random.fold_in(kv, i), (size,)) for i in range(len(comps)))

        def advance(c, k):
            c, _ = step(c, k, p)
            return c, sum(u[i] * jnp.mean(t * t) for i, t in enumerate(c[1]))
        _, norms = jax.lax.scan(advance, (state, tang), keys)
        return norms / sum(u[i] * jnp.mean(t * t) for i, t in enumerate(tang))

    return (jax.jit(jax.vmap(run, in_axes=(None, 0, None))), comps, ir,
            jax.jit(jax.vmap(jacobian, in_axes=(None, 0, None, None))))


def _setup(cell, params, size, seed, burn):
    """(size, seed, parameter list, initial second moments, burn-in steps) of a population run."""
    from .. import api
    from ..validate import count

    size = SIZE if size is None else count("size", size, low=2)
    seed = SEED if seed is None else count("seed", seed, low=0, limit=2 ** 63 - 1)
    p = [float(params[n]) for n in cell.param_names]
    if burn is None:
        try:
            xq = float(api.predict(cell.name, "xi_q", **params))
        except api.FixedPointError:
            xq = 10.0
        burn = int(min(BURN_MAX, max(BURN_MIN, math.ceil(12 * xq if math.isfinite(xq) else BURN_MAX))))
    try:
        init = [max(float(api.predict(cell.name, "Q_star" if k == cell.read else f"Q_{k}_star", **params)), 1e-6)
                for k in cell.state]
    except api.FixedPointError:
        init = [0.1] * len(cell.state)
    return size, seed, p, init, burn


def solve(cell, params: dict, *, size: int | None = None, replicas: int = REPLICAS, seed: int | None = None,
          burn: int | None = None, window: int = WINDOW) -> PopulationResult:
    """Population-dynamics fixed point of ``cell`` at scalar ``params`` (all of ``cell.param_names``).

    ``burn`` defaults to 12 x the Gaussian-closure variance timescale ξ_q (at least 60 steps, at
    most 2000): the exact law relaxes on the same scale (its second moments obey the same maps)."""
    import jax
    import jax.numpy as jnp

    size, seed, p, init, burn = _setup(cell, params, size, seed, burn)
    float64.require()  # reached through theory.predict, whose float64 scope covers the traces
    fn, comps, _, _ = _compiled(cell, int(burn), int(window), size)
    keys = jax.random.split(jax.random.PRNGKey(seed), replicas)
    out = fn(jnp.asarray(p), keys, jnp.asarray(init))
    mean = {k: float(np.mean(v)) for k, v in out.items()}
    se = {k: float(np.std(np.asarray(v), ddof=1) / math.sqrt(replicas)) for k, v in out.items()}
    return PopulationResult(mean, se, size, replicas, int(burn), int(window))


def isometry_mean(cell, params: dict, T: int, u, *, size: int | None = None, replicas: int = REPLICAS,
                  seed: int | None = None) -> tuple:
    r"""Exact untied :math:`m_1(T)` of the T-step state Jacobian, by population dynamics: a Hutchinson
    probe :math:`u_kv_k` (:math:`v\sim\mathcal N(0,1)` per sample and component) started at stationarity
    is pushed ``T`` steps through the exact one-site law and read out as
    :math:`\sum_ku_k\overline{\delta k_T^2}/\sum_ku_k\overline{\delta k_0^2}` (``u`` all ones: the full state,
    :math:`\mathrm{Tr}(J^\top J)/(nN)`; :math:`u=e_k`: the :math:`k\to k` block).
    Returns ``(means, standard errors over replicas)``, arrays over :math:`t=1..T`."""
    import jax
    import jax.numpy as jnp

    size, seed, p, init, burn = _setup(cell, params, size, seed, None)
    float64.require()
    _, _, _, fn = _compiled(cell, int(burn), int(T), size)
    keys = jax.random.split(jax.random.PRNGKey(seed), replicas)
    out = np.asarray(fn(jnp.asarray(p), keys, jnp.asarray(init), jnp.asarray(u, dtype=jnp.float64)))
    return out.mean(axis=0), out.std(axis=0, ddof=1) / math.sqrt(replicas)


_NAMES = {"Q_h_star": "Q_h", "Q_c_star": "Q_c", "kurtosis_c": "kurtosis_c", "lambda_max": "growth", "chi": "chi"}


def observable(cell, name: str):
    """Key of :attr:`PopulationResult.mean` that estimates quantity ``name`` (None if there is none).
    ``Q_star`` is the read (hidden) component's second moment, ``q_star`` the memory gate's field variance."""
    if name == "Q_star":
        return f"Q_{cell.read}"
    if name == "q_star":
        return f"q_{cell.memory_gate}"
    return _NAMES.get(name) or ("q_" + name[len("q_star_"):] if name.startswith("q_star_") else None)


def predict(cell, name: str, params: dict, size=None, seed=None) -> float:
    """One quantity by population dynamics (scalar parameters only)."""
    if any(np.ndim(v) for v in params.values()):
        raise ValueError("closure='population' serves scalar parameters only")
    key = observable(cell, name)
    res = solve(cell, params, size=size, seed=seed)
    if key not in res.mean:
        raise ValueError(f"{cell.name}: population dynamics has no {name!r}")
    return res.mean[key]


__all__ = ["solve", "isometry_mean", "predict", "observable", "PopulationResult", "SIZE", "REPLICAS"]
