r"""The single-site process of a real (tied-weight) network, read off the cell's declaration (08 §2).

Both declaration families map to one description, :class:`SiteModel`:

* a one-field cell (:class:`theory.declare.cell.Cell`: vanilla, minimalRNN, user cells) is the case of one
  field ``e`` that reads ``h``, one state component ``h`` and an optional direct input ``z``;
* a gated cell (:class:`theory.declare.gated.GatedCell`) has one field per gate (``a_<gate>``), each reading
  its declared ``reads`` (``h``, or ``r*h`` for a reset-before GRU), an optional scale of the
  recurrent part (reset-after GRU), and several state components updated in order.

Per unit and step the site process evaluates, in declared order: for each field :math:`k` the vector
its recurrent matrix reads, :math:`r^k=\mathrm{reads}_k(s_{t-1},a^{<k}_t)`; the field
:math:`a^k=g^k+u^k+b^k` (scaled: :math:`u^k+b^k+\rho_k(a^j)(g^k+b_h^k)`), where :math:`g^k` is the
Gaussian recurrent field with covariance :math:`\sigma_{w,k}^2\,\mathbb E[r^k_tr^k_s]`; then each state
component's update.  The tangent (08 §5) is the same chain linearised: every derivative here is
SymPy's, and :mod:`theory.tied.render` prints these expressions into the generated
``tied_numba.py`` / ``tied_jax.py`` -- no site code is written by hand for any cell.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..declare.cell import E, H, Z, Cell
from ..declare.activations import complement_sigmoid
from ..declare.params import symbol

#: symbol of the direct input in every site expression
ZSYM = Z


def delta(s: sp.Symbol) -> sp.Symbol:
    """The tangent (perturbation) symbol of ``s``: ``d_<name>``."""
    return sp.Symbol("d_" + s.name, real=True)


@dataclass(frozen=True)
class SiteField:
    """One Gaussian field of the site process.

    ``reads``: expression of old state and earlier fields (what its recurrent matrix multiplies);
    ``sigma_w, sigma_v, sigma_b, mean``: parameter expressions; ``scale``: None, or ρ(a_j) of an
    earlier field (the recurrent part is ``ρ (g + b_h)``, ``b_h ~ N(0, sigma_b_h^2)``)."""

    name: str
    symbol: sp.Symbol
    reads: sp.Expr
    sigma_w: sp.Expr
    sigma_v: sp.Expr
    sigma_b: sp.Expr
    mean: sp.Expr
    scale: sp.Expr | None = None
    scale_field: sp.Symbol | None = None
    sigma_b_h: sp.Expr = sp.Integer(0)


@dataclass(frozen=True)
class SiteComponent:
    """One state component: ``old`` value, ``new`` value symbol and its ``update`` expression."""

    name: str
    old: sp.Symbol
    new: sp.Symbol
    update: sp.Expr


@dataclass(frozen=True)
class SiteModel:
    """The per-unit step of a cell, as data (see the module docstring)."""

    cell: object
    fields: tuple
    components: tuple
    direct_input: bool
    read_field: str            #: the field whose variance is ``q_star`` (vanilla ``e``; gated: memory gate)
    hidden: str                #: the component ``Q_star`` refers to
    noise: tuple = ()          #: names of the hidden-state noise draws the updates read (fresh N(0, 1) per step)
    noise_shared: bool = False  #: the two replicas see the same noise draws

    @property
    def param_names(self) -> tuple:
        return tuple(self.cell.param_names)

    def field(self, name: str) -> SiteField:
        return next(f for f in self.fields if f.name == name)

    def expressions(self) -> list:
        """(function name, expression) of every generated site function, in a fixed order.

        ``read_<k>``, ``scale_<k>``/``dscale_<k>`` (ρ and ρ'), ``update_<c>``; tangents ``dread_<k>``
        and ``dupdate_<c>``: total first-order change through every symbol the expression reads
        (old state, fields, earlier new values), with ``d_<symbol>`` the perturbations."""
        out = []
        olds = [c.old for c in self.components]
        news = [c.new for c in self.components]
        fsyms = [f.symbol for f in self.fields]
        varying = olds + fsyms + news
        for f in self.fields:
            out.append((f"read_{f.name}", f.reads))
            out.append((f"dread_{f.name}", _linearise(f.reads, varying)))
            if f.scale is not None:
                out.append((f"scale_{f.name}", f.scale))
                out.append((f"dscale_{f.name}", sp.diff(f.scale, f.scale_field)))
        for c in self.components:
            out.append((f"update_{c.name}", c.update))
            out.append((f"dupdate_{c.name}", _linearise(c.update, varying)))
        # 1 - sigmoid(x) -> sigmoid(-x): no cancellation where a gate is almost shut
        return [(name, complement_sigmoid(sp.sympify(e))) for name, e in out]


def _linearise(expr, varying):
    return sp.Add(*[sp.diff(expr, s) * delta(s) for s in varying if expr.has(s)])


def site_model(cell) -> SiteModel:
    """The :class:`SiteModel` of a declared recurrent cell (ValueError for feed-forward nets: their
    layers are untied by construction, so the annealed theory is already exact)."""
    if not cell.recurrent:
        raise ValueError(f"{cell.name} is a feed-forward net: every layer has its own weights, so tied and "
                         f"untied coincide; use tied=False")
    if isinstance(cell, Cell):
        f = cell.field
        fld = SiteField(name="e", symbol=E, reads=H, sigma_w=sp.sympify(f.recurrent), sigma_v=sp.sympify(f.input),
                        sigma_b=sp.sympify(f.bias), mean=sp.sympify(f.mean))
        comp = SiteComponent(name="h", old=H, new=sp.Symbol("h_t", real=True), update=cell.update)
        return SiteModel(cell=cell, fields=(fld,), components=(comp,), direct_input=cell.update.has(Z),
                         read_field="e", hidden="h", noise=tuple(n.name for n in cell.noise),
                         noise_shared=cell.noise_shared)
    # a gated cell (theory.declare.gated.GatedCell): read by attribute so this module needs no gated import
    fields = []
    for g in cell.gates:
        scale, sf, sbh = None, None, sp.Integer(0)
        if g.scale is not None:
            scale = sp.sympify(g.scale)
            (sf,) = scale.free_symbols
            sbh = symbol(f"sigma_b_h{g.name}")
        fields.append(SiteField(name=g.name, symbol=g.field, reads=sp.sympify(g.reads), sigma_w=g.symbol("sigma_w"),
                                sigma_v=g.symbol("sigma_v"), sigma_b=g.symbol("sigma_b"), mean=g.symbol("mu_b"),
                                scale=scale, scale_field=sf, sigma_b_h=sbh))
    comps = tuple(SiteComponent(name=c, old=sp.Symbol(c, real=True), new=sp.Symbol(c + "_t", real=True),
                                update=sp.sympify(e)) for c, e in cell.update)
    return SiteModel(cell=cell, fields=tuple(fields), components=comps, direct_input=False,
                     read_field=cell.memory_gate, hidden=cell.read)
