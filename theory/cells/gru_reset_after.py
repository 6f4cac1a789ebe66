r"""GRU with the reset gate **after** the recurrent matrix: PyTorch ``nn.GRU``, Flax ``GRUCell``,
cuDNN, Keras ``reset_after=True``.  Gates in PyTorch/Flax order and names (``r, z, n``):

.. math::
    r_t=\sigma(W_rh_{t-1}+U_rx_t+b_r),\quad z_t=\sigma(W_zh_{t-1}+U_zx_t+b_z),\quad
    n_t=\tanh\big(U_nx_t+b_{in}+r_t\odot(W_nh_{t-1}+b_{hn})\big),\quad h_t=z_t\odot h_{t-1}+(1-z_t)\odot n_t .

* ``sigma_b_n`` is the spread of the input-side candidate bias :math:`b_{in}`, ``sigma_b_hn`` that of the
  recurrent-side one :math:`b_{hn}` (which the reset gate scales); both have mean 0.
* The candidate field is a Gaussian **scale mixture**, :math:`a_n\mid a_r\sim\mathcal N(0,v_u+r^2v_m)`
  (:mod:`theory.symbolic.mixture`); ``q_star_n`` is its total variance :math:`v_u+\mathbb E[r^2]v_m`.
* Everything else (shared defaults, ``mu_b_z = 1``, ``q_star`` = update-gate field variance) is as in
  ``gru`` (:mod:`theory.cells.gru`, reset before the matrix).
"""
from __future__ import annotations

import sympy as sp

from ..declare.activations import sigmoid
from ..declare.gated import Gate, GatedCell, field, old

h = old("h")

GRU_RESET_AFTER = GatedCell(
    name="gru-reset-after",
    gates=(Gate("r"), Gate("z"), Gate("n", activation="tanh", reads=h, bias_mean=False, scale=sigmoid(field("r")))),
    state=("h",),
    update=(("h", sigmoid(field("z")) * h + (1 - sigmoid(field("z"))) * sp.tanh(field("n"))),),
    memory_gate="z",
    overrides=(("mu_b_z", 1.0),),
    description="GRU (reset after the matrix), h_t = z h_(t-1) + (1-z) tanh(U_n x_t + b_in + r (W_n h_(t-1) + b_hn))",
    reference="Cho et al. 2014; PyTorch nn.GRU / Flax GRUCell / cuDNN; Gilboa et al. 2019",
    convention="PyTorch/Flax gate names and order (r, z, n), update h' = z h + (1-z) n, reset after W_n: r (W_n h + b_hn)",
    assumptions=("gate fields independent of the unit's own stored state (untied / annealed weights, 06 §1, §8)",
                 "biases redrawn each step or sigma_b = 0 (a persistent bias with sigma_b > 0 breaks the closure, 02 §5)",
                 "inputs fresh each step, zero mean; candidate biases b_in, b_hn mean 0 (all state means vanish)",
                 "candidate field: Gaussian scale mixture a_n | a_r ~ N(0, v_u + r^2 v_m), exact for untied weights"),
)

#: the built-in cells of this module (registered by theory.cells)
CELLS = (GRU_RESET_AFTER,)
