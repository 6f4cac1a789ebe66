"""The simulator protocol: one hand-written forward step per cell.

A :class:`Simulator` is a frozen record of pure functions on *one* network. The generic engine
(:mod:`verify.engine.simulate`) scans it over time and ``vmap``s it over the ensemble, so a cell file only
says how to draw weights and inputs and how to take one step. Parameter names are the theory's
(``theory.parameters(cell)``); values always arrive fully specified (no defaults here), so the
only source of defaults is the theory declaration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .projected import ProjectedGaussian, draw_projected

HIGHEST = jax.lax.Precision.HIGHEST


def matvec(a, x):
    """``a @ x`` at full precision (no TF32 on GPUs); ``a`` dense or a :class:`ProjectedGaussian`."""
    if isinstance(a, ProjectedGaussian):
        return a.matvec(x)
    return jnp.matmul(a, x, precision=HIGHEST)


def row_sq_norms(a):
    """``‖a_{i,:}‖²`` per row, of a dense matrix or a :class:`ProjectedGaussian` drawn with norms."""
    if isinstance(a, ProjectedGaussian):
        if a.row_sq is None:
            raise ValueError("this projected draw was made without norms=True")
        return a.row_sq
    return jnp.sum(a * a, axis=1)


def diagonal(a):
    """``diag a`` of a dense matrix or a :class:`ProjectedGaussian` drawn with norms."""
    if isinstance(a, ProjectedGaussian):
        if a.diag is None:
            raise ValueError("this projected draw was made without norms=True")
        return a.diag
    return jnp.diagonal(a)


class Weights(NamedTuple):
    """Weights of one network at one step; ``V`` is ``None`` for feed-forward nets."""

    W: Any
    V: Any
    b: Any


class StepOut(NamedTuple):
    """One step: pre-activation ``e`` (gate pre-activation for minimalRNN), new state ``h``,
    and the recurrent field ``rec = W h_{t-1}`` (for the tied-weight mechanism check)."""

    e: Any
    h: Any
    rec: Any


@dataclass(frozen=True)
class Simulator:
    """A real network for one cell.

    Attributes:
        cell: theory cell name, e.g. ``"vanilla-tanh"``.
        param_names: parameter names, as ``theory.parameters(cell)`` declares them.
        variance_params: names that must be non-negative.
        recurrent: False for feed-forward nets (fresh weights per layer; ``tied`` is meaningless).
        n_square: number of N x N matrices per network (memory planning, 07 §7).
        draw_weights: ``(key, N, params, dtype) -> Weights``.
        draw_inputs: ``(key, N, params, dtype) -> (x_a, x_b)`` or ``None`` (feed-forward).
        step: ``(weights, h, x, params) -> StepOut``.
        bias_mean: ``params -> mu_b`` (the known bias mean the moment estimators centre on).
        exact_chi: ``(weights, h_prev, x, out, params) -> (1/N)||J||_F^2`` or ``None``.
        extra_stats: ``(weights, h_prev, x, out, params) -> dict`` of per-step scalars, or ``None``.
        gated: the state feeds itself forward through gates; then the single-time closure is not
            exact for tied weights (02 §5) and tied-only failures are "closure-limited".
        projectable: ``W`` multiplies only ``h_{t-1}`` (and its tangents) and ``V`` only ``x_t``, and
            ``draw_weights`` accepts ``reads=(states, inputs)``: untied runs may then draw each step's
            matrices on the span of those vectors only (:mod:`verify.simulators.projected`).
    """

    cell: str
    param_names: tuple[str, ...]
    variance_params: tuple[str, ...]
    recurrent: bool
    n_square: int
    draw_weights: Callable
    draw_inputs: Optional[Callable]
    step: Callable
    bias_mean: Callable
    exact_chi: Optional[Callable] = None
    extra_stats: Optional[Callable] = None
    gated: bool = False
    projectable: bool = False

    def __post_init__(self):
        unknown = set(self.variance_params) - set(self.param_names)
        if unknown:
            raise ValueError(f"{self.cell}: variance params {sorted(unknown)} not declared")

    def check_params(self, params: dict) -> None:
        """Raise ``ValueError`` on a missing/unknown name or a negative variance."""
        missing = [p for p in self.param_names if p not in params]
        extra = [p for p in params if p not in self.param_names]
        if missing or extra:
            raise ValueError(
                f"{self.cell}: parameters must be exactly {list(self.param_names)}; "
                f"missing {missing}, unknown {extra}"
            )
        for p in self.variance_params:
            if not float(params[p]) >= 0.0:
                raise ValueError(f"{self.cell}: {p} must be >= 0, got {params[p]}")
        if "Sigma" in params and not -1.0 <= float(params["Sigma"]) <= 1.0:
            raise ValueError(f"{self.cell}: Sigma is a correlation, must lie in [-1, 1]")


def standard_normals(key, shapes, dtype):
    """Arrays of i.i.d. ``N(0, 1)`` of the given shapes, cut from *one* ``jax.random.normal`` call.

    One call per purpose keeps the number of Threefry instances (and so XLA compile time on CPU,
    about 0.3 s each) small; the samples are as independent as separate calls would give.
    """
    sizes = [math.prod(s) for s in shapes]
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    out, start = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def scaled_weights(key, n: int, p, dtype, with_input: bool, bias_mean=0.0, reads=None):
    """``W ~ N(0, sigma_w^2/N)`` (N x N), optionally ``V ~ N(0, sigma_v^2/N)`` (N x N, input width
    N), and ``b ~ N(bias_mean, sigma_b^2)``, from one draw.

    ``reads = (states (k, N), inputs (m, N) or None)``: ``W`` and ``V`` as
    :class:`ProjectedGaussian` on the span of the vectors each one multiplies (``W`` with its
    diagonal and row norms, which the exact ``(1/N)‖J‖_F²`` reads); the same law, O(N k) draws."""
    if reads is not None:
        states, inputs = reads
        kw, kv, kb = jax.random.split(key, 3)
        W = draw_projected(kw, states, p["sigma_w"], dtype, norms=True)
        V = draw_projected(kv, inputs, p["sigma_v"], dtype) if with_input else None
        b = bias_mean + p["sigma_b"] * jax.random.normal(kb, (n,), dtype).astype(states.dtype)
        return Weights(W=W, V=V, b=b)
    shapes = [(n, n), (n, n), (n,)] if with_input else [(n, n), (n,)]
    g = standard_normals(key, shapes, dtype)
    scale = 1.0 / math.sqrt(n)
    W = p["sigma_w"] * scale * g[0]
    V = p["sigma_v"] * scale * g[1] if with_input else None
    b = bias_mean + p["sigma_b"] * g[-1]
    return Weights(W=W, V=V, b=b)


def correlated_inputs(key, n: int, R, Sigma, dtype):
    """Two input vectors with second moment ``R`` and correlation ``Sigma``.

    ``x_a = sqrt(R) g1``, ``x_b = Sigma x_a + sqrt(1 - Sigma^2) sqrt(R) g2`` with ``g1, g2`` i.i.d.
    standard normal, so ``E[x_a x_a^T] = E[x_b x_b^T] = R I`` and ``E[x_a x_b^T] = Sigma R I``.
    """
    g = jax.random.normal(key, (2, n), dtype)
    x_a = jnp.sqrt(R) * g[0]
    x_b = Sigma * x_a + jnp.sqrt(jnp.maximum(1.0 - Sigma * Sigma, 0.0)) * jnp.sqrt(R) * g[1]
    return x_a, x_b


def initial_pair(key, n: int, Q0, C0, dtype):
    """Two initial states with *exact* ``|h_a|^2/N = |h_b|^2/N = Q0`` and ``h_a.h_b/N = C0``.

    Gram-Schmidt on two Gaussian vectors gives orthonormal directions ``u1, u2`` (times ``sqrt N``);
    then ``h_a = sqrt(Q0) u1``, ``h_b = sqrt(Q0) (rho u1 + sqrt(1 - rho^2) u2)``, ``rho = C0/Q0``.
    Exact norms remove one O(N^-1/2) source of noise from the transient; the theory trajectory
    starts from the same ``(Q0, C0)``. ``Q0 = 0`` gives ``h_a = h_b = 0``.
    """
    g = jax.random.normal(key, (2, n), dtype)
    u1 = g[0] / jnp.linalg.norm(g[0])
    g2 = g[1] - jnp.dot(g[1], u1) * u1
    u2 = g2 / jnp.linalg.norm(g2)
    root_n = math.sqrt(n)
    rho = jnp.where(Q0 > 0, C0 / jnp.where(Q0 > 0, Q0, 1.0), 1.0)
    h_a = jnp.sqrt(Q0) * root_n * u1
    h_b = jnp.sqrt(Q0) * root_n * (rho * u1 + jnp.sqrt(jnp.maximum(1.0 - rho * rho, 0.0)) * u2)
    return h_a, h_b
