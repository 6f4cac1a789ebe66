"""Elementwise activations phi and their derivatives phi', hand-written.

Conventions shared with the theory side (cell names ``feedforward-<phi>``, ``vanilla-<phi>``):

* tanh, erf (unscaled ``erf(x)``), relu ``max(x, 0)``, hard-tanh ``clip(x, -1, 1)``, linear ``x``.

The derivatives are only used by the *exact* Jacobian cross-check
:math:`\\chi=\\frac1N\\sum_i\\phi'(e_i)^2\\|W_{i,:}\\|^2`; the Hutchinson estimator differentiates
``phi`` itself with ``jax.jvp``, so a wrong entry here is caught by the cross-check test.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax.numpy as jnp
from jax.scipy.special import erf


class Activation(NamedTuple):
    phi: Callable
    dphi: Callable


def _relu(x):
    return jnp.maximum(x, 0.0)


def _hard_tanh(x):
    return jnp.clip(x, -1.0, 1.0)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(jnp.tanh, lambda x: 1.0 - jnp.tanh(x) ** 2),
    "erf": Activation(erf, lambda x: _TWO_OVER_SQRT_PI * jnp.exp(-x * x)),
    "relu": Activation(_relu, lambda x: (x > 0).astype(x.dtype)),
    "hard-tanh": Activation(_hard_tanh, lambda x: (jnp.abs(x) < 1).astype(x.dtype)),
    "linear": Activation(lambda x: x, jnp.ones_like),
}
