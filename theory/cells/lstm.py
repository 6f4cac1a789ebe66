r"""LSTM (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000), mean field after
Gilboa et al. 2019 (06 §3).  Gates in PyTorch/Flax order and names (``i, f, g, o``):

.. math::
    i,f,o=\sigma(W_{i,f,o}h_{t-1}+U_{i,f,o}x_t+b_{i,f,o}),\quad g=\tanh(W_gh_{t-1}+U_gx_t+b_g),\quad
    c_t=f\odot c_{t-1}+i\odot g,\quad h_t=o\odot\tanh c_t ,

as in PyTorch ``nn.LSTM`` and Flax ``LSTMCell`` (no peepholes).  ``b_g`` has mean 0 (then the
cell state has mean 0).  State components ``(c, h)``; ``q_star`` is the **forget-gate** field
variance, ``Q_star`` the hidden second moment :math:`Q^h`, ``Q_c_star`` the cell-state one.

:math:`\mathbb E[\tanh^2c_t]` needs the law of the non-Gaussian cell state: the generated kernels use
the **Gaussian closure** :math:`c_t\sim\mathcal N(0,Q^c_t)`; :mod:`theory.closures.population` solves the
one-site recursion exactly (``closure="population"``).
"""
from __future__ import annotations

import sympy as sp

from ..declare.activations import sigmoid
from ..declare.gated import Gate, GatedCell, field, new, old

i, f, g, o = sigmoid(field("i")), sigmoid(field("f")), sp.tanh(field("g")), sigmoid(field("o"))

LSTM = GatedCell(
    name="lstm",
    gates=(Gate("i"), Gate("f"), Gate("g", activation="tanh", bias_mean=False), Gate("o")),
    state=("c", "h"),
    update=(("c", f * old("c") + i * g), ("h", o * sp.tanh(new("c")))),
    memory_gate="f",
    overrides=(("mu_b_f", 1.0),),
    description="LSTM, c_t = f c_(t-1) + i g, h_t = o tanh(c_t)",
    reference="Hochreiter & Schmidhuber 1997; Gers et al. 2000; Gilboa et al. 2019",
    convention="PyTorch/Flax gate names and order (i, f, g, o), no peepholes",
    assumptions=("gate fields independent of the unit's own stored state (untied / annealed weights, 06 §1, §8)",
                 "Gaussian closure for the cell state inside tanh (06 §3; exact alternative: theory.closures.population)",
                 "biases redrawn each step or sigma_b = 0 (a persistent bias with sigma_b > 0 breaks the closure, 02 §5)",
                 "inputs fresh each step, zero mean; g bias mean 0 (all state means vanish)"),
)

#: the built-in cells of this module (registered by theory.cells)
CELLS = (LSTM,)
