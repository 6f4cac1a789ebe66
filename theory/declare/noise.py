r"""Hidden-state noise as a declaration option (Lim, Erichson, Hodgkinson & Mahoney, NeurIPS 2021).

:func:`with_noise` turns a one-field cell :math:`h_t=F(e_t,h_{t-1},z_t)` into its noise-injected
version

.. math::  h_t = F\,(1+\sigma_m\eta_t) + \sigma_\varepsilon\varepsilon_t,

with :math:`\varepsilon_t,\eta_t\sim\mathcal N(0,1)` fresh every step and unit (the new state gets
additive noise of std σ_ε and multiplicative noise of relative std σ_m).  The result is an ordinary
:class:`~theory.declare.cell.Cell`: its variance map gains :math:`\sigma_m^2\mathbb E[F^2]+\sigma_\varepsilon^2`,
its χ the factor :math:`1+\sigma_m^2`, and -- with draws independent across the two input
sequences (the default) -- its covariance map does not, so two copies of one input decorrelate:
:math:`c^*<1` for any σ_ε > 0 or σ_m > 0.

The Euler step of Lim et al.'s SDE puts the multiplicative term on the *previous* state,
:math:`\sigma_m h_{t-1}\eta_t`; a cell that carries its state (leaky) can declare exactly that by
writing ``ETA`` into its own update.  Pure data: this module imports declarations only.
"""
from __future__ import annotations

from dataclasses import replace

from .cell import EPS, ETA, Cell
from .params import symbol


def with_noise(cell: Cell, *, additive: bool = True, multiplicative: bool = False, shared: bool = False,
               sigma_eps: float = 0.1, sigma_m: float = 0.1, name: str | None = None) -> Cell:
    """The noise-injected version of the one-field ``cell`` (see the module docstring).

    ``additive`` / ``multiplicative``: which noise terms (parameters ``sigma_eps`` / ``sigma_m``, with
    the given defaults); ``shared``: the two input sequences see the same draws.  ``name`` defaults to
    ``<cell>-noisy`` (``-shared-noise`` when shared).  Returns a new :class:`Cell`."""
    if not isinstance(cell, Cell):
        raise TypeError(f"with_noise takes a one-field theory.declare.cell.Cell, got {type(cell).__name__} "
                        f"(gated cells have no noise option yet)")
    if not (additive or multiplicative):
        raise ValueError("with_noise: choose additive=True and/or multiplicative=True")
    if cell.noise:
        raise ValueError(f"{cell.name} already reads the noise draws {[str(n) for n in cell.noise]}")
    update, params = cell.update, list(cell.params)
    if multiplicative:
        update = update * (1 + symbol("sigma_m") * ETA)
        params.append(("sigma_m", sigma_m))
    if additive:
        update = update + symbol("sigma_eps") * EPS
        params.append(("sigma_eps", sigma_eps))
    kinds = " and ".join(k for k, on in (("additive", additive), ("multiplicative", multiplicative)) if on)
    return replace(cell, name=name or f"{cell.name}-{'shared-noise' if shared else 'noisy'}", update=update,
                   params=tuple(params), noise_shared=shared,
                   description=f"{cell.description}; {kinds} hidden-state noise"
                               + (" (shared by both input sequences)" if shared else ""),
                   reference=(cell.reference + "; " if cell.reference else "")
                   + "Lim, Erichson, Hodgkinson & Mahoney 2021")
