"""minimalRNN (Chen 2017; 02 §1) with the embedded input drawn directly, written independently.

.. math::
    e_t = W h_{t-1} + V z_t + b,\\quad u_t = \\sigma(e_t),\\quad
    h_t = u_t \\odot h_{t-1} + (1-u_t) \\odot z_t,

``W_ij ~ N(0, sigma_w^2/N)``, ``V_ij ~ N(0, sigma_v^2/N)``, ``b_i ~ N(mu_b, sigma_b^2)``, fresh
``z_t ~ N(0, R I)`` (second sequence: correlation ``Sigma``). Untied runs redraw ``W, V`` *and*
``b`` every step (02 §5: a persistent bias with ``sigma_b > 0`` breaks the closure even untied).

One-step Jacobian ``J = diag(u) + diag(a) W`` with ``a = u (1-u) (h_{t-1} - z_t)``, so
``||J||_F^2 = sum_i [u_i^2 + 2 u_i a_i W_ii + a_i^2 ||W_{i,:}||^2]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import Simulator, StepOut, correlated_inputs, diagonal, matvec, row_sq_norms, scaled_weights

PARAMS = ("sigma_w", "sigma_v", "sigma_b", "mu_b", "R", "Sigma")
VARIANCES = ("sigma_w", "sigma_v", "sigma_b", "R")


def _draw_weights(key, n, p, dtype, reads=None):
    return scaled_weights(key, n, p, dtype, with_input=True, bias_mean=p["mu_b"], reads=reads)


def _draw_inputs(key, n, p, dtype):
    return correlated_inputs(key, n, p["R"], p["Sigma"], dtype)


def _step(w, h, z, p):
    rec = matvec(w.W, h)
    e = rec + matvec(w.V, z) + w.b
    u = jax.nn.sigmoid(e)
    return StepOut(e=e, h=u * h + (1.0 - u) * z, rec=rec)


def _exact_chi(w, h_prev, z, out, p):
    u = jax.nn.sigmoid(out.e)
    a = u * (1.0 - u) * (h_prev - z)
    frob = u * u + 2.0 * u * a * diagonal(w.W) + a * a * row_sq_norms(w.W)
    return jnp.mean(frob)


def _extra_stats(w, h_prev, z, out, p):
    """Mechanism check of 02 §5: across-unit covariance of ``u_t^2`` and ``h_{t-1}^2``, divided
    by ``mean(u^2) mean(h_{t-1}^2)`` (near zero when the single-time closure holds)."""
    u2 = jax.nn.sigmoid(out.e) ** 2
    h2 = h_prev * h_prev
    cov = jnp.mean(u2 * h2) - jnp.mean(u2) * jnp.mean(h2)
    return {"gate_state_cov": cov / (jnp.mean(u2) * jnp.mean(h2))}


SIMULATOR = Simulator(
    cell="minimalrnn",
    param_names=PARAMS,
    variance_params=VARIANCES,
    recurrent=True,
    n_square=2,
    draw_weights=_draw_weights,
    draw_inputs=_draw_inputs,
    step=_step,
    bias_mean=lambda p: p["mu_b"],
    exact_chi=_exact_chi,
    extra_stats=_extra_stats,
    gated=True,
    projectable=True,
)
