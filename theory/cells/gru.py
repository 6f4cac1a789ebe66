r"""GRU (Cho et al. 2014), mean field after Gilboa et al. 2019 (06 §2).

Gates in PyTorch/Flax order and names (reset ``r``, update ``z``, candidate ``n``):

.. math::
    r_t=\sigma(W_rh_{t-1}+U_rx_t+b_r),\quad z_t=\sigma(W_zh_{t-1}+U_zx_t+b_z),\quad
    n_t=\tanh\big(W_n(r_t\odot h_{t-1})+U_nx_t+b_n\big),\quad h_t=z_t\odot h_{t-1}+(1-z_t)\odot n_t .

* ``z`` is the fraction of the old state **kept**, as in PyTorch ``nn.GRU`` / Flax ``GRUCell``
  (:math:`h'=(1-z)n+zh`); some texts swap :math:`z\leftrightarrow1-z`.
* The reset gate acts **before** the recurrent matrix, :math:`W_n(r\odot h)` (Cho et al. 2014;
  Keras ``reset_after=False``; 06 §2).  PyTorch, Flax and cuDNN apply it *after*,
  :math:`r\odot(W_nh+b_{hn})`; there the candidate field is a Gaussian scale mixture whose
  two-sequence map is a 4-D integral, which this declaration does not cover.
* ``b_n`` has mean 0 (zero-mean hidden state); ``q_star`` is the **update-gate** field variance.
"""
from __future__ import annotations

import sympy as sp

from ..declare.activations import sigmoid
from ..declare.gated import Gate, GatedCell, field, old

h = old("h")

GRU = GatedCell(
    name="gru",
    gates=(Gate("r"), Gate("z"), Gate("n", activation="tanh", reads=sigmoid(field("r")) * h, bias_mean=False)),
    state=("h",),
    update=(("h", sigmoid(field("z")) * h + (1 - sigmoid(field("z"))) * sp.tanh(field("n"))),),
    memory_gate="z",
    overrides=(("mu_b_z", 1.0),),
    description="GRU, h_t = z h_(t-1) + (1-z) tanh(W_n (r h_(t-1)) + U_n x_t + b_n)",
    reference="Cho et al. 2014; Gilboa et al. 2019",
    convention="PyTorch/Flax gate names and order (r, z, n) and update h' = z h + (1-z) n; reset before W_n (Cho 2014)",
    assumptions=("gate fields independent of the unit's own stored state (untied / annealed weights, 06 §1, §8)",
                 "biases redrawn each step or sigma_b = 0 (a persistent bias with sigma_b > 0 breaks the closure, 02 §5)",
                 "inputs fresh each step, zero mean; candidate bias mean 0 (all state means vanish)"),
)

#: the built-in cells of this module (registered by theory.cells)
CELLS = (GRU,)
