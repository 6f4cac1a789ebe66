"""The fourth-moment closure shared by :mod:`theory.jacobian.isometry` and :mod:`theory.jacobian.isometry_recursion`:
the symbol ``Q4`` (E[h^4]), :func:`expect` (E[...] of a polynomial of degree <= 4 in (h, z)) and
:func:`tidy`/:func:`one_minus` (cancellation-free integrands).  Imports neither of them."""
from __future__ import annotations

import sympy as sp

from ..declare.activations import X, complement_sigmoid, sigmoid
from ..declare.cell import E, H, Z
from ..symbolic.derive import Q
from ..symbolic.gaussian import E1

Q4 = sp.Symbol("Q_4", nonnegative=True)


def tidy(expr):
    """Factor an integrand and rewrite σ(y) - 1 as -σ(-y): no cancellation for shut gates or
    saturated activations (factored (tanh² - 1)^k instead of an expanded polynomial)."""
    out = sp.factor(expr)
    for s in sorted(out.atoms(sigmoid), key=sp.default_sort_key):
        out = out.xreplace({s - 1: -sigmoid(-s.args[0]), 1 - s: sigmoid(-s.args[0])})
    return complement_sigmoid(out)


def one_minus(expr):
    """``1 - expr`` without cancellation for polynomials in sigmoids (see :func:`tidy`)."""
    return tidy(1 - expr)


def moment_table(R):
    """E[h^i z^j] for the fourth-moment closure: h, z symmetric, independent, Gaussian z."""
    return {(0, 0): sp.Integer(1), (2, 0): Q, (4, 0): Q4, (0, 2): R, (0, 4): 3 * R ** 2, (2, 2): Q * R}


def expect(expr, mu, q, R):
    """E[expr] for expr polynomial (degree <= 4) in (h, z) with e-dependent coefficients."""
    table = moment_table(R)
    poly = sp.Poly(sp.expand(expr), H, Z)
    groups: dict = {}
    for (i, j), coeff in poly.terms():
        if i % 2 or j % 2:
            continue
        if (i, j) not in table:
            raise NotImplementedError(f"E[h^{i} z^{j}] is beyond the fourth-moment closure")
        m = table[(i, j)]
        groups[m] = groups.get(m, 0) + coeff
    terms = []
    for m, c in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0])):
        f = tidy(c).subs(E, X)
        terms.append((E1(sp.Lambda(X, f), mu, q) if f.has(X) else f) * m)
    return sp.Add(*terms)


__all__ = ["Q4", "tidy", "one_minus", "moment_table", "expect"]
