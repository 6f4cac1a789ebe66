r"""Vanilla RNN :math:`h_t=\phi(Wh_{t-1}+Vx_t+b)` (Poole et al. 2016; Chen et al. 2018, §3).

Zero-mean bias (μ_b = 0) as in those papers; ``vanilla(act, bias_mean=True)`` declares the
variant with a bias mean (its bivariate ReLU/erf expectations then fall back to quadrature).
"""
from __future__ import annotations

from ..declare.activations import ACTIVATIONS, activation
from ..declare.cell import E, Cell, Field
from ..declare.params import symbol

DEFAULTS = {"sigma_w": 1.0, "sigma_v": 1.0, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}
#: a linear RNN has a finite fixed point only for sigma_w < 1
OVERRIDES = {"linear": {"sigma_w": 0.9}}


def vanilla(act: str, phi=None, bias_mean: bool = False, name: str | None = None) -> Cell:
    """Declare a vanilla RNN cell with activation ``act`` (or a SymPy expression ``phi`` of e)."""
    phi = activation(act, E) if phi is None else phi
    d = {**DEFAULTS, **OVERRIDES.get(act, {})}
    names = ["sigma_w", "sigma_v", "sigma_b"] + (["mu_b"] if bias_mean else []) + ["R", "Sigma"]
    d.setdefault("mu_b", 0.0)
    s = {n: symbol(n) for n in names}
    return Cell(
        name=name or f"vanilla-{act}" + ("-mub" if bias_mean else ""),
        update=phi,
        field=Field(recurrent=s["sigma_w"], input=s["sigma_v"], bias=s["sigma_b"],
                    mean=s["mu_b"] if bias_mean else 0),
        params=tuple((n, d[n]) for n in names),
        critical_pair=("sigma_w", "sigma_b"),
        description=f"vanilla RNN, h_t = {act}(W h_(t-1) + V x_t + b)",
        reference="Poole et al. 2016; Chen, Pennington & Schoenholz 2018",
    )


#: the built-in cells of this module (registered by theory.cells)
CELLS = tuple(vanilla(_act) for _act in ACTIVATIONS)
