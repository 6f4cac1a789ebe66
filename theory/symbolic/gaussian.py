r"""Symbolic Gaussian expectations and their lowering.

Two SymPy ``Function`` nodes stand for the expectations every mean-field map is built from:

* ``E1(Lambda(x, f), mu, q)``  = :math:`\mathbb E[f(e)]`, :math:`e\sim\mathcal N(\mu, q)`;
* ``E2(Lambda((x, y), F), mu_a, mu_b, q_a, q_b, q_ab)`` = :math:`\mathbb E[F(e_a, e_b)]` for a
  bivariate normal pair with means ``mu_a, mu_b``, variances ``q_a, q_b`` and covariance ``q_ab``.

They differentiate symbolically (``fdiff``) by Price's theorem / the heat equation:
:math:`\partial_\mu\mathbb E[f]=\mathbb E[f']`, :math:`\partial_q\mathbb E[f]=\tfrac12\mathbb E[f'']`
(Stein form :math:`\mathbb E[(e-\mu)f'(e)]/(2q)` for kinked ``f`` so that no Dirac delta is
needed), :math:`\partial_{q_{ab}}\mathbb E[F]=\mathbb E[\partial_x\partial_yF]`.

Lowering (:func:`lower_closed_forms`) replaces a node by a closed form where one exists:

* ``f`` polynomial or piecewise polynomial in ``x`` with constant breakpoints (linear, ReLU,
  hard-tanh, their derivatives): exact integration piece by piece,
  :math:`\int_\alpha^\beta z^k\varphi(z)\,dz` by the recursion in :func:`_truncated_moment`;
* ``F`` polynomial in ``(x, y)``: Isserlis moments through the Cholesky factor;
* ``F = g(x) g(y)`` with zero means for the kernels in :data:`PRODUCT_KERNELS` (ReLU arc-cosine,
  erf arcsine, Heaviside orthant) — also used for 1-D ``g(x)^2`` at ``q_a = q_b = q_ab = q``.

Whatever is left is evaluated numerically by the quadrature rule of :mod:`theory.codegen.quadrature`.
"""
from __future__ import annotations

import itertools

import sympy as sp

from ..declare.activations import sigmoid

_PI = sp.pi


def _has_kinks(expr) -> bool:
    return expr.has(sp.Piecewise, sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.sign, sp.DiracDelta)


def symbolic_factor(lam: sp.Lambda):
    """``(c, g)`` with ``lam.expr = c * g`` and ``c`` a product of symbols free of the integration
    variables (a declared parameter such as a leak rate), or ``None`` when there is none.  Such a factor is
    a constant of the expectation, ``E[c g] = c E[g]``: taken out, the integrand stays a function of the
    field alone (the printed quadrature helpers see only their own variables).  Pure numbers stay inside
    (the integrands of the built-in cells are unchanged)."""
    f = sp.factor_terms(lam.expr)
    c, g = f.as_independent(*lam.variables, as_Add=False)
    if c == 1 or not c.free_symbols:
        return None
    return c, g


class E1(sp.Function):
    r"""Gaussian expectation :math:`\mathbb E[f(e)]`, :math:`e\sim\mathcal N(\mu,q)`; args ``(Lambda, mu, q)``."""

    nargs = 3

    @classmethod
    def eval(cls, lam, mu, q):
        split = symbolic_factor(lam) if isinstance(lam, sp.Lambda) else None
        if split is not None:
            return split[0] * cls(sp.Lambda(lam.variables, split[1]), mu, q)

    @property
    def integrand(self) -> sp.Lambda:
        return self.args[0]

    def fdiff(self, argindex=1):
        lam, mu, q = self.args
        (x,) = lam.variables
        f = lam.expr
        if argindex == 2:
            return E1(sp.Lambda(x, sp.diff(f, x)), mu, q)
        if argindex == 3:
            if _has_kinks(f):
                # Stein: E[f''] = E[(e-mu) f'(e)] / q; avoids Dirac deltas for kinked f.
                return E1(sp.Lambda(x, (x - mu) * sp.diff(f, x)), mu, q) / (2 * q)
            return E1(sp.Lambda(x, sp.diff(f, x, 2)), mu, q) / 2
        raise sp.ArgumentIndexError(self, argindex)

    def _sympystr(self, printer):
        lam, mu, q = self.args
        return "E[%s; %s ~ N(%s, %s)]" % (printer._print(lam.expr), printer._print(lam.variables[0]),
                                         printer._print(mu), printer._print(q))

    def _latex(self, printer, exp=None):
        lam, mu, q = self.args
        (x,) = lam.variables
        tex = r"\mathbb{E}_{%s\sim\mathcal{N}(%s,\,%s)}\left[%s\right]" % (
            printer._print(x), printer._print(mu), printer._print(q), printer._print(lam.expr))
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


class E2(sp.Function):
    r"""Bivariate Gaussian expectation :math:`\mathbb E[F(e_a,e_b)]`; args ``(Lambda, mu_a, mu_b, q_a, q_b, q_ab)``."""

    nargs = 6

    @classmethod
    def eval(cls, lam, mua, mub, qa, qb, qab):
        split = symbolic_factor(lam) if isinstance(lam, sp.Lambda) else None
        if split is not None:
            return split[0] * cls(sp.Lambda(lam.variables, split[1]), mua, mub, qa, qb, qab)

    def fdiff(self, argindex=1):
        lam, mua, mub, qa, qb, qab = self.args
        x, y = lam.variables
        F = lam.expr
        if _has_kinks(F) and argindex in (4, 5):
            raise NotImplementedError("d/dq_a of a kinked bivariate expectation is not implemented")
        rule = {2: sp.diff(F, x), 3: sp.diff(F, y), 4: sp.diff(F, x, 2) / 2, 5: sp.diff(F, y, 2) / 2,
                6: sp.diff(F, x, y)}
        if argindex not in rule:
            raise sp.ArgumentIndexError(self, argindex)
        return E2(sp.Lambda((x, y), rule[argindex]), mua, mub, qa, qb, qab)

    def _sympystr(self, printer):
        lam, mua, mub, qa, qb, qab = self.args
        x, y = lam.variables
        return "E[%s; (%s, %s) ~ N((%s, %s), var (%s, %s), cov %s)]" % tuple(
            printer._print(a) for a in (lam.expr, x, y, mua, mub, qa, qb, qab))

    def _latex(self, printer, exp=None):
        lam, mua, mub, qa, qb, qab = self.args
        x, y = lam.variables
        if exp is not None:
            return r"\left(%s\right)^{%s}" % (self._latex(printer), exp)
        return r"\mathbb{E}_{(%s,%s)\sim\mathcal{N}}\left[%s\right]_{\mu=(%s,%s),\,q=(%s,%s),\,q_{ab}=%s}" % (
            printer._print(x), printer._print(y), printer._print(lam.expr), printer._print(mua),
            printer._print(mub), printer._print(qa), printer._print(qb), printer._print(qab))


# ---------------------------------------------------------------------------------------------
# Piecewise-polynomial analysis
# ---------------------------------------------------------------------------------------------

def canonical_piecewise(f: sp.Expr) -> sp.Expr:
    """Rewrite Max/Min/Heaviside/Abs/sign into one top-level ``Piecewise`` (or return f unchanged)."""
    if not _has_kinks(f):
        return f
    g = f.rewrite(sp.Piecewise)
    return sp.piecewise_fold(g)


def breakpoints(f: sp.Expr, x: sp.Symbol) -> list:
    """Sorted constant kink locations of ``f`` in ``x`` (ValueError if a kink is not constant)."""
    g = canonical_piecewise(f)
    points = set()
    for pw in g.atoms(sp.Piecewise):
        for _, cond in pw.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                if not rel.has(x):
                    continue
                sol = sp.solve(sp.Eq(rel.lhs, rel.rhs), x)
                if len(sol) != 1 or not sol[0].is_number:
                    raise ValueError(f"kink of {f} in {x} is not at a constant location: {rel}")
                points.add(sp.nsimplify(sol[0]))
    for d in g.atoms(sp.DiracDelta):
        raise ValueError(f"Dirac delta in integrand {f}")
    return sorted(points, key=lambda p: float(p))


def pieces(f: sp.Expr, x: sp.Symbol):
    """Yield ``(a, b, expr)``: ``f`` equals ``expr`` on the open interval ``(a, b)``."""
    g = canonical_piecewise(f)
    bps = breakpoints(f, x)
    edges = [-sp.oo] + bps + [sp.oo]
    for a, b in zip(edges[:-1], edges[1:]):
        if a == -sp.oo and b == sp.oo:
            mid = sp.Integer(0)
        elif a == -sp.oo:
            mid = b - 1
        elif b == sp.oo:
            mid = a + 1
        else:
            mid = (a + b) / 2
        expr = _select_branch(g, x, mid)
        yield a, b, expr


def _select_branch(g, x, mid):
    """Replace each Piecewise in ``g`` by the branch active at ``x = mid``."""
    def pick(pw):
        for e, c in pw.args:
            if bool(c.subs(x, mid)):
                return e
        raise ValueError(f"no branch of {pw} active at {x} = {mid}")
    out = g
    while True:
        pws = sorted(out.atoms(sp.Piecewise), key=sp.default_sort_key)
        if not pws:
            return out
        out = out.xreplace({pws[0]: pick(pws[0])})


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------

def _phi(z):
    return sp.exp(-z ** 2 / 2) / sp.sqrt(2 * _PI)


def _Phi(z):
    if z == sp.oo:
        return sp.Integer(1)
    if z == -sp.oo:
        return sp.Integer(0)
    return (1 + sp.erf(z / sp.sqrt(2))) / 2


def _truncated_moment(k: int, alpha, beta):
    r""":math:`\int_\alpha^\beta z^k\varphi(z)dz` by :math:`I_k=[-z^{k-1}\varphi]_\alpha^\beta+(k-1)I_{k-2}`."""
    def boundary(z, power):
        if z in (sp.oo, -sp.oo):
            return sp.Integer(0)
        return z ** power * _phi(z)
    if k == 0:
        return _Phi(beta) - _Phi(alpha)
    if k == 1:
        return boundary(alpha, 0) - boundary(beta, 0)
    return boundary(alpha, k - 1) - boundary(beta, k - 1) + (k - 1) * _truncated_moment(k - 2, alpha, beta)


def _gaussian_moment(k: int):
    return sp.Integer(0) if k % 2 else sp.factorial2(k - 1) if k else sp.Integer(1)


def closed_form_gaussian_exp(f: sp.Expr, x: sp.Symbol, mu, q):
    r"""E[c·exp(a e² + b e)], e ~ N(mu, q), by completing the square; None if f is not of that form.

    :math:`\mathbb E[e^{ae^2+be}]=(1-2aq)^{-1/2}\exp\big(\tfrac{q(b+\mu/q)^2}{2(1-2aq)}-\tfrac{\mu^2}{2q}\big)`.
    """
    c, rest = f.as_independent(x, as_Add=False)
    if not isinstance(rest, sp.exp):
        return None
    arg = sp.expand(rest.args[0])
    if not arg.is_polynomial(x) or sp.degree(arg, x) > 2:
        return None
    poly = sp.Poly(arg, x)
    a, b, c0 = (poly.coeff_monomial(x ** 2), poly.coeff_monomial(x), poly.coeff_monomial(1))
    s = 1 - 2 * a * q
    B = b * q + mu
    return sp.simplify(c * sp.exp(c0) / sp.sqrt(s) * sp.exp((B ** 2 / (q * s) - mu ** 2 / q) / 2))


def closed_form_1d(f: sp.Expr, x: sp.Symbol, mu, q):
    """Closed form of E[f(e)], e ~ N(mu, q), for piecewise-polynomial f; None otherwise."""
    z = sp.Dummy("z")
    total = sp.Integer(0)
    try:
        parts = list(pieces(f, x))
    except ValueError:
        return None
    for a, b, expr in parts:
        poly_expr = sp.expand(expr.subs(x, mu + sp.sqrt(q) * z))
        if not poly_expr.is_polynomial(z):
            return None
        poly = sp.Poly(poly_expr, z)
        alpha = -sp.oo if a == -sp.oo else (a - mu) / sp.sqrt(q)
        beta = sp.oo if b == sp.oo else (b - mu) / sp.sqrt(q)
        whole_line = a == -sp.oo and b == sp.oo
        for (k,), coeff in poly.terms():
            m = _gaussian_moment(k) if whole_line else _truncated_moment(k, alpha, beta)
            total += coeff * m
    return total


def closed_form_2d_polynomial(F, x, y, mua, mub, qa, qb, qab):
    """Isserlis moments of a polynomial F(x, y) under the bivariate normal; None if not polynomial."""
    if not F.is_polynomial(x, y):
        return None
    z1, z2, l22 = sp.Dummy("z1"), sp.Dummy("z2"), sp.Dummy("l22")
    sa = sp.sqrt(qa)
    expr = sp.expand(F.subs({x: mua + sa * z1, y: mub + qab / sa * z1 + l22 * z2}, simultaneous=True))
    poly = sp.Poly(expr, z1, z2)
    total = sp.Integer(0)
    for (i, j), coeff in poly.terms():
        total += coeff * _gaussian_moment(i) * _gaussian_moment(j)
    total = sp.expand(total)
    total = total.subs(l22 ** 2, qb - qab ** 2 / qa)  # only even powers of l22 survive
    total = sp.expand(total.subs(l22, sp.sqrt(qb - qab ** 2 / qa)))
    return sp.simplify(total)


class unit_clip(sp.Function):
    """Clamp to [-1, 1] in value, identity for differentiation.

    A correlation c = q_ab / sqrt(q_a q_b) can leave [-1, 1] by rounding (c = 1 + 1e-16 at
    identical inputs), where acos and sqrt(1 - c^2) would return NaN; mathematically |c| <= 1, so the
    clamp only repairs rounding and must not change derivatives."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_number:
            return sp.Max(-1, sp.Min(1, x))

    def fdiff(self, argindex=1):
        return sp.Integer(1)

    def _latex(self, printer, exp=None):
        tex = printer._print(self.args[0])
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


def _arccos_kernel(qa, qb, qab):
    c = unit_clip(qab / sp.sqrt(qa * qb))
    return sp.sqrt(qa * qb) / (2 * _PI) * (sp.sqrt(1 - c ** 2) + (_PI - sp.acos(c)) * c)


def _orthant_kernel(qa, qb, qab):
    c = unit_clip(qab / sp.sqrt(qa * qb))
    return (_PI - sp.acos(c)) / (2 * _PI)


def _arcsine_kernel(qa, qb, qab):
    return 2 / _PI * sp.asin(2 * qab / sp.sqrt((1 + 2 * qa) * (1 + 2 * qb)))


def _match_relu(g, x):
    return sp.simplify(canonical_piecewise(g) - sp.Piecewise((x, x > 0), (0, True))) == 0


def _match_heaviside(g, x):
    try:
        parts = list(pieces(g, x))
    except ValueError:
        return False
    return [(a, b, e) for a, b, e in parts] == [(-sp.oo, 0, 0), (0, sp.oo, 1)]


def _erf_scale(g, x):
    """Return κ if g == erf(κ x) with constant κ, else None."""
    if isinstance(g, sp.erf):
        arg = g.args[0]
        kappa = sp.simplify(arg / x)
        if not kappa.has(x) and kappa.is_number:
            return kappa
    return None


#: Zero-mean product kernels E[g(e_a) g(e_b)] with a closed form (Cho & Saul 2009; Williams 1997;
#: Sheppard's orthant formula).  Each entry: (name, matcher(g, x) -> params|None, kernel builder).
PRODUCT_KERNELS = (
    ("relu arc-cosine (Cho & Saul 2009)", lambda g, x: () if _match_relu(g, x) else None,
     lambda qa, qb, qab: _arccos_kernel(qa, qb, qab)),
    ("Heaviside orthant (Sheppard 1899)", lambda g, x: () if _match_heaviside(g, x) else None,
     lambda qa, qb, qab: _orthant_kernel(qa, qb, qab)),
    ("erf arcsine (Williams 1997)", lambda g, x: (_erf_scale(g, x),) if _erf_scale(g, x) is not None else None,
     lambda qa, qb, qab, k: _arcsine_kernel(k ** 2 * qa, k ** 2 * qb, k ** 2 * qab)),
)


def closed_form_product(gx, gy, x, y, qa, qb, qab):
    """Closed form of E[g(e_a) g(e_b)] (zero means) for a kernel in PRODUCT_KERNELS, else None."""
    if sp.simplify(gy.subs(y, x) - gx) != 0:
        return None
    for _, match, kernel in PRODUCT_KERNELS:
        m = match(gx, x)
        if m is not None:
            return kernel(qa, qb, qab, *m)
    return None


def _split_product(F, x, y):
    """Write F = c * g(x) * h(y) if possible: return (c*g, h) else None."""
    gx, hy = sp.Integer(1), sp.Integer(1)
    for factor in sp.Mul.make_args(F):
        fs = factor.free_symbols
        if y not in fs:
            gx *= factor
        elif x not in fs:
            hy *= factor
        else:
            return None
    return gx, hy


def lower_node(node, closed_forms: bool = True):
    """Closed form of one E1/E2 node, or None if none is known (then quadrature is used)."""
    if not closed_forms:
        return None
    if isinstance(node, E1):
        lam, mu, q = node.args
        (x,) = lam.variables
        f = lam.expr
        cf = closed_form_1d(f, x, mu, q)
        if cf is None:
            cf = closed_form_gaussian_exp(f, x, mu, q)
        if cf is not None:
            return cf
        if mu == 0:
            # f = g(x)^2 or g(x) h(x) with a product kernel, evaluated at q_a = q_b = q_ab = q.
            y = sp.Dummy("y")
            base, exp = f.as_base_exp()
            if exp == 2:
                return closed_form_product(base, base.subs(x, y), x, y, q, q, q)
        return None
    if isinstance(node, E2):
        lam, mua, mub, qa, qb, qab = node.args
        x, y = lam.variables
        F = lam.expr
        cf = closed_form_2d_polynomial(F, x, y, mua, mub, qa, qb, qab)
        if cf is not None:
            return cf
        if mua == 0 and mub == 0:
            split = _split_product(F, x, y)
            if split is not None:
                gx, hy = split
                coeff_x, gx_core = gx.as_independent(x, as_Add=False)
                coeff_y, hy_core = hy.as_independent(y, as_Add=False)
                core = closed_form_product(gx_core, hy_core, x, y, qa, qb, qab)
                if core is not None:
                    return coeff_x * coeff_y * core
        return None
    raise TypeError(node)


def lower_closed_forms(expr, closed_forms: bool = True):
    """Replace every E1/E2 node of ``expr`` that has a closed form; return (expr, notes)."""
    notes = []
    replacements = {}
    for node in sorted(expr.atoms(E1, E2), key=sp.default_sort_key):
        cf = lower_node(node, closed_forms)
        if cf is not None:
            replacements[node] = cf
            notes.append((node, cf))
    return expr.xreplace(replacements), notes


__all__ = ["E1", "E2", "lower_closed_forms", "lower_node", "breakpoints", "pieces", "canonical_piecewise",
           "PRODUCT_KERNELS", "closed_form_1d"]
