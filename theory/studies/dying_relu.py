r"""Dying ReLU at fixed width: born-dead probabilities beside the mean-field picture (05-dying-relu.md).

Network: :math:`h^\ell=W^\ell x^{\ell-1}+b^\ell`, :math:`x^\ell=\max(h^\ell,0)`, :math:`x^0=x\in D\subset\mathbb R^d`,
hidden widths :math:`N_\ell` (default ``N``).  **L counts hidden layers**; Lu, Shin, Su & Karniadakis
(2019/2020) count the read-out too, so their depth is ``L + 1``.  A layer is *dead* at ``x`` when every
pre-activation is ``<= 0`` there (decided from signs, never from float zeros); the net is *born dead on
D* when its output is constant on ``D``.

Every closed-form formula is declared once below (:data:`KERNELS`, readable SymPy form), rewritten into a
cancellation-free form (``expm1``/``log1p``), printed by :mod:`theory.codegen.printers` into
``derivations/dying_relu`` (:mod:`theory.studies.dying_relu_codegen`) and served by::

    theory.predict("feedforward-relu", "p_point_collapse", N=[2, 4, 8], L=np.arange(1, 101)[:, None])

Assumptions used below (05 §2):

* **A1** zero biases;
* **A2** independent layers;
* **A3** for every ``v != 0`` the law of ``W v`` is invariant under sign flips of any subset of
  coordinates and puts no mass on the coordinate hyperplanes (i.i.d. symmetric continuous entries of
  any variance; Haar-orthogonal ``W``; *not* Rademacher or sparse weights, *not* RAI).

What each quantity is:

================================ ====================================================================
``p_point_collapse``             **exact** under A1–A3: :math:`1-\prod_\ell(1-2^{-N_\ell})`
``bdp_upper``                    **upper bound** on the domain born-dead probability (= point law)
``bdp_lower``                    **lower bound** (orthant argument), any domain, for i.i.d. symmetric
                                 weights and biases (not orthogonal ``W``, not RAI)
``domain_bdp``                   **exact law, computed numerically** (d = 1, interval containing 0,
                                 Gaussian weights): the three-state chain with the random angle
                                 kernel (:mod:`theory.studies.dying_relu_domain`), absolute error
                                 <= 1e-3; N <= 64, L <= 10000
``bdp_estimate``                 **approximation** (same setting): the chain with the mean-field
                                 arccos angle instead of the random one; exact for L <= 2, off by up
                                 to ~0.1 beyond (2x at N = 8); use ``domain_bdp`` for the law
``collapse_hazard``              **exact** per-layer death probability at a point, :math:`2^{-N}`;
                                 the *conjectured* large-depth hazard on a domain
``width_for_survival``           **exact** inverse of the point law: least N with P <= delta
``dead_fraction_point``          **exact** expected fraction of inactive units of layer L at a point
``norm_relvar``                  **exact** for i.i.d. Gaussian weights: Var/mean² of ||x^L||²
================================ ====================================================================

Not checked against the paper (its text was not available here): the exponents of Lu et al.'s own
bias-free bounds (``N`` or ``N-1``; ``L``, ``L-1`` or ``L-2`` in their depth convention) and any
``d``-dependence.  The bounds served here are derived in this module's declarations and tested
against simulation (``verify study=dying-relu``).  Their common content is the key theorem: at
fixed width the born-dead probability tends to 1 with depth (``bdp_lower`` -> 1 since
:math:`\sum_\ell 2^{-N_\ell(N_{\ell-1}+\beta)}=\infty`).
"""
from __future__ import annotations

import numpy as np
import sympy as sp  # noqa: F401  (kept as an attribute: declarations are written with dying_relu.sp)

from ..float64 import is_tracer, scope as float64_scope
from .dying_relu_decl import (BDP_ESTIMATE_DOC, KERNELS, STEP_KERNELS, Kernel, L, N, beta, d,  # noqa: F401
                              delta, first, rho, stable)  # (re-exported: the declarations live there)

# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------

_MODULES: dict = {}


def kernels(backend: str = "numba"):
    """The generated module ``derivations.dying_relu.<backend>_kernels`` (checked against the
    declarations' sha256: a stale package raises and says how to regenerate)."""
    import importlib

    from .dying_relu_codegen import declaration_hash
    if backend not in ("numba", "jax"):
        raise ValueError(f"unknown backend {backend!r}; choose one of ['numba', 'jax']")
    if backend not in _MODULES:
        mod = importlib.import_module(f"derivations.dying_relu.{backend}_kernels")
        if mod.DECLARATION_SHA256 != declaration_hash():
            raise RuntimeError("derivations/dying_relu is stale (declarations changed): run "
                               "`python -m theory.studies.dying_relu_codegen`")
        _MODULES[backend] = mod
    return _MODULES[backend]


def positive_integers(name: str, value):
    """``value`` as float64 array after checking it holds positive integers (ValueError otherwise)."""
    if is_tracer(value):
        return value
    if value is None:
        raise ValueError(f"{name} is required (a positive integer or an array of them)")
    a = np.asarray(value)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must be a positive integer (or an array of them), got {value!r}")
    a = a.astype(np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 1) or np.any(a != np.floor(a)):
        raise ValueError(f"{name} must be a positive integer (or an array of them), got {value!r}")
    return a


def _zero_bias(quantity: str, sigma_b) -> None:
    if is_tracer(sigma_b):
        return
    if np.any(np.asarray(sigma_b, dtype=float) != 0):
        raise ValueError(f"{quantity} is defined for zero biases (A1): a bias revives a dead layer and "
                         "no distribution-free formula exists; use bdp_lower, or simulate "
                         "(verify study=dying-relu)")


def _out(backend, x):
    if backend == "jax":
        return x
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _call(backend, name, *args):
    fn = getattr(kernels(backend), name)
    if backend != "jax":
        return fn(*args)
    import jax.numpy as jnp
    with float64_scope(*args):  # float64 for this call only; the user's jax setting is untouched
        return fn(*[a if is_tracer(a) else jnp.asarray(a, dtype=jnp.float64) for a in args])


def _p_point(cell, backend, params, extra):
    _zero_bias("p_point_collapse", extra["sigma_b"])
    if extra["widths"] is not None:
        if extra["N"] is not None or extra["L"] is not None:
            raise ValueError("give either widths=[N_1, ..., N_L] or N= and L=, not both")
        w = positive_integers("widths", extra["widths"])
        log_s = _call(backend, "layer_log_survival", w)
        if backend == "jax":
            import jax.numpy as jnp
            return -jnp.expm1(jnp.cumsum(log_s, axis=-1))
        return -np.expm1(np.cumsum(np.asarray(log_s), axis=-1))
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    return _out(backend, _call(backend, "p_point_collapse", n, l_))


def _bdp_upper(cell, backend, params, extra):
    _zero_bias("bdp_upper", extra["sigma_b"])
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    return _out(backend, _call(backend, "p_point_collapse", n, l_))


def _bdp_lower(cell, backend, params, extra):
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    sb = extra["sigma_b"]
    if not is_tracer(sb) and (not np.all(np.isfinite(np.asarray(sb, float))) or np.any(np.asarray(sb, float) < 0)):
        raise ValueError(f"sigma_b must be finite and >= 0, got {sb!r}")
    b = (np.asarray(sb, dtype=float) > 0).astype(float)
    if extra["domain"] == "orthant":
        dim, fst = positive_integers("d", extra["d"]), 1.0
    elif extra["domain"] == "symmetric":
        dim, fst = (positive_integers("d", extra["d"]) if extra["d"] is not None else 1.0), 0.0
    else:
        raise ValueError(f"domain must be 'symmetric' (D has inputs of both signs) or 'orthant' "
                         f"(D in [0, inf)^d), got {extra['domain']!r}")
    return _out(backend, _call(backend, "orthant_bound", n, l_, dim, b, fst))


def _bdp_estimate(cell, backend, params, extra):
    _zero_bias("bdp_estimate", extra["sigma_b"])
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    return _out(backend, _call(backend, "bdp_estimate", n, l_))


def _domain_bdp(cell, backend, params, extra):
    """The exact d = 1 domain law, computed numerically (numpy; not generated code: a Markov chain
    with a quasi-Monte-Carlo angle kernel, :mod:`theory.studies.dying_relu_domain`)."""
    _zero_bias("domain_bdp", extra["sigma_b"])
    if is_tracer(extra["N"]) or is_tracer(extra["L"]):
        raise ValueError("domain_bdp is a numerical (numpy) computation and cannot be traced by jax; "
                         "pass concrete N and L")
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    from .dying_relu_domain import domain_bdp
    out = domain_bdp(n, l_)
    if backend == "jax":
        import jax.numpy as jnp
        return jnp.asarray(out)
    return out


def _hazard(cell, backend, params, extra):
    _zero_bias("collapse_hazard", extra["sigma_b"])
    return _out(backend, _call(backend, "collapse_hazard", positive_integers("N", extra["N"])))


def _dead_fraction(cell, backend, params, extra):
    _zero_bias("dead_fraction_point", extra["sigma_b"])
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    return _out(backend, _call(backend, "dead_fraction_point", n, l_))


def _relvar(cell, backend, params, extra):
    _zero_bias("norm_relvar", extra["sigma_b"])
    n, l_ = positive_integers("N", extra["N"]), positive_integers("L", extra["L"])
    return _out(backend, _call(backend, "norm_relvar", n, l_))


def _width_for_survival(cell, backend, params, extra):
    """Least integer N >= 1 with p_point_collapse(N, L) <= delta: the ceiling of the real root,
    corrected by one step either way against the exact kernel (rounding of log2 at powers of 2)."""
    l_ = positive_integers("L", extra["L"])
    dl = np.asarray(extra["delta"], dtype=float)
    if not np.all((dl > 0) & (dl < 1)):
        raise ValueError(f"delta must lie in (0, 1), got {extra['delta']!r}")
    mod = kernels("numba")
    n = np.maximum(np.ceil(np.asarray(mod.width_for_survival_real(l_, dl))), 1.0)
    n = np.where((n > 1) & (np.asarray(mod.p_point_collapse(np.maximum(n - 1, 1), l_)) <= dl), n - 1, n)
    n = np.where(np.asarray(mod.p_point_collapse(n, l_)) > dl, n + 1, n).astype(np.int64)
    if backend == "jax":
        import jax.numpy as jnp
        return jnp.asarray(n)
    return int(n) if n.ndim == 0 else n


def is_feedforward_relu(c) -> bool:
    """True for a feed-forward (untied-layer) cell whose update is ReLU of the field: the net the
    dying-ReLU formulas describe."""
    from ..declare.activations import activation
    from ..declare.cell import E, Cell
    return isinstance(c, Cell) and not c.recurrent and c.update == activation("relu", E)


def register() -> None:
    """Serve the quantities through ``theory.predict("feedforward-relu", ...)``; other cells get a
    ValueError (the formulas describe the bias-free feed-forward ReLU net only)."""
    from ..api import register_quantity as _register_quantity
    nl = {"N": None, "L": None, "sigma_b": 0.0}

    def register_quantity(*args, **kwargs):
        _register_quantity(*args, **kwargs, applies=is_feedforward_relu,
                           applies_to="bias-free deep feed-forward ReLU nets (feedforward-relu)")
    register_quantity("p_point_collapse", _p_point, {**nl, "widths": None},
                      doc="exact 1 - prod_l (1 - 2^-N_l) under A1-A3 (zero biases, symmetric continuous W)")
    register_quantity("bdp_upper", _bdp_upper, nl, doc="upper bound on the domain born-dead probability")
    register_quantity("bdp_lower", _bdp_lower, {**nl, "d": None, "domain": "symmetric"},
                      doc="orthant lower bound on the born-dead probability (biases allowed)")
    register_quantity("bdp_estimate", _bdp_estimate, nl,
                      doc="approximate mean-field-angle estimate, d = 1 interval around 0 (exact for L <= 2); "
                          "the exact law is domain_bdp")
    register_quantity("domain_bdp", _domain_bdp, nl,
                      doc="exact born-dead probability on an interval around 0 (d = 1, Gaussian W, zero biases), "
                          "computed numerically to 1e-3 absolute; N <= 64, L <= 10000")
    register_quantity("collapse_hazard", _hazard, {"N": None, "sigma_b": 0.0}, doc="2^-N per layer")
    register_quantity("dead_fraction_point", _dead_fraction, nl,
                      doc="expected fraction of inactive units of layer L at one input")
    register_quantity("norm_relvar", _relvar, nl, doc="exact relative variance of |x^L|^2 (Gaussian W)")
    register_quantity("width_for_survival", _width_for_survival, {"L": None, "delta": 0.01},
                      doc="least width with point-collapse probability <= delta")


register()
