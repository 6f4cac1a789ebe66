r"""LSTM, hand-written (PyTorch ``nn.LSTM`` / Flax ``LSTMCell`` equations, no peepholes),
independent of the theory declaration:

.. math::
    i,f,o=\sigma(W_{i,f,o}h+U_{i,f,o}x+b_{i,f,o}),\quad g=\tanh(W_gh+U_gx+b_g),\quad
    c'=f\odot c+i\odot g,\quad h'=o\odot\tanh c' .

State components in the theory's order ``(c, h)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import matvec
from .gated_base import GatedSimulator, gate_weights

GATES = ("i", "f", "g", "o")
PARAMS = ("sigma_w_i", "sigma_v_i", "sigma_b_i", "mu_b_i", "sigma_w_f", "sigma_v_f", "sigma_b_f", "mu_b_f",
          "sigma_w_g", "sigma_v_g", "sigma_b_g", "sigma_w_o", "sigma_v_o", "sigma_b_o", "mu_b_o", "R", "Sigma")


def _draw(key, n, p, dtype, reads=None):
    return gate_weights(key, n, p, GATES, dtype, reads=reads)


def _step(w, state, x, p):
    c, h = state
    a = {}
    for k in GATES:
        W, U, b = w[k]
        a[k] = matvec(W, h) + matvec(U, x) + b
    i, f, o = jax.nn.sigmoid(a["i"]), jax.nn.sigmoid(a["f"]), jax.nn.sigmoid(a["o"])
    g = jnp.tanh(a["g"])
    c_new = f * c + i * g
    return (c_new, o * jnp.tanh(c_new)), a


SIMULATOR = GatedSimulator(
    cell="lstm", param_names=PARAMS, components=("c", "h"), read="h", gates=GATES, memory_gate="f",
    draw_weights=_draw, step=_step, recurrent_field=lambda w, state: matvec(w["f"][0], state[1]),
    projectable=True,
)
