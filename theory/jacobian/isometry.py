r"""Dynamical isometry, derived from a cell's declaration (03 §3-7).

**One step.**  For an update :math:`h_t=F(e_t,h_{t-1},z_t)` with field :math:`e_t=Wh_{t-1}+\dots`
the state-to-state Jacobian is

.. math:: J_t=\partial h_t/\partial h_{t-1}=D_a+D_bW,\qquad a=\partial_hF,\quad b=\partial_eF,

(vanilla / feed-forward: :math:`a=0`, :math:`b=\phi'(e)`, so :math:`J_t=D_bW`; minimalRNN:
:math:`a=u`, :math:`b=u'\,(h_{t-1}-z_t)`).  SymPy differentiates the declaration; the diagonal
factor moments at the fixed point (:math:`e\sim\mathcal N(\mu_b,q^*)`, ``h`` and ``z`` closed as
in :mod:`theory.symbolic.derive`, plus fourth moments, below) are

.. math:: A_2=E[a^2],\ A_4=E[a^4],\ B_2=E[b^2],\ B_4=E[b^4],\ A_2B_2=E[a^2b^2]

(for vanilla :math:`\mu_1=B_2=E[\phi'^2]`, :math:`\mu_2=B_4=E[\phi'^4]`).  With :math:`W` free
from the diagonals, normalised trace :math:`\tau`, :math:`\tau(WW^\top)=\sigma_w^2` and
:math:`v_W=\tau((WW^\top)^2)/\sigma_w^4-1` (1 Gaussian, 0 scaled orthogonal):

.. math::
   m_1=\tau(J_tJ_t^\top)=A_2+\sigma_w^2B_2=\chi,

   m_2=\tau((J_tJ_t^\top)^2)=A_4+2\sigma_w^2E[a^2b^2]+\sigma_w^4B_4+2\sigma_w^2A_2B_2+v_W\sigma_w^4B_2^2 .

Derivation of :math:`m_2`: expand :math:`(J_tJ_t^\top)^2` with
:math:`J_tJ_t^\top=D_a^2+D_aW^\top D_b+D_bWD_a+D_bWW^\top D_b`; words with an odd number of
:math:`W` vanish, :math:`\tau(D_1W^\top D_2W)=\sigma_w^2\tau(D_1)\tau(D_2)` and
:math:`\tau(D_1WW^\top D_1WW^\top)=\sigma_w^4(\tau(D_1^2)+v_W\tau(D_1)^2)` for :math:`W` free from
the diagonals.  The per-step **spread** (normalised variance)

.. math:: v=\frac{m_2}{m_1^2}-1=\frac{\mathrm{Var}(a^2)+2\sigma_w^2E[a^2b^2]+\sigma_w^4\mathrm{Var}(b^2)+v_W\sigma_w^4B_2^2}{\chi^2}

is written as a sum of non-negative terms (no cancellation when :math:`v\ll1`).  Vanilla:
:math:`v=\mu_2/\mu_1^2-1+v_W`, the linear S-coefficient of 03 §4.

**T steps (L layers).**  If the step Jacobians are free, :math:`S_{JJ^\top}=\prod_tS_{J_tJ_t^\top}`
(:mod:`theory.jacobian.freeprob`); series reversion with symbolic ``T`` gives exactly

.. math:: m_1=\chi^T,\qquad \sigma^2_{JJ^\top}=m_2-m_1^2=\chi^{2T}\,T\,v .

Dynamical isometry needs :math:`\chi=1` **and** :math:`Tv` bounded (:math:`v=O(1/T)`).

**What free probability says for the minimalRNN** (:math:`a\ne0`):

* *One step*: :math:`m_1`, :math:`m_2` above are exact at large width (any bi-invariant
  :math:`W`, joint law of :math:`(a,b)` from the closure).  The full one-step law needs
  diagonal-valued (operator-valued) freeness, because :math:`D_a` and :math:`D_b` are not free from
  each other; :mod:`theory.jacobian.spectrum` solves those equations.
* *T steps*: :math:`m_1=\chi^T` is exact under the closure.  The S-product is **not** exact: the
  gate parts :math:`D_{a,t}` of different steps are commuting diagonals (classically, not freely,
  independent), and :math:`b_t` depends on the stored state, which is correlated with earlier
  gates.  The S-product is exact to first order in the per-step spreads (the linear S-coefficient
  is additive and the :math:`D_a` products differ from free ones only at :math:`O(v^2)`); the error
  grows with :math:`Tv` (minimalRNN at the defaults, T = 8: 18% low).  The exact annealed
  variance follows from freeness of :math:`W_t` from the *diagonal* algebra, a closed recursion
  (:mod:`theory.jacobian.isometry_recursion`); ``isometry_variance`` serves it for gated cells and
  ``isometry_variance_free`` the S-product.

**Fourth moments.**  :math:`B_4` needs :math:`E[h^4]`, :math:`E[z^4]` when :math:`b` depends on
``h``/``z``: inputs are taken Gaussian (:math:`E[z^4]=3R^2`), ``h`` and ``z`` symmetric and
independent of the field, and :math:`Q_4=E[h^4]` solves the stationary closure
:math:`Q_4=E[F^4]` (linear in :math:`Q_4`; the coefficient :math:`1-E[(\partial_hF)^4]` is formed
without cancellation for sigmoid gates, 02 §2).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from . import freeprob
from ..declare.activations import X
from ..declare.cell import E, H, Cell
from ..declare.registry import JACOBIAN_MOMENTS, lookup, register
from ..symbolic.derive import Q
from ..symbolic.gaussian import E1, lower_closed_forms
from .isometry_expect import Q4, expect, one_minus
from ..declare.params import symbol

#: normalised variance of W W^T: tau((WW^T)^2)/sigma_w^4 - 1
V_W = sp.Symbol("v_W", nonnegative=True)
T_SYM = sp.Symbol("T", positive=True)
WEIGHTS = {"gaussian": 1.0, "orthogonal": 0.0}
MOMENTS = ("A2", "A4", "B2", "B4", "A2B2")


@dataclass(frozen=True)
class IsometryDerivation:
    """Symbolic isometry results for one cell (expressions in ``Q`` = Q*, ``Q_4``, ``v_W``, ``T``
    and the cell parameters; ``*_raw`` keep expectation nodes, the others are lowered)."""

    cell: Cell
    a: sp.Expr
    b: sp.Expr
    moments_raw: dict
    moments: dict
    Q4: sp.Expr | None
    chi: sp.Expr
    m2_step: sp.Expr
    spread: sp.Expr
    s_step: tuple
    mean_T: sp.Expr
    variance_T: sp.Expr
    gated: bool

    @property
    def expressions(self) -> dict:
        """Kernel expressions by name; leading arguments: ``Q`` (and ``Q_4`` where needed)."""
        out = {f"factor_{k}": v for k, v in self.moments.items()}
        out.update({"step_msv": self.chi, "step_m2": self.m2_step, "spread": self.spread})
        return out


@lru_cache(maxsize=None)
def derive_isometry(cell: Cell) -> IsometryDerivation:
    """Derive the one-step factor moments and the T-step moments of ``cell`` (cached)."""
    f = cell.field
    R = symbol("R") if cell.has_input else sp.Integer(0)
    q = sp.expand(f.variance(Q, R))
    mu = sp.sympify(f.mean)
    F = cell.update
    a = sp.diff(F, H)
    b = sp.diff(F, E)
    sw2 = f.recurrent ** 2
    raw = {"A2": expect(a ** 2, mu, q, R), "A4": expect(a ** 4, mu, q, R), "B2": expect(b ** 2, mu, q, R),
           "B4": expect(b ** 4, mu, q, R), "A2B2": expect(a ** 2 * b ** 2, mu, q, R)}
    needs_q4 = any(v.has(Q4) for v in raw.values())
    q4 = _fourth_moment(F, mu, q, R) if needs_q4 else None
    low = {k: lower_closed_forms(v)[0] for k, v in raw.items()}
    A2, A4, B2, B4, AB = (low[k] for k in MOMENTS)
    chi = A2 + sw2 * B2
    m2 = A4 + 2 * sw2 * AB + sw2 ** 2 * B4 + 2 * sw2 * A2 * B2 + V_W * sw2 ** 2 * B2 ** 2
    var_a2 = A4 - A2 ** 2
    var_b2 = B4 - B2 ** 2
    spread = (var_a2 + 2 * sw2 * AB + sw2 ** 2 * var_b2 + V_W * sw2 ** 2 * B2 ** 2) / chi ** 2
    # T steps by S-transform series: per-step S = (1/chi)(1 - v z + ...), raised to the power T.
    (mean_f, var_f), (m1s, v), s_step = t_step_formulas(), (M1, V), freeprob.s_series([M1, M1 ** 2 * (1 + V)])
    mean_T = mean_f.xreplace({m1s: chi})
    variance_T = var_f.xreplace({m1s: chi, v: spread})
    return IsometryDerivation(cell=cell, a=a, b=b, moments_raw=raw, moments=low, Q4=q4, chi=chi, m2_step=m2,
                              spread=spread, s_step=tuple(s_step), mean_T=mean_T, variance_T=variance_T,
                              gated=bool(a != 0))


def _fourth_moment(F, mu, q, R):
    r""":math:`Q_4=E[h^4]` at stationarity: :math:`E[F^4]=c\,Q_4+r` with :math:`c=E[(\partial_hF)^4]`,
    so :math:`Q_4=r/E[1-(\partial_hF)^4]` (integrand formed without cancellation)."""
    c1 = sp.diff(F, H)
    rest = expect(F ** 4 - c1 ** 4 * H ** 4, mu, q, R)
    if rest.has(Q4):
        raise NotImplementedError("fourth-moment closure is not linear in E[h^4]")
    denom = one_minus(c1 ** 4).subs(E, X)
    d = E1(sp.Lambda(X, denom), mu, q) if denom.has(X) else denom
    return lower_closed_forms(rest / d)[0]


M1 = sp.Symbol("m_1", positive=True)
V = sp.Symbol("v", nonnegative=True)


@lru_cache(maxsize=None)
def t_step_formulas():
    r"""(mean, variance) of :math:`JJ^\top` over ``T`` free steps in terms of the per-step
    :math:`m_1` and spread :math:`v` (symbols ``m_1``, ``v``), by S-series reversion — the route the
    kernels are generated from.  Result: :math:`(m_1^T,\ T\,m_1^{2T}\,v)`."""
    sT = freeprob.s_power(freeprob.s_series([M1, M1 ** 2 * (1 + V)]), T_SYM)
    mT = freeprob.moments_from_s(sT)
    return sp.powsimp(sp.simplify(mT[0])), sp.powsimp(sp.factor(sp.simplify(mT[1] - mT[0] ** 2)))


# ----------------------------------------------------------------------------------------------
# serving the generated kernels through theory.predict
# ----------------------------------------------------------------------------------------------

def weights_variance(weights: str) -> float:
    """:math:`v_W` of a weight law: ``"gaussian"`` -> 1, ``"orthogonal"`` -> 0 (ValueError otherwise)."""
    try:
        return WEIGHTS[weights]
    except (KeyError, TypeError):
        raise ValueError(f"weights must be one of {sorted(WEIGHTS)}, got {weights!r}") from None


def isometry_kernels(name, backend: str = "numba"):
    """The generated ``isometry_numba`` / ``isometry_jax`` module of a cell (generated if missing)."""
    from .. import api
    if backend not in api.BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(api.BACKENDS)}")
    return api.generated_module(name, f"isometry_{backend}")


def steps(T):
    """``T`` as a float array after checking it holds positive integers (ValueError otherwise)."""
    import numpy as np
    t = np.asarray(T, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 1) or np.any(t != np.round(t)):
        raise ValueError(f"T must be a positive integer (steps or layers), got {T!r}")
    return t


_JAX_FN: dict = {}


def _jax_function(c, kernel):
    """jit(vectorize(lambda lead..., *params: iso.kernel(lead..., Q*(params), *params)))."""
    key = (c.name, kernel, c.declaration_hash())
    if key not in _JAX_FN:
        import jax
        import jax.numpy as jnp

        from .. import api
        core, iso = api.kernels(c, "jax"), isometry_kernels(c, "jax")
        n_lead = {"isometry_mean": 1, "isometry_variance": 2, "isometry_variance_free": 2, "isometry_spread": 1}[kernel]
        fn = getattr(iso, kernel)

        def f(*a):
            lead, params = a[:n_lead], a[n_lead:]
            Q = core.Q_served(*params)  # Q*, or Q = 1 at a marginal point
            # NaN where the fixed point fails: closed forms (ReLU) would otherwise not see it
            return jnp.where(jnp.isnan(Q), jnp.nan, fn(*lead, Q, *params))
        _JAX_FN[key] = (f, jax.jit(jnp.vectorize(f)))
    return _JAX_FN[key]


def _evaluator(kernel: str):
    def evaluate(c, backend, params, extra):
        import numpy as np

        from .. import api
        if c.noise:
            raise ValueError(f"{c.name}: the Jacobian moments of a cell with hidden-state noise are not derived "
                             f"(its per-step Jacobian has a random diagonal 1 + sigma_m eta); chi is served")
        if extra.get("block") not in (None, "h"):
            raise ValueError(f"{c.name}: block must be None or 'h' (its only state component), got {extra['block']!r}")
        stray = {k: v for k, v in extra.items() if k in GATED_ONLY and k != "block" and v != GATED_ONLY[k]}
        if stray:
            raise ValueError(f"{c.name}: {sorted(stray)} apply to gated cells (several state components, "
                             f"closure='population'); a single-field cell has one state and exact Gaussian fields")
        lead = []
        if kernel in ("isometry_mean", "isometry_variance", "isometry_variance_free"):
            lead.append(steps(extra["T"]))
        if kernel in ("isometry_variance", "isometry_variance_free", "isometry_spread"):
            lead.append(np.float64(weights_variance(extra["weights"])))
        else:
            weights_variance(extra["weights"])
        args = [params[n] for n in c.param_names]
        if backend == "jax":
            import jax.numpy as jnp
            f, vf = _jax_function(c, kernel)
            if any(api.is_tracer(a) for a in args):
                return f(*lead, *args) if all(np.ndim(a) == 0 for a in args) else jnp.vectorize(f)(*lead, *args)
            out = vf(*[jnp.asarray(x, dtype=jnp.float64) for x in lead + args])
            api.check_defined(c, kernel, np.asarray(out), params)
            return out
        core, iso = api.kernels(c, "numba"), isometry_kernels(c, "numba")
        arrs = [np.asarray(a, dtype=np.float64) for a in args]
        qs = api.quietly(core.Q_served, *arrs)  # Q*, or Q = 1 at a marginal point (moments do not depend on Q)
        api.check_defined(c, "Q_star", np.asarray(qs), params)
        out = api.quietly(getattr(iso, kernel), *lead, qs, *arrs)
        return float(out) if np.ndim(out) == 0 else out
    return evaluate


def isometry_moments(name, weights: str = "orthogonal", **params) -> dict:
    """Per-step factor moments at the fixed point (scalar parameters): ``A2, A4, B2, B4, A2B2``,
    ``Q_star``, ``Q4`` (or None), ``chi`` (= m_1), ``m2``, ``spread`` for the given weight law."""
    from .. import api
    c = api.cell(name)
    p = api.resolve_params(c, params)
    core, iso = api.kernels(c, "numba"), isometry_kernels(c, "numba")
    args = [float(p[n]) for n in c.param_names]
    qs = float(core.Q_served(*args))  # Q*, or Q = 1 at a marginal point (the moments do not depend on Q)
    api.check_defined(c, "Q_star", __import__("numpy").asarray(qs), p)
    vw = weights_variance(weights)
    out = {k: float(getattr(iso, f"factor_{k}")(qs, *args)) for k in MOMENTS}
    out.update(Q_star=qs, Q4=float(iso.fourth_moment(qs, *args)) if hasattr(iso, "fourth_moment") else None,
               chi=float(iso.step_msv(qs, *args)), m2=float(iso.step_m2(vw, qs, *args)),
               spread=float(iso.isometry_spread(vw, qs, *args)))
    return out


def has_isometry(c) -> bool:
    """True for the declarations whose isometry kernels are generated (single-field :class:`Cell` without
    hidden-state noise: a noise-injected cell's Jacobian law is not derived yet)."""
    return isinstance(c, Cell) and not c.noise


#: options of ``isometry_mean`` that gated cells use (theory.jacobian.gated_isometry), with defaults; a
#: single-field cell takes ``block`` None or "h" (its one component) and refuses the others
GATED_ONLY = {"block": None, "closure": "gaussian", "size": None, "seed": None}
KERNELS = ("isometry_mean", "isometry_variance", "isometry_variance_free", "isometry_spread")


def _served_for(name):
    def served(c) -> bool:
        return name in (lookup(JACOBIAN_MOMENTS, c) or {})
    return served


def _dispatch(name):
    def evaluate(c, backend, params, extra):
        return lookup(JACOBIAN_MOMENTS, c)[name](c, backend, params, extra)
    return evaluate


def _register():
    from .. import api
    docs = {"isometry_mean": "m_1 = Tr(J J^T)/(nN) of the T-step state Jacobian (chi^T for single-field cells; "
                             "1^T M^T 1/n for gated cells, block= for one component)",
            "isometry_variance": "m_2 - m_1^2 of J J^T over T untied steps (weights='gaussian'|'orthogonal'); "
                                 "= chi^(2T) T v for vanilla/feed-forward, exact annealed recursion for the minimalRNN",
            "isometry_variance_free": "chi^(2T) T v: the S-transform product, treating the T steps as free",
            "isometry_spread": "per-step normalised variance v = m_2/m_1^2 - 1 of J_t J_t^T"}
    tw = {"T": 1, "weights": "gaussian"}
    extras = {"isometry_mean": {**tw, **GATED_ONLY}, "isometry_variance": tw, "isometry_variance_free": tw,
              "isometry_spread": {"weights": "gaussian"}}
    register(JACOBIAN_MOMENTS, Cell, {name: _evaluator(name) for name in KERNELS})
    for name, doc in docs.items():
        cells = ("every built-in cell (single-field cells, GRU and LSTM) and user cells of either declaration type"
                 if name == "isometry_mean" else
                 "single-field cells (vanilla, minimalRNN, feed-forward and user cells declared with theory.Cell); "
                 "for GRU/LSTM only isometry_mean is derived (the spectrum's variance is measured, not derived: "
                 "reports/jacobian_moments_cpu)")
        api.register_quantity(name, _dispatch(name), extra=extras[name], doc=doc, applies=_served_for(name),
                              applies_to=cells)


_register()
