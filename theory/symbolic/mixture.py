r"""Nested (scale-mixture) Gaussian expectation nodes, for gates whose recurrent part is scaled by
another gate (the reset-after GRU of PyTorch / Flax / cuDNN).

A **scaled gate** has the field :math:`a=u+\rho(s)\,m` with :math:`u\sim\mathcal N(0,v_u)` (input and
input bias), :math:`m\sim\mathcal N(0,v_m)` (recurrent matrix and recurrent bias) and :math:`s` the field
of the scaling gate (:math:`\rho=\sigma`: the reset gate), all independent for untied weights.
Given :math:`s`, :math:`a` is Gaussian with variance :math:`v_u+\rho(s)^2v_m`: a Gaussian scale mixture.

* ``EM1(Lambda((s, x), F), Lambda(s, rho), mu, q, vu, vm)`` =
  :math:`\mathbb E_{s\sim\mathcal N(\mu,q)}\mathbb E_{x\sim\mathcal N(0,\,v_u+\rho(s)^2v_m)}[F(s,x)]`;
* ``EM2(Lambda((s, t, x, y), F), Lambda(s, rho), mu, q, q_ab, vu, vm, vu_ab, vm_ab)``: two
  sequences; :math:`(s,t)` bivariate normal (means :math:`\mu`, variances :math:`q`, covariance
  :math:`q_{ab}`) and, given them, :math:`(x,y)` zero-mean bivariate normal with variances
  :math:`v_u+\rho(s)^2v_m`, :math:`v_u+\rho(t)^2v_m` and covariance :math:`v_{u,ab}+\rho(s)\rho(t)v_{m,ab}`.

**Derivatives** (``fdiff``), so that SymPy's chain rule differentiates the maps through these nodes:
the inner parameters by Price's theorem (:math:`\partial_{v_u}=\tfrac12\partial_x^2`,
:math:`\partial_{v_m}=\tfrac12\rho^2\partial_x^2`, :math:`\partial_{v_{u,ab}}=\partial_x\partial_y`,
:math:`\partial_{v_{m,ab}}=\rho(s)\rho(t)\partial_x\partial_y`); the outer ones by Price's theorem on
:math:`G(s,t)=\mathbb E[F\mid s,t]`, whose :math:`s`-derivative runs through the inner covariance:
:math:`\partial_sG=\mathbb E[\mathcal T_sF]` with

.. math:: \mathcal T_sF=\partial_sF+v_m\rho(s)\rho'(s)\,\partial_x^2F+v_{m,ab}\rho'(s)\rho(t)\,\partial_x\partial_yF,

so :math:`\partial_\mu=\mathcal T_s+\mathcal T_t`, :math:`\partial_q=\tfrac12(\mathcal T_s^2+\mathcal T_t^2)`,
:math:`\partial_{q_{ab}}=\mathcal T_s\mathcal T_t` (one sequence: :math:`\mathcal T_sF=\partial_sF+v_m\rho\rho'\partial_x^2F`).
The integrands stay free of the node's arguments: the powers of :math:`v_m, v_{m,ab}` that
:math:`\mathcal T` brings in are collected outside, one node per monomial.

**Diagonal collapse**: at :math:`q_{ab}=q`, :math:`v_{u,ab}=v_u`, :math:`v_{m,ab}=v_m` (a tangent pair of identical
sequences) the pair is degenerate, :math:`t=s`, :math:`y=x`, and ``EM2`` equals the ``EM1`` of
:math:`F(s,s,x,x)` (:func:`collapse_mixture`).
"""
from __future__ import annotations

import math

import sympy as sp

from ..declare.activations import X

S = sp.Symbol("s", real=True)
T = sp.Symbol("t", real=True)
Y = sp.Symbol("y", real=True)
_VM = sp.Symbol("_vm")
_VMAB = sp.Symbol("_vmab")


def _rho_at(rho, v):
    return rho.expr.xreplace({rho.variables[0]: v})


def _monomials(G):
    """{(i, j): coefficient} of G as a polynomial in the placeholders _VM, _VMAB."""
    out = {}
    i = 0
    gi = G
    while gi != 0 and i <= 8:
        j = 0
        gij = gi
        while gij != 0 and j <= 8:
            c = gij.xreplace({_VM: 0, _VMAB: 0}) / (math.factorial(i) * math.factorial(j))
            if c != 0:
                out[(i, j)] = c
            gij = sp.diff(gij, _VMAB)
            j += 1
        gi = sp.diff(gi, _VM)
        i += 1
    return out


def _assemble(cls, variables, G, rest, vm, vmab=sp.Integer(0)):
    """Σ vm^i vmab^j cls(Lambda(variables, G_ij), *rest)."""
    total = sp.Integer(0)
    for (i, j), c in sorted(_monomials(G).items()):
        total += vm ** i * vmab ** j * cls(sp.Lambda(variables, c), *rest)
    return total


class EM1(sp.Function):
    r"""One-sequence scale mixture :math:`\mathbb E_s\mathbb E_{x\mid s}[F(s,x)]`; args
    ``(Lambda((s, x), F), Lambda(s, rho), mu, q, vu, vm)``."""

    nargs = 6

    @classmethod
    def eval(cls, lam, rho, mu, q, vu, vm):
        if isinstance(lam, sp.Lambda) and lam.expr == 0:
            return sp.Integer(0)

    def _Ts(self, F):
        rho = self.args[1]
        r = _rho_at(rho, S)
        return sp.diff(F, S) + _VM * r * sp.diff(r, S) * sp.diff(F, X, 2)

    def fdiff(self, argindex=1):
        lam, rho, mu, q, vu, vm = self.args
        F = lam.expr.xreplace(dict(zip(lam.variables, (S, X))))
        r = _rho_at(rho, S)
        if argindex == 3:
            G = self._Ts(F)
        elif argindex == 4:
            G = self._Ts(self._Ts(F)) / 2
        elif argindex == 5:
            G = sp.diff(F, X, 2) / 2
        elif argindex == 6:
            G = r ** 2 * sp.diff(F, X, 2) / 2
        else:
            raise sp.ArgumentIndexError(self, argindex)
        return _assemble(EM1, (S, X), G, (rho, mu, q, vu, vm), vm)

    def _sympystr(self, printer):
        lam, rho, mu, q, vu, vm = self.args
        s, x = lam.variables
        return "E[%s; %s ~ N(%s, %s), %s ~ N(0, %s + (%s)**2*(%s))]" % tuple(printer._print(a) for a in (
            lam.expr, s, mu, q, x, vu, _rho_at(rho, s), vm))

    def _latex(self, printer, exp=None):
        lam, rho, mu, q, vu, vm = self.args
        s, x = lam.variables
        tex = (r"\mathbb{E}_{%s\sim\mathcal{N}(%s,\,%s)}\mathbb{E}_{%s\sim\mathcal{N}(0,\,%s+%s^{2}\,%s)}\left[%s\right]"
               % (printer._print(s), printer._print(mu), printer._print(q), printer._print(x), printer._print(vu),
                  r"\left(%s\right)" % printer._print(_rho_at(rho, s)), r"\left(%s\right)" % printer._print(vm),
                  printer._print(lam.expr)))
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


class EM2(sp.Function):
    r"""Two-sequence scale mixture; args ``(Lambda((s, t, x, y), F), Lambda(s, rho), mu, q, q_ab, vu, vm,
    vu_ab, vm_ab)`` (module docstring)."""

    nargs = 9

    @classmethod
    def eval(cls, lam, rho, *rest):
        if isinstance(lam, sp.Lambda) and lam.expr == 0:
            return sp.Integer(0)

    def _T(self, F, first):
        rho = self.args[1]
        rs, rt = _rho_at(rho, S), _rho_at(rho, T)
        if first:
            return (sp.diff(F, S) + _VM * rs * sp.diff(rs, S) * sp.diff(F, X, 2)
                    + _VMAB * sp.diff(rs, S) * rt * sp.diff(F, X, Y))
        return (sp.diff(F, T) + _VM * rt * sp.diff(rt, T) * sp.diff(F, Y, 2)
                + _VMAB * rs * sp.diff(rt, T) * sp.diff(F, X, Y))

    def fdiff(self, argindex=1):
        lam, rho, mu, q, qab, vu, vm, vuab, vmab = self.args
        F = lam.expr.xreplace(dict(zip(lam.variables, (S, T, X, Y))))
        rs, rt = _rho_at(rho, S), _rho_at(rho, T)
        if argindex == 3:
            G = self._T(F, True) + self._T(F, False)
        elif argindex == 4:
            G = (self._T(self._T(F, True), True) + self._T(self._T(F, False), False)) / 2
        elif argindex == 5:
            G = self._T(self._T(F, True), False)
        elif argindex == 6:
            G = (sp.diff(F, X, 2) + sp.diff(F, Y, 2)) / 2
        elif argindex == 7:
            G = (rs ** 2 * sp.diff(F, X, 2) + rt ** 2 * sp.diff(F, Y, 2)) / 2
        elif argindex == 8:
            G = sp.diff(F, X, Y)
        elif argindex == 9:
            G = rs * rt * sp.diff(F, X, Y)
        else:
            raise sp.ArgumentIndexError(self, argindex)
        return _assemble(EM2, (S, T, X, Y), G, (rho, mu, q, qab, vu, vm, vuab, vmab), vm, vmab)

    def _sympystr(self, printer):
        lam, rho, mu, q, qab, vu, vm, vuab, vmab = self.args
        return ("E[%s; (s, t) ~ N(%s, var %s, cov %s), (x, y) | s, t ~ N(0, var %s + rho**2*(%s), "
                "cov %s + rho(s)*rho(t)*(%s)), rho(s) = %s]" % tuple(printer._print(a) for a in (
                    lam.expr.xreplace(dict(zip(lam.variables, (S, T, X, Y)))), mu, q, qab, vu, vm, vuab, vmab,
                    _rho_at(rho, S))))

    def _latex(self, printer, exp=None):
        lam, rho, mu, q, qab, vu, vm, vuab, vmab = self.args
        if exp is not None:
            return r"\left(%s\right)^{%s}" % (self._latex(printer), exp)
        F = lam.expr.xreplace(dict(zip(lam.variables, (S, T, X, Y))))
        return (r"\mathbb{E}_{(s,t)}\mathbb{E}_{(x,y)\mid s,t}\left[%s\right]_{\mu=%s,\,q=%s,\,q_{ab}=%s;\ "
                r"v_u=%s,\,v_m=%s,\,v_{u,ab}=%s,\,v_{m,ab}=%s;\ \rho(s)=%s}" % tuple(printer._print(a) for a in (
                    F, mu, q, qab, vu, vm, vuab, vmab, _rho_at(rho, S))))


def mixture_nodes(expr):
    return expr.atoms(EM1, EM2)


def collapse_mixture(expr):
    """EM2 at q_ab = q, vu_ab = vu, vm_ab = vm (identical sequences) -> the EM1 of F(s, s, x, x)."""
    def diag(e):
        if not isinstance(e, EM2):
            return False
        _, _, mu, q, qab, vu, vm, vuab, vmab = e.args
        return all(sp.expand(a - b) == 0 for a, b in ((q, qab), (vu, vuab), (vm, vmab)))

    def to_em1(e):
        lam, rho, mu, q, qab, vu, vm, vuab, vmab = e.args
        s, t, x, y = lam.variables
        return EM1(sp.Lambda((S, X), lam.expr.xreplace({s: S, t: S, x: X, y: X})), rho, mu, q, vu, vm)
    return expr.replace(diag, to_em1)


__all__ = ["EM1", "EM2", "S", "T", "Y", "collapse_mixture", "mixture_nodes"]
