"""``predict`` for gated-cell quantities beyond the core names, the closure choice, trajectories.

Registered through :func:`theory.api.register_quantity` (loaded by :mod:`theory.extensions`):

============== ===============================================================================
``lambda_max`` top eigenvalue of the perturbation map M (χ analogue; 1 is critical)
``lambda_2``   second eigenvalue modulus of M (two-component cells)
``xi_2``       second correlation mode, -1/ln|mu_2| of dG/dC at C*
``xi_q_2``     second variance mode, -1/ln|nu_2| of dF/dQ at Q*
``Q_h_star``   = ``Q_star`` (hidden second moment), accepting ``closure=``
``Q_c_star``   LSTM cell-state second moment at the fixed point
``c_c_star``   LSTM cell-state correlation C_c*/Q_c*
``kurtosis_c`` exact (untied) m_4/Q_c^2 of the LSTM cell state (3 for a Gaussian)
``q_star_<g>`` field variance of gate ``g`` at the fixed point (GRU r, z, n; LSTM i, f, g, o)
============== ===============================================================================

``closure="gaussian"`` (**default**): the generated kernels (Gaussian closure for the LSTM cell
state inside tanh; exact for the GRU).  ``closure="population"``: the exact one-site solution of
the untied recursion by population dynamics (:mod:`theory.closures.population`; Monte-Carlo, error
O(P^-1/2), numpy result, slower), for ``Q_h_star``, ``Q_c_star``, ``q_star_<g>``, ``lambda_max``,
``kurtosis_c``.

Core names take the option too (:func:`predict_core`, reached from ``theory.predict`` through
:meth:`theory.declare.gated.GatedCell.predict_core`): without ``closure=`` (or with ``"gaussian"``) they are
the generated kernels; with ``closure="population"``, ``Q_star`` (hidden second moment), ``q_star``
(memory-gate field variance) and ``chi`` (mean squared singular value of the one-step state
Jacobian, by a fresh-probe estimator inside the population) come from population dynamics, and
``xi``, ``xi_q``, ``c_star``, ``c_h_star`` raise ``ValueError``: they need the two-sequence law or the
relaxation of the law, which the population solver does not compute.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import api
from ..declare.gated import GatedCell
from ..codegen.render import STATUS_TEXT
from ..declare.registry import CORE_PREDICTORS, CRITICAL_QUANTITY, TRAJECTORIES, register
from ..validate import count, scalar

CLOSURES = ("gaussian", "population")
POPULATION_QUANTITIES = ("Q_h_star", "Q_c_star", "lambda_max", "kurtosis_c")
#: core names (theory.api.QUANTITIES) that population dynamics serves
POPULATION_CORE = ("Q_star", "q_star", "chi")
#: keyword options of ``predict`` for a gated cell's core names
CORE_OPTIONS = ("closure", "size", "seed")

DOCS = {
    "lambda_max": "top eigenvalue of the perturbation map M of a gated cell (chi analogue; 1 is critical)",
    "lambda_2": "second eigenvalue modulus of M (two-component gated cells)",
    "xi_2": "second correlation timescale of a two-component gated cell",
    "xi_q_2": "second variance timescale of a two-component gated cell",
    "Q_h_star": "hidden second moment (= Q_star) of a gated cell, with closure= gaussian|population",
    "Q_c_star": "LSTM cell-state second moment at the fixed point",
    "c_c_star": "LSTM cell-state correlation C_c*/Q_c* at the correlation fixed point",
    "kurtosis_c": "exact untied kurtosis m4/Q_c^2 of the LSTM cell state (3: Gaussian)",
}
GATES = ("r", "z", "n", "i", "f", "g", "o")
_CORRELATION = ("xi_2", "c_c_star")


def _call(cell, backend, name, params):
    mod = api.kernels(cell, backend)
    kernel = "Q_star" if name == "Q_h_star" else name
    if not hasattr(mod, kernel):
        raise ValueError(f"{cell.name} has no quantity {name!r}")
    args = [params[n] for n in cell.param_names]
    if backend == "jax":
        out = api.jax_value(mod, kernel, args)
        if not api.is_tracer(out):
            _check(cell, name, np.asarray(out), params)
        return out
    fn = getattr(mod, kernel)
    out = api.quietly(fn, *[np.asarray(a, dtype=np.float64) for a in args])
    _check(cell, name, np.asarray(out), params)
    return float(out) if np.ndim(out) == 0 else out


def _check(cell, name, out, params):
    bad = ~np.isfinite(out) & ~np.isposinf(out)
    if not np.any(bad):
        return
    mod = api.kernels(cell, "numba")
    fn = mod.correlation_status if name in _CORRELATION else mod.fixed_point_status
    st = np.broadcast_to(api.quietly(fn, *[np.asarray(params[n], dtype=np.float64) for n in cell.param_names]),
                         out.shape)
    codes = sorted({int(s) for s in np.ravel(st[bad]) if s != 0})
    why = ", ".join(STATUS_TEXT.get(k, str(k)) for k in codes) or "NaN from the kernel"
    if out.ndim == 0:
        raise api.FixedPointError(f"{cell.name}: {name} undefined at {params}: {why}")
    warnings.warn(f"{cell.name}: {name} is NaN at {int(bad.sum())} of {out.size} points ({why})", RuntimeWarning,
                  stacklevel=4)


def _evaluator(name):
    def evaluate(cell, backend, params, extra):
        if not isinstance(cell, GatedCell):
            raise ValueError(f"{name!r} is a gated-cell quantity; {cell.name!r} is not a gated cell")
        closure = extra.get("closure", "gaussian")
        if closure not in CLOSURES:
            raise ValueError(f"closure must be one of {CLOSURES}, got {closure!r}")
        if closure == "population":
            if not (name in POPULATION_QUANTITIES or name.startswith("q_star_")):
                raise ValueError(f"closure='population' serves {POPULATION_QUANTITIES} and q_star_<gate>, not {name!r}")
            from . import population
            return population.predict(cell, name, params, size=extra.get("size"), seed=extra.get("seed"))
        return _call(cell, backend, name, params)
    return evaluate


def predict_core(cell, quantity, backend, params, options):
    """A core quantity (``Q_star``, ``chi``, ...) of a gated cell with ``closure=``/``size=``/``seed=``.

    ``params``: resolved cell parameters; ``options``: the keywords among :data:`CORE_OPTIONS` given."""
    closure = options.get("closure", "gaussian")
    if closure not in CLOSURES:
        raise ValueError(f"closure must be one of {CLOSURES}, got {closure!r}")
    if closure == "gaussian":
        stray = sorted(set(options) - {"closure"})
        if stray:
            raise ValueError(f"{stray} apply to closure='population' only")
        return api.predict(cell, quantity, backend, **params)
    if quantity not in POPULATION_CORE:
        raise ValueError(
            f"closure='population' serves the core names {POPULATION_CORE} (and {POPULATION_QUANTITIES}, "
            f"q_star_<gate>), not {quantity!r}: it needs the two-sequence law or the relaxation of the "
            f"one-site law, which population dynamics does not solve; use closure='gaussian' (the default)")
    from . import population
    return population.predict(cell, quantity, params, size=options.get("size"), seed=options.get("seed"))


def _register():
    extra = {"closure": "gaussian", "size": None, "seed": None}
    for name, doc in DOCS.items():
        if name not in api.EXTRA_QUANTITIES:
            api.register_quantity(name, _evaluator(name), extra=extra, doc=doc)
    for g in GATES:
        name = f"q_star_{g}"
        if name not in api.EXTRA_QUANTITIES:
            api.register_quantity(name, _evaluator(name), extra=extra, doc=f"field variance of gate {g} at the fixed point")


_register()


def trajectory(name, steps: int, Q0, C0=None, *, pairs: bool = True, **params) -> dict:
    r"""Iterate the generated maps of a gated cell (numba backend); ``theory.trajectory`` of a gated cell.

    ``Q0`` / ``C0``: dicts {component: value} (or one number for every component; ``C0``
    defaults to ``Q0``).  Returns arrays of length ``steps`` (entry t-1 is step t): ``Q_<k>``,
    ``C_<k>`` (two sequences sharing Q), ``c_<k>`` = C/Q, and ``q_<g>`` = the gate field variance
    at step t (it reads the state at t-1); also under the core names ``Q``, ``C``, ``c_h`` (the hidden
    state's) and ``q`` (the memory gate's field variance, as ``predict(cell, "q_star")``).  ``pairs=False``: the single-sequence maps only (no
    ``C_<k>``, ``c_<k>``; the two-sequence map is most of the cost for cells whose covariance
    map is a 4-D expectation, ``gru-reset-after``)."""
    c = api.cell(name)
    if not isinstance(c, GatedCell):
        raise ValueError(f"{c.name} is not a gated cell; use theory.trajectory")
    comps = c.state
    steps = count("steps", steps)
    C0 = Q0 if C0 is None else C0
    for name_, given in (("Q0", Q0), ("C0", C0)):
        if isinstance(given, dict) and set(given) != set(comps):
            raise ValueError(f"{c.name}: {name_} as a dict needs exactly the state components {list(comps)}, "
                             f"got {sorted(given)}")
    Q = {k: scalar(f"Q0[{k!r}]", Q0[k] if isinstance(Q0, dict) else Q0) for k in comps}
    C = {k: scalar(f"C0[{k!r}]", C0[k] if isinstance(C0, dict) else C0) for k in comps}
    for k in comps:
        if not (Q[k] >= 0 and abs(C[k]) <= Q[k] * (1 + 1e-12) + 1e-300):
            raise ValueError(f"need Q0 >= 0 and |C0| <= Q0 for {k}; got {Q[k]}, {C[k]}")
    p = api.resolve_params(c, params)
    if any(np.ndim(v) for v in p.values()):
        raise ValueError(f"{c.name}: a trajectory takes scalar parameters (one run); loop over a grid yourself")
    mod = api.kernels(c, "numba")
    args = [float(p[n]) for n in c.param_names]
    out = {f"{s}_{k}": np.empty(int(steps)) for k in comps for s in (("Q", "C", "c") if pairs else ("Q",))}
    out.update({f"q_{g.name}": np.empty(int(steps)) for g in c.gates})
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for t in range(int(steps)):
            qv = [Q[k] for k in comps]
            cv = [C[k] for k in comps]
            for g in c.gates:
                out[f"q_{g.name}"][t] = float(getattr(mod, f"gate_variance_{g.name}")(*qv, *args))
            Qn = {k: float(getattr(mod, f"variance_map_{k}")(*qv, *args)) for k in comps}
            for k in comps:
                out[f"Q_{k}"][t] = Qn[k]
            if pairs:
                Cn = {k: float(getattr(mod, f"covariance_map_{k}")(*cv, *qv, *args)) for k in comps}
                for k in comps:
                    out[f"C_{k}"][t] = Cn[k]
                    out[f"c_{k}"][t] = Cn[k] / Qn[k] if Qn[k] > 0 else np.nan
                C = Cn
            Q = Qn
    api.check_trajectory(c, out, [k for k in out if k.startswith(("Q_", "C_", "q_"))])
    # the core names of theory.trajectory, for code written against single-field cells: the hidden
    # state's Q, C, c_h and the memory gate's field variance q (what predict's q_star means here)
    h = c.read
    out["Q"], out["q"] = out[f"Q_{h}"], out[f"q_{c.memory_gate}"]
    if pairs:
        out["C"], out["c_h"] = out[f"C_{h}"], out[f"c_{h}"]
    return out


register(CORE_PREDICTORS, GatedCell, predict_core)
register(TRAJECTORIES, GatedCell, trajectory)
register(CRITICAL_QUANTITY, GatedCell, "lambda_max")

__all__ = ["trajectory", "predict_core", "CLOSURES", "DOCS", "POPULATION_CORE"]
