r"""The measured growth rate of a jax recurrent step (Flax, Equinox): Benettin's renormalised tangent.

:func:`lyapunov` runs ``step(carry, x) -> carry`` (batched: every leaf ``(batch, ...)``) from ``carry0``
on fresh inputs :math:`x_t\sim\mathcal N(0,R\,I)`, carries a tangent of the whole carry by forward-mode
differentiation, renormalises it every step, and averages
:math:`\ln(|\delta s_t|^2/|\delta s_{t-1}|^2)` over the late window: what the tied theory's
``lambda_max`` is at infinite width.  float64 throughout, inside :func:`jax.enable_x64` for this call
only (the user's jax settings are left as they are).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def lyapunov(step, carry0, *, input_dim: int, steps: int = 300, burn: int = 100, input_variance: float = 1.0,
             seed: int = 0) -> tuple:
    """``(lambda_max, se)``: exp of the mean over the batch and the last ``steps - burn`` steps of the log
    squared-norm growth of a tangent carried by ``step``; SE from the spread over the batch (delta
    method; the sequences share the network, so this is the error of *this* network's rate).
    ``step`` and ``carry0`` must already be float64 (callers build them inside :func:`jax.enable_x64`)."""
    for nm, v, least in (("steps", steps, 2), ("burn", burn, 1), ("input_dim", input_dim, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ValueError(f"{nm} must be an integer >= {least}, got {v!r}")
    if burn >= steps:
        raise ValueError(f"burn must be < steps; got steps={steps}, burn={burn}")
    if not (isinstance(input_variance, (int, float)) and math.isfinite(input_variance) and input_variance >= 0):
        raise ValueError(f"input_variance must be a finite number >= 0, got {input_variance!r}")
    leaves = jax.tree_util.tree_leaves(carry0)
    batch = leaves[0].shape[0]
    if batch < 2:
        raise ValueError(f"need a batch of at least 2 sequences, got {batch}")
    key = jax.random.PRNGKey(seed)
    k0, kx = jax.random.split(key)
    tangent0 = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(carry0),
        [jax.random.normal(k, leaf.shape, jnp.float64) for k, leaf in zip(jax.random.split(k0, len(leaves)), leaves)])

    def sq_norm(tree):
        return sum(jnp.sum(leaf.reshape(batch, -1) ** 2, axis=1) for leaf in jax.tree_util.tree_leaves(tree))

    def body(state, t):
        carry, tangent = state
        x = math.sqrt(input_variance) * jax.random.normal(jax.random.fold_in(kx, t), (batch, input_dim), jnp.float64)
        carry, tangent = jax.jvp(lambda c: step(c, x), (carry,), (tangent,))
        grown = sq_norm(tangent)
        tangent = jax.tree_util.tree_map(
            lambda leaf: leaf / jnp.sqrt(grown).reshape((batch,) + (1,) * (leaf.ndim - 1)), tangent)
        return (carry, tangent), jnp.log(grown)

    norm0 = jnp.sqrt(sq_norm(tangent0))
    tangent0 = jax.tree_util.tree_map(lambda leaf: leaf / norm0.reshape((batch,) + (1,) * (leaf.ndim - 1)), tangent0)
    _, logs = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))((carry0, tangent0))
    per_seq = np.asarray(logs[burn:]).mean(axis=0)
    m, se = float(per_seq.mean()), float(per_seq.std(ddof=1) / math.sqrt(batch))
    return math.exp(m), math.exp(m) * se


__all__ = ["lyapunov"]
