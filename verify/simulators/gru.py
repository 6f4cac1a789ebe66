r"""GRU, hand-written (Cho et al. 2014; reset before the recurrent matrix, PyTorch/Flax gate names
and update convention), independent of the theory declaration:

.. math::
    r=\sigma(W_rh+U_rx+b_r),\quad z=\sigma(W_zh+U_zx+b_z),\quad n=\tanh(W_n(r\odot h)+U_nx+b_n),\quad
    h'=z\odot h+(1-z)\odot n .
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import matvec
from .gated_base import GatedSimulator, gate_weights

GATES = ("r", "z", "n")
PARAMS = ("sigma_w_r", "sigma_v_r", "sigma_b_r", "mu_b_r", "sigma_w_z", "sigma_v_z", "sigma_b_z", "mu_b_z",
          "sigma_w_n", "sigma_v_n", "sigma_b_n", "R", "Sigma")


def _draw(key, n, p, dtype, reads=None):
    """Dense, or (``reads``) projected in two stages: W_r, W_z read h_{t-1} and its tangents, but W_n
    reads r ⊙ h and its tangents r ⊙ v + (dr) ⊙ h with dr = r(1-r) ⊙ W_r v, known only once W_r, U_r,
    b_r are drawn; W_n is independent of them, so drawing it after, on those vectors, is exact."""
    if reads is None:
        return gate_weights(key, n, p, GATES, dtype)
    states, inputs = reads  # rows: h_a, h_b, tangents at h_a | x_a, x_b (GatedSimulator.projectable)
    k_rz, k_n = jax.random.split(key)
    w = gate_weights(k_rz, n, p, ("r", "z"), dtype, reads=reads)
    h_a, h_b, tangents = states[0], states[1], states[2:]
    r_a = jax.nn.sigmoid(_field(w, "r", h_a, inputs[0]))
    r_b = jax.nn.sigmoid(_field(w, "r", h_b, inputs[1]))
    dr = r_a * (1.0 - r_a) * jax.vmap(lambda v: matvec(w["r"][0], v))(tangents)
    on_n = jnp.concatenate([jnp.stack([r_a * h_a, r_b * h_b]), r_a * tangents + dr * h_a])
    w["n"] = gate_weights(k_n, n, p, ("n",), dtype, reads=(on_n, inputs))["n"]
    return w


def _field(w, gate, s, x):
    W, U, b = w[gate]
    return matvec(W, s) + matvec(U, x) + b


def _step(w, state, x, p):
    (h,) = state
    a_r = _field(w, "r", h, x)
    a_z = _field(w, "z", h, x)
    r = jax.nn.sigmoid(a_r)
    a_n = _field(w, "n", r * h, x)
    z = jax.nn.sigmoid(a_z)
    h_new = z * h + (1.0 - z) * jnp.tanh(a_n)
    return (h_new,), {"r": a_r, "z": a_z, "n": a_n}


SIMULATOR = GatedSimulator(
    cell="gru", param_names=PARAMS, components=("h",), read="h", gates=GATES, memory_gate="z",
    draw_weights=_draw, step=_step, recurrent_field=lambda w, state: matvec(w["z"][0], state[0]),
    projectable=True,
)
