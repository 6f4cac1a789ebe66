r"""Leaky RNN / echo-state reservoir :math:`h_t=(1-a)h_{t-1}+a\,\phi(Wh_{t-1}+Vx_t+b)`, leak rate
:math:`a` = ``leak`` ∈ [0, 1] (the Euler step of :math:`\dot h=-h+\phi(\cdot)` with :math:`a=\Delta t`;
Jaeger et al. 2007).

Not a built-in cell (it is not in :data:`theory.cells.CELLS`' modules, so it adds nothing to the generated
``derivations/``): ``theory.register(leaky("tanh"))`` declares it for a session, and its kernels are
generated into the user cache on first use, like any user cell.
"""
from __future__ import annotations

from ..declare.activations import activation
from ..declare.cell import E, H, Cell, Field
from ..declare.params import symbol


def leaky(act: str = "tanh", name: str | None = None, leak: float = 0.5) -> Cell:
    """Declare the leaky RNN with activation ``act`` (parameters σ_w, σ_v, σ_b, R, Σ and ``leak``)."""
    s = {n: symbol(n) for n in ("sigma_w", "sigma_v", "sigma_b", "leak")}
    a = s["leak"]
    return Cell(
        name=name or f"leaky-{act}",
        update=(1 - a) * H + a * activation(act, E),
        field=Field(recurrent=s["sigma_w"], input=s["sigma_v"], bias=s["sigma_b"]),
        params=(("sigma_w", 1.0), ("sigma_v", 1.0), ("sigma_b", 0.1), ("R", 1.0), ("Sigma", 1.0), ("leak", leak)),
        description=f"leaky RNN, h_t = (1 - leak) h_(t-1) + leak {act}(W h_(t-1) + V x_t + b)",
        reference="Jaeger, Lukosevicius, Popovici & Siewert 2007",
    )
