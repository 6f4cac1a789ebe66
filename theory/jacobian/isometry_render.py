"""Generated isometry files per cell: ``isometry_numba.py``, ``isometry_jax.py``, ``isometry.md``.

Registered in :data:`theory.codegen.render.EXTENSIONS`.  The kernels are functions of the fixed point
``Q`` (= Q*, supplied by the core kernels' solver) and the cell parameters, so these modules import
nothing from the core modules and load the same way for built-in and user cells.  Expectation
nodes without a closed form use the core's quadrature rule (``render.nb_e1`` /
``render.jx_e1``: same rule, same constants).  Output is deterministic (sorted helpers, ``cse``
per expression, no time stamps), like everything under ``derivations/``.

Public functions (numba: ufuncs broadcasting over arrays; jax: scalar, compose with jit/vmap/grad):

* ``isometry_mean(T, Q, *params)`` — :math:`m_1=\\chi^T`;
* ``isometry_variance(T, v_W, Q, *params)`` — :math:`\\chi^{2T}Tv` (free steps);
* ``isometry_spread(v_W, Q, *params)`` — per-step :math:`v`;
* ``step_msv``, ``step_m2`` and ``factor_A2 ... factor_A2B2`` (and ``fourth_moment`` where used).
"""
from __future__ import annotations

import sympy as sp

from ..codegen import jax_float64, numba_ufunc, quadrature, render
from ..declare.cell import Cell
from ..symbolic.derive import Q
from .isometry import Q4, derive_isometry
from .isometry_recursion import derive_recursion
from ..codegen.printers import jax_code, latex, numba_code

_DOCS = {
    "factor_A2": "E[a^2], a = dF/dh (gate diagonal of the one-step Jacobian)",
    "factor_A4": "E[a^4]",
    "factor_B2": "E[b^2], b = dF/de (diagonal multiplying W; vanilla: mu_1 = E[phi'^2])",
    "factor_B4": "E[b^4] (vanilla: mu_2 = E[phi'^4])",
    "factor_A2B2": "E[a^2 b^2]",
    "step_msv": "m_1 of one step J_t J_t^T: A2 + sigma_w^2 B2 (= chi)",
    "step_m2": "m_2 of one step J_t J_t^T for weights with normalised variance v_W of W W^T",
    "spread": "per-step normalised variance v = m_2/m_1^2 - 1 (sum of non-negative terms)",
    "fourth_moment": "Q_4 = E[h^4] at stationarity (Gaussian inputs)",
}

_NB_ANNEALED = '''
@njit(cache=True)
def _variance_annealed(T, v_W, Q, {args}):
    """Exact annealed sigma^2 of J J^T over T untied steps (theory/jacobian/isometry_recursion.py)."""
    A2 = _factor_A2(Q, {args})
    A4 = _factor_A4(Q, {args})
    B2 = _factor_B2(Q, {args})
    B4 = _factor_B4(Q, {args})
    sw2 = {sw2}
    sw4 = sw2 * sw2
    chi = A2 + sw2 * B2
    ke = _rec_k_eta(Q, {args})
    ka = _rec_k_alpha(Q, {args})
    ee = _rec_e_eta(Q, {args})
    ea = _rec_e_alpha(Q, {args})
    base = (sw4 * (B4 - B2 * B2) + v_W * sw4 * B2 * B2) / (chi * chi)
    va2 = (A4 - A2 * A2) / (chi * chi)
    g = 1.0
    eta = Q
    d = 0.0
    for t in range(int(T)):
        K = ke * eta + ka
        d += va2 * g + base + 2.0 * sw2 * K / (chi * chi)
        g = (A4 * g + 2.0 * sw2 * K + sw4 * B4) / (chi * chi)
        eta = (ee * eta + ea) / chi
    return chi ** (2.0 * T) * d
'''

_JX_ANNEALED = '''
def _variance_annealed(T, v_W, Q, {args}):
    """Exact annealed sigma^2 of J J^T over T untied steps (theory/jacobian/isometry_recursion.py).
    A lax.fori_loop over T: jit, vmap and forward-mode derivatives; no reverse mode in T-loop."""
    A2 = _factor_A2(Q, {args})
    A4 = _factor_A4(Q, {args})
    B2 = _factor_B2(Q, {args})
    B4 = _factor_B4(Q, {args})
    sw2 = {sw2}
    sw4 = sw2 * sw2
    chi = A2 + sw2 * B2
    ke = _rec_k_eta(Q, {args})
    ka = _rec_k_alpha(Q, {args})
    ee = _rec_e_eta(Q, {args})
    ea = _rec_e_alpha(Q, {args})
    base = (sw4 * (B4 - B2 * B2) + v_W * sw4 * B2 * B2) / (chi * chi)
    va2 = (A4 - A2 * A2) / (chi * chi)

    def body(t, s):
        g, eta, d = s
        K = ke * eta + ka
        return ((A4 * g + 2.0 * sw2 * K + sw4 * B4) / (chi * chi), (ee * eta + ea) / chi,
                d + va2 * g + base + 2.0 * sw2 * K / (chi * chi))

    g, eta, d = jax.lax.fori_loop(0, jnp.asarray(T).astype(jnp.int64), body, (jnp.ones_like(chi), Q + 0.0 * chi, 0.0 * chi))
    return chi ** (2.0 * T) * d
'''



def _kernel_list(d):
    """(name, leading args, expression) for every generated function."""
    out = []
    if d.Q4 is not None:
        out.append(("fourth_moment", ["Q"], d.Q4))
    for k, e in d.moments.items():
        out.append((f"factor_{k}", ["Q"], e))
    out += [("step_msv", ["Q"], d.chi), ("step_m2", ["v_W", "Q"], d.m2_step),
            ("spread", ["v_W", "Q"], d.spread), ("mean_T", ["T", "Q"], d.mean_T),
            ("variance_T", ["T", "v_W", "Q"], d.variance_T)]
    if d.gated:
        r = derive_recursion(d.cell)
        out += [("rec_k_eta", ["Q"], r.k_eta), ("rec_k_alpha", ["Q"], r.k_alpha),
                ("rec_e_eta", ["Q"], r.e_eta), ("rec_e_alpha", ["Q"], r.e_alpha)]
    return out


def _with_q4_call(expr, args):
    """Replace the symbol Q_4 by a call of the generated ``_fourth_moment(Q, *params)``."""
    call = sp.Function("_fourth_moment")(Q, *[sp.Symbol(a) for a in args])
    return expr.xreplace({Q4: call})


def _prepared(d):
    args = list(d.cell.param_names)
    ks = _kernel_list(d)
    helpers = render.Helpers([e for _, _, e in ks])
    out = []
    for name, lead, e in ks:
        e = helpers.substitute(e)
        if name != "fourth_moment":
            e = _with_q4_call(e, args)
        out.append((name, lead, e))
    return helpers, out, args


def _public(d):
    """(public name, inner kernel, leading args, doc): gated cells serve the exact annealed variance."""
    return (("isometry_mean", "mean_T", ["T", "Q"], "m_1 = chi^T: mean squared singular value of the T-step Jacobian"),
            ("isometry_variance", "variance_annealed" if d.gated else "variance_T", ["T", "v_W", "Q"],
             "sigma^2 = m_2 - m_1^2 of J J^T over T untied steps" + (
                 " (exact annealed recursion; the steps are not free)" if d.gated else " (= chi^(2T) T v)")),
            ("isometry_variance_free", "variance_T", ["T", "v_W", "Q"],
             "sigma^2 = chi^(2T) T v of J J^T treating the T steps as free (S-transform product)"),
            ("isometry_spread", "spread", ["v_W", "Q"], "per-step normalised variance v = m_2/m_1^2 - 1"))


def _sw2(d):
    return numba_code(d.cell.field.recurrent ** 2)


def render_isometry_numba(cell: Cell) -> str:
    d = derive_isometry(cell)
    helpers, ks, args = _prepared(d)
    out = [render.module_header(cell, "isometry numba kernels"),
           f'"""Isometry kernels for {cell.name} (generated; see theory/jacobian/isometry.py for the derivation).\n\n'
           'Arguments: T (steps/layers), v_W (normalised variance of W W^T: 1 Gaussian, 0 orthogonal), Q (the\n'
           'fixed point Q* from numba_kernels.Q_star), then the cell parameters.  Ufuncs broadcast.\n"""',
           numba_ufunc.module_imports(),
           f"PARAMS = {tuple(args)!r}",
           f"_GL_T, _GL_W = np.polynomial.legendre.leggauss({quadrature.NODES})",
           f"_NODES = {quadrature.NODES}\n_PANELS = {quadrature.PANELS}\n_L = {quadrature.L!r}",
           "_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)\n", render.nb_quadrature()]
    for name, kind, lam in helpers.specs:
        out.append(render.nb_e1(name, render.canonical_lambda(lam)))
    for name, lead, e in ks:
        out.append("\n" + render.render_function(numba_code, "_" + name, lead + args, e, "@njit(cache=True)\n") + "\n")
    for name, lead, _ in ks:
        if name in ("mean_T", "variance_T", "spread") or name.startswith("rec_"):
            continue
        full = lead + args
        sig = numba_ufunc.signature(len(full))
        out.append(f'\n{numba_ufunc.decorator(sig)}def {name}({", ".join(full)}):\n'
                   f'    """{_DOCS[name]}."""\n    return _{name}({", ".join(full)})\n')
    if d.gated:
        out.append(_NB_ANNEALED.format(args=", ".join(args), sw2=_sw2(d)))
    for pub, inner, lead, doc in _public(d):
        full = lead + args
        sig = numba_ufunc.signature(len(full))
        out.append(f'\n{numba_ufunc.decorator(sig)}def {pub}({", ".join(full)}):\n'
                   f'    """{doc}."""\n    return _{inner}({", ".join(full)})\n')
    return render.finish_module(out)


def render_isometry_jax(cell: Cell) -> str:
    d = derive_isometry(cell)
    helpers, ks, args = _prepared(d)
    out = [render.module_header(cell, "isometry jax kernels"),
           f'"""Isometry kernels for {cell.name} (generated; see theory/jacobian/isometry.py).  Scalar, pure functions of\n'
           f'(T, v_W, Q, *params); compose with jit/vmap/grad.\n{jax_float64.DOC}"""',
           jax_float64.IMPORTS,
           f"PARAMS = {tuple(args)!r}",
           f"_T, _W = np.polynomial.legendre.leggauss({quadrature.NODES})",
           jax_float64.CONSTANTS,
           f"_PANELS = {quadrature.PANELS}\n_PANEL_IDX = np.arange(_PANELS, dtype=np.float64)\n_L = {quadrature.L!r}",
           "_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)\n", render.jx_quadrature()]
    for name, kind, lam in helpers.specs:
        out.append(render.jx_e1(name, render.canonical_lambda(lam)))
    for name, lead, e in ks:
        out.append("\n" + render.render_function(jax_code, "_" + name, lead + args, e, "") + "\n")
    for name, lead, _ in ks:
        if name in ("mean_T", "variance_T", "spread") or name.startswith("rec_"):
            continue
        full = ", ".join(lead + args)
        out.append(f'\ndef {name}({full}):\n    """{_DOCS[name]}."""\n    return _{name}({full})\n')
    if d.gated:
        out.append(_JX_ANNEALED.format(args=", ".join(args), sw2=jax_code(d.cell.field.recurrent ** 2)))
    for pub, inner, lead, doc in _public(d):
        full = ", ".join(lead + args)
        out.append(f'\ndef {pub}({full}):\n    """{doc}."""\n    return _{inner}({full})\n')
    out.append(jax_float64.FOOTER)
    return render.finish_module(out)


def render_isometry_markdown(cell: Cell) -> str:
    d = derive_isometry(cell)
    L = latex
    sw = L(cell.field.recurrent)
    lines = [f"<!-- generated by signalprop — do not edit; declaration sha256 {cell.declaration_hash()} -->",
             f"# {cell.name}: dynamical isometry", "",
             "Derived by `theory/jacobian/isometry.py` from the declaration; kernels in `isometry_numba.py` / "
             "`isometry_jax.py`, served as `theory.predict(cell, 'isometry_mean' | 'isometry_variance' | "
             "'isometry_spread', T=..., weights='gaussian' | 'orthogonal')`.", "",
             "## One-step Jacobian", "",
             f"$$J_t = D_a + D_b W,\\qquad a = \\partial_h F = {L(d.a)},\\qquad b = \\partial_e F = {L(d.b)}$$", "",
             "Diagonal factor moments at the fixed point ($Q = Q^*$, field $e\\sim\\mathcal N(\\mu_b, q^*)$):", ""]
    for k in ("A2", "A4", "B2", "B4", "A2B2"):
        lines.append(f"- `{k}`: $${L(d.moments[k])}$$")
    if d.Q4 is not None:
        lines += ["", "Fourth moment of the stored state (stationary closure, Gaussian inputs $E[z^4]=3R^2$):", "",
                  f"$$Q_4 = {L(d.Q4)}$$"]
    lines += ["", "## Moments of $J_tJ_t^\\top$ (one step)", "",
              f"$$m_1 = \\chi = {L(d.chi)}$$", "",
              f"$$m_2 = {L(d.m2_step)}$$", "",
              "with $v_W$ the normalised variance of $WW^\\top$: **1 for Gaussian** $W$ (Marchenko–Pastur), "
              "**0 for scaled orthogonal** $W$.  Per-step spread:", "",
              f"$$v = \\frac{{m_2}}{{m_1^2}} - 1 = {L(d.spread)}$$", "",
              "## T steps (L layers), by S-transform series", "",
              "Per step $m_1 S(z) = 1 - v z + O(z^2)$; the S-transforms of free steps multiply, and series "
              "reversion with symbolic $T$ gives", "",
              f"$$m_1^{{(T)}} = {L(d.mean_T)}$$", "",
              f"$$\\sigma^2_{{JJ^\\top}} = m_2^{{(T)}} - \\big(m_1^{{(T)}}\\big)^2 = {L(d.variance_T)}$$", "",
              "## Conditions for dynamical isometry", "",
              f"1. $\\chi = 1$ (else $m_1 = \\chi^T$ grows or decays exponentially): the critical line (`derivation.md`).",
              "2. $T\\,v = O(1)$: the normalised variance $\\sigma^2/m_1^2 = Tv$ grows **linearly** in $T$; "
              "isometry over $T$ steps needs $v \\lesssim 1/T$.",
              f"3. Gaussian weights add $v_W\\,{sw}^4 B_2^2/\\chi^2$ per step (= 1 at $\\chi = 1$ for vanilla cells): "
              "never isometric over many steps; orthogonal weights remove that term.", ""]
    if d.gated:
        r = derive_recursion(cell)
        lines += ["## What free probability does and does not give here", "",
                  "- One step: $m_1$, $m_2$ exact at large width for $W$ free from the diagonals; $D_a$ and $D_b$ are "
                  "**not** free from each other, so the one-step law needs diagonal-valued freeness "
                  "(`theory/jacobian/spectrum.py`).",
                  "- $T$ steps: $m_1 = \\chi^T$ exact under the closure. The S-product above (served as "
                  "`isometry_variance_free`) treats the steps as free, but gate diagonals of different steps commute "
                  "and the stored state correlates $b_t$ with earlier gates: it is exact only to first order in $v$.",
                  "- Exact annealed variance (served as `isometry_variance`): $W_t$ is free from the *diagonal* "
                  "algebra, and $\\alpha=\\tau(M)$, $\\beta=\\tau(M^2)$, $\\gamma=\\tfrac1N\\sum_i M_{ii}^2$, "
                  "$\\eta=E[h_i^2M_{ii}]$ of $M_t=J_t\\cdots J_1J_1^\\top\\cdots J_t^\\top$ close "
                  "(`theory/jacobian/isometry_recursion.py`). Normalised ($\\hat\\gamma=\\gamma/\\alpha^2$, "
                  "$\\hat\\eta=\\eta/\\alpha$, $d=\\beta/\\alpha^2-1$, $\\hat K=k_\\eta\\hat\\eta+k_\\alpha$), "
                  "from $\\hat\\gamma=1$, $\\hat\\eta=Q^*$, $d=0$:", "",
                  "$$d' = d + \\frac{\\mathrm{Var}(a^2)\\hat\\gamma + \\sigma_w^4\\mathrm{Var}(b^2) + v_W\\sigma_w^4B_2^2 "
                  "+ 2\\sigma_w^2\\hat K}{\\chi^2},\\quad \\hat\\gamma' = \\frac{A_4\\hat\\gamma + 2\\sigma_w^2\\hat K "
                  "+ \\sigma_w^4B_4}{\\chi^2},\\quad \\hat\\eta' = \\frac{e_\\eta\\hat\\eta + e_\\alpha}{\\chi},"
                  "\\quad \\sigma^2_{JJ^\\top} = \\chi^{2T}d_T$$", "",
                  f"$$k_\\eta = {L(r.k_eta)},\\qquad k_\\alpha = {L(r.k_alpha)}$$", "",
                  f"$$e_\\eta = {L(r.e_eta)},\\qquad e_\\alpha = {L(r.e_alpha)}$$", "",
                  "- Spectral density: one step by diagonal-valued subordination; $T>1$ composes steps as free "
                  "(its variance is `isometry_variance_free`, not the exact one).",
                  "- Tied weights: not covered (the closure itself fails for gated cells, 02 §5).", ""]
    else:
        lines += ["## Validity", "",
                  "- Untied weights / feed-forward layers: exact at large width (the step Jacobians $D_tW_t$ are "
                  "free). Tied RNN: annealed approximation (03 §7); check against simulation.", ""]
    return "\n".join(lines)


def render_extension(cell, backends=("numba", "jax")) -> dict:
    """``render.EXTENSIONS`` hook: the isometry files of a declared ``Cell`` (other families: none)."""
    if not isinstance(cell, Cell):
        return {}
    from ..cells import is_builtin
    if not is_builtin(cell.name):
        # User cells: not derived here.  SymPy's piecewise_fold of E[D^4] for kinked user activations
        # (e.g. softsign) can take tens of minutes; isometry for user cells needs that fixed first.
        return {}
    files = {"isometry.md": render_isometry_markdown(cell)}
    if "numba" in backends:
        files["isometry_numba.py"] = render_isometry_numba(cell)
    if "jax" in backends:
        files["isometry_jax.py"] = render_isometry_jax(cell)
    return files


def _register():
    if render_extension not in render.EXTENSIONS:
        render.EXTENSIONS.append(render_extension)


_register()
