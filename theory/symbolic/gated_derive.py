r"""Gated-cell declaration -> mean-field expressions (06 §1-4).

Notation: state components :math:`k` (``h``; ``c, h``), second moments :math:`Q_k=\tfrac1N\|k\|^2`,
two-sequence overlaps :math:`C_k`; ``Qn_k``/``Cn_k`` stand for the *new* values of components
updated earlier in the same step (LSTM: :math:`h_t=o\tanh c_t` uses :math:`Q^c_t`).

**Closure.** Each unit's gate fields are independent Gaussians, independent of the unit's own
state (untied weights); each update term is (product of functions of single gate fields) x
(one state atom), so every expectation factors into 1-D (one sequence) or bivariate (two
sequences) Gaussian expectations, one per gate:

.. math:: \mathbb E\Big[\prod_kg_k(a^k)\,S\Big]\,\mathbb E\Big[\prod_kh_k(a^k)\,S\Big]\to
          \prod_k\mathbb E[g_k(a^k_a)h_k(a^k_b)]\cdot\mathbb E[S_aS_b].

State atoms: the component's own old value (moment :math:`Q_k`/:math:`C_k`, exact) or an odd
function :math:`\varphi` of a component updated this step, evaluated under the **Gaussian
closure** :math:`c_t\sim\mathcal N(0,Q^c_t)` (:math:`\mathbb E[\varphi^2]=\mathbb E_{\mathcal N(0,Q^c_t)}[\varphi^2]`,
not exact: the LSTM cell state is a non-Gaussian perpetuity, 06 §3; :mod:`theory.closures.population`
gives the exact one-site answer).

Derived here, symbolically (expectation nodes :class:`~theory.symbolic.gaussian.E1`/``E2`` differentiated by
Price's theorem):

* gate laws :math:`q^k(Q)`, :math:`q^k_{ab}(C,Q)`;
* the variance map :math:`F_k(Q)=\mathbb E[k_t^2]` and the covariance map :math:`G_k(C;Q)=\mathbb E[k_{t,a}k_{t,b}]`;
* fixed points by **scalar reduction**: every component other than the read one (``h``) is affine
  in its own second moment, :math:`F_k=A_kQ_k+B_k` with :math:`A_k,B_k` functions of the gate laws
  (i.e. of :math:`Q_h`), so :math:`Q_k^*(Q_h)=B_k/(1-A_k)` with :math:`1-A_k` written as one
  expectation (:math:`1-\sigma^2=\sigma(-x)(1+\sigma(x))`: no cancellation for nearly shut gates),
  leaving the scalar residual :math:`r(Q_h)=B_h-(1-A_h)Q_h` for a bracketed solve; likewise for
  :math:`C^*` at :math:`Q^*`;
* Jacobians :math:`\partial F/\partial Q` (variance relaxation) and :math:`\partial G/\partial C`
  (correlation relaxation), composed through the within-step dependence (chain rule);
* the perturbation map :math:`\mathsf M=\partial G/\partial C` at :math:`C=Q`, :math:`\Sigma=1` (a tangent
  pair of trajectories; the bivariate nodes collapse to 1-D ones), its top eigenvalue
  :math:`\lambda_{\max}` (the χ analogue) and the mean squared singular value of the full one-step
  state Jacobian :math:`\chi=\tfrac1n\sum_{ij}\mathsf M_{ij}` (:math:`n` components);
* the exact fourth moment of a self-affine component :math:`u=AS+B` (LSTM ``c``):
  :math:`m_4=(6\mathbb E[A^2B^2]Q+\mathbb E[B^4])/(1-\mathbb E[A^4])`, and its kurtosis :math:`m_4/Q^2`
  (3 for a Gaussian; a closure warning sign, 06 §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..declare.activations import X, sigmoid
from ..declare.gated import GatedCell
from .gaussian import E1, E2
from ..declare.gated_structure import ONE, Term, check_structure, new, old, product_terms, split  # noqa: F401  (re-exported)
from .mixture import EM1, EM2, S, T, collapse_mixture
from ..declare.params import symbol
from ..declare.registry import SUMMARIES, register

Y = sp.Symbol("y", real=True)


def Qsym(c):
    return sp.Symbol("Q_" + c, nonnegative=True)


def Qnsym(c):
    return sp.Symbol("Qn_" + c, nonnegative=True)


def Csym(c):
    return sp.Symbol("C_" + c, real=True)


def Cnsym(c):
    return sp.Symbol("Cn_" + c, real=True)


# ----------------------------------------------------------------------------------------------
# expectations
# ----------------------------------------------------------------------------------------------

def _gate_node(fa, fb, law, pair):
    """E[fa(a) fb(a)] (one sequence) or E[fa(a_a) fb(a_b)] (pair) for one gate's law."""
    mu, q, qab = law
    if not pair:
        return E1(sp.Lambda(X, fa * fb), mu, q)
    if fb == 1:
        return E1(sp.Lambda(X, fa), mu, q)
    if fa == 1:
        return E1(sp.Lambda(X, fb), mu, q)
    return E2(sp.Lambda((X, Y), fa * fb.xreplace({X: Y})), mu, mu, q, q, qab)


@dataclass(frozen=True)
class Mix:
    """Law of a scaled gate's field: a = u + rho(s) m given the scaling gate's field s (theory.symbolic.mixture)."""

    scale: sp.Symbol   # field of the scaling gate
    rho: sp.Lambda     # rho(s)
    vu: sp.Expr
    vm: sp.Expr
    vuab: sp.Expr
    vmab: sp.Expr


def _mixture_node(f, pa, pb, laws, pair):
    """The nested node over (scaling field, scaled field) for the factors of both sequences."""
    law = laws[f]
    r = law.scale
    mu, q, qab = laws[r]
    one = sp.Integer(1)
    if not pair:
        F = (pa.get(r, one) * pb.get(r, one)).xreplace({r: S}) * (pa.get(f, one) * pb.get(f, one)).xreplace({f: X})
        return EM1(sp.Lambda((S, X), F), law.rho, mu, q, law.vu, law.vm)
    F = (pa.get(r, one).xreplace({r: S}) * pb.get(r, one).xreplace({r: T})
         * pa.get(f, one).xreplace({f: X}) * pb.get(f, one).xreplace({f: Y}))
    return EM2(sp.Lambda((S, T, X, Y), F), law.rho, mu, q, qab, law.vu, law.vm, law.vuab, law.vmab)


def _expect_coefs(ta, tb, laws, order, pair):
    """E over the gates of coef(ta) (sequence a) times coef(tb) (sequence b)."""
    pa, pb = dict(ta.factors), dict(tb.factors)
    out = ta.const * tb.const
    scaled_by = {law.scale: f for f, law in laws.items() if isinstance(law, Mix)}
    for f in order:
        if f not in pa and f not in pb:
            continue
        if f in scaled_by and (scaled_by[f] in pa or scaled_by[f] in pb):
            continue  # taken with the gate it scales
        if isinstance(laws[f], Mix):
            out *= _mixture_node(f, pa, pb, laws, pair)
            continue
        fa = pa.get(f, sp.Integer(1)).xreplace({f: X})
        fb = pb.get(f, sp.Integer(1)).xreplace({f: X})
        out *= _gate_node(fa, fb, laws[f], pair)
    return out


def _atom_moment(sa, sb, pair):
    if sa == ONE and sb == ONE:
        return sp.Integer(1)
    if ONE in (sa, sb) or sa != sb:
        return sp.Integer(0)
    if sa[0] == "old":
        return Csym(sa[1]) if pair else Qsym(sa[1])
    _, comp, phi = sa
    if pair:
        return E2(sp.Lambda((X, Y), phi(X) * phi(Y)), 0, 0, Qnsym(comp), Qnsym(comp), Cnsym(comp))
    return E1(sp.Lambda(X, phi(X) ** 2), 0, Qnsym(comp))


def second_moment(terms, laws, order, pair, select=lambda ti, tj: True):
    """:math:`\\mathbb E[U_aU_b]` (pair) or :math:`\\mathbb E[U^2]` of U = sum of ``terms``."""
    total = sp.Integer(0)
    for ti in terms:
        for tj in terms:
            if not select(ti, tj):
                continue
            m = _atom_moment(ti.atom, tj.atom, pair)
            if m != 0:
                total += _expect_coefs(ti, tj, laws, order, pair) * m
    return total


def expect_single(expr, laws, order):
    """E[expr] for an expression in gate fields only (sum of products of single-field factors)."""
    total = sp.Integer(0)
    for const, parts in product_terms(expr, set(order)):
        one = Term((), sp.Integer(1), ONE)
        total += _expect_coefs(Term(tuple(parts.items()), const, ONE), one, laws, order, False)
    return total


def one_minus(A):
    r""":math:`1-A`, as one expectation when A is one node with a product of sigmoids:
    :math:`1-\prod_is_i=\sum_j\big(\prod_{i<j}s_i\big)\sigma(-u_j)` (no cancellation as gates shut)."""
    if A == 0:
        return sp.Integer(1)
    if isinstance(A, (E1, E2)):
        lam = A.args[0]
        factors = []
        for f in sp.Mul.make_args(lam.expr):
            base, exp = f.as_base_exp()
            if not isinstance(base, sigmoid) or not (exp.is_Integer and exp >= 1):
                return 1 - A
            factors += [base] * int(exp)
        total, prefix = sp.Integer(0), sp.Integer(1)
        for s in factors:
            total += prefix * sigmoid(-s.args[0])
            prefix *= s
        return type(A)(sp.Lambda(lam.variables, total), *A.args[1:])
    return 1 - A


def collapse_diagonal(expr):
    """Replace bivariate nodes at q_a = q_b = q_ab, mu_a = mu_b (identical sequences) by 1-D ones."""
    def diag(e):
        if not isinstance(e, E2):
            return False
        _, mua, mub, qa, qb, qab = e.args
        return mua == mub and sp.expand(qa - qb) == 0 and sp.expand(qa - qab) == 0

    def to_e1(e):
        lam = e.args[0]
        x, y = lam.variables
        return E1(sp.Lambda(X, lam.expr.xreplace({x: X, y: X})), e.args[1], e.args[3])
    return expr.replace(diag, to_e1)


# ----------------------------------------------------------------------------------------------
# the derivation
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GatedDerivation:
    """Symbolic results; every expression is in the symbols Q_k, Qn_k, C_k, Cn_k and the parameters."""

    cell: object
    comps: tuple
    read: str
    gate_var: dict          # gate -> q^k(Q)
    gate_cov: dict          # gate -> q^k_ab(C, Q)
    vmap: dict              # comp -> F_k(Q, Qn)
    cmap: dict              # comp -> G_k(C, Cn, Q, Qn)
    fp_q: dict              # non-read comp -> Q_k*(Q_read, earlier Q*)
    residual_q: sp.Expr     # r(Q_read) at Q_k = Q_k*
    fp_c: dict              # non-read comp -> C_k*(C_read, ...; Q*)
    residual_c: sp.Expr
    jac_q: tuple            # n x n, dF_i/dQ_j (Q, Qn)
    jac_c: tuple            # n x n, dG_i/dC_j (C, Cn, Q, Qn)
    pert: tuple             # n x n perturbation map M (Q, Qn)
    chi: sp.Expr
    kurtosis: dict          # self-affine comp -> m4/Q^2 at the fixed point (Q)
    self_affine: tuple

    @property
    def n(self):
        return len(self.comps)


def _laws(cell):
    order = [g.field for g in cell.gates]
    R, Sigma = symbol("R"), symbol("Sigma")
    single, pair = {}, {}
    gate_var, gate_cov = {}, {}
    for g in cell.gates:
        terms = split(g.reads, cell)
        mu = g.symbol("mu_b")
        sw, sv, sb = g.symbol("sigma_w"), g.symbol("sigma_v"), g.symbol("sigma_b")
        if g.scale is not None:
            # a = u + rho(s) m: u (input, input bias), m (recurrent matrix, recurrent bias b_h)
            (r,) = sp.sympify(g.scale).free_symbols
            rho = sp.Lambda(S, sp.sympify(g.scale).xreplace({r: S}))
            sbh = symbol(f"sigma_b_h{g.name}")
            vu, vuab = sv ** 2 * R + sb ** 2, sv ** 2 * Sigma * R + sb ** 2
            vm = sw ** 2 * second_moment(terms, single, order, False) + sbh ** 2
            vmab = sw ** 2 * second_moment(terms, pair, order, True) + sbh ** 2
            mur, qr, qrab = pair[r]
            single[g.field] = Mix(r, rho, vu, vm, vu, vm)
            pair[g.field] = Mix(r, rho, vu, vm, vuab, vmab)
            gate_var[g.name] = vu + E1(sp.Lambda(X, rho(X) ** 2), mur, qr) * vm
            gate_cov[g.name] = vuab + E2(sp.Lambda((X, Y), rho(X) * rho(Y)), mur, mur, qr, qr, qrab) * vmab
            continue
        q = sw ** 2 * second_moment(terms, single, order, False) + sv ** 2 * R + sb ** 2
        qab = sw ** 2 * second_moment(terms, pair, order, True) + sv ** 2 * Sigma * R + sb ** 2
        single[g.field] = (mu, q, q)
        pair[g.field] = (mu, q, qab)
        gate_var[g.name], gate_cov[g.name] = q, qab
    return order, single, pair, gate_var, gate_cov


def _total_jacobian(maps, comps, wrt, wrt_new):
    """d map_i / d wrt_j with the within-step chain rule through the new-value symbols."""
    J = {}
    for i in comps:
        row = {}
        for j in comps:
            d = sp.diff(maps[i], wrt(j))
            for m in comps:
                if maps[i].has(wrt_new(m)):
                    d += sp.diff(maps[i], wrt_new(m)) * J[m][j]
            row[j] = d
        J[i] = row
    return tuple(tuple(J[i][j] for j in comps) for i in comps)


@lru_cache(maxsize=None)
def derive_gated(cell) -> GatedDerivation:
    """Derive every mean-field expression of a :class:`~theory.declare.gated.GatedCell` (cached)."""
    comps = tuple(cell.state)
    read = cell.read
    order, single, pair, gate_var, gate_cov = _laws(cell)
    vmap, cmap, fp_q, fp_c, kurt = {}, {}, {}, {}, {}
    A_q, B_q, A_c, B_c = {}, {}, {}, {}
    self_affine = []
    done = []
    for comp, expr in cell.update:
        terms = split(expr, cell, tuple(done))
        own = ("old", comp)
        is_self = lambda ti, tj: ti.atom == own and tj.atom == own  # noqa: E731
        rest = lambda ti, tj: not is_self(ti, tj)  # noqa: E731
        vmap[comp] = second_moment(terms, single, order, False)
        cmap[comp] = second_moment(terms, pair, order, True)
        has_own = any(t.atom == own for t in terms)
        A_q[comp] = sp.expand(second_moment(terms, single, order, False, is_self) / Qsym(comp)) if has_own else sp.Integer(0)
        A_c[comp] = sp.expand(second_moment(terms, pair, order, True, is_self) / Csym(comp)) if has_own else sp.Integer(0)
        B_q[comp] = second_moment(terms, single, order, False, rest)
        B_c[comp] = second_moment(terms, pair, order, True, rest)
        if has_own and comp != read:
            others = [t for t in terms if t.atom != own]
            if all(t.atom == ONE for t in others):
                self_affine.append(comp)
                A = sum((t.coef for t in terms if t.atom == own), sp.Integer(0))
                B = sum((t.coef for t in others), sp.Integer(0))
                m4 = (6 * expect_single(sp.expand(A ** 2 * B ** 2), single, order) * Qsym(comp)
                      + expect_single(sp.expand(B ** 4), single, order)) / one_minus(expect_single(A ** 4, single, order))
                kurt[comp] = m4 / Qsym(comp) ** 2
        done.append(comp)

    at_fp_q = {Qnsym(c): Qsym(c) for c in comps}
    at_fp_c = {**at_fp_q, **{Cnsym(c): Csym(c) for c in comps}}
    seen = [read]
    for comp in comps:
        if comp == read:
            continue
        fp_q[comp] = (B_q[comp] / one_minus(A_q[comp])).xreplace(at_fp_q)
        fp_c[comp] = (B_c[comp] / one_minus(A_c[comp])).xreplace(at_fp_c)
        allowed = {Qsym(c) for c in seen} | {Csym(c) for c in seen}
        stray = {s for s in (fp_q[comp].free_symbols | fp_c[comp].free_symbols)
                 if s.name.startswith(("Q_", "C_"))} - allowed - {Qsym(c) for c in comps}
        bad_q = {s for s in fp_q[comp].free_symbols if s.name.startswith("Q_")} - {Qsym(c) for c in seen}
        if stray or bad_q:
            raise ValueError(f"{cell.name}: the fixed point of {comp} depends on components updated later")
        seen.append(comp)
    residual_q = (B_q[read] - one_minus(A_q[read]) * Qsym(read)).xreplace(at_fp_q)
    residual_c = (B_c[read] - one_minus(A_c[read]) * Csym(read)).xreplace(at_fp_c)

    jac_q = _total_jacobian(vmap, comps, Qsym, Qnsym)
    jac_c = _total_jacobian(cmap, comps, Csym, Cnsym)
    to_diag = {**{Csym(c): Qsym(c) for c in comps}, **{Cnsym(c): Qnsym(c) for c in comps}, symbol("Sigma"): 1}
    pert = tuple(tuple(collapse_diagonal(collapse_mixture(e.xreplace(to_diag))) for e in row) for row in jac_c)
    chi = sp.Add(*[e for row in pert for e in row]) / len(comps)
    return GatedDerivation(cell=cell, comps=comps, read=read, gate_var=gate_var, gate_cov=gate_cov, vmap=vmap,
                           cmap=cmap, fp_q=fp_q, residual_q=residual_q, fp_c=fp_c, residual_c=residual_c,
                           jac_q=jac_q, jac_c=jac_c, pert=pert, chi=chi, kurtosis=kurt,
                           self_affine=tuple(self_affine))


def summary_lines(cell) -> list:
    """Short description for the ``derive`` command: gate laws, variance maps, perturbation map."""
    d = derive_gated(cell)
    lines = [f"  q^{g} = {d.gate_var[g]}" for g in d.gate_var]
    lines += [f"  F_{k}(Q) = {d.vmap[k]}" for k in d.comps]
    lines += [f"  M[{d.comps[i]},{d.comps[j]}] = {e}" for i, row in enumerate(d.pert) for j, e in enumerate(row)]
    return lines


register(SUMMARIES, GatedCell, summary_lines)

__all__ = ["derive_gated", "GatedDerivation", "split", "check_structure", "one_minus", "collapse_diagonal",
           "summary_lines", "Qsym", "Qnsym", "Csym", "Cnsym"]
