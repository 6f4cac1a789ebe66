r"""Jacobian moments of gated cells (GRU, LSTM): :math:`m_1(T)` of the T-step state Jacobian, annealed.

**Which Jacobian.**  :math:`J_T=\partial s_{t+T}/\partial s_t` at the fixed point, for the full state
:math:`s=(c,h)` (LSTM; :math:`n=2` components of :math:`N` units each) or :math:`s=h` (GRU, :math:`n=1`),
inputs held fixed.  ``block=k`` asks for the diagonal block :math:`\partial k_{t+T}/\partial k_t`
(the other components' perturbation zero at :math:`t`), e.g. ``block="h"``: the hidden-to-hidden
Jacobian of the LSTM.

**Mean squared singular value.**  Under the annealed theory (weights redrawn each step) a
perturbation's per-component squared norms :math:`D_k=\|\delta k\|^2/N` evolve linearly,
:math:`D_{t+1}=\mathsf M D_t`, where :math:`\mathsf M=\partial G/\partial C|_{C=Q,\Sigma=1}` is the perturbation
map of :mod:`theory.symbolic.gated_derive` (the matrix whose top eigenvalue is :math:`\lambda_{\max}`).
By Hutchinson, :math:`\mathrm{Tr}(J^\top J)=\mathbb E_v\|Jv\|^2` for :math:`v\sim\mathcal N(0,I)`, whose
per-component squared norms start at :math:`D_0=\mathbf 1`:

.. math:: m_1(T)=\frac{\mathrm{Tr}(J_T^\top J_T)}{nN}=\frac1n\,\mathbf 1^\top\mathsf M^T\mathbf 1,\qquad
          m_1^{(k)}(T)=\frac{\mathrm{Tr}(J^{(kk)\top}_TJ^{(kk)}_T)}{N}=e_k^\top\mathsf M^Te_k .

:math:`m_1(1)=\chi` (the one-step value served as ``chi``); :math:`m_1(T)\sim\lambda_{\max}^T` for large
:math:`T`.  Only second moments of :math:`W` enter, so Gaussian and (Haar) orthogonal recurrent
weights give the same annealed :math:`m_1`; ``weights`` is accepted for symmetry with the
single-field cells and checked.

**Closures.**  ``closure="gaussian"`` (default): :math:`\mathsf M` from the generated kernels
(Gaussian closure of the state, 06 §1; vectorised, numba or jax, composes with ``jit``/``grad``).
It is not exact for the LSTM: the cell state is a heavy-tailed perpetuity, and a unit's tangent
and its gate derivatives are correlated through the unit's own history, which the moment closure
drops.  ``closure="population"``: the exact untied one-site answer by population dynamics
(:func:`theory.closures.population.isometry_mean`; Monte-Carlo, scalar parameters).

**Tied** (real networks): ``tied=True`` is served by :mod:`theory.tied.jacobian`, not here.

**Not derived:** the variance of the :math:`J_TJ_T^\top` spectrum (it needs the joint law of the gate
diagonals of different steps beyond second moments; see the closing note of the dynamical-isometry
issue and ``reports/jacobian_moments_cpu``, where it is measured).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..declare.gated import GatedCell
from ..declare.registry import JACOBIAN_MOMENTS, register
from ..validate import choice

CLOSURES = ("gaussian", "population")


def probe(cell, block) -> np.ndarray:
    """Start and read-out weights :math:`u` (``1`` over the components, or :math:`e_k` for ``block=k``)."""
    comps = tuple(cell.state)
    if block is None:
        return np.ones(len(comps))
    if block not in comps:
        raise ValueError(f"{cell.name}: block must be None (the full state {list(comps)}) or one of its "
                         f"components {list(comps)}, got {block!r}")
    return np.eye(len(comps))[comps.index(block)]


def power_moment(M, u, T, xp=np):
    r""":math:`u^\top\mathsf M^T u/(u^\top u)` for ``M`` of shape ``(..., n, n)`` and integer ``T`` (broadcast);
    ``xp``: numpy or jax.numpy (``T``'s largest value must be concrete: it sets the loop length)."""
    T = np.asarray(T)
    t_max = int(np.max(T))
    v = xp.broadcast_to(xp.asarray(u, dtype=M.dtype), M.shape[:-1])
    norm = float(np.dot(u, u))
    out = xp.zeros(np.broadcast_shapes(M.shape[:-2], T.shape), dtype=M.dtype)
    for t in range(1, t_max + 1):
        v = xp.einsum("...ij,...j->...i", M, v)
        out = xp.where(T == t, (v @ xp.asarray(u, dtype=M.dtype)) / norm, out)
    return out


def _moment_names(cell):
    return ["Q_star" if k == cell.read else f"Q_{k}_star" for k in cell.state]


def perturbation_matrix(cell, backend: str, args):
    r""":math:`\mathsf M` at the fixed point, shape ``(..., n, n)``, from the generated kernels of ``backend``
    (``args``: the cell parameters in declared order, broadcastable)."""
    from .. import api
    mod = api.kernels(cell, backend)
    n = len(cell.state)
    if backend == "jax":
        import jax.numpy as jnp
        Q = [getattr(mod, name)(*args) for name in _moment_names(cell)]
        rows = [jnp.stack([getattr(mod, f"perturbation_map_{i}{j}")(*Q, *args) for j in range(n)], -1)
                for i in range(n)]
        return jnp.stack(rows, -2)
    Q = [api.quietly(getattr(mod, name), *args) for name in _moment_names(cell)]
    rows = [np.stack([api.quietly(getattr(mod, f"perturbation_map_{i}{j}"), *Q, *args) for j in range(n)], -1)
            for i in range(n)]
    return np.stack(rows, -2)


@lru_cache(maxsize=None)
def _jax_program(cell, t_max: int, block):
    import jax
    import jax.numpy as jnp
    u = probe(cell, block)

    def one(T, *args):
        M = perturbation_matrix(cell, "jax", args)
        vals = power_moment(M, u, np.arange(1, t_max + 1), jnp)  # m_1(1..t_max), then pick T
        return vals[jnp.asarray(T, dtype=jnp.int32) - 1]
    return one, jax.jit(jnp.vectorize(one))


def isometry_mean(c, backend: str, params: dict, extra: dict):
    r""":math:`m_1(T)` of a gated cell (module docstring): float, numpy array or jax array (NaN where
    the fixed point fails: array requests warn, scalar requests raise FixedPointError)."""
    from .. import api
    from .isometry import steps, weights_variance
    weights_variance(extra["weights"])
    T = steps(extra["T"])
    u = probe(c, extra.get("block"))
    closure = choice("closure", extra.get("closure", "gaussian"), CLOSURES)
    args = [params[n] for n in c.param_names]
    if closure == "population":
        if backend != "numba" or any(np.ndim(a) for a in args) or np.ndim(T):
            raise ValueError("closure='population' serves scalar parameters and one T (numba backend)")
        from ..closures import population
        return float(population.isometry_mean(c, params, int(T), u, size=extra.get("size"), seed=extra.get("seed"))[0][-1])
    if extra.get("size") is not None or extra.get("seed") is not None:
        raise ValueError("size= and seed= apply to closure='population' only")
    if backend == "jax":
        import jax.numpy as jnp
        api.kernels(c, "jax")  # imports the generated module first: it sets the float64 mode the kernels need
        one, program = _jax_program(c, int(np.max(T)), extra.get("block"))
        if any(api.is_tracer(a) for a in args):
            return one(T, *args) if all(np.ndim(a) == 0 for a in args) and np.ndim(T) == 0 else \
                jnp.vectorize(one)(T, *args)
        out = program(jnp.asarray(T), *[jnp.asarray(a, dtype=jnp.float64) for a in args])
        api.check_defined(c, "isometry_mean", np.asarray(out), params)
        return out
    arrs = [np.asarray(a, dtype=np.float64) for a in args]
    with np.errstate(all="ignore"):
        out = power_moment(perturbation_matrix(c, "numba", arrs), u, T)
    api.check_defined(c, "isometry_mean", np.asarray(out), params)
    return float(out) if np.ndim(out) == 0 else out


register(JACOBIAN_MOMENTS, GatedCell, {"isometry_mean": isometry_mean})

__all__ = ["isometry_mean", "perturbation_matrix", "power_moment", "probe", "CLOSURES"]
