r"""Deep feed-forward net :math:`h^l=\phi(W^lh^{l-1}+b^l)`, untied layers (Poole et al. 2016;
Schoenholz et al. 2017).  "Steps" are layers; there is no input after the first layer."""
from __future__ import annotations

from ..declare.activations import ACTIVATIONS, activation
from ..declare.cell import E, Cell, Field
from ..declare.params import symbol

DEFAULTS = {"sigma_w": 1.0, "sigma_b": 0.1}


def feedforward(act: str, phi=None, name: str | None = None) -> Cell:
    phi = activation(act, E) if phi is None else phi
    return Cell(
        name=name or f"feedforward-{act}",
        update=phi,
        field=Field(recurrent=symbol("sigma_w"), bias=symbol("sigma_b")),
        params=tuple(DEFAULTS.items()),
        critical_pair=("sigma_w", "sigma_b"),
        recurrent=False,
        description=f"deep feed-forward net, h^l = {act}(W^l h^(l-1) + b^l)",
        reference="Poole et al. 2016; Schoenholz et al. 2017",
    )


#: the built-in cells of this module (registered by theory.cells)
CELLS = tuple(feedforward(_act) for _act in ACTIVATIONS)
