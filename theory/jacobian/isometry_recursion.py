r"""Exact annealed T-step variance of :math:`JJ^\top` for cells with a gate diagonal (``a != 0``).

:math:`J=J_T\cdots J_1`, :math:`J_t=D_{a_t}+D_{b_t}W_t` with fresh (untied) :math:`W_t`, bi-invariant
(Gaussian or Haar orthogonal).  Free probability over the scalars does **not** apply to the product
(the :math:`D_{a_t}` commute and :math:`b_t` depends on the stored state, 03 §6); freeness of
:math:`W_t` from the *diagonal algebra* does.  With :math:`M_t=J_t\cdots J_1J_1^\top\cdots J_t^\top`,
:math:`m_i=(M_t)_{ii}` per unit and the closure's per-unit statistics, the normalised trace moments

.. math:: \alpha=\tau(M),\quad \beta=\tau(M^2),\quad \gamma=\tfrac1N\textstyle\sum_im_i^2,\quad
          \eta=E[h_i^2m_i]

close under one step (words with odd numbers of :math:`W_t` vanish;
:math:`\tau(XW^\top DW)=\sigma_w^2\tau(D)\tau(X)`; :math:`W_t^\top D_b^2W_t` is free from
:math:`\{M,D_a,D_b\}`; :math:`(W_tMW_t^\top)_{ii}\to\sigma_w^2\alpha`):

.. math::
   \alpha' = \chi\alpha,\qquad m_i'=a_i^2m_i+\sigma_w^2\alpha\,b_i^2,

   \gamma' = A_4\gamma+2\sigma_w^2\alpha K+\sigma_w^4\alpha^2B_4,\qquad K=E[a^2b^2m],

   \beta' = A_4\gamma+A_2^2(\beta-\gamma)+2\sigma_w^2A_2B_2\beta+\sigma_w^4(B_4+v_WB_2^2)\alpha^2
            +\sigma_w^4B_2^2(\beta-\alpha^2)+2\sigma_w^2\alpha K,

   \eta' = E[F^2a^2m]+\sigma_w^2\alpha\,E[F^2b^2],

from :math:`M_0=I` (:math:`\alpha=\beta=\gamma=1`, :math:`\eta=Q^*`).  :math:`K` and
:math:`E[F^2a^2m]` are linear in :math:`\eta` and :math:`\alpha` (``h``, ``z`` symmetric, ``z``
fresh: :math:`E[m\,h^iz^j]` is :math:`\eta` for :math:`h^2`, :math:`\alpha E[z^j]` without ``h``).
In normalised form (:math:`\hat\gamma=\gamma/\alpha^2`, :math:`\hat\eta=\eta/\alpha`,
:math:`d=\beta/\alpha^2-1`) the spread accumulates as a sum of non-negative increments

.. math:: d'=d+\frac{\mathrm{Var}(a^2)\,\hat\gamma+\sigma_w^4\mathrm{Var}(b^2)+v_W\sigma_w^4B_2^2+2\sigma_w^2\hat K}{\chi^2},

and :math:`\sigma^2_{JJ^\top}=\chi^{2T}d_T`.  With :math:`\hat\gamma\equiv1`, :math:`\hat K\equiv
E[a^2b^2]` the increment is the free-steps spread :math:`v` (so :math:`d_T=Tv` for vanilla cells,
where ``a = 0``); the difference is the non-freeness of consecutive steps.  Checked against SVDs of
untied minimalRNN Jacobian products (``tests/test_isometry.py``, ``verify/engine/spectra.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..declare.activations import X
from ..declare.cell import E, H, Z, Cell
from ..symbolic.derive import Q
from ..symbolic.gaussian import E1, lower_closed_forms
from .isometry_expect import Q4, expect, tidy
from ..declare.params import symbol

ALPHA = sp.Symbol("alpha", nonnegative=True)
ETA = sp.Symbol("eta", nonnegative=True)


def _expect_with_m(expr, mu, q, R):
    r""":math:`E[m\,\mathrm{expr}]` for ``expr`` of degree <= 2 in (h, z): ``h^2 -> eta``, else
    :math:`\alpha E[z^j]` (``m`` depends on the unit's past, ``z`` is fresh)."""
    poly = sp.Poly(sp.expand(expr), H, Z)
    table = {(0, 0): ALPHA, (2, 0): ETA, (0, 2): ALPHA * R}
    groups: dict = {}
    for (i, j), coeff in poly.terms():
        if i % 2 or j % 2:
            continue
        if (i, j) not in table:
            raise NotImplementedError(f"E[m h^{i} z^{j}] is beyond the recursion's closure")
        groups[table[(i, j)]] = groups.get(table[(i, j)], 0) + coeff
    terms = []
    for m, c in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0])):
        f = tidy(c).subs(E, X)
        terms.append((E1(sp.Lambda(X, f), mu, q) if f.has(X) else f) * m)
    return sp.Add(*terms)


@dataclass(frozen=True)
class RecursionCoefficients:
    """Expressions (in Q, Q_4, params; lowered) of the one-step normalised recursion.

    ``K = k_eta * eta_hat + k_alpha`` (per alpha), ``eta_hat' = (e_eta * eta_hat + e_alpha) / chi``."""

    k_eta: sp.Expr
    k_alpha: sp.Expr
    e_eta: sp.Expr
    e_alpha: sp.Expr


@lru_cache(maxsize=None)
def derive_recursion(cell: Cell) -> RecursionCoefficients:
    """Coefficients of :math:`K/\\alpha` and :math:`\\eta'` (divided by alpha) for ``cell``."""
    f = cell.field
    R = symbol("R") if cell.has_input else sp.Integer(0)
    q = sp.expand(f.variance(Q, R))
    mu = sp.sympify(f.mean)
    F = cell.update
    a, b = sp.diff(F, H), sp.diff(F, E)
    K = _expect_with_m(a ** 2 * b ** 2, mu, q, R)
    eta_next = _expect_with_m(F ** 2 * a ** 2, mu, q, R) + f.recurrent ** 2 * ALPHA * expect(F ** 2 * b ** 2, mu, q, R)

    def split(expr):
        expr = sp.expand(expr)
        c_eta = expr.coeff(ETA)
        c_alpha = sp.expand(expr - c_eta * ETA).coeff(ALPHA)
        rest = sp.simplify(expr - c_eta * ETA - c_alpha * ALPHA)
        if rest != 0:
            raise NotImplementedError(f"recursion term not linear in (eta, alpha): {rest}")
        return lower_closed_forms(c_eta)[0], lower_closed_forms(c_alpha)[0]

    k_eta, k_alpha = split(K)
    e_eta, e_alpha = split(eta_next)
    return RecursionCoefficients(k_eta=k_eta, k_alpha=k_alpha, e_eta=e_eta, e_alpha=e_alpha)


def uses_q4(cell: Cell) -> bool:
    c = derive_recursion(cell)
    return any(e.has(Q4) for e in (c.k_eta, c.k_alpha, c.e_eta, c.e_alpha))
