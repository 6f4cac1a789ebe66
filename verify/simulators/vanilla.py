"""Vanilla RNN ``vanilla-<phi>`` (01 §4), written independently of the theory.

.. math::
    e_t = W h_{t-1} + V x_t + b,\\qquad h_t = \\phi(e_t),

``W_ij ~ N(0, sigma_w^2/N)``, ``V_ij ~ N(0, sigma_v^2/N)`` (input width = N), ``b_i ~ N(0, sigma_b^2)``
(no bias mean), fresh inputs ``x_t ~ N(0, R I)``; the second sequence has correlation ``Sigma``.
One-step Jacobian ``J_t = D_t W`` with ``D_t = diag phi'(e_t)``, so
``(1/N)||J_t||_F^2 = (1/N) sum_i phi'(e_i)^2 ||W_{i,:}||^2`` exactly.
"""

from __future__ import annotations

import jax.numpy as jnp

from .activations import ACTIVATIONS
from .base import Simulator, StepOut, correlated_inputs, matvec, row_sq_norms, scaled_weights

PARAMS = ("sigma_w", "sigma_v", "sigma_b", "R", "Sigma")
VARIANCES = ("sigma_w", "sigma_v", "sigma_b", "R")


def _draw_weights(key, n, p, dtype, reads=None):
    return scaled_weights(key, n, p, dtype, with_input=True, reads=reads)


def _draw_inputs(key, n, p, dtype):
    return correlated_inputs(key, n, p["R"], p["Sigma"], dtype)


def make(activation: str) -> Simulator:
    act = ACTIVATIONS[activation]

    def step(w, h, x, p):
        rec = matvec(w.W, h)
        e = rec + matvec(w.V, x) + w.b
        return StepOut(e=e, h=act.phi(e), rec=rec)

    def exact_chi(w, h_prev, x, out, p):
        row_norms = row_sq_norms(w.W)
        return jnp.mean(act.dphi(out.e) ** 2 * row_norms)

    return Simulator(
        cell=f"vanilla-{activation}",
        param_names=PARAMS,
        variance_params=VARIANCES,
        recurrent=True,
        n_square=2,
        draw_weights=_draw_weights,
        draw_inputs=_draw_inputs,
        step=step,
        projectable=True,
        bias_mean=lambda p: 0.0,
        exact_chi=exact_chi,
    )
