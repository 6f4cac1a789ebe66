r"""Critical initialisation: parameters on :math:`\chi=1` that meet given constraints, and
``jax.nn.initializers``-style functions that realise them.

``critical_init(cell, **constraints)`` works along the cell's critical family (01 §2, 02 §3): the
generated parametrisation by the field variance :math:`q^*` (``theory.critical_line``) —

* vanilla / feed-forward (pair :math:`\sigma_w,\sigma_b`): :math:`\sigma_w^2=1/E_{q^*}[\phi'^2]`,
  :math:`\sigma_b^2=q^*-\sigma_w^2E_{q^*}[\phi^2]-\sigma_v^2R`;
* minimalRNN (pair :math:`\sigma_w,\sigma_v` at given :math:`\mu_b,\sigma_b,R`):
  :math:`Q^*=RE[(1-u)^2]/(1-E[u^2])`, :math:`\sigma_w^2=(1-E[u^2])/(E[u'^2](Q^*+R))`,
  :math:`\sigma_v^2=(q^*-\sigma_w^2Q^*-\sigma_b^2)/R` —

and otherwise a bracketed root solve (Brent) of :math:`\chi=1` in the free member of the pair.
Modes, by the constraints given:

1. ``q_star=q``: closed form (no root finding);
2. one member of the pair fixed (e.g. ``sigma_b=0.05``): root solve for the other;
3. neither: the **isometry-optimal** point along the family — minimal per-step spread
   :math:`v` (or, with ``T`` and ``max_variance``, the largest :math:`q^*` — the most signal —
   whose :math:`T`-step variance stays within budget).  The family variable is ``q_star`` unless
   ``knob`` names a parameter (e.g. ``knob="mu_b"`` for the minimalRNN gate bias, with ``q_star``
   given).  Where the spread decreases monotonically to the edge of the feasible range (bounded
   activations as :math:`q^*\to0`, the minimalRNN as :math:`\mu_b\to\infty`) there is no optimum:
   ``ValueError`` says so and asks for a budget.

Every result is checked at the fixed point the kernels' solver actually finds: ``|chi - 1| <=
1e-10`` (else ``feasible`` is False and ``message`` says why — e.g. the designed :math:`Q^*` is not
the stable root, 02 §3).  Cell objects with their own ``critical_init`` (gated GRU/LSTM) are
dispatched to it unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from ..declare.cell import Cell
from ..declare.registry import CRITICAL_INITS, INITIALIZERS, lookup, register
from .result import CriticalInit
from ..float64 import float64

CHI_TOL = 1e-10


#: earlier name of the result type (single-field cells); every cell now returns a :class:`CriticalInit`
CriticalPoint = CriticalInit


def single_field_initializers(c, params: dict, weights: str = "orthogonal", in_axis: int = -2) -> dict:
    r"""``{"W", "V", "b"}`` initialisers ``(key, shape, dtype) -> array`` realising ``params`` of a
    single-field cell (``V`` only for cells with input weights): ``W`` scaled Haar orthogonal
    (``weights="orthogonal"``) or Gaussian, ``V`` Gaussian, ``b`` :math:`\mathcal N(\mu_b,\sigma_b^2)`."""
    from ..jacobian.isometry import weights_variance
    from .initializers import bias, gaussian, orthogonal  # jax: imported when initialisers are asked for
    weights_variance(weights)
    p = params
    out = {"W": (orthogonal(p["sigma_w"]) if weights == "orthogonal" else gaussian(p["sigma_w"], in_axis=in_axis))}
    if "sigma_v" in p:
        out["V"] = gaussian(p["sigma_v"], in_axis=in_axis)
    out["b"] = bias(p.get("mu_b", 0.0), p.get("sigma_b", 0.0))
    return out


# ----------------------------------------------------------------------------------------------
# critical_init
# ----------------------------------------------------------------------------------------------

def _predict(c, q, **p):
    from .. import api
    return float(api.predict(c.name, q, **p))


def _family_point(c, q_star, fixed):
    """Closed-form point of the family at ``q_star`` (dict of params) or None if infeasible."""
    from .. import api
    a, b = c.critical_pair
    line = api.critical_line(c.name, q_star=q_star, **{k: v for k, v in fixed.items() if k not in (a, b)})
    va, vb = float(line[a][0]), float(line[b][0])
    if not (math.isfinite(va) and math.isfinite(vb)):
        return None
    return {**fixed, a: va, b: vb}


def _solve_pair(c, fixed, free):
    """Root of chi = 1 in ``free`` (the other member of the pair and everything else fixed).
    ``fixed`` holds every parameter (defaults resolved), so the free one must be named."""
    from scipy.optimize import brentq
    a, b = c.critical_pair
    hi = 10.0 if free == a else 20.0

    def g(x):
        try:
            return _predict(c, "chi", **{**fixed, free: x}) - 1.0
        except (RuntimeError, ArithmeticError):
            return math.nan
    grid = np.linspace(1e-4, hi, 161)
    vals = np.array([g(x) for x in grid])
    idx = np.nonzero(np.isfinite(vals[:-1]) & np.isfinite(vals[1:]) & (np.sign(vals[:-1]) != np.sign(vals[1:])))[0]
    if not idx.size:
        raise ValueError(f"{c.name}: chi = 1 is not reached for {free} in (0, {hi}] at {fixed}")
    x = brentq(g, grid[idx[0]], grid[idx[0] + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
    return {**fixed, free: x}


def _objective(c, p, weights, T):
    q = "isometry_variance" if T else "isometry_spread"
    kw = {"T": T} if T else {}
    return _predict(c, q, weights=weights, **kw, **p)


def _isometry_point(c, fixed, weights, T, max_variance, knob, knob_range):
    """Scan the family over ``knob``; return (params, description)."""
    from scipy.optimize import brentq, minimize_scalar
    if knob == "q_star":
        lo, hi = knob_range or (1e-4, 20.0)
        point = lambda x: _family_point(c, x, fixed)
    else:
        if "q_star" not in fixed:
            raise ValueError(f"knob={knob!r} scans the family at a given q_star; pass q_star=")
        q = fixed["q_star"]
        lo, hi = knob_range or (-4.0, 12.0)
        rest = {k: v for k, v in fixed.items() if k != "q_star"}
        point = lambda x: _family_point(c, q, {**rest, knob: x})

    def obj(x):
        p = point(x)
        if p is None:
            return math.inf
        try:
            return _objective(c, p, weights, T)
        except (RuntimeError, ArithmeticError, ValueError):
            return math.inf
    grid = np.geomspace(lo, hi, 121) if (knob == "q_star" and lo > 0) else np.linspace(lo, hi, 121)
    vals = np.array([obj(x) for x in grid])
    if not np.any(np.isfinite(vals)):
        raise ValueError(f"{c.name}: no feasible critical point for {knob} in [{lo}, {hi}] at {fixed}")
    if max_variance is not None:
        ok = np.isfinite(vals) & (vals <= max_variance)
        if not ok.any():
            raise ValueError(f"{c.name}: T-step variance <= {max_variance} not reached for {knob} in [{lo}, {hi}] "
                             f"(smallest {np.nanmin(np.where(np.isfinite(vals), vals, np.nan)):.4g})")
        # the most signal (largest q*) / the smallest gate bias that meets the budget
        i = int(np.nonzero(ok)[0][-1] if knob == "q_star" else np.nonzero(ok)[0][0])
        j = i + 1 if knob == "q_star" else i - 1
        if 0 <= j < grid.size and np.isfinite(vals[j]):
            x = brentq(lambda t: obj(t) - max_variance, *sorted((grid[i], grid[j])), xtol=1e-13)
        else:
            x = grid[i]
        return point(x), f"{knob} = {x:.10g}: T-step variance = {max_variance:g} budget"
    k = int(np.nanargmin(np.where(np.isfinite(vals), vals, np.nan)))
    if k == 0 or k == grid.size - 1 or not (np.isfinite(vals[k - 1]) and np.isfinite(vals[k + 1])):
        trend = "decreases towards" if k in (0, grid.size - 1) else "is minimal at the edge of feasibility at"
        raise ValueError(f"{c.name}: no isometry-optimal interior point: the spread {trend} {knob} = {grid[k]:.4g} "
                         f"in [{lo}, {hi}]; give q_star=, or T= with max_variance= (a budget)")
    r = minimize_scalar(obj, bracket=(grid[k - 1], grid[k], grid[k + 1]), tol=1e-10)
    return point(r.x), f"{knob} = {r.x:.10g} minimises the per-step spread"


@float64
def critical_init(cell, *, weights: str = "orthogonal", T: int | None = None, max_variance: float | None = None,
                  knob: str = "q_star", knob_range=None, **constraints):
    """Parameters on chi = 1 meeting ``constraints`` (see the module docstring for the modes).

    Returns a :class:`~theory.criticality.result.CriticalInit` for every cell and both theories
    (``.theory`` says which: ``"annealed"`` here, ``"tied"`` with ``tied=True``).

    ``tied=True``: the real (tied-weight) network's critical point, :func:`theory.tied.critical.critical_init_tied`
    (every recurrent cell; ``solve_for``, ``target`` or ``xi``, ``bracket``, ``paths``, ``steps``, ``seed``)."""
    from .. import api
    from ..jacobian.isometry import weights_variance
    tied = constraints.pop("tied", False)
    if not isinstance(tied, bool):
        raise ValueError(f"tied must be True or False, got {tied!r}")
    if tied:
        if T is not None or max_variance is not None or knob != "q_star" or knob_range is not None \
                or weights != "orthogonal":
            raise ValueError("tied=True solves tied lambda_max = target (or xi=); T, max_variance, knob, "
                             "knob_range and weights apply to the annealed chi = 1 modes only")
        from ..tied.critical import critical_init_tied
        return critical_init_tied(cell, **constraints)
    c = api.cell(cell)
    own = lookup(CRITICAL_INITS, c)  # gated cells: theory.criticality.gated_critical
    if own is not None:
        if T is not None or max_variance is not None or knob != "q_star" or knob_range is not None \
                or weights != "orthogonal":
            raise ValueError(f"{c.name}: T, max_variance, knob, knob_range and weights select the isometry modes of "
                             f"single-field cells; the gated critical init solves lambda_max = 1 and takes "
                             f"{c.name}'s parameters only (see theory.criticality.gated_critical.critical_init)")
        return own(c, **constraints)
    weights_variance(weights)
    if max_variance is not None and not (isinstance(max_variance, (int, float)) and not isinstance(max_variance, bool)
                                         and 0 < max_variance < float("inf")):
        raise ValueError(f"max_variance must be a positive number, got {max_variance!r}")
    if T is not None and (int(T) != T or T < 1):
        raise ValueError(f"T must be a positive integer, got {T!r}")
    a, b = c.critical_pair
    q_star = constraints.pop("q_star", None)
    fixed = dict(api.resolve_params(c, constraints))
    given = [n for n in (a, b) if n in constraints]
    if q_star is not None and knob == "q_star":
        if given:
            raise ValueError(f"q_star fixes both {a} and {b}; do not also give {given}")
        p = _family_point(c, float(q_star), fixed)
        if p is None:
            raise ValueError(f"{c.name}: q_star={q_star} is infeasible on the critical family "
                             f"(a negative {a}^2 or {b}^2) at {fixed}")
        method = "closed form (critical_line parametrised by q*)"
    elif len(given) == 1 and max_variance is None:
        p = _solve_pair(c, fixed, b if a in given else a)
        method = f"root solve of chi = 1 in {b if a in given else a} (Brent)"
    elif len(given) == 2:
        raise ValueError(f"{a} and {b} both given: nothing left to put on chi = 1")
    else:
        if c.noise:
            raise ValueError(f"{c.name}: the isometry-optimal point needs the Jacobian spread, which is not derived "
                             f"for a cell with hidden-state noise; give q_star= or one of {a}, {b}")
        extra = {"q_star": float(q_star)} if q_star is not None else {}
        p, how = _isometry_point(c, {**fixed, **extra}, weights, T, max_variance, knob, knob_range)
        method = f"isometry-optimal along the family: {how}"
    return _finish(c, p, weights, T, method)


def _finish(c, p, weights, T, method):
    chi = _predict(c, "chi", **p)
    q = _predict(c, "q_star", **p)
    # a noise-injected cell's Jacobian law is not derived: its spread and variance are None, not guessed
    spread = None if c.noise else _predict(c, "isometry_spread", weights=weights, **p)
    var = _predict(c, "isometry_variance", weights=weights, T=T, **p) if T and not c.noise else None
    xi_q = _predict(c, "xi_q", **p)
    ok = abs(chi - 1.0) <= CHI_TOL
    msg = "chi = 1 at the solver's fixed point" if ok else (
        f"chi = {chi:.12g} at the fixed point the solver finds (q* = {q:.6g}): the designed fixed point is "
        "not the smallest stable root (02 §3)")
    return CriticalInit(cell=c.name, params={k: float(v) for k, v in p.items()}, theory="annealed", criterion="chi = 1",
                        feasible=ok, message=msg, method=method,
                        predicted={"chi": chi, "q_star": q, "xi_q": xi_q, "spread": spread, "variance": var},
                        details={"weights": weights, "T": T})


register(INITIALIZERS, Cell, single_field_initializers)
