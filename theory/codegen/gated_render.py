"""Gated cells -> ``numba_kernels.py``, ``jax_kernels.py``, ``derivation.md``, ``__init__.py``.

Every formula comes from :mod:`theory.symbolic.gated_derive`; the expectation helpers (sinh-mapped
Gauss–Legendre quadrature) and the header are the core's templates in :mod:`theory.codegen.render`,
reused unchanged.  This module adds (i) expression kernels with one uniform signature
``(Q_k..., Qn_k..., C_k..., Cn_k..., *params)``, (ii) glue written from the cell's structure:
the scalar-reduced fixed-point solvers (bracket + Illinois regula falsi; jax: ``lax.while_loop``
inside ``lax.custom_root``, so gradients use the implicit function theorem), the sequential
within-step maps and closed-form 1x1 / 2x2 eigenvalue moduli.  Output is deterministic.
"""
from __future__ import annotations

import sympy as sp

from . import jax_float64, numba_ufunc, quadrature
from ..declare.activations import X
from ..declare.gated import GatedCell
from ..symbolic.gaussian import E1, E2
from ..symbolic.gated_derive import Cnsym, Csym, Qnsym, Qsym, Y, derive_gated
from ..symbolic.mixture import EM1, EM2, S, T
from .printers import jax_code, numba_code
from .programs import Group, Served, programs_line, render_group, render_quantity
from ..declare.registry import RENDERERS, register
from .render import (C_GAP, MAX_IT, Q_MAX, RTOL, STATUS_DOC, Helpers, canonical_lambda, finish_module, jx_e1, jx_e2,
                     jx_quadrature, kinks_of, module_header, nb_e1, nb_e2, nb_quadrature, render_function)

SCAN = 32  #: grid points of the bracket scan for the first sign change of a residual


# ----------------------------------------------------------------------------------------------
# expressions
# ----------------------------------------------------------------------------------------------

def state_args(d):
    c = d.comps
    return ([f"Q_{k}" for k in c] + [f"Qn_{k}" for k in c] + [f"C_{k}" for k in c] + [f"Cn_{k}" for k in c])


def expressions(d):
    """(kernel name, expression) of every expression kernel, in a fixed order."""
    out = []
    for g in d.cell.gates:
        out.append((f"gate_var_{g.name}", d.gate_var[g.name]))
        out.append((f"gate_cov_{g.name}", d.gate_cov[g.name]))
    for k in d.comps:
        out.append((f"vmap_{k}", d.vmap[k]))
        out.append((f"cmap_{k}", d.cmap[k]))
    for k in d.comps:
        if k in d.fp_q:
            out.append((f"fpq_{k}", d.fp_q[k]))
            out.append((f"fpc_{k}", d.fp_c[k]))
    out.append(("res_q", d.residual_q))
    out.append(("res_c", d.residual_c))
    for name, mat in (("jq", d.jac_q), ("jc", d.jac_c), ("m", d.pert)):
        for i, row in enumerate(mat):
            for j, e in enumerate(row):
                out.append((f"{name}_{i}{j}", e))
    out.append(("chi_expr", d.chi))
    for k in d.comps:
        if k in d.kurtosis:
            out.append((f"kurt_{k}", d.kurtosis[k]))
    return out


class _GatedHelpers(Helpers):
    """The core's numbered helpers plus the scale-mixture nodes ``_EM1_k`` / ``_EM2_k`` (by integrand
    and scale); for cells without mixture nodes the numbering is the core's."""

    def __init__(self, exprs):
        super().__init__(exprs)
        nodes = set()
        for e in exprs:
            nodes |= e.atoms(EM1, EM2)
        keys = sorted({(type(n).__name__, n.args[0], n.args[1]) for n in nodes}, key=sp.default_sort_key)
        for i, (kind, lam, rho) in enumerate(keys, start=len(self.specs)):
            name = f"_{kind}_{i}"
            self.names[(kind, lam, rho)] = name
            self.specs.append((name, kind, (lam, rho)))

    @property
    def has_em2(self):
        return any(kind == "EM2" for _, kind, _ in self.specs)


def _key(n):
    if isinstance(n, (EM1, EM2)):
        return (type(n).__name__, n.args[0], n.args[1])
    return (type(n).__name__, n.args[0])


def _substitute(helpers, expr):
    """Replace expectation nodes (nested ones too, bottom-up) by calls of the numbered helpers."""
    def val(n):
        skip = 2 if isinstance(n, (EM1, EM2)) else 1
        return sp.Function(helpers.names[_key(n)])(*n.args[skip:])
    return expr.replace(lambda e: isinstance(e, (E1, E2, EM1, EM2)), val)


def _mixture_code(name, kind, lam, rho, backend):
    printer = numba_code if backend == "numba" else jax_code
    if kind == "EM1":
        body = lam.expr.xreplace(dict(zip(lam.variables, (S, X))))
        tmpl = _NB_EM1 if backend == "numba" else _JX_EM1
        r = rho.expr.xreplace({rho.variables[0]: S})
        for v in (body, r):
            if kinks_of(v, S) or kinks_of(v, X):
                raise NotImplementedError("kinked integrands in scale-mixture nodes are not supported")
        return tmpl.format(name=name, desc=str(body), rho_desc=str(r), rho=printer(r), body=printer(body))
    body = lam.expr.xreplace(dict(zip(lam.variables, (S, T, X, Y))))
    tmpl = _NB_EM2 if backend == "numba" else _JX_EM2
    rs, rt = rho.expr.xreplace({rho.variables[0]: S}), rho.expr.xreplace({rho.variables[0]: T})
    return tmpl.format(name=name, desc=str(body), rho_desc=str(rs), rho_s=printer(rs), rho_t=printer(rt),
                       body=printer(body))


def _helper_code(helpers, backend):
    out = []
    for name, kind, lam in helpers.specs:
        if kind in ("EM1", "EM2"):
            out.append(_mixture_code(name, kind, *lam, backend))
            continue
        body_expr = canonical_lambda(lam)
        if backend == "numba":
            out.append(nb_e1(name, body_expr) if kind == "E1" else nb_e2(name, body_expr))
        else:
            out.append(jx_e1(name, body_expr) if kind == "E1" else jx_e2(name, body_expr))
    return out


# ----------------------------------------------------------------------------------------------
# scale-mixture helpers (theory.symbolic.mixture): EM1 (2-D nested), EM2 (4-D nested)
# ----------------------------------------------------------------------------------------------

_NB_EM1 = '''
@njit(cache=True)
def {name}_x(s, vu, vm):
    """E[{desc}] over x ~ N(0, vu + rho(s)^2 vm), rho(s) = {rho_desc}: the core rule, centred at x = 0."""
    r = {rho}
    v = vu + r * r * vm
    if not (v > 0.0):
        x = 0.0
        return {body}
    sv = math.sqrt(v)
    a = min(1.0, 1.0 / sv)
    u0 = math.asinh(-_L / a)
    h = -2.0 * u0 / _PANELS
    total = 0.0
    for p in range(_PANELS):
        lo = u0 + p * h
        for j in range(_NODES):
            u = lo + 0.5 * h * (1.0 + _GL_T[j])
            z = a * math.sinh(u)
            x = sv * z
            total += 0.5 * h * _GL_W[j] * a * math.cosh(u) * math.exp(-0.5 * z * z) * ({body})
    return total * _INV_SQRT_2PI


@njit(cache=True)
def {name}(mu, q, vu, vm):
    """Scale mixture: E over s ~ N(mu, q) of {name}_x (the core rule in s)."""
    if not (q > 0.0):
        return {name}_x(mu, vu, vm)
    sq = math.sqrt(q)
    c0 = -mu / sq
    a = min(1.0, 1.0 / sq)
    if abs(c0) > _L:
        c0 = 0.0
        a = 1.0
    u0 = math.asinh((-_L - c0) / a)
    h = (math.asinh((_L - c0) / a) - u0) / _PANELS
    total = 0.0
    for p in range(_PANELS):
        lo = u0 + p * h
        for j in range(_NODES):
            u = lo + 0.5 * h * (1.0 + _GL_T[j])
            z = c0 + a * math.sinh(u)
            total += 0.5 * h * _GL_W[j] * a * math.cosh(u) * math.exp(-0.5 * z * z) * {name}_x(mu + sq * z, vu, vm)
    return total * _INV_SQRT_2PI
'''

_NB_EM2 = '''
@njit(cache=True)
def {name}_xy(s, t, vu, vm, vuab, vmab):
    """E[{desc}] over (x, y) | s, t: zero means, variances vu + rho^2 vm, covariance vuab + rho(s) rho(t) vmab,
    rho(s) = {rho_desc}; reduced rule (_MIX_IN_PANELS panels per variable, sinh map centred on the Gaussian:
    with few panels, centring on the transition would starve the bulk near the diagonal)."""
    rs = {rho_s}
    rt = {rho_t}
    va = vu + rs * rs * vm
    vb = vu + rt * rt * vm
    cab = vuab + rs * rt * vmab
    if not (va > 0.0) or not (vb > 0.0):
        return math.nan
    sa = math.sqrt(va)
    l21 = cab / sa
    l22 = math.sqrt(max(vb - l21 * l21, 0.0))
    a = min(1.0, 1.0 / sa)
    u0 = math.asinh(-_L / a)
    h = -2.0 * u0 / _MIX_IN_PANELS
    a2 = 1.0 / max(1.0, l22)  # = min(1, 1/l22), without dividing by l22 = 0
    # the inner nodes and weights do not depend on the outer node: computed once per call
    # (the inner loop then costs only the integrand, not sinh/cosh/exp per node pair)
    v0 = math.asinh(-_L / a2)
    h2 = -2.0 * v0 / _MIX_IN_PANELS
    z2s = np.empty(_MIX_IN_PANELS * _NODES)
    w2s = np.empty(_MIX_IN_PANELS * _NODES)
    for p2 in range(_MIX_IN_PANELS):
        lo2 = v0 + p2 * h2
        for j2 in range(_NODES):
            u2 = lo2 + 0.5 * h2 * (1.0 + _GL_T[j2])
            z2 = a2 * math.sinh(u2)
            z2s[p2 * _NODES + j2] = z2
            w2s[p2 * _NODES + j2] = 0.5 * h2 * _GL_W[j2] * a2 * math.cosh(u2) * math.exp(-0.5 * z2 * z2)
    total = 0.0
    for p in range(_MIX_IN_PANELS):
        lo = u0 + p * h
        for j in range(_NODES):
            u = lo + 0.5 * h * (1.0 + _GL_T[j])
            z1 = a * math.sinh(u)
            x = sa * z1
            w1 = 0.5 * h * _GL_W[j] * a * math.cosh(u) * math.exp(-0.5 * z1 * z1)
            yc = l21 * z1
            if l22 == 0.0:
                y = yc
                total += w1 * ({body}) * _SQRT_2PI
                continue
            inner = 0.0
            for k2 in range(_MIX_IN_PANELS * _NODES):
                y = yc + l22 * z2s[k2]
                inner += w2s[k2] * ({body})
            total += w1 * inner
    return total * _INV_SQRT_2PI * _INV_SQRT_2PI


@njit(cache=True)
def {name}(mu, q, qab, vu, vm, vuab, vmab):
    """Two-sequence scale mixture: E over (s, t) (means mu, variances q, covariance qab) of {name}_xy;
    reduced rule (_MIX_OUT_PANELS panels per variable)."""
    if not (q > 0.0):
        return {name}_xy(mu, mu, vu, vm, vuab, vmab)
    sa = math.sqrt(q)
    l21 = qab / sa
    l22 = math.sqrt(max(q - l21 * l21, 0.0))
    c0 = 0.0
    a = min(1.0, 1.0 / sa)
    u0 = math.asinh(-_L / a)
    h = -2.0 * u0 / _MIX_OUT_PANELS
    a2c = 1.0 / max(1.0, l22)  # = min(1, 1/l22), without dividing by l22 = 0
    total = 0.0
    for p in range(_MIX_OUT_PANELS):
        lo = u0 + p * h
        for j in range(_NODES):
            u = lo + 0.5 * h * (1.0 + _GL_T[j])
            z1 = c0 + a * math.sinh(u)
            s = mu + sa * z1
            w1 = 0.5 * h * _GL_W[j] * a * math.cosh(u) * math.exp(-0.5 * z1 * z1)
            tc = mu + l21 * z1
            if l22 == 0.0:
                total += w1 * {name}_xy(s, tc, vu, vm, vuab, vmab) * _SQRT_2PI
                continue
            c2 = 0.0
            a2 = a2c
            v0 = math.asinh(-_L / a2)
            h2 = -2.0 * v0 / _MIX_OUT_PANELS
            inner = 0.0
            for p2 in range(_MIX_OUT_PANELS):
                lo2 = v0 + p2 * h2
                for j2 in range(_NODES):
                    u2 = lo2 + 0.5 * h2 * (1.0 + _GL_T[j2])
                    z2 = c2 + a2 * math.sinh(u2)
                    inner += (0.5 * h2 * _GL_W[j2] * a2 * math.cosh(u2) * math.exp(-0.5 * z2 * z2)
                              * {name}_xy(s, tc + l22 * z2, vu, vm, vuab, vmab))
            total += w1 * inner
    return total * _INV_SQRT_2PI * _INV_SQRT_2PI
'''

_JX_EM1 = '''
def {name}_x(s, vu, vm):
    """E[{desc}] over x ~ N(0, vu + rho(s)^2 vm) for a vector s, rho(s) = {rho_desc} (core rule, centred at 0)."""
    r = {rho}
    v = vu + r * r * vm
    pos = v > 0.0
    sv = jnp.sqrt(jnp.where(pos, v, 1.0))
    a = jnp.minimum(1.0, 1.0 / sv)
    u0 = jnp.arcsinh(-_L / a)
    h = -2.0 * u0 / _PANELS
    u = u0[:, None] + h[:, None] * _NODE_POS[None, :]
    z = a[:, None] * jnp.sinh(u)
    w = 0.5 * h[:, None] * _NODE_W[None, :] * a[:, None] * jnp.cosh(u) * jnp.exp(-0.5 * z * z)
    x = sv[:, None] * z
    s = s[:, None]
    val = jnp.sum(w * ({body}), axis=-1) * _INV_SQRT_2PI
    x = jnp.zeros_like(z)
    zero = jnp.mean(jnp.broadcast_to({body}, z.shape), axis=-1)
    return jnp.where(pos, val, zero)


def {name}(mu, q, vu, vm):
    """Scale mixture: E over s ~ N(mu, q) of {name}_x (the core rule in s)."""
    pos = q > 0.0
    sq = jnp.sqrt(jnp.where(pos, q, 1.0))
    c0 = -mu / sq
    far = jnp.abs(c0) > _L
    c0 = jnp.where(far, 0.0, c0)
    a = jnp.where(far, 1.0, jnp.minimum(1.0, 1.0 / sq))
    u0 = jnp.arcsinh((-_L - c0) / a)
    h = (jnp.arcsinh((_L - c0) / a) - u0) / _PANELS
    u = u0 + h * _NODE_POS
    z = c0 + a * jnp.sinh(u)
    w = 0.5 * h * _NODE_W * a * jnp.cosh(u) * jnp.exp(-0.5 * z * z)
    val = jnp.sum(w * {name}_x(mu + sq * z, vu, vm)) * _INV_SQRT_2PI
    return jnp.where(pos, val, {name}_x(jnp.reshape(mu, (1,)), vu, vm)[0])
'''

_JX_EM2 = '''
def {name}_xy(s, t, vu, vm, vuab, vmab):
    """E[{desc}] over (x, y) | s, t for vectors s, t (zero means, variances vu + rho^2 vm, covariance
    vuab + rho(s) rho(t) vmab, rho(s) = {rho_desc}); reduced rule (_MIX_IN_PANELS panels per variable)."""
    rs = {rho_s}
    rt = {rho_t}
    va = vu + rs * rs * vm
    vb = vu + rt * rt * vm
    cab = vuab + rs * rt * vmab
    sa = jnp.sqrt(va)
    l21 = cab / sa
    l22sq = jnp.maximum(vb - l21 * l21, 0.0)
    flat = l22sq <= 0.0
    l22 = jnp.sqrt(jnp.where(flat, 1.0, l22sq))
    a = jnp.minimum(1.0, 1.0 / sa)
    u0 = jnp.arcsinh(-_L / a)
    h = -2.0 * u0 / _MIX_IN_PANELS
    u = u0[:, None] + h[:, None] * _MIX_IN_POS[None, :]
    z1 = a[:, None] * jnp.sinh(u)
    w1 = 0.5 * h[:, None] * _MIX_IN_W[None, :] * a[:, None] * jnp.cosh(u) * jnp.exp(-0.5 * z1 * z1)
    yc = l21[:, None] * z1
    c2 = jnp.zeros_like(yc)
    a2 = jnp.broadcast_to(jnp.minimum(1.0, 1.0 / l22[:, None]), yc.shape)
    v0 = jnp.arcsinh(-_L / a2)
    h2 = -2.0 * v0 / _MIX_IN_PANELS
    u2 = v0[..., None] + h2[..., None] * _MIX_IN_POS
    z2 = c2[..., None] + a2[..., None] * jnp.sinh(u2)
    w2 = 0.5 * h2[..., None] * _MIX_IN_W * a2[..., None] * jnp.cosh(u2) * jnp.exp(-0.5 * z2 * z2)
    x = (sa[:, None] * z1)[..., None]
    y = yc[..., None] + jnp.where(flat, 0.0, l22)[:, None, None] * z2
    s = s[:, None, None]
    t = t[:, None, None]
    inner = jnp.sum(w2 * ({body}), axis=-1) * _INV_SQRT_2PI
    return jnp.sum(w1 * inner, axis=-1) * _INV_SQRT_2PI


def {name}(mu, q, qab, vu, vm, vuab, vmab):
    """Two-sequence scale mixture: E over (s, t) of {name}_xy; reduced rule (_MIX_OUT_PANELS panels per
    variable), one row of outer nodes at a time (lax.map: bounded memory)."""
    pos = q > 0.0
    sa = jnp.sqrt(jnp.where(pos, q, 1.0))
    l21 = qab / sa
    l22sq = jnp.maximum(q - l21 * l21, 0.0)
    flat = l22sq <= 0.0
    l22 = jnp.sqrt(jnp.where(flat, 1.0, l22sq))
    a = jnp.minimum(1.0, 1.0 / sa)
    u0 = jnp.arcsinh(-_L / a)
    h = -2.0 * u0 / _MIX_OUT_PANELS
    u = u0 + h * _MIX_OUT_POS
    z1 = a * jnp.sinh(u)
    w1 = 0.5 * h * _MIX_OUT_W * a * jnp.cosh(u) * jnp.exp(-0.5 * z1 * z1)
    s = mu + sa * z1
    tc = mu + l21 * z1
    a2 = jnp.minimum(1.0, 1.0 / l22)
    v0 = jnp.arcsinh(-_L / a2)
    h2 = -2.0 * v0 / _MIX_OUT_PANELS
    u2 = v0 + h2 * _MIX_OUT_POS
    z2 = a2 * jnp.sinh(u2)
    w2 = 0.5 * h2 * _MIX_OUT_W * a2 * jnp.cosh(u2) * jnp.exp(-0.5 * z2 * z2)
    t = tc[:, None] + jnp.where(flat, 0.0, l22) * z2[None, :]
    vals = lax.map(lambda st: {name}_xy(jnp.broadcast_to(st[0], st[1].shape), st[1], vu, vm, vuab, vmab), (s, t))
    val = jnp.sum(w1[:, None] * w2[None, :] * vals) * _INV_SQRT_2PI * _INV_SQRT_2PI
    m = jnp.reshape(mu, (1,))
    return jnp.where(pos, val, {name}_xy(m, m, vu, vm, vuab, vmab)[0])
'''


# ----------------------------------------------------------------------------------------------
# glue: written from the structure (component names, read component, dimension)
# ----------------------------------------------------------------------------------------------

class _Glue:
    """Python source of the fixed-point solvers, maps and public functions for one backend."""

    def __init__(self, d, backend):
        self.d, self.nb = d, backend == "numba"
        self.comps, self.read = d.comps, d.read
        self.params = list(d.cell.param_names)
        self.P = ", ".join(self.params)
        self.other = [k for k in self.comps if k != self.read]

    def call(self, name, Q=None, Qn=None, C=None, Cn=None):
        """Call of an expression kernel; each of Q/Qn/C/Cn maps component -> source (default 0.0)."""
        args = []
        for m in (Q, Qn, C, Cn):
            args += [(m or {}).get(k, "0.0") for k in self.comps]
        return f"_{name}({', '.join(args + self.params)})"

    def deco(self, kind="njit"):
        if not self.nb:
            return ""
        return "@njit(cache=True)\n" if kind == "njit" else numba_ufunc.decorator(kind)

    @property
    def sig(self):
        return numba_ufunc.signature(len(self.params))

    @property
    def sig_int(self):
        return numba_ufunc.signature(len(self.params), "int64")

    def q_moments(self, indent="    "):
        """Lines computing the fixed-point second moments of every component from ``Q_<read>``."""
        Q = {self.read: f"Q_{self.read}"}
        lines = []
        for k in self.other:
            lines.append(f"{indent}Q_{k} = {self.call('fpq_' + k, Q=Q, Qn=Q)}")
            Q[k] = f"Q_{k}"
        return lines, Q

    def c_moments(self, Q, indent="    "):
        C = {self.read: f"C_{self.read}"}
        lines = []
        for k in self.other:
            lines.append(f"{indent}C_{k} = {self.call('fpc_' + k, Q=Q, Qn=Q, C=C, Cn=C)}")
            C[k] = f"C_{k}"
        return lines, C

    # --- maps ----------------------------------------------------------------------------------
    def maps(self):
        Qa = ", ".join(f"Q_{k}" for k in self.comps)
        Ca = ", ".join(f"C_{k}" for k in self.comps)
        Q = {k: f"Q_{k}" for k in self.comps}
        C = {k: f"C_{k}" for k in self.comps}
        out = [f"{self.deco()}def _vstep({Qa}, {self.P}):", '    """(Q_k at t) from (Q_k at t-1): the variance map, in update order."""']
        Qn = {}
        for k in self.comps:
            out.append(f"    Qn_{k} = {self.call('vmap_' + k, Q=Q, Qn=Qn)}")
            Qn[k] = f"Qn_{k}"
        out.append("    return " + ", ".join(f"Qn_{k}" for k in self.comps) + ("," if len(self.comps) == 1 else ""))
        out += ["", "", f"{self.deco()}def _cstep({Ca}, {Qa}, {self.P}):",
                '    """(C_k at t) from (C_k, Q_k at t-1): the covariance map of two sequences."""']
        out.append(f"    nq = _vstep({Qa}, {self.P})")
        Qn = {k: f"nq[{i}]" for i, k in enumerate(self.comps)}
        Cn = {}
        for k in self.comps:
            out.append(f"    Cn_{k} = {self.call('cmap_' + k, Q=Q, Qn=Qn, C=C, Cn=Cn)}")
            Cn[k] = f"Cn_{k}"
        out.append("    return " + ", ".join(f"Cn_{k}" for k in self.comps) + ("," if len(self.comps) == 1 else ""))
        return "\n".join(out)

    # --- eigenvalues -----------------------------------------------------------------------------
    def eig(self):
        one = len(self.comps) == 1
        if self.nb:
            body = ("    return abs(J[0][0]), 0.0\n" if one else """    a, b, c, d = J[0][0], J[0][1], J[1][0], J[1][1]
    tr = a + d
    det = a * d - b * c
    disc = tr * tr - 4.0 * det
    if disc >= 0.0:
        s = math.sqrt(disc)
        l1 = abs(0.5 * (tr + s))
        l2 = abs(0.5 * (tr - s))
        return max(l1, l2), min(l1, l2)
    m = math.sqrt(abs(det))
    return m, m
""")
            return ("\n@njit(cache=True)\ndef _moduli(J):\n"
                    f'    """Moduli of the eigenvalues of the {len(self.comps)}x{len(self.comps)} matrix J (tuple of rows), descending."""\n'
                    + body + """

@njit(cache=True)
def _timescale(s):
    if not (s == s):
        return math.nan
    if s >= 1.0:
        return math.inf
    return -1.0 / math.log(s) if s > 0.0 else 0.0
""")
        body = ("    return jnp.abs(J[0][0]), jnp.zeros_like(J[0][0])\n" if one else """    a, b, c, d = J[0][0], J[0][1], J[1][0], J[1][1]
    tr = a + d
    det = a * d - b * c
    disc = tr * tr - 4.0 * det
    real = disc >= 0.0
    s = jnp.sqrt(jnp.where(real, disc, 1.0))
    l1 = jnp.abs(0.5 * (tr + s))
    l2 = jnp.abs(0.5 * (tr - s))
    m = jnp.sqrt(jnp.abs(jnp.where(real, 1.0, det)))
    return jnp.where(real, jnp.maximum(l1, l2), m), jnp.where(real, jnp.minimum(l1, l2), m)
""")
        return ("\ndef _moduli(J):\n"
                f'    """Moduli of the eigenvalues of the {len(self.comps)}x{len(self.comps)} matrix J (tuple of rows), descending."""\n'
                + body + """

def _timescale(s):
    # NaN (a failed solve) stays NaN, as in the numba kernels: the comparisons below are False for NaN
    safe = jnp.where((s > 0.0) & (s < 1.0), s, 0.5)
    return jnp.where(jnp.isnan(s), jnp.nan, jnp.where(s >= 1.0, jnp.inf, jnp.where(s > 0.0, -1.0 / jnp.log(safe), 0.0)))
""")

    def matrix(self, name, Q, Qn, C=None, Cn=None):
        n = len(self.comps)
        rows = []
        for i in range(n):
            rows.append("(" + ", ".join(self.call(f"{name}_{i}{j}", Q=Q, Qn=Qn, C=C, Cn=Cn) for j in range(n)) + ",)")
        return "(" + ", ".join(rows) + ",)"

    # --- solvers -----------------------------------------------------------------------------------
    def solvers_numba(self):
        r = self.read
        lines_q, Q = self.q_moments("    ")
        lines_c, C = self.c_moments(Q, "    ")
        qargs = ", ".join(f"Q_{k}" for k in self.comps)
        out = [f'''
@njit(cache=True)
def _res_Q(Q_{r}, {self.P}):
    """Scalar residual r(Q_{r}) = B - (1 - A) Q_{r}, the other components at their fixed point."""
''' + "\n".join(lines_q) + f"\n    return {self.call('res_q', Q=Q, Qn=Q)}\n",
               f'''
@njit(cache=True)
def _fp_moments(Q_{r}, {self.P}):
''' + "\n".join(lines_q) + f"\n    return {qargs}" + ("," if len(self.comps) == 1 else "") + "\n",
               f'''
@njit(cache=True)
def _illinois(f_kind, lo, hi, flo, fhi, scale, Q, {self.P}):
    """Illinois regula falsi on a bracket with flo > 0 > fhi; returns (root, status)."""
    side = 0
    x = 0.5 * (lo + hi)
    for it in range(_MAX_IT):
        x = (lo * fhi - hi * flo) / (fhi - flo)
        if not (x > lo and x < hi):
            x = 0.5 * (lo + hi)
        fx = _res_Q(x, {self.P}) if f_kind == 0 else _res_C(x, Q, {self.P})
        if fx == 0.0 or hi - lo <= _RTOL * scale:
            return x, 0
        if fx > 0.0:
            lo = x
            flo = fx
            if side == 1:
                fhi *= 0.5
            side = 1
        else:
            hi = x
            fhi = fx
            if side == -1:
                flo *= 0.5
            side = -1
    return math.nan, 3


@njit(cache=True)
def _solve_Q({self.P}):
    """(Q_{r}*, status): first sign change (+ to -) of r on [0, hi], hi expanded by 4 from 1."""
    r0 = _res_Q(0.0, {self.P})
    if not math.isfinite(r0):
        return math.nan, 1
    if r0 <= 0.0:
        return 0.0, 0
    hi = 1.0
    rhi = _res_Q(hi, {self.P})
    while rhi >= 0.0:
        if not math.isfinite(rhi):
            return math.nan, 1
        hi *= 4.0
        if hi > _Q_MAX:
            return math.nan, 2
        rhi = _res_Q(hi, {self.P})
    lo = 0.0
    rlo = r0
    top = hi
    for k in range(1, _SCAN + 1):
        b = top * k / _SCAN
        rb = _res_Q(b, {self.P})
        if rb < 0.0:
            hi = b
            rhi = rb
            break
        lo = b
        rlo = rb
    dummy = ({", ".join(["0.0"] * len(self.comps))},)
    return _illinois(0, lo, hi, rlo, rhi, hi, dummy, {self.P})
''',
               f'''
@njit(cache=True)
def _res_C(C_{r}, Q, {self.P}):
    """Scalar residual of the covariance map in C_{r} at the fixed-point second moments Q."""
    {qargs}{"," if len(self.comps) == 1 else ""} = Q
''' + "\n".join(lines_c) + f"\n    return {self.call('res_c', Q=Q, Qn=Q, C=C, Cn=C)}\n",
               f'''
@njit(cache=True)
def _c_moments(C_{r}, Q, {self.P}):
    {qargs}{"," if len(self.comps) == 1 else ""} = Q
''' + "\n".join(lines_c) + "\n    return " + ", ".join(f"C_{k}" for k in self.comps) + ("," if len(self.comps) == 1 else "") + "\n",
               f'''
@njit(cache=True)
def _fixed_point({self.P}):
    """(Q tuple, lambda_max, status)."""
    Qr, st = _solve_Q({self.P})
    if st != 0:
        nan = math.nan
        return ({", ".join(["nan"] * len(self.comps))},), nan, st
    Q = _fp_moments(Qr, {self.P})
    {qargs}{"," if len(self.comps) == 1 else ""} = Q
    M = {self.matrix("m", Q, Q)}
    lam = _moduli(M)[0]
    return Q, lam, 0


@njit(cache=True)
def _correlation({self.P}):
    """(Q tuple, C tuple, lambda_max, status): C* = Q* when ordered with Sigma = 1, else the
    stable root of the reduced covariance residual in [-Q*, Q*] (identical inputs: below Q*(1 - C_GAP))."""
    Q, lam, st = _fixed_point({self.P})
    if st != 0:
        return Q, Q, lam, st
    Qr = Q[{self.comps.index(r)}]
    if not (Qr > 0.0):
        return Q, Q, lam, 5
    same = Sigma == 1.0
    if same and lam <= 1.0:
        return Q, Q, lam, 0
    hi = Qr * (1.0 - _C_GAP) if same else Qr
    shi = _res_C(hi, Q, {self.P})
    if not math.isfinite(shi):
        return Q, Q, lam, 1
    if shi >= 0.0:
        if same:
            return Q, Q, lam, 4
        return Q, Q, lam, 0
    lo = 0.0
    slo = _res_C(lo, Q, {self.P})
    if slo < 0.0:
        lo = -Qr
        slo = _res_C(lo, Q, {self.P})
        if slo < 0.0:
            return Q, Q, lam, 4
    top = hi
    bottom = lo
    for k in range(1, _SCAN + 1):
        b = bottom + (top - bottom) * k / _SCAN
        sb = _res_C(b, Q, {self.P})
        if sb < 0.0:
            hi = b
            shi = sb
            break
        lo = b
        slo = sb
    x, st = _illinois(1, lo, hi, slo, shi, Qr, Q, {self.P})
    if st != 0:
        return Q, Q, lam, 4
    return Q, _c_moments(x, Q, {self.P}), lam, 0
''']
        return "\n".join(out)

    def solvers_jax(self):
        r = self.read
        lines_q, Q = self.q_moments("    ")
        lines_c, C = self.c_moments(Q, "    ")
        qargs = ", ".join(f"Q_{k}" for k in self.comps)
        comma = "," if len(self.comps) == 1 else ""
        return f'''
def _res_Q(Q_{r}, {self.P}):
    """Scalar residual r(Q_{r}) = B - (1 - A) Q_{r}, the other components at their fixed point."""
''' + "\n".join(lines_q) + f"\n    return {self.call('res_q', Q=Q, Qn=Q)}\n" + f'''

def _fp_moments(Q_{r}, {self.P}):
''' + "\n".join(lines_q) + f"\n    return {qargs}{comma}\n" + f'''

def _root(g, base, gbase, top, expand):
    """First sign change (+ to -) of g right of ``base`` (g(base) = gbase > 0), then its root.

    One ``lax.while_loop`` with one evaluation of g per iteration (small XLA programs): phase 0
    multiplies ``top`` by 4 until g(top) < 0 (``expand``), phase 1 scans [base, top] on _SCAN points
    for the first negative value, phase 2 is Illinois regula falsi.  Returns (root, ok)."""
    def cond(s):
        return (s[0] < 3) & (s[9] < _MAX_IT)

    def step(s):
        phase, lo, glo, hi, ghi, k, top, side, bad, it = s
        xs = base + (top - base) * k / _SCAN
        xi = (lo * ghi - hi * glo) / (ghi - glo)
        xi = jnp.where((xi > lo) & (xi < hi), xi, 0.5 * (lo + hi))
        x = jnp.where(phase == 0, top, jnp.where(phase == 1, xs, xi))
        gx = g(x)
        neg = gx < 0.0
        # phase 0: expand
        p0_next = jnp.where(neg, 1, jnp.where(4.0 * top > _Q_MAX, 3, 0))
        p0_bad = ~neg & (4.0 * top > _Q_MAX) | ~jnp.isfinite(gx)
        top0 = jnp.where(neg, top, 4.0 * top)
        # phase 1: scan
        p1_next = jnp.where(neg, 2, jnp.where(k >= _SCAN, 3, 1))
        # phase 2: Illinois
        pos = gx > 0.0
        exact = gx == 0.0
        lo2, hi2 = jnp.where(pos | exact, x, lo), jnp.where(pos & ~exact, hi, x)
        glo2 = jnp.where(pos, gx, jnp.where(side == -1, 0.5 * glo, glo))
        ghi2 = jnp.where(pos, jnp.where(side == 1, 0.5 * ghi, ghi), gx)
        done2 = exact | (hi2 - lo2 <= _RTOL * jnp.maximum(jnp.abs(hi2), jnp.abs(lo2)))
        return (jnp.where(phase == 0, p0_next, jnp.where(phase == 1, p1_next, jnp.where(done2, 3, 2))),
                jnp.where(phase == 1, jnp.where(neg, lo, x), jnp.where(phase == 2, lo2, lo)),
                jnp.where(phase == 1, jnp.where(neg, glo, gx), jnp.where(phase == 2, glo2, glo)),
                jnp.where(phase == 1, x, jnp.where(phase == 2, hi2, hi)),
                jnp.where(phase == 1, gx, jnp.where(phase == 2, ghi2, ghi)),
                jnp.where(phase == 1, k + 1, k),
                jnp.where(phase == 0, top0, top),
                jnp.where(phase == 2, jnp.where(pos, 1, -1), side),
                bad | jnp.where(phase == 0, p0_bad, (phase == 1) & ~neg & (k >= _SCAN)),
                it + 1)

    one = jnp.ones((), jnp.int64)
    s0 = (jnp.where(expand, 0, 1) * one, base, gbase, top, gbase, one, top, 0 * one, jnp.array(False), 0 * one)
    phase, lo, glo, hi, ghi, k, top, side, bad, it = lax.while_loop(cond, step, s0)
    ok = (phase == 3) & ~bad
    return 0.5 * (lo + hi), ok


def _solve_Q(params):
    g = lambda Q: _res_Q(Q, *params)
    zero = jnp.zeros((), jnp.float64)
    r0 = g(zero)
    x, ok = _root(g, zero, r0, jnp.ones((), jnp.float64), True)
    return jnp.where(r0 <= 0.0, 0.0, jnp.where(ok & jnp.isfinite(r0), x, jnp.nan))


def _Q_read(*params):
    """Q_{r}* with implicit differentiation (lax.custom_root): dQ*/dθ = -(∂_θ r)/(∂_Q r)."""
    g = lambda Q: _res_Q(Q, *params)
    return lax.custom_root(g, jnp.zeros((), jnp.float64), lambda f, x0: _solve_Q(params),
                           lambda lin, y: y / lin(jnp.ones((), jnp.float64)))


def _fixed_point({self.P}):
    Q = _fp_moments(_Q_read({self.P}), {self.P})
    {qargs}{comma} = Q
    M = {self.matrix("m", Q, Q)}
    return Q, _moduli(M)[0]


def _res_C(C_{r}, Q, {self.P}):
    {qargs}{comma} = Q
''' + "\n".join(lines_c) + f"\n    return {self.call('res_c', Q=Q, Qn=Q, C=C, Cn=C)}\n" + f'''

def _c_moments(C_{r}, Q, {self.P}):
    {qargs}{comma} = Q
''' + "\n".join(lines_c) + "\n    return " + ", ".join(f"C_{k}" for k in self.comps) + f"{comma}\n" + f'''

def _solve_C(Q, lam, params):
    Sigma = params[{self.params.index("Sigma")}]
    Qr = Q[{self.comps.index(r)}]
    g = lambda C: _res_C(C, Q, *params)
    same = Sigma == 1.0
    hi = jnp.where(same, Qr * (1.0 - _C_GAP), Qr)
    ghi = g(hi)
    top_root = ghi >= 0.0
    g0 = g(jnp.zeros_like(Qr))
    lo = jnp.where(g0 < 0.0, -Qr, 0.0)
    glo = jnp.where(g0 < 0.0, g(-Qr), g0)
    x, ok = _root(g, lo, glo, hi, False)
    bad = ~ok | (glo < 0.0) | ~(Qr > 0.0)
    x = jnp.where(bad, jnp.nan, x)
    x = jnp.where(top_root, jnp.where(same, jnp.nan, Qr), x)
    return jnp.where(same & (lam <= 1.0) & (Qr > 0.0), Qr, x)


def _correlation({self.P}):
    """(Q tuple, C tuple, lambda_max); C* = Q* when ordered with Sigma = 1 (C* by custom_root)."""
    params = ({self.P},)
    Q, lam = _fixed_point({self.P})
    g = lambda C: _res_C(C, Q, *params)
    Qr = Q[{self.comps.index(r)}]
    Cr = lax.custom_root(g, Qr, lambda f, x0: _solve_C(Q, lam, params),
                         lambda lin, y: y / lin(jnp.ones((), jnp.float64)))
    ordered = (Sigma == 1.0) & (lam <= 1.0)
    C = _c_moments(Cr, Q, {self.P})
    C = tuple(jnp.where(ordered, q, c) for q, c in zip(Q, C))
    # Q* = 0: correlations undefined (numba's status 5), whatever lambda_max; without this the answer
    # hung on lam <= 1 to rounding at a marginal point (z = 1: lam = 1), which differs with batch size
    return Q, tuple(jnp.where(Qr > 0.0, c, jnp.nan) for c in C), lam
'''

    # --- public functions ----------------------------------------------------------------------------
    def _solve(self, corr):
        """Statements that solve for the fixed point (corr: and the correlation fixed point) and unpack
        it into Q_<k> (C_<k>), lam; numba's return NaN on a failed solve (the status ufuncs say why)."""
        P, comps = self.P, self.comps
        comma = "," if len(comps) == 1 else ""
        if self.nb:
            pre = (f"    Q, C, lam, st = _correlation({P})\n" if corr else f"    Q, lam, st = _fixed_point({P})\n")
            pre += "    if st != 0:\n        return math.nan\n"
        else:
            pre = f"    Q, C, lam = _correlation({P})\n" if corr else f"    Q, lam = _fixed_point({P})\n"
        pre += "    " + ", ".join(f"Q_{k}" for k in comps) + f"{comma} = Q\n"
        if corr:
            pre += "    " + ", ".join(f"C_{k}" for k in comps) + f"{comma} = C\n"
        return pre

    def served(self):
        """(fixed-point quantities, correlation quantities): each a list of :class:`Served`."""
        d, nb = self.d, self.nb
        comps, r = self.comps, self.read
        Q = {k: f"Q_{k}" for k in comps}
        C = {k: f"C_{k}" for k in comps}
        fixed, corr = [], []

        def fn(name, doc, body, is_corr=False):
            (corr if is_corr else fixed).append(Served(name, doc, body))

        fn("Q_star", f"Q* = (1/N)|{r}|^2, the read component's second moment at the fixed point.",
           f"    return Q_{r}\n")
        for k in self.other:
            fn(f"Q_{k}_star", f"Q_{k}* = (1/N)|{k}|^2 at the fixed point.", f"    return Q_{k}\n")
        mg = d.cell.memory_gate
        fn("q_star", f"Field variance of the memory gate ({mg}) at the fixed point.",
           f"    return {self.call('gate_var_' + mg, Q=Q, Qn=Q)}\n")
        for g in d.cell.gates:
            fn(f"q_star_{g.name}", f"Field variance of gate {g.name} at the fixed point.",
               f"    return {self.call('gate_var_' + g.name, Q=Q, Qn=Q)}\n")
        fn("lambda_max", "Top eigenvalue of the perturbation map M (the chi analogue: 1 is critical).",
           "    return lam\n")
        fn("chi", "Mean squared singular value of the one-step state Jacobian: (1/n) sum_ij M_ij.",
           f"    return {self.call('chi_expr', Q=Q, Qn=Q)}\n")
        Mcall = self.matrix("m", Q, Q)
        Jq = self.matrix("jq", Q, Q)
        Jc = self.matrix("jc", Q, Q, C, C)
        fn("xi_q", "-1/ln of the spectral radius of dF/dQ at Q*: slowest variance relaxation time.",
           f"    return _timescale(_moduli({Jq})[0])\n")
        if len(comps) == 2:
            fn("lambda_2", "Second eigenvalue modulus of the perturbation map M.", f"    return _moduli({Mcall})[1]\n")
            fn("xi_q_2", "-1/ln of the second eigenvalue modulus of dF/dQ at Q*.", f"    return _timescale(_moduli({Jq})[1])\n")
        if nb:
            sel = (f"    J = {Mcall} if Q_{r} == C_{r} and Sigma == 1.0 else {Jc}\n")
            fn("xi", "-1/ln of the spectral radius of dG/dC at C* (= -1/ln lambda_max when C* = Q*, Sigma = 1).",
               sel + "    return _timescale(_moduli(J)[0])\n", True)
            if len(comps) == 2:
                fn("xi_2", "-1/ln of the second eigenvalue modulus of dG/dC at C*.",
                   sel + "    return _timescale(_moduli(J)[1])\n", True)
        else:
            pick = (f"    ordered = (Sigma == 1.0) & (lam <= 1.0) & (Q_{r} > 0.0)\n    a = _moduli({Mcall})\n    b = _moduli({Jc})\n")
            fn("xi", "-1/ln of the spectral radius of dG/dC at C* (= -1/ln lambda_max when C* = Q*, Sigma = 1).",
               pick + "    return _timescale(jnp.where(ordered, a[0], b[0]))\n", True)
            if len(comps) == 2:
                fn("xi_2", "-1/ln of the second eigenvalue modulus of dG/dC at C*.",
                   pick + "    return _timescale(jnp.where(ordered, a[1], b[1]))\n", True)
        fn("c_star", f"Field correlation of the memory gate ({mg}) at the correlation fixed point, q_ab*/q*.",
           f"    return {self.call('gate_cov_' + mg, Q=Q, Qn=Q, C=C, Cn=C)} / {self.call('gate_var_' + mg, Q=Q, Qn=Q)}\n",
           True)
        fn("c_h_star", f"C_{r}*/Q_{r}*: correlation of the two sequences' {r} at the fixed point.",
           f"    return C_{r} / Q_{r}\n", True)
        for k in self.other:
            fn(f"c_{k}_star", f"C_{k}*/Q_{k}* at the correlation fixed point.", f"    return C_{k} / Q_{k}\n", True)
        for k in comps:
            if k in d.kurtosis:
                fn(f"kurtosis_{k}", f"Exact untied fourth moment of {k} over Q_{k}^2 at the fixed point (3: Gaussian).",
                   f"    return {self.call('kurt_' + k, Q=Q, Qn=Q)}\n")
        return fixed, corr

    def groups(self):
        """The jax module's :class:`Group` s: the fixed-point quantities, the correlation quantities."""
        fixed, corr = self.served()
        return (Group("fixed_point_quantities", "Every fixed-point quantity (not the correlation ones) from one solve, as a dict.",
                      self._solve(False), tuple(fixed)),
                Group("correlation_quantities", "Every correlation quantity from one solve, as a dict.",
                      self._solve(True), tuple(corr)))

    def public(self):
        P = self.P
        groups = self.groups()
        if not self.nb:
            return "\n\n".join(f for g in groups for f in render_group(g, P))
        # numba: the same quantities as ufuncs, without the group functions (their solve returns NaN on failure)
        out = [render_quantity(s, P, g.solve, self.deco(self.sig)) for g in groups for s in g.served]
        out.append(f"{self.deco(self.sig_int)}def fixed_point_status({P}):\n    \"\"\"Status of the Q* solve: {STATUS_DOC}.\"\"\"\n"
                   f"    return _fixed_point({P})[2]\n")
        out.append(f"{self.deco(self.sig_int)}def correlation_status({P}):\n    \"\"\"Status of the C* solve (same codes).\"\"\"\n"
                   f"    return _correlation({P})[3]\n")
        return "\n\n".join(out)

    def map_functions(self):
        """Public maps: per component, and the core's 1-D names when there is one component."""
        comps, P = self.comps, self.P
        Qa = ", ".join(f"Q_{k}" for k in comps)
        Ca = ", ".join(f"C_{k}" for k in comps)
        n = len(comps)
        out = []

        def sig(k):
            return numba_ufunc.signature(k + len(self.params))

        for i, k in enumerate(comps):
            out.append(f"{self.deco(sig(n))}def variance_map_{k}({Qa}, {P}):\n    \"\"\"Q_{k} after one step from (Q).\"\"\"\n"
                       f"    return _vstep({Qa}, {P})[{i}]\n")
            out.append(f"{self.deco(sig(2 * n))}def covariance_map_{k}({Ca}, {Qa}, {P}):\n    \"\"\"C_{k} after one step from (C, Q).\"\"\"\n"
                       f"    return _cstep({Ca}, {Qa}, {P})[{i}]\n")
        Q = {k: f"Q_{k}" for k in comps}
        C = {k: f"C_{k}" for k in comps}
        for g in self.d.cell.gates:
            out.append(f"{self.deco(sig(n))}def gate_variance_{g.name}({Qa}, {P}):\n    \"\"\"q of gate {g.name} at second moments Q.\"\"\"\n"
                       f"    return {self.call('gate_var_' + g.name, Q=Q, Qn=Q)}\n")
            out.append(f"{self.deco(sig(2 * n))}def gate_covariance_{g.name}({Ca}, {Qa}, {P}):\n    \"\"\"q_ab of gate {g.name} at (C, Q).\"\"\"\n"
                       f"    return {self.call('gate_cov_' + g.name, Q=Q, Qn=Q, C=C, Cn=C)}\n")
        for i in range(n):
            for j in range(n):
                out.append(f"{self.deco(sig(n))}def perturbation_map_{i}{j}({Qa}, {P}):\n"
                           f"    \"\"\"Entry ({comps[i]}, {comps[j]}) of M = dG/dC at C = Q, Sigma = 1 (Q: the step's input moments).\"\"\"\n"
                           f"    nq = _vstep({Qa}, {P})\n"
                           f"    return {self.call(f'm_{i}{j}', Q=Q, Qn={k: f'nq[{m}]' for m, k in enumerate(comps)})}\n")
        if n == 1:  # the core's 1-D names; bodies call private helpers, never a public kernel (numba_ufunc)
            k = comps[0]
            mg = self.d.cell.memory_gate
            out.append(f"{self.deco(sig(1))}def field_variance(Q, {P}):\n    \"\"\"q(Q) of the memory gate ({mg}).\"\"\"\n"
                       f"    return {self.call('gate_var_' + mg, Q={k: 'Q'}, Qn={k: 'Q'})}\n")
            out.append(f"{self.deco(sig(1))}def field_covariance(C, {P}):\n    \"\"\"q_ab(C) of the memory gate ({mg}) (it reads {k} directly).\"\"\"\n"
                       f"    return {self.call('gate_cov_' + mg, C={k: 'C'})}\n")
            out.append(f"{self.deco(sig(1))}def variance_map(Q, {P}):\n    \"\"\"V(Q).\"\"\"\n    return _vstep(Q, {P})[0]\n")
            out.append(f"{self.deco(sig(2))}def covariance_map(C, Q, {P}):\n    \"\"\"C(C; Q).\"\"\"\n    return _cstep(C, Q, {P})[0]\n")
            out.append(f"{self.deco(sig(1))}def jacobian_msv(Q, {P}):\n    \"\"\"chi(Q) at a state of second moment Q.\"\"\"\n"
                       f"    return {self.call('chi_expr', Q={k: 'Q'}, Qn={k: 'Q'})}\n")
        return "\n\n".join(out)


# ----------------------------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------------------------

def _constants(nb, mixture=False, em2=False):
    lines = [f"_NODES = {quadrature.NODES}\n_PANELS = {quadrature.PANELS}\n_L = {quadrature.L!r}",
             "_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)\n_SQRT_2PI = math.sqrt(2.0 * math.pi)",
             f"_Q_MAX = {Q_MAX!r}\n_RTOL = {RTOL!r}\n_C_GAP = {C_GAP!r}\n_MAX_IT = {MAX_IT!r}\n_SCAN = {SCAN}\n"]
    if em2:
        lines.append(f"_MIX_OUT_PANELS = {quadrature.MIX_OUTER_PANELS}  # reduced rule of the 4-D mixture nodes "
                     f"(theory.codegen.quadrature)\n_MIX_IN_PANELS = {quadrature.MIX_INNER_PANELS}\n")
    if nb:
        return [f"_GL_T, _GL_W = np.polynomial.legendre.leggauss({quadrature.NODES})"] + lines + [nb_quadrature()]
    extra = []
    if mixture:
        extra.append("_NODE_POS = (_PANEL_IDX[:, None] + 0.5 * (1.0 + _GL_T[None, :])).reshape(-1)\n"
                     "_NODE_W = np.tile(_GL_W, _PANELS)")
    if em2:
        extra.append("_MIX_OUT_POS = (np.arange(_MIX_OUT_PANELS, dtype=np.float64)[:, None] + 0.5 * (1.0 + _GL_T[None, :])).reshape(-1)\n"
                     "_MIX_OUT_W = np.tile(_GL_W, _MIX_OUT_PANELS)\n"
                     "_MIX_IN_POS = (np.arange(_MIX_IN_PANELS, dtype=np.float64)[:, None] + 0.5 * (1.0 + _GL_T[None, :])).reshape(-1)\n"
                     "_MIX_IN_W = np.tile(_GL_W, _MIX_IN_PANELS)\n")
    return [f"_T, _W = np.polynomial.legendre.leggauss({quadrature.NODES})", jax_float64.CONSTANTS
            ] + lines + ["_PANEL_IDX = np.arange(_PANELS, dtype=np.float64)\n"] + extra + [jx_quadrature()]


def _names(d, backend_numba=True):
    n = ["Q_star", "q_star", "chi", "lambda_max", "xi", "xi_q", "c_star", "c_h_star"]
    n += [f"Q_{k}_star" for k in d.comps if k != d.read] + [f"c_{k}_star" for k in d.comps if k != d.read]
    n += [f"q_star_{g.name}" for g in d.cell.gates] + [f"kurtosis_{k}" for k in d.kurtosis]
    n += [] if backend_numba else ["fixed_point_quantities", "correlation_quantities"]
    if d.n == 2:
        n += ["lambda_2", "xi_2", "xi_q_2"]
    return n


def render_module(cell, backend) -> str:
    d = derive_gated(cell)
    nb = backend == "numba"
    glue = _Glue(d, backend)
    exprs = expressions(d)
    helpers = _GatedHelpers([e for _, e in exprs])
    args = state_args(d) + list(cell.param_names)
    doc = (f'"""{backend} kernels for {cell.name} (generated from the gated SymPy declaration).\n\n'
           f"Public functions of the parameters {'(ufuncs, broadcasting)' if nb else '(scalar; jit/vmap/grad-safe; fixed points by lax.custom_root)'}:\n"
           f"{', '.join(_names(d, nb))}{', fixed_point_status, correlation_status' if nb else ''};\n"
           f"maps: variance_map_<k>, covariance_map_<k>, gate_variance_<g>, gate_covariance_<g>, perturbation_map_<ij>.\n"
           f"Failures give NaN{' (the status ufuncs say why: ' + STATUS_DOC + ')' if nb else ''}.\n"
           + ('' if nb else jax_float64.DOC + '\n') + '"""')
    if nb:
        imports = numba_ufunc.module_imports()
    else:
        imports = jax_float64.IMPORTS + "from jax import lax\n"
    out = [module_header(cell, f"{backend} kernels"), doc, imports, f"PARAMS = {tuple(cell.param_names)!r}",
           f"COMPONENTS = {d.comps!r}"] + ([] if nb else [programs_line(glue.groups())]) + _constants(
               nb, any(k in ("EM1", "EM2") for _, k, _ in helpers.specs), helpers.has_em2)
    out += _helper_code(helpers, backend)
    printer = numba_code if nb else jax_code
    for name, e in exprs:
        out.append("\n" + render_function(printer, "_" + name, args, _substitute(helpers, e),
                                    "@njit(cache=True)\n" if nb else "") + "\n")
    out.append(glue.eig())
    out.append(glue.maps())
    out.append(glue.solvers_numba() if nb else glue.solvers_jax())
    out.append(glue.public())
    out.append(glue.map_functions())
    if not nb:
        out.append(jax_float64.FOOTER)
    return finish_module(out)


def render_init(cell) -> str:
    d = derive_gated(cell)
    return (module_header(cell, "package") +
            f'"""Generated kernels for {cell.name}: ``numba_kernels`` and ``jax_kernels`` (import either alone).\n\n'
            f'Attribute access on this package (``derivations.{cell.package}.lambda_max``) gives the numba ufunc.\n"""\n'
            "import importlib\n\n"
            f"CELL = {cell.name!r}\n"
            f"PARAMS = {cell.param_names!r}\n"
            f"COMPONENTS = {d.comps!r}\n"
            f"DECLARATION_SHA256 = {cell.declaration_hash()!r}\n\n\n"
            "def __getattr__(name):\n"
            "    if name.startswith('__'):\n"
            "        raise AttributeError(name)\n"
            "    return getattr(importlib.import_module(__name__ + '.numba_kernels'), name)\n")


def render_package(cell, backends=("numba", "jax")) -> dict:
    from .gated_markdown import render_markdown
    files = {"__init__.py": render_init(cell), "derivation.md": render_markdown(cell)}
    if "numba" in backends:
        files["numba_kernels.py"] = render_module(cell, "numba")
    if "jax" in backends:
        files["jax_kernels.py"] = render_module(cell, "jax")
    return files


register(RENDERERS, GatedCell, render_package)

__all__ = ["render_package", "render_module", "expressions"]
