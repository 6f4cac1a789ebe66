r"""Declaration -> mean-field expressions.

For a cell with update :math:`h_t=F(e_t,h_{t-1},z_t)` and field variance
:math:`q(Q)=\sigma_w^2Q+\sigma_v^2R+\sigma_b^2` this module derives, symbolically:

* the variance map :math:`\mathcal V(Q)=\mathbb E[F^2]`,
* the covariance map of two sequences :math:`\mathcal C(C;Q)=\mathbb E[F_aF_b]` with field covariance
  :math:`q_{ab}(C)=\sigma_w^2C+\sigma_v^2\Sigma R+\sigma_b^2`,
* their slopes :math:`\partial_Q\mathcal V`, :math:`\partial_C\mathcal C`,
* the Jacobian mean squared singular value :math:`\chi(Q)=\mathbb E[(\partial_hF)^2]+\sigma_w^2\mathbb E[(\partial_eF)^2]`,
* the critical family parametrised by :math:`q^*` (where the equations are linear in the pair),

under the **single-time closure**: the carried state ``h`` and the input ``z`` are zero-mean,
mutually uncorrelated and independent of the unit's current field, with second moments
:math:`\mathbb E[h^2]=Q`, :math:`\mathbb E[z^2]=R`, :math:`\mathbb E[h_ah_b]=C`, :math:`\mathbb E[z_az_b]=\Sigma R`.
This is exact at large width for weights redrawn every step (untied) and, for cells whose update
reads ``h`` only through the field (vanilla, feed-forward), also for tied weights; it is **not**
exact for tied gated cells (02 §5).

Hidden-state noise (the draws ``eps``, ``eta`` of :mod:`theory.declare.noise`) is independent of
everything else with :math:`\mathbb E[n]=0`, :math:`\mathbb E[n^2]=1`; across the two sequences of the
covariance map :math:`\mathbb E[n_an_b]=0` (independent draws) or 1 (``cell.noise_shared``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..declare.activations import X, complement_sigmoid
from ..declare.cell import E, H, Z, NOISE, Cell
from .gaussian import E1, E2, lower_closed_forms
from ..declare.params import symbol

Q = sp.Symbol("Q", nonnegative=True)
C = sp.Symbol("C", real=True)
QSTAR = sp.Symbol("q_star", positive=True)
Y = sp.Symbol("y", real=True)
HA, HB, ZA, ZB = sp.symbols("h_a h_b z_a z_b", real=True)


@dataclass(frozen=True)
class Derivation:
    """Symbolic results for one cell.  ``*_raw``: with expectation nodes; others: lowered."""

    cell: Cell
    q: sp.Expr                   # field variance q(Q)
    q_ab: sp.Expr                # field covariance q_ab(C)
    variance_map_raw: sp.Expr
    covariance_map_raw: sp.Expr
    chi_raw: sp.Expr
    variance_map: sp.Expr
    covariance_map: sp.Expr
    variance_map_slope: sp.Expr
    covariance_map_slope: sp.Expr
    chi: sp.Expr
    critical: dict | None        # {param name: expression in q_star and the other params}
    closed_form_notes: tuple     # ((node, closed form), ...)

    @property
    def expressions(self) -> dict:
        """The kernel expressions by generated function name (arguments: Q / C, Q, then params)."""
        return {
            "field_variance": self.q,
            "variance_map": self.variance_map,
            "variance_map_slope": self.variance_map_slope,
            "covariance_map": self.covariance_map,
            "covariance_map_slope": self.covariance_map_slope,
            "jacobian_msv": self.chi,
        }


def _noise_moment(k: int):
    """E[n^k] of a standard normal draw, k <= 2."""
    return (sp.Integer(1), sp.Integer(0), sp.Integer(1))[k]


def _moment_single(mono: tuple, R):
    """E[h^i z^j eps^k eta^l] under the closure (``mono`` = (i, j, k, l)); the draws are independent."""
    i, j = mono[:2]
    out = _moment_hz(i, j, R)
    for k in mono[2:]:
        out = out * _noise_moment(k)
    return out


def _moment_hz(i: int, j: int, R):
    """E[h^i z^j] under the closure."""
    table = {(0, 0): sp.Integer(1), (2, 0): Q, (0, 2): R}
    if (i, j) in table:
        return table[(i, j)]
    if (i + j) % 2 == 1 or (i, j) == (1, 1):
        return sp.Integer(0)
    raise NotImplementedError(f"moment E[h^{i} z^{j}] needs more than second moments")


def _coefficients(expr):
    """{(i, j, k, l): coefficient of h^i z^j eps^k eta^l} with coefficients kept unexpanded (functions of e)."""
    poly = sp.Poly(expr, H, Z, *NOISE)
    return {m: c for m, c in poly.terms()}


def _by_parameter_coefficient(f, variables):
    """[(coefficient, part), ...]: ``f`` as a sum of parts of ``variables`` times coefficients free of them.

    A sum whose terms read no parameter is one part (coefficient 1), exactly as given: its grouping is
    what the quadrature sees (built-in cells keep their integrands).  Where parameters enter additively
    (a noise variance σ_ε², a factor 1 + σ_m²), they are taken out of the expectation -- an integrand must
    read only its integration variables -- and the parts with equal coefficients are summed."""
    if not (f.free_symbols - set(variables)):
        return [(sp.Integer(1), f)]
    groups: dict = {}
    for t in sp.Add.make_args(sp.expand(f)):
        coef, part = t.as_independent(*variables, as_Add=False)
        number, coef = coef.as_coeff_Mul()  # -2 σ_m² tanh² joins σ_m² (1 + tanh⁴) as σ_m² E[1 - 2 tanh² + tanh⁴]
        groups[coef] = groups.get(coef, 0) + number * part
    return sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0]))


def _expectation_1d(coefficient, mu, q):
    f = complement_sigmoid(sp.factor_terms(coefficient)).subs(E, X)
    return sp.Add(*[coef * (E1(sp.Lambda(X, part), mu, q) if part.has(X) else part)
                    for coef, part in _by_parameter_coefficient(f, (X,))])


def _closure_1d(expr, mu, q, R):
    """E[expr] for expr polynomial in (h, z) with e-dependent coefficients."""
    groups: dict = {}
    for mono, coeff in _coefficients(sp.expand(expr, deep=False, mul=True, multinomial=True, power_base=False,
                                               power_exp=False, log=False)).items():
        m = _moment_single(mono, R)
        if m != 0:
            groups[m] = groups.get(m, 0) + coeff
    return sp.Add(*[_expectation_1d(c, mu, q) * m for m, c in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0]))])


def _square_closure(F, mu, q, R):
    """E[F^2] keeping coefficient products unexpanded (no 1 - 2σ + σ² cancellation)."""
    coeffs = _coefficients(F)
    groups: dict = {}
    for (m1, c1) in coeffs.items():
        for (m2, c2) in coeffs.items():
            m = _moment_single(tuple(a + b for a, b in zip(m1, m2)), R)
            if m != 0:
                groups[m] = groups.get(m, 0) + complement_sigmoid(c1) * complement_sigmoid(c2)
    return sp.Add(*[_expectation_1d(c, mu, q) * m for m, c in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0]))])


def _pair_moment(m1: tuple, m2: tuple, R_ab, shared: bool):
    """E[(h^i z^j eps^k eta^l)_a (...)_b]: E[h_a h_b] = C, E[z_a z_b] = R_ab, h-z cross terms vanish; a noise
    draw is the same in both sequences (``shared``) or independent of its twin."""
    hz = {((1, 0), (1, 0)): C, ((0, 1), (0, 1)): R_ab, ((0, 0), (0, 0)): sp.Integer(1)}
    out = hz.get((m1[:2], m2[:2]), sp.Integer(0))
    for ka, kb in zip(m1[2:], m2[2:]):
        out = out * (_noise_moment(ka + kb) if shared else _noise_moment(ka) * _noise_moment(kb))
    return out


def _pair_closure(F, mu, qa, qb, qab, R_ab, shared=False):
    """E[F_a F_b] (see :func:`_pair_moment`)."""
    coeffs = _coefficients(F)
    groups: dict = {}
    for (m1, c1) in coeffs.items():
        for (m2, c2) in coeffs.items():
            m = _pair_moment(m1, m2, R_ab, shared)
            if m != 0:
                ca = complement_sigmoid(c1).subs(E, X)
                cb = complement_sigmoid(c2).subs(E, Y)
                groups[m] = groups.get(m, 0) + ca * cb
    terms = []
    for m, integrand in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0])):
        for coef, part in _by_parameter_coefficient(integrand, (X, Y)):
            terms.append(coef * m * (E2(sp.Lambda((X, Y), part), mu, mu, qa, qb, qab) if part.has(X, Y) else part))
    return sp.Add(*terms)


def _lower(expr, closed_forms):
    lowered, notes = lower_closed_forms(expr, closed_forms)
    return lowered, notes


@lru_cache(maxsize=None)
def derive(cell: Cell, closed_forms: bool = True) -> Derivation:
    """Derive every mean-field expression of ``cell`` (cached; pure function of the declaration)."""
    f = cell.field
    R = symbol("R") if cell.has_input else sp.Integer(0)
    Sigma = symbol("Sigma") if cell.has_input else sp.Integer(1)
    q = sp.expand(f.variance(Q, R))
    qab = sp.expand(f.covariance(C, Sigma * R))
    mu = sp.sympify(f.mean)
    F = cell.update

    vmap_raw = _square_closure(F, mu, q, R)
    cmap_raw = _pair_closure(F, mu, q, q, qab, Sigma * R, cell.noise_shared)
    dF_dh = sp.diff(F, H)
    dF_de = sp.diff(F, E)
    chi_raw = _closure_1d(dF_dh ** 2, mu, q, R) + f.recurrent ** 2 * _closure_1d(dF_de ** 2, mu, q, R)

    notes = []
    vmap, n1 = _lower(vmap_raw, closed_forms)
    cmap, n2 = _lower(cmap_raw, closed_forms)
    chi, n3 = _lower(chi_raw, closed_forms)
    vslope, n4 = _lower(sp.diff(vmap, Q), closed_forms)
    cslope, n5 = _lower(sp.diff(cmap, C), closed_forms)
    cslope = _tidy(cslope)
    for n in (n1, n2, n3, n4, n5):
        notes.extend(n)

    critical = _critical_family(cell, vmap_raw, chi_raw, q, R)
    return Derivation(cell=cell, q=q, q_ab=qab, variance_map_raw=vmap_raw, covariance_map_raw=cmap_raw,
                      chi_raw=chi_raw, variance_map=vmap, covariance_map=cmap, variance_map_slope=vslope,
                      covariance_map_slope=cslope, chi=chi, critical=critical,
                      closed_form_notes=tuple(dict.fromkeys(notes)))


def _tidy(expr):
    """Simplify closed-form parts (e.g. the ReLU slope, where -c/√(1-c²) terms must cancel)."""
    if expr.atoms(E1, E2):
        return expr
    return sp.simplify(expr)


def _critical_family(cell: Cell, vmap, chi, q, R):
    r"""Parametrise χ = 1 by q*: solve the fixed-point equation for Q*, χ(Q*) = 1 for the square of
    the first member of ``cell.critical_pair`` and q(Q*) = q* for the square of the second.
    Returns ``{name + "_sq": expr, "Q_star": expr}`` in q_star and the other parameters (a negative
    square means the point is infeasible), or None where the equations are not linear."""
    a_name, b_name = cell.critical_pair
    a, b = symbol(a_name), symbol(b_name)
    a2, b2 = sp.Symbol(a_name + "_sq"), sp.Symbol(b_name + "_sq")
    # Work on the raw maps, where Q enters the expectations only through q(Q): freeze q = q*.
    v = vmap.xreplace({q: QSTAR})
    c = chi.xreplace({q: QSTAR})
    if v.has(a) and v.atoms(E1, E2) and any(n.has(a) for n in v.atoms(E1, E2)):
        return None
    Qs = _solve_linear(v - Q, Q)
    if Qs is None:
        return None
    a2_expr = _solve_linear(c.subs(Q, Qs).subs(a, sp.sqrt(a2)) - 1, a2)
    if a2_expr is None or a2_expr.has(b):
        return None
    Qs = Qs.subs(a, sp.sqrt(a2_expr))
    b2_expr = _solve_linear(q.subs(Q, Qs).subs(a, sp.sqrt(a2_expr)).subs(b, sp.sqrt(b2)) - QSTAR, b2)
    if b2_expr is None:
        return None
    out = {a_name + "_sq": a2_expr, b_name + "_sq": b2_expr, "Q_star": Qs}
    return {k: _tidy(lower_closed_forms(e)[0]) for k, e in out.items()}




def _solve_linear(expr, u):
    """Root in ``u`` of ``expr`` if ``expr`` is affine in ``u`` (expectation nodes are opaque), else None."""
    expr = sp.expand(expr)
    coef = sp.diff(expr, u)
    if coef.has(u) or coef == 0:
        return None
    return sp.together(-expr.subs(u, 0) / coef)
