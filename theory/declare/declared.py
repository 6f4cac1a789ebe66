"""Type checks of the expressions a declaration holds (:class:`~theory.declare.cell.Field`,
:class:`~theory.declare.cell.Cell`, :class:`~theory.declare.gated.Gate`, :class:`~theory.declare.gated.GatedCell`).

A declaration takes SymPy expressions (or, where a constant is meant, a plain number), never
strings: a string would go through ``sympy.sympify``, which parses (and evaluates) arbitrary text.
The checks here run before any SymPy call on the value.  This module imports nothing from the
project, so any declaration module may import it without a circle.
"""
from __future__ import annotations

import numbers

import sympy as sp


class DeclarationTypeError(TypeError):
    """A declaration argument has the wrong type (a string, a dict, ...); nothing was built."""


def _shown(value) -> str:
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def check_expression(value, where: str, numbers_ok: bool = True):
    """Return ``value`` unchanged if it is a SymPy expression (or, with ``numbers_ok``, a real number
    that is not a bool); otherwise raise :class:`DeclarationTypeError` naming ``where`` (e.g.
    ``"Field(recurrent=...)"``).  Strings are refused without being parsed."""
    if isinstance(value, sp.Expr):
        return value
    if numbers_ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    wanted = "a SymPy expression" + (" or a number" if numbers_ok else "")
    hint = ""
    if isinstance(value, str):
        hint = ("; strings are not parsed: build the expression with SymPy "
                "(e.g. theory.declare.params.symbol('sigma_w'), sympy.tanh(theory.declare.cell.E))")
    raise DeclarationTypeError(f"{where} must be {wanted}, got {type(value).__name__} {_shown(value)}{hint}")
