"""The structure of a gated cell's expressions: state symbols and the split into terms.

``old(comp)``/``new(comp)``/``field(gate)`` are the symbols a :class:`theory.declare.gated.GatedCell` is
declared in; :func:`split` writes an update (or ``reads``) expression as a sum of
(product of single-gate-field factors) x (one state atom) and :func:`check_structure` validates a
whole declaration with it (called by ``GatedCell.__post_init__``).  Used by
:mod:`theory.declare.gated` (validation) and :mod:`theory.symbolic.gated_derive` (the expectations); imports
neither.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .activations import X
from .activations import complement_sigmoid

ONE = ("one",)


def old(comp: str) -> sp.Symbol:
    """The value of state component ``comp`` at t-1."""
    return sp.Symbol(comp, real=True)


def new(comp: str) -> sp.Symbol:
    """The value of state component ``comp`` at t (usable by components updated later)."""
    return sp.Symbol(comp + "_t", real=True)


def field(gate: str) -> sp.Symbol:
    """The pre-activation symbol of a gate."""
    return sp.Symbol("a_" + gate, real=True)


@dataclass(frozen=True)
class Term:
    """``coef * atom``: ``factors`` {gate field: expression}, ``const`` a number/parameter
    expression, ``atom`` ONE, ("old", comp) or ("new", comp, Lambda φ)."""

    factors: tuple
    const: sp.Expr
    atom: tuple

    @property
    def coef(self):
        return self.const * sp.Mul(*[e for _, e in self.factors])


# ----------------------------------------------------------------------------------------------
# splitting expressions into terms
# ----------------------------------------------------------------------------------------------

def _new_atoms(expr, news):
    """Maximal subexpressions that depend only on new-component symbols (``tanh(c_t)``)."""
    found = []

    def visit(e):
        fs = e.free_symbols
        if fs and fs <= news:
            if len(fs) != 1:
                raise ValueError(f"{e} mixes two new state components")
            found.append(e)
            return
        for a in e.args:
            visit(a)
    visit(expr)
    return list(dict.fromkeys(found))


def product_terms(coef, fields):
    """coef -> [(const, {field: factor})]: a sum of products of single-field factors."""
    coef = sp.expand(complement_sigmoid(coef), deep=False, mul=True, multinomial=True, power_base=False,
                     power_exp=False, log=False)
    out = []
    for term in sp.Add.make_args(coef):
        const, parts = sp.Integer(1), {}
        for f in sp.Mul.make_args(term):
            fs = f.free_symbols & fields
            if not fs:
                const *= f
            elif len(fs) == 1:
                (k,) = fs
                parts[k] = parts.get(k, sp.Integer(1)) * f
            else:
                raise ValueError(f"factor {f} depends on several gate fields; write it as a product")
        out.append((const, parts))
    return out


def split(expr, cell, comps_done=()):
    """Terms of an update (or ``reads``) expression; validates the structure (module docstring)."""
    fields = {g.field for g in cell.gates}
    olds = {old(c): c for c in cell.state}
    news = {new(c): c for c in comps_done}
    expr = complement_sigmoid(sp.sympify(expr))
    atoms = _new_atoms(expr, set(news))
    place = {}
    for i, a in enumerate(atoms):
        (sym,) = a.free_symbols
        phi = a.xreplace({sym: X})
        if sp.simplify(phi.xreplace({X: -X}) + phi) != 0:
            raise ValueError(f"{cell.name}: {a} must be odd in {sym} (zero-mean state)")
        d = sp.Dummy(f"S{i}")
        place[d] = ("new", news[sym], sp.Lambda(X, phi))
    expr = expr.xreplace({a: d for d, a in zip(place, atoms)})
    gens = list(olds) + list(place)
    poly = sp.Poly(expr, *gens)
    if poly.total_degree() > 1:
        raise ValueError(f"{cell.name}: {expr} is not of degree <= 1 in the state")
    terms = []
    for monom, coef in poly.terms():
        if sum(monom) == 0:
            atom = ONE
        else:
            g = gens[monom.index(1)]
            atom = ("old", olds[g]) if g in olds else place[g]
        for const, parts in product_terms(coef, fields):
            terms.append(Term(tuple(sorted(parts.items(), key=lambda t: t[0].name)), const, atom))
    if len({t.atom for t in terms if t.atom != ONE}) > 1:
        raise ValueError(f"{cell.name}: {expr} uses more than one state atom")
    return terms


def check_structure(cell):
    """Validate every ``reads`` and update expression of ``cell`` (called on construction)."""
    zero_mean = [g.field for g in cell.gates if not g.bias_mean]
    for g in cell.gates:
        for t in split(g.reads, cell):
            if t.atom == ONE or t.atom[0] != "old":
                raise ValueError(f"{cell.name}: gate {g.name} must read old state values times gate values")
    done = []
    for comp, expr in cell.update:
        for t in split(expr, cell, tuple(done)):
            if t.atom == ONE:
                b = t.coef
                if not any(sp.simplify(b.xreplace({f: -f}) + b) == 0 for f in zero_mean):
                    raise ValueError(f"{cell.name}: additive term {b} of {comp} must be odd in a zero-mean gate")
            elif t.atom[0] == "old" and t.atom[1] != comp:
                raise ValueError(f"{cell.name}: {comp} may read only its own old value, not {t.atom[1]}")
        done.append(comp)


__all__ = ["ONE", "Term", "old", "new", "field", "product_terms", "split", "check_structure"]
