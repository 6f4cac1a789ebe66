r"""A fresh Gaussian matrix drawn only where a step reads it (issue 22 item 3).

An untied step multiplies a *freshly drawn* ``W`` (entries i.i.d. ``N(0, s²/N)``) by a few vectors
known before the draw -- the two states and the Jacobian probes, or the two inputs.  Let ``U`` (N x k)
be an orthonormal basis of their span.  Because ``W`` is independent of ``U``, ``G = W U`` has i.i.d.
``N(0, s²/N)`` entries, and ``W x = G Uᵀ x`` for every ``x`` in the span.  Drawing ``G`` costs ``N k``
normals and a Gram-Schmidt of ``O(N k²)`` instead of ``N²`` normals: the fields of the step are *exactly* those
of a dense draw (jointly Gaussian with the Gram matrix of the read vectors), not an approximation.

The two matrix functions the simulators' exact ``(1/N)‖J‖_F²`` needs are drawn with the same
exactness.  Write ``W = G Uᵀ + W⊥ P`` with ``P = I - U Uᵀ`` and ``W⊥`` an independent Gaussian
matrix.  Row ``i`` of ``W⊥ P`` splits into its part along ``p_i = P e_i`` and the rest of the
``(N-k)``-dimensional range of ``P``, independent of it, so

.. math::
    W_{ii} = G_i\cdot U_i + \frac{s}{\sqrt N}\,\lVert p_i\rVert\, z_i,\qquad
    \lVert W_{i,:}\rVert^2 = \lVert G_i\rVert^2 + \frac{s^2}{N}\,(z_i^2 + \chi^2_{N-k-1,i}),

with ``‖p_i‖² = 1 - ‖U_i‖²`` and ``z_i ~ N(0, 1)``, ``χ²`` independent (rows are independent);
``k`` is the rank of the reads (dependent reads add nothing).
The cross term vanishes because ``Uᵀ P = 0``.  ``tests/test_verify_projected.py`` holds all three
to dense draws.

A vector outside the span would be multiplied wrongly, so only simulators that declare
``projectable`` (every matrix reads only ``h_{t-1}``, its tangents, or ``x_t``) use this.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class ProjectedGaussian(NamedTuple):
    """``W`` (N x N, entries ``N(0, s²/N)``) known on the span of ``U``: ``G = W U`` (N x k), ``U``
    (N x k, orthonormal columns), and, when drawn with ``norms=True``, ``diag = diag W`` and
    ``row_sq = ‖W_{i,:}‖²`` (N,), jointly exact with ``G`` (module docstring); else ``None``."""

    G: Any
    U: Any
    diag: Any = None
    row_sq: Any = None

    def matvec(self, x):
        """``W x``, exact for ``x`` in the span of ``U`` (and only there)."""
        hi = jax.lax.Precision.HIGHEST
        return jnp.matmul(self.G, jnp.matmul(self.U.T, x, precision=hi), precision=hi)


#: a read whose part outside the span of the earlier ones is below this fraction of its norm is taken
#: as inside it (equal starts, a zero state); the field it gets is then off by that relative amount
DEPENDENT = {jnp.dtype("float64"): 1e-10, jnp.dtype("float32"): 1e-5}


def orthonormal_basis(reads):
    """``(U, active)``: ``U`` (N x k) whose nonzero columns are orthonormal and span the rows of ``reads``
    (k x N), and ``active`` (k,) 1.0 for a nonzero column, 0.0 for a read already in the span of the
    earlier ones (zero column).  Gram-Schmidt with a second pass ("twice is enough"), written out for
    the small k of a step: LAPACK's batched QR deadlocked inside a vmapped scan on the CPU (jax 0.7)."""
    tol = DEPENDENT.get(reads.dtype, 1e-5)
    cols, active = [], []
    for j in range(reads.shape[0]):
        x = reads[j]
        v = x
        for _ in range(2):
            for u in cols:
                v = v - u * (u @ v)
        norm = jnp.linalg.norm(v)
        keep = norm > tol * jnp.linalg.norm(x)
        cols.append(jnp.where(keep, v / jnp.where(keep, norm, 1.0), 0.0))
        active.append(keep)
    return jnp.stack(cols, axis=1), jnp.stack(active).astype(reads.dtype)


def draw_projected(key, reads, scale, sample_dtype, norms: bool = False, basis=None) -> ProjectedGaussian:
    """``W`` with entries ``N(0, scale²/N)`` on the span of ``reads`` (k x N, any rank, k <= N - 2).
    Normals are drawn in ``sample_dtype`` and cast to the dtype of ``reads``; ``norms`` also draws
    ``diag`` and ``row_sq``.  ``basis``: ``orthonormal_basis(reads)`` when already computed (several
    independent matrices reading the same vectors share it: the gates of a gated cell)."""
    k, n = reads.shape
    if k > n - 2:
        raise ValueError(f"a projected draw needs at most N - 2 read vectors; got {k} for N = {n}")
    dtype = reads.dtype
    U, active = orthonormal_basis(reads) if basis is None else basis
    kg, kz, kc = jax.random.split(key, 3)
    s = scale / math.sqrt(n)
    # a zero column of U reads nothing; its column of G is zeroed so the row norms count only the span
    G = s * jax.random.normal(kg, (n, k), sample_dtype).astype(dtype) * active
    if not norms:
        return ProjectedGaussian(G, U)
    z = jax.random.normal(kz, (n,), sample_dtype).astype(dtype)
    # χ²_d = 2 Gamma(d/2), d = N - rank - 1 >= 1: the rest of the row outside the span and p_i
    dof = n - jnp.sum(active) - 1.0
    chi2 = 2.0 * jax.random.gamma(kc, jnp.full((n,), dof / 2.0, sample_dtype), (n,), sample_dtype).astype(dtype)
    p_norm = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(U * U, axis=1), 0.0))
    diag = jnp.sum(G * U, axis=1) + s * p_norm * z
    row_sq = jnp.sum(G * G, axis=1) + s * s * (z * z + chi2)
    return ProjectedGaussian(G, U, diag, row_sq)
