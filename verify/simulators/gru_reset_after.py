r"""GRU with the reset gate after the recurrent matrix, as PyTorch ``nn.GRU``, Flax ``GRUCell`` and
cuDNN compute it; hand-written, independent of the theory declaration:

.. math::
    r=\sigma(W_rh+U_rx+b_r),\quad z=\sigma(W_zh+U_zx+b_z),\quad
    n=\tanh\big(U_nx+b_{in}+r\odot(W_nh+b_{hn})\big),\quad h'=z\odot h+(1-z)\odot n .

``b_in`` is the candidate gate's ``b`` (spread ``sigma_b_n``); ``b_hn ~ N(0, sigma_b_hn^2)`` is drawn
from its own key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import matvec, standard_normals
from .gated_base import GatedSimulator, gate_weights

GATES = ("r", "z", "n")
PARAMS = ("sigma_w_r", "sigma_v_r", "sigma_b_r", "mu_b_r", "sigma_w_z", "sigma_v_z", "sigma_b_z", "mu_b_z",
          "sigma_w_n", "sigma_v_n", "sigma_b_n", "sigma_b_hn", "R", "Sigma")


def _draw(key, n, p, dtype, reads=None):
    k_gates, k_hn = jax.random.split(key)
    w = gate_weights(k_gates, n, p, GATES, dtype, reads=reads)
    (b_hn,) = standard_normals(k_hn, [(n,)], dtype)
    w["hn"] = p["sigma_b_hn"] * b_hn
    return w


def _step(w, state, x, p):
    (h,) = state
    W_r, U_r, b_r = w["r"]
    W_z, U_z, b_z = w["z"]
    W_n, U_n, b_in = w["n"]
    a_r = matvec(W_r, h) + matvec(U_r, x) + b_r
    a_z = matvec(W_z, h) + matvec(U_z, x) + b_z
    r = jax.nn.sigmoid(a_r)
    a_n = matvec(U_n, x) + b_in + r * (matvec(W_n, h) + w["hn"])
    z = jax.nn.sigmoid(a_z)
    h_new = z * h + (1.0 - z) * jnp.tanh(a_n)
    return (h_new,), {"r": a_r, "z": a_z, "n": a_n}


SIMULATOR = GatedSimulator(
    cell="gru-reset-after", param_names=PARAMS, components=("h",), read="h", gates=GATES, memory_gate="z",
    draw_weights=_draw, step=_step, recurrent_field=lambda w, state: matvec(w["z"][0], state[0]),
    projectable=True,
)
