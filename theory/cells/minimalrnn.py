r"""minimalRNN (Chen 2017; mean field: Chen, Pennington & Schoenholz 2018):

.. math:: e_t=Wh_{t-1}+Vz_t+b,\quad u_t=\sigma(e_t),\quad h_t=u_t\odot h_{t-1}+(1-u_t)\odot z_t,

with ``z_t`` the embedded input (second moment R, fresh each step).  ``u`` is the fraction of the
old state kept.  The critical family is solved for (σ_w, σ_v) at given q* (02 §3).
"""
from __future__ import annotations

from ..declare.activations import sigmoid
from ..declare.cell import E, H, Z, Cell, Field
from ..declare.params import symbol

NAMES = ("sigma_w", "sigma_v", "sigma_b", "mu_b", "R", "Sigma")
DEFAULTS = {"sigma_w": 2.0, "sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 1.0, "R": 1.0, "Sigma": 1.0}

_s = {n: symbol(n) for n in NAMES}
u = sigmoid(E)

MINIMALRNN = Cell(
    name="minimalrnn",
    update=u * H + (1 - u) * Z,
    field=Field(recurrent=_s["sigma_w"], input=_s["sigma_v"], bias=_s["sigma_b"], mean=_s["mu_b"]),
    params=tuple((n, DEFAULTS[n]) for n in NAMES),
    critical_pair=("sigma_w", "sigma_v"),
    description="minimalRNN, u = sigmoid(W h + V z + b), h_t = u h_(t-1) + (1-u) z_t",
    reference="Chen 2017; Chen, Pennington & Schoenholz 2018",
    assumptions=("gate independent of the unit's own stored state (untied / annealed weights, 02 §5)",
                 "bias redrawn each step or sigma_b = 0 (a persistent bias with sigma_b > 0 breaks the closure)",
                 "inputs z_t fresh each step, zero mean"),
)

#: the built-in cells of this module (registered by theory.cells)
CELLS = (MINIMALRNN,)
