"""Fully connected feed-forward net ``feedforward-<phi>`` (01 §2), written independently.

.. math::
    e^l = W^l h^{l-1} + b^l,\\qquad h^l = \\phi(e^l),

``W^l_ij ~ N(0, sigma_w^2/N)`` and ``b^l_i ~ N(0, sigma_b^2)`` fresh for every layer ``l``; the
engine's "step" is a layer and the two "sequences" are two inputs ``h^0_a, h^0_b``.
Layer Jacobian ``D^l W^l``: ``(1/N)||J||_F^2 = (1/N) sum_i phi'(e_i)^2 ||W_{i,:}||^2``.
"""

from __future__ import annotations

import jax.numpy as jnp

from .activations import ACTIVATIONS
from .base import Simulator, StepOut, matvec, row_sq_norms, scaled_weights

PARAMS = ("sigma_w", "sigma_b")


def _draw_weights(key, n, p, dtype, reads=None):
    return scaled_weights(key, n, p, dtype, with_input=False, reads=reads)


def make(activation: str) -> Simulator:
    act = ACTIVATIONS[activation]

    def step(w, h, x, p):
        rec = matvec(w.W, h)
        e = rec + w.b
        return StepOut(e=e, h=act.phi(e), rec=rec)

    def exact_chi(w, h_prev, x, out, p):
        return jnp.mean(act.dphi(out.e) ** 2 * row_sq_norms(w.W))

    return Simulator(
        cell=f"feedforward-{activation}",
        param_names=PARAMS,
        variance_params=PARAMS,
        recurrent=False,
        n_square=1,
        draw_weights=_draw_weights,
        draw_inputs=None,
        step=step,
        projectable=True,
        bias_mean=lambda p: 0.0,
        exact_chi=exact_chi,
    )
