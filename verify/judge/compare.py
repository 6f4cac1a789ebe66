"""Theory vs simulation: the only module of ``verify`` that imports ``theory``.

For one cell and parameter point, :func:`verify_point`

1. asks the theory for the fixed-point quantities (``theory.predict``) and for trajectories from
   the simulated initial conditions (``theory.trajectory``);
2. simulates, for each weight regime (``untied`` and/or ``tied``), two runs of ``E`` networks:

   * ``approach``: both sequences start at ``(Q0, C0)`` (user's choice) -> per-step trajectory
     checks, fixed points over the late window, ``xi_q`` from the approach of ``Q_t``;
   * ``corr``: both start at the predicted ``Q*`` with overlap ``rho0 Q*`` -> trajectory checks and
     ``xi`` from the approach of the hidden correlation ``c_h`` (with ``Q`` already at ``Q*`` the
     ``Q``-direction does not contaminate the ``C``-rate);

3. applies ``|pred - est| <= k SE + B_N`` to every check, Bonferroni over the whole report
   (two families, trajectory steps and point checks, with half the budget each); tied runs are
   judged against the tied theory instead -- fixed points of :data:`TIED_FIXED_POINTS`
   (:func:`judge_tied`: ``|pred - est| <= k sqrt(SE^2 + SE_theory^2) + B_N``), per-step checks
   against the tied trajectory (:func:`judge_tied_trajectories`), timescales against the tied
   ``xi`` / ``xi_q`` (:func:`judge_tied_timescales`); labels tied
   failures of gated cells judged against the annealed theory (no tied prediction) whose untied
   twin agrees "closure-limited" (02 §5), tied failures whose
   untied twin agrees in a run where some tied networks never became stationary "finite-width"
   (see :data:`NONSTATIONARY_GROWTH`), passes whose interval is wider than the quantity
   "inconclusive", and other failures "disagree".
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from ..statistics import estimators as est
from ..statistics.finite_width import untied_bias
from ..engine.sharding import run_ensemble, run_starts
from ..engine.simulate import RunShape
from ..simulators import SIMULATORS, get as get_simulator
from ..simulators.activations import ACTIVATIONS
from ..statistics.stats import (
    ALPHA,
    CORRELATIONS,
    FINITE_WIDTH_COEF,
    TIMESCALE_WINDOW_TOL,
    Estimate,
    agrees,
    allowance,
    bonferroni_k,
    ensemble_estimate,
)

FIXED_POINTS = {"q_star": "q", "Q_star": "Q", "c_star": "c", "c_h_star": "c_h", "chi": "chi"}
"""theory quantity -> simulated observable averaged over the late window."""

TRAJECTORY = ("q", "Q", "C", "c", "c_h")
"""observables compared at every step with ``theory.trajectory``."""

CONVERGED_FRACTION = 0.25
"""A fixed-point check is made only where the theory trajectory itself has reached the fixed
point in the window: ``|window mean of theory trajectory - X*| <= CONVERGED_FRACTION * B_N``.
Otherwise the horizon is too short (near criticality) and the check is "not checked"; the
per-step trajectory checks still cover the slow approach."""

PRECISION_SUBSET = 8
"""float32 runs: this many networks are rerun in float64 (same samples, drawn in float32)."""

PRECISION_RATIO = 0.1
"""The float32 rounding effect on a fixed-point mean must stay below this fraction of the check's
resolution ``SE + B_N``, so it cannot move a verdict. (Against the SE alone the rule degenerates
where networks agree to ~1e-8, e.g. ``c* = 1`` in the ordered phase: float32 cannot resolve that,
and does not need to, since ``B_N`` is ~1e-2.) The ratio to the SE alone is reported too."""


@dataclass
class Check:
    """One comparison. ``k`` is filled in once the number of checks ``m`` is known."""

    quantity: str
    kind: str  # "fixed point" | "trajectory" | "timescale"
    regime: str  # "untied" | "tied"
    run: str  # "approach" | "corr"
    prediction: float
    estimate: float
    se: float
    n: int
    allowance: float
    t: Optional[int] = None
    k: float = math.nan
    verdict: str = "not checked"
    note: str = ""
    scale: float = math.nan  # the quantity's scale (as in B_N); NaN: |prediction|
    nonstationary: int = 0  # networks of this run that never became stationary (tied runs)
    theory: str = "annealed"  # the theory judged against: "annealed" | "tied" (see judge_tied)
    theory_se: float = 0.0  # the prediction's standard error (Monte-Carlo tied theory; 0 annealed)
    annealed: float = math.nan  # tied-judged checks: the annealed prediction, recorded alongside
    finite_width: float = 0.0  # derived O(1/N) bias included in ``prediction`` (untied single-field q, Q)

    @property
    def label(self) -> str:
        return self.quantity if self.t is None else f"{self.quantity}[t={self.t}]"

    @property
    def detectable(self) -> float:
        """The check's power, as a relative error: the smallest ``|prediction - truth| / scale`` it flags
        as "disagree" with probability >= 90 %, ``((k + z_0.9) sqrt(SE^2 + SE_theory^2) + B_N) / scale``
        (z_0.9 = 1.2816, normal approximation of the estimate's error); NaN before ``k`` is set.  An
        error below it may pass unnoticed: "agree" means "no error larger than this"."""
        if not math.isfinite(self.k):
            return math.nan
        scale = scale_of(self)
        tol = (self.k + POWER_Z) * math.hypot(self.se, self.theory_se) + self.allowance
        return tol / scale if scale > 0 else math.inf

    def passes(self) -> bool:
        """``|pred - est| <= k sqrt(SE^2 + SE_theory^2) + B_N`` (``SE_theory = 0`` for the annealed
        theory, which is computed to quadrature accuracy)."""
        se = math.hypot(self.se, self.theory_se) if self.theory_se else self.se
        return bool(agrees(self.prediction, Estimate(self.estimate, se, self.n), self.k,
                           self.allowance))


@dataclass
class PointConfig:
    cell: str
    params: dict
    width: int = 128
    ensemble: int = 32
    steps: int = 60
    regimes: tuple = ("untied", "tied")
    seed: int = 0
    probes: int = 4
    dtype: str = "float64"
    Q0: float = 1.0
    C0: float = 0.0
    window_fraction: float = 0.5
    label: str = ""
    tied_paths: int = 0  # tied theory's sample paths / steps; 0: TIED_PATHS / TIED_STEPS
    tied_steps: int = 0
    untied_engine: str = "projected"  # RunShape.untied_engine: "projected" (exact, O(N k)) or "dense"


@dataclass
class RunResult:
    regime: str
    run: str
    Q0: float
    C0: float
    stats: dict  # {name: (E, T)}
    theory: Optional[dict]  # theory.trajectory output or None
    plan: dict
    seconds: float


@dataclass
class PointReport:
    config: PointConfig
    predictions: dict
    prediction_errors: dict
    runs: list
    checks: list
    timescale_fits: dict = field(default_factory=dict)
    fixed_point_window: tuple = (0, 0)
    precision: dict = field(default_factory=dict)

    def verdict(self) -> str:
        vs = {c.verdict for c in self.checks}
        for v in VERDICT_ORDER:
            if v in vs:
                return v
        return "not checked"


VERDICT_ORDER = ("disagree", "closure-limited", "finite-width", "inconclusive", "agree")
"""Worst first; a point's verdict is its worst check's. Only "disagree" fails a run (exit 1)."""

NONSTATIONARY_GROWTH = 2.0
"""A tied network counts as **non-stationary** when the theory has a fixed point but the
network's ``|h_t|^2/N`` averaged over the second half of the fixed-point window exceeds this
factor times its average over the first half.  Why this threshold: a stationary network's two
half-window means differ by its ``O(N^{-1/2})`` fluctuations (about 10% at ``N = 64``), so a
factor 2 is never reached by noise; a draw of ``W`` whose spectral radius exceeds 1 grows
geometrically and crosses it.  Such draws are common at small width near criticality: at
``N = 64``, ``sigma_w^2 = 0.9`` half of the real Ginibre matrices have spectral radius >= 1
(mean 0.999 against the ``N -> infinity`` edge ``sigma_w = 0.949``; 0% at ``N = 1024``, from
32 sampled matrices per width).  The mean-field fixed point is an ``N -> infinity`` (fixed
``T``) statement, so a tied check that fails in such a run while its untied twin agrees is
labelled "finite-width" with the count, not "disagree" (the twin may also be "inconclusive":
it passed the rule with a wide interval); it is reported, never hidden."""


def nonstationary_networks(stats: dict, window: tuple[int, int]) -> int:
    """Number of networks whose ``Q_t`` grows by more than :data:`NONSTATIONARY_GROWTH` between
    the first and second half of ``window`` (non-finite values count as growing)."""
    series = est.observable(stats, "Q")
    start, stop = window
    mid = (start + stop) // 2
    if mid <= start or stop <= mid:
        return 0
    first = est.window_average(series, (start, mid))
    second = est.window_average(series, (mid, stop))
    grows = ~np.isfinite(second) | (second > NONSTATIONARY_GROWTH * np.abs(first))
    return int(np.sum(grows))


# ----------------------------------------------------------------------------- theory side


def theory_defaults(cell: str) -> dict:
    import theory

    return dict(theory.parameters(cell))


def theory_cells() -> list[str]:
    import theory

    return list(theory.cells())


def predictions(cell: str, params: dict) -> tuple[dict, dict]:
    """Fixed-point quantities and timescales; ``(values, errors)`` where ``errors`` maps a
    quantity to the reason the theory gave none (e.g. ``FixedPointError``)."""
    import theory

    values, errors = {}, {}
    for q in (*FIXED_POINTS, "xi", "xi_q"):
        try:
            values[q] = float(theory.predict(cell, q, **params))
        except (RuntimeError, ArithmeticError) as exc:  # FixedPointError is a RuntimeError
            errors[q] = f"{type(exc).__name__}: {exc}"
    return values, errors


def theory_trajectory(cell: str, steps: int, Q0: float, C0: float, params: dict) -> dict:
    import theory

    out = theory.trajectory(cell, steps, Q0, C0, **params)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def corr_start(preds: dict, fallback: tuple[float, float]) -> tuple[float, float]:
    """Start of the ``corr`` run: ``Q0 = Q*``, ``C0 = rho0 Q*`` with ``rho0 = c_h*/2`` if
    ``c_h* > 1/2`` else ``(1 + c_h*)/2`` (a deviation of at least 1/4 from ``c_h*``)."""
    if "Q_star" not in preds or "c_h_star" not in preds or not preds["Q_star"] > 0:
        return fallback
    ch = preds["c_h_star"]
    rho0 = ch / 2 if ch > 0.5 else (1 + ch) / 2
    return preds["Q_star"], rho0 * preds["Q_star"]


# ----------------------------------------------------------------------------- checks


def _simulate(config: PointConfig, regime: str, starts: list[tuple[float, float]], devices,
              progress, program_steps: Optional[int] = None) -> tuple[list[dict], dict, float]:
    """The runs of one regime from each of ``starts``, in one program (same seed: the runs share
    their samples, as separate runs would; each step's weights are drawn once)."""
    t0 = time.perf_counter()
    shape = RunShape(config.width, config.steps, regime == "tied", config.probes, config.dtype,
                     untied_engine=config.untied_engine)
    stats, plan = run_starts(
        config.cell, config.params, shape, seed=config.seed, ensemble=config.ensemble,
        starts=starts, devices=devices, progress=progress, program_steps=program_steps,
    )
    return stats, plan.as_dict(), time.perf_counter() - t0


ALLOWANCE_SCALE = {"C": "Q"}
"""The overlap ``C`` is a covariance: its finite-width bias scales with the second moment ``Q``
(it does not vanish where ``C`` crosses 0), so its allowance uses ``Q``'s prediction."""


def trajectory_checks(stats: dict, traj: dict, regime: str, run: str, width: int) -> list[Check]:
    out = []
    for name in TRAJECTORY:
        if name not in traj:
            continue
        e = est.trajectory(stats, name)
        pred = traj[name]
        scale_name = ALLOWANCE_SCALE.get(name, name)
        ref = np.maximum(np.abs(pred), np.abs(traj.get(scale_name, pred)))
        scale = np.broadcast_to(1.0 if scale_name in CORRELATIONS else ref, pred.shape)
        b = np.broadcast_to(allowance(scale_name, ref, width), pred.shape)
        for i in range(pred.size):
            out.append(Check(name, "trajectory", regime, run, float(pred[i]), float(e.mean[i]),
                             float(e.se[i]), e.n, float(b[i]), t=i + 1, verdict="",
                             scale=float(scale[i])))
    return out


CONVERGENCE_PROXY = {"q_star": "q_star", "Q_star": "Q_star", "c_star": "c_star",
                     "c_h_star": "c_h_star", "chi": "q_star"}
"""Whose theory trajectory must have converged for a fixed-point check (chi follows q)."""


SETTLED_FRACTION = 0.1
"""A theory trajectory whose late-window drift is below this fraction of its gap to the fixed point, at a
point whose predicted timescales xi, xi_q are shorter than the window, has settled elsewhere: the
fixed-point check is judged (and fails), not skipped as "horizon too short"."""


def fixed_point_checks(stats: dict, preds: dict, traj: Optional[dict], regime: str,
                       window: tuple[int, int], width: int, has_exact_chi: bool) -> list[Check]:
    pairs = list(FIXED_POINTS.items())
    if has_exact_chi:
        pairs.append(("chi", "chi_exact"))
    out = []
    for quantity, obs in pairs:
        if quantity not in preds:
            continue
        pred = preds[quantity]
        e = est.fixed_point(stats, obs, window)
        name = quantity if obs != "chi_exact" else "chi (exact |J|_F)"
        c = Check(name, "fixed point", regime, "approach", pred, float(e.mean), float(e.se),
                  e.n, float(allowance(quantity, pred, width)), verdict="")
        proxy = CONVERGENCE_PROXY[quantity]
        tname = FIXED_POINTS[proxy]
        if traj is not None and tname in traj and proxy in preds:
            series = traj[tname][window[0] - 1 : window[1] - 1]
            tw = float(np.mean(series))
            ref = preds[proxy]
            gap = abs(tw - ref)
            if gap > CONVERGED_FRACTION * float(allowance(proxy, ref, width)):
                drift = abs(float(series[-1]) - float(series[0]))
                slowest = max((preds.get(k, math.inf) for k in ("xi", "xi_q")), default=math.inf)
                if drift < SETTLED_FRACTION * gap and slowest < window[1] - window[0]:
                    # the theory's own maps have settled away from its fixed point: not a short horizon
                    # but an inconsistent theory (e.g. a wrong fixed-point solve); judge it, never skip it
                    c.note = (f"theory {tname} trajectory settles at {tw:.6g} (drift {drift:.2g} over the window), "
                              f"its fixed point is {ref:.6g}: the theory is inconsistent")
                else:
                    c.verdict = "not checked"
                    c.note = (f"horizon too short: theory {tname} trajectory averages {tw:.6g} over "
                              f"the window, fixed point {ref:.6g}")
        out.append(c)
    return out


def asymptotic_start(traj_series: np.ndarray, fixed_point: float, inv_xi: float,
                     tol: float = TIMESCALE_WINDOW_TOL) -> Optional[int]:
    """First step from which the *theory* trajectory decays at its asymptotic rate: the local
    rate ``ln|d_t / d_{t+1}|`` (``d_t = X_t - X*``) stays within ``tol * inv_xi`` of ``inv_xi``
    until the deviation falls below ``1e-9`` (rounding). ``None`` if it never does."""
    d = np.abs(np.asarray(traj_series, dtype=np.float64) - fixed_point)
    ok = []
    for i in range(d.size - 1):
        if d[i + 1] < 1e-9 * max(1.0, abs(fixed_point)) or d[i] == 0:
            break
        ok.append(abs(math.log(d[i] / d[i + 1]) - inv_xi) <= tol * inv_xi)
    for i in range(len(ok)):
        if all(ok[i:]):
            return i + 1
    return None


def timescale_check(stats: dict, traj: Optional[dict], quantity: str, observable: str,
                    preds: dict, regime: str, run: str, window: tuple[int, int], width: int,
                    k_fit: float, seed: int) -> tuple[Check, Optional[est.TimescaleFit]]:
    """Fit ``1/xi`` over the asymptotic window (see :func:`asymptotic_start`) and compare with
    the theory, allowance ``TIMESCALE_WINDOW_TOL / xi + FINITE_WIDTH_COEF / N``."""
    name = f"1/{quantity}"
    pred_xi = preds.get(quantity)
    star = preds.get(f"{observable}_star")
    if pred_xi is None or star is None or traj is None or observable not in traj:
        return Check(name, "timescale", regime, run, math.nan, math.nan, math.nan, 0, 0.0,
                     verdict="not checked", note="no theory value"), None
    pred = 0.0 if not pred_xi > 0 or math.isinf(pred_xi) else 1.0 / pred_xi
    start = asymptotic_start(traj[observable], star, pred) if pred > 0 else None
    if start is None or start >= window[0] - 2:
        return Check(name, "timescale", regime, run, pred, math.nan, math.nan, 0, 0.0,
                     verdict="not checked",
                     note="theory trajectory not in its exponential regime before the "
                          "fixed-point window"), None
    fit = est.fit_timescale(est.observable(stats, observable), window, start=start,
                            k=k_fit, floor=0.0, seed=seed)
    if fit is None:
        return Check(name, "timescale", regime, run, pred, math.nan, math.nan, 0, 0.0,
                     verdict="not checked",
                     note=f"fewer than 3 steps from step {start} resolved above k*SE"), None
    b = TIMESCALE_WINDOW_TOL * pred + FINITE_WIDTH_COEF / width
    c = Check(name, "timescale", regime, run, pred, fit.inv_xi, fit.inv_xi_se,
              int(stats["q_a"].shape[0]), b, note=fit.rule, verdict="")
    return c, fit


# ----------------------------------------------------------------------------- tied theory

TIED_PATHS = 8192
TIED_STEPS = 200
"""Sample paths and steps of the one tied solve per parameter point (:func:`tied_solution`).
Measured at the default parameters (this CPU, after compilation; relative SE of the tied theory):
vanilla-tanh 5.8 s, Q* 0.08 %, chi 0.24 %, lambda_max 0.28 %; minimalrnn 12 s, Q* 0.34 %, chi
0.19 %, lambda_max 0.27 %; gru 28 s, Q* 0.24 %, chi 0.18 %, lambda_max 0.14 %; lstm 7.5 s, Q*
0.25 %, Q_c* 0.30 %, chi 0.18 %, lambda_max 0.21 % (c_h* = 1 there, SE < 1e-12).  A simulated
fixed point of E networks of width N over a late window of T_w steps has relative SE of order
sqrt(2 / (N T_w E)) times a correlation-time factor of a few: at the CPU sizes (N = 64..128, E = 16..32,
T_w = 20..30) that is ~0.5-1.5 %, i.e. 3-10x the tied theory's SE, so the quadrature sum is
dominated by the simulation (e.g. 1 % and 0.25 % combine to 1.03 %).  At GPU widths (N >= 2048,
E = 32) the two become comparable; both are stated in every check (``se``, ``theory_se``)."""

TIED_FIXED_POINTS = ("Q_star", "q_star", "c_star", "chi", "lambda_max", "c_h_star")
"""Point checks of tied runs judged against the tied theory (with ``Q_<component>_star`` and the
gate field variances ``q_star_<gate>``).  Per-step trajectories of tied runs are judged against the
tied trajectory (:func:`judge_tied_trajectories`) and their timescales against the tied ``xi`` /
``xi_q`` (:func:`judge_tied_timescales`); a check stays annealed-judged only where the tied theory
gives no value, and says why in its note."""


def tied_quantity(quantity: str) -> Optional[str]:
    """The tied-theory quantity a check compares with, or ``None`` if tied runs of it are not
    judged against the tied theory (``"chi (exact |J|_F)"`` -> ``chi``)."""
    base = quantity.split(" ")[0]
    if (base in TIED_FIXED_POINTS or (base.startswith("Q_") and base.endswith("_star"))
            or base.startswith("q_star_")):
        return base
    return None


_TIED_CACHE: dict = {}


def tied_solution(cell: str, params: dict, paths: int = 0, steps: int = 0):
    """``(TiedSolution, None)`` or ``(None, reason)``: one tied solve per cell, parameter point and
    ``(paths, steps)`` for the life of the process (cached: a ``verify`` run and its re-judgements
    never solve a point twice).  ``paths``/``steps`` 0: :data:`TIED_PATHS`, :data:`TIED_STEPS`."""
    from theory.tied.api import solve

    paths, steps = int(paths or TIED_PATHS), int(steps or TIED_STEPS)
    key = (cell, tuple(sorted((k, float(v)) for k, v in params.items())), paths, steps)
    if key not in _TIED_CACHE:
        try:
            _TIED_CACHE[key] = (solve(cell, paths=paths, steps=steps, **params), None)
        except (RuntimeError, ArithmeticError, ValueError) as exc:
            _TIED_CACHE[key] = (None, f"{type(exc).__name__}: {exc}")
    return _TIED_CACHE[key]


def judge_tied(checks: list, cell: str, params: dict, width: int, paths: int = 0, steps: int = 0,
               solution=None) -> int:
    """Point the open tied fixed-point checks (:data:`TIED_FIXED_POINTS`, ``Q_<c>_star``) at the tied
    theory (08): ``prediction`` and ``theory_se`` become the tied solver's mean and SE at ``params``,
    ``annealed`` keeps the annealed prediction (for vanilla cells the two theories coincide: a
    control), ``allowance`` is recomputed from the tied prediction, ``theory = "tied"``.  Judged by
    :meth:`Check.passes`: ``|pred - est| <= k sqrt(SE^2 + SE_theory^2) + B_N``.  Checks of a
    quantity the solver does not serve (or a point where it fails or is non-finite) stay annealed,
    with the reason in their note.  Returns the number of checks re-pointed."""
    todo = [c for c in checks if c.regime == "tied" and c.kind == "fixed point" and c.verdict == ""
            and tied_quantity(c.quantity) is not None]
    if not todo:
        return 0
    sol, why = (solution, None) if solution is not None else tied_solution(cell, params, paths, steps)
    n = 0
    for c in todo:
        q = tied_quantity(c.quantity)
        if sol is None or q not in sol.mean or not (np.isfinite(sol.mean[q]) and np.isfinite(sol.se[q])):
            reason = why or (f"tied solver gives {q} = {sol.mean.get(q)!r}" if sol is not None and q in sol.mean
                             else f"tied solver does not serve {q}")
            c.note = (c.note + "; " if c.note else "") + f"judged against the annealed theory: {reason}"
            continue
        c.annealed, c.prediction, c.theory_se = c.prediction, float(sol.mean[q]), float(sol.se[q])
        c.allowance = float(allowance(q, c.prediction, width))
        c.theory = "tied"
        c.note = (c.note + "; " if c.note else "") + (
            f"tied theory ({sol.paths} paths, {sol.steps} steps) {c.prediction:.6g} ± {c.theory_se:.2g}; "
            f"annealed {c.annealed:.6g}")
        if sol.notes:
            c.note += "; " + "; ".join(sol.notes)
        n += 1
    return n


TIED_TRAJECTORY_GROUPS = 8
"""Independent groups of the tied theory's trajectory: its per-step SE is their spread."""

TIED_TRAJECTORY_PATHS_FACTOR = 4
"""The tied trajectory uses this multiple of the solve's paths (:data:`TIED_PATHS`, or the config's
``tied_paths``): a per-step value has no window to average over, so it needs more paths than a fixed
point for a comparable SE (32768 paths: ~1 % relative per step on Q, below a CPU-sized simulation's
per-step SE of ~2-4 %)."""

_TIED_TRAJ_CACHE: dict = {}


def tied_trajectory(cell: str, steps: int, Q0, C0, params: dict, paths: int = 0):
    """``(means, SEs, None)`` of the tied theory's trajectory (``theory.trajectory(..., tied=True)``)
    from ``(Q0, C0)`` (``C0`` a covariance, as in the annealed one), or ``(None, None, reason)``;
    cached per cell, start, parameters and ``paths`` (the solve's; times
    :data:`TIED_TRAJECTORY_PATHS_FACTOR`)."""
    import theory

    paths = TIED_TRAJECTORY_PATHS_FACTOR * int(paths or TIED_PATHS)
    key = (cell, int(steps), repr(Q0), repr(C0), tuple(sorted((k, float(v)) for k, v in params.items())), paths)
    if key not in _TIED_TRAJ_CACHE:
        try:
            mean, se = theory.trajectory(cell, int(steps), Q0, C0, tied=True, return_error=True, paths=paths,
                                         groups=TIED_TRAJECTORY_GROUPS, **params)
            _TIED_TRAJ_CACHE[key] = ({k: np.asarray(v, dtype=np.float64) for k, v in mean.items()},
                                     {k: np.asarray(v, dtype=np.float64) for k, v in se.items()}, None)
        except (RuntimeError, ArithmeticError, ValueError) as exc:
            _TIED_TRAJ_CACHE[key] = (None, None, f"{type(exc).__name__}: {exc}")
    return _TIED_TRAJ_CACHE[key]


def judge_tied_trajectories(checks: list, run: str, mean: Optional[dict], se: Optional[dict], width: int,
                            why: str = "") -> int:
    """Point the open per-step checks of the tied run ``run`` at the tied trajectory: ``prediction``
    and ``theory_se`` become its mean and SE at that step, ``annealed`` keeps the annealed value,
    ``allowance`` and ``scale`` are recomputed from the tied values (as :func:`trajectory_checks`
    does), ``theory = "tied"``.  A step where the tied trajectory is non-finite (or missing, with
    ``why``) stays annealed-judged and says so.  Returns the number re-pointed."""
    n = 0
    for c in checks:
        if not (c.regime == "tied" and c.kind == "trajectory" and c.run == run and c.verdict == ""):
            continue
        i = c.t - 1
        if mean is None or c.quantity not in mean or not (np.isfinite(mean[c.quantity][i])
                                                         and np.isfinite(se[c.quantity][i])):
            reason = why or f"tied trajectory gives no finite {c.quantity} at this step"
            c.note = (c.note + "; " if c.note else "") + f"judged against the annealed theory: {reason}"
            continue
        pred = float(mean[c.quantity][i])
        scale_name = ALLOWANCE_SCALE.get(c.quantity, c.quantity)
        ref = max(abs(pred), abs(float(mean[scale_name][i]))) if scale_name in mean else abs(pred)
        c.annealed, c.prediction, c.theory_se = c.prediction, pred, float(se[c.quantity][i])
        c.allowance = float(allowance(scale_name, ref, width))
        c.scale = 1.0 if scale_name in CORRELATIONS else ref
        c.theory = "tied"
        n += 1
    return n


def judge_tied_timescales(checks: list, cell: str, params: dict, width: int, paths: int = 0) -> int:
    """Point the open tied timescale checks (``1/xi``, ``1/xi_q``) at the tied theory
    (``theory.predict(cell, "xi" | "xi_q", tied=True, return_error=True)``): ``prediction = 1/xi``,
    ``theory_se = SE_xi / xi^2``, allowance ``TIMESCALE_WINDOW_TOL / xi + FINITE_WIDTH_COEF / N`` as for
    the annealed check.  The fit window was chosen on the annealed trajectory's exponential regime; the
    tied relaxation is not one exponential for cells with memory (08 §6), so the tied ``xi_q`` (a
    late-time linear-response rate) is compared with the late-window fit.  Returns the number re-pointed."""
    import theory

    n = 0
    for c in checks:
        if not (c.regime == "tied" and c.kind == "timescale" and c.verdict == ""):
            continue
        q = c.quantity[2:]  # "1/xi" -> "xi"
        try:
            xi, xi_se = theory.predict(cell, q, tied=True, return_error=True,
                                       **({"paths": int(paths)} if paths else {}), **params)
        except (RuntimeError, ArithmeticError, ValueError) as exc:
            c.note = (c.note + "; " if c.note else "") + f"judged against the annealed theory: tied {q}: {exc}"
            continue
        if not (np.isfinite(xi) and xi > 0 and np.isfinite(xi_se)):
            c.note = (c.note + "; " if c.note else "") + f"judged against the annealed theory: tied {q} = {xi!r}"
            continue
        c.annealed, c.prediction, c.theory_se = c.prediction, 1.0 / xi, xi_se / xi ** 2
        c.allowance = TIMESCALE_WINDOW_TOL * c.prediction + FINITE_WIDTH_COEF / width
        c.theory = "tied"
        c.note = (c.note + "; " if c.note else "") + f"tied {q} {xi:.5g} ± {xi_se:.2g}"
        n += 1
    return n


POWER_Z = 1.2815515655446004
"""z_0.9 of the standard normal: :attr:`Check.detectable` is the error detected with 90 % probability."""

INCONCLUSIVE_FRACTION = 1.0
"""A check whose interval half-width ``k SE`` exceeds this multiple of the quantity's scale
(``|prediction|``; 1 for correlations) tests nothing: it is "inconclusive", not "agree" (e.g. a
tied linear RNN near criticality where a few networks with spectral radius > 1 blow up)."""


def scale_of(check: Check) -> float:
    if math.isfinite(check.scale):
        return check.scale
    base = check.quantity.split(" ")[0]
    return 1.0 if base in CORRELATIONS else abs(check.prediction)


def family(check: Check) -> str:
    """Bonferroni family: the many per-step trajectory checks, or the few point checks (fixed
    points, timescales). Each family gets half the false-alarm budget, so the hundreds of time
    points do not dilute the power of the fixed-point checks."""
    return "trajectory" if check.kind == "trajectory" else "point"


def count_open(checks: list[Check]) -> dict[str, int]:
    out = {"trajectory": 0, "point": 0}
    for c in checks:
        if c.verdict == "":
            out[family(c)] += 1
    return out


def assign_verdicts(checks: list[Check], gated: bool, m: Optional[dict] = None,
                    alpha: float = ALPHA) -> dict:
    """Fill ``k = t^{-1}_{E-1}(1 - (alpha/2)/(2 m_f))`` for each family ``f`` and the verdicts of
    the checks still open (``verdict == ""``); ``m`` (per family) defaults to their counts here
    (pass the totals of a whole suite to make the report one family). Returns ``m``."""
    m = dict(m or count_open(checks))
    active = [c for c in checks if c.verdict == ""]
    for c in active:
        c.k = bonferroni_k(max(1, m[family(c)]), c.n, alpha / 2)
        bad = [name for name, v in (("prediction", c.prediction), ("estimate", c.estimate),
                                    ("SE", c.se)) if not np.isfinite(v)]
        if bad:
            c.verdict = "disagree"
            c.note = (c.note + "; " if c.note else "") + f"non-finite {' and '.join(bad)}"
        elif not c.passes():
            c.verdict = "disagree"
        elif c.k * math.hypot(c.se, c.theory_se) > INCONCLUSIVE_FRACTION * scale_of(c):
            c.verdict = "inconclusive"
            c.note = (c.note + "; " if c.note else "") + (
                f"k*SE = {c.k * math.hypot(c.se, c.theory_se):.3g} exceeds {INCONCLUSIVE_FRACTION:g} x the quantity's scale: "
                "the interval is too wide to test anything (heavy-tailed or diverging networks?)")
        else:
            c.verdict = "agree"
    untied = {(c.quantity, c.kind, c.run, c.t): c for c in checks if c.regime == "untied"}
    for c in checks:
        if c.regime == "tied" and c.verdict == "disagree":
            twin = untied.get((c.quantity, c.kind, c.run, c.t))
            if twin is None:
                continue
            if gated and twin.verdict == "agree" and c.theory == "annealed":
                # only where no tied prediction was used: a tied-judged failure is a disagreement
                c.verdict = "closure-limited"
                c.note = (c.note + "; " if c.note else "") + (
                    "untied agrees: judged against the annealed theory (no tied prediction here); "
                    "single-time closure not exact for tied gated cells (02 §5)")
            elif not gated and c.nonstationary > 0 and twin.verdict in ("agree", "inconclusive"):
                # the untied twin passes the rule (an inconclusive one too: within k SE + B_N)
                c.verdict = "finite-width"
                c.note = (c.note + "; " if c.note else "") + (
                    f"untied {twin.verdict}; {c.nonstationary} of {c.n} tied networks never became "
                    f"stationary (|h|^2/N grew > {NONSTATIONARY_GROWTH:g}x across the late window: "
                    "the linearised dynamics of those tied draws has spectral radius above 1 at "
                    "this width; the fixed point is an N -> infinity statement, 01 §5)")
    return m


def simulate_point(
    config: PointConfig,
    preds: dict,
    *,
    devices: Optional[Sequence] = None,
    progress: Optional[Callable[[str], None]] = None,
    program_steps: Optional[int] = None,
) -> list[RunResult]:
    """Both runs (``approach`` from ``(Q0, C0)``, ``corr`` from the predicted ``Q*``) for each
    regime. Theory trajectories are attached later by :func:`evaluate_point`. ``program_steps``:
    see :func:`verify.engine.sharding.run_ensemble` (same statistics, a shared compiled program)."""
    if config.cell not in SIMULATORS:
        raise ValueError(f"cell {config.cell!r} has no simulator")
    starts = {"approach": (config.Q0, config.C0),
              "corr": corr_start(preds, (config.Q0, config.C0))}
    runs = []
    for regime in config.regimes:
        if progress:
            progress(f"{config.cell} {config.label} {regime} " + ", ".join(
                f"{run}: Q0={q0:.4g} C0={c0:.4g}" for run, (q0, c0) in starts.items()))
        stats, plan, secs = _simulate(config, regime, list(starts.values()), devices, progress,
                                      program_steps)
        for (run, (q0, c0)), st in zip(starts.items(), stats):
            # seconds: this run's share of the regime's joint simulation
            runs.append(RunResult(regime, run, q0, c0, st, None, plan, secs / len(starts)))
    return runs


DERIVED_BIAS_OBSERVABLES = {"q": "q", "Q": "Q", "q_star": "q", "Q_star": "Q"}
"""Checks whose O(1/N) finite-width bias is derived (:mod:`verify.statistics.finite_width`) for untied
vanilla and feed-forward runs: check quantity -> the bias series it uses."""

REMAINDER_FRACTION = 1.0
"""Allowance of a bias-corrected check: ``REMAINDER_FRACTION * |bias|``, a bound on the O(1/N^2)
remainder of the expansion.  Fixed from the width ladder of ``tests/test_finite_width.py`` (untied
vanilla-tanh, sigma_w = 0.8 and 2.5, N = 8 ... 32, an independent numpy simulation): at N = 8 the
measured remainder on Q was 4 % (sigma_w = 0.8) and 10 % (sigma_w = 2.5, within 1.8 SE) of the bias, and
within the SE at N = 16, 32, so the bound holds with a wide margin from N = 8 up; it is 0 where the bias
is exactly 0 (ReLU, linear: the variance map is linear)."""


def derived_bias_cells() -> list[str]:
    """Simulated cells whose untied q/Q finite-width bias is derived: vanilla and feed-forward with a
    simulator activation."""
    return [c for c in SIMULATORS if c.split("-", 1)[0] in ("vanilla", "feedforward")
            and c.split("-", 1)[1] in ACTIVATIONS]


def apply_derived_bias(checks: list[Check], cell: str, params: dict, traj: dict, window: tuple[int, int],
                       width: int) -> int:
    """Untied ``q``/``Q`` checks (per step and fixed point) of a vanilla or feed-forward run: add the
    derived O(1/N) bias (:func:`verify.statistics.finite_width.untied_bias` along the run's theory
    trajectory ``traj["q"]``) to the prediction and replace ``B_N`` by ``REMAINDER_FRACTION * |bias|``.
    Points where the expansion does not apply (a zero field variance on the trajectory) keep ``B_N``,
    said in the note.  Returns the number of checks changed."""
    if cell not in derived_bias_cells():
        return 0
    try:
        bias = untied_bias(ACTIVATIONS[cell.split("-", 1)[1]].phi, traj["q"], width, float(params["sigma_w"]),
                           float(params.get("sigma_v", 0.0)), float(params.get("R", 0.0)))
    except ValueError as e:
        for c in checks:
            if c.quantity in DERIVED_BIAS_OBSERVABLES and c.verdict == "":
                c.note = (c.note + "; " if c.note else "") + f"finite-width bias not derived here ({e}): B_N kept"
        return 0
    n = 0
    for c in checks:
        name = DERIVED_BIAS_OBSERVABLES.get(c.quantity)
        if name is None or c.verdict != "":
            continue
        series = getattr(bias, name)
        if c.kind == "trajectory":
            b = float(series[c.t - 1])
        elif c.kind == "fixed point":
            b = float(np.mean(series[window[0] - 1: window[1] - 1]))
        else:
            continue
        c.prediction += b
        c.finite_width = b
        c.allowance = REMAINDER_FRACTION * abs(b)
        c.note = (c.note + "; " if c.note else "") + (
            f"mean field {c.prediction - b:.6g} + derived O(1/N) bias {b:+.3g} (verify.statistics.finite_width)")
        n += 1
    return n


def evaluate_point(config: PointConfig, runs: list[RunResult], predict_params: dict,
                   predicted: Optional[tuple[dict, dict]] = None) -> PointReport:
    """All checks of one point against the theory at ``predict_params`` (verdicts not yet set);
    ``predicted``: ``predictions(config.cell, predict_params)`` if the caller has it already."""
    sim = get_simulator(config.cell)
    preds, perrs = predicted if predicted is not None else predictions(config.cell, predict_params)
    window = est.late_window(config.steps, config.window_fraction)
    k_fit = bonferroni_k(config.steps, config.ensemble)
    checks, fits, evaluated = [], {}, []
    trajectories = {}  # (Q0, C0) -> theory trajectory: tied and untied runs share their starts
    for r in runs:
        if (r.Q0, r.C0) not in trajectories:
            trajectories[(r.Q0, r.C0)] = theory_trajectory(config.cell, config.steps, r.Q0, r.C0,
                                                           predict_params)
        traj = trajectories[(r.Q0, r.C0)]
        evaluated.append(RunResult(r.regime, r.run, r.Q0, r.C0, r.stats, traj, r.plan, r.seconds))
        mine = trajectory_checks(r.stats, traj, r.regime, r.run, config.width)
        if r.run == "approach":
            mine += fixed_point_checks(r.stats, preds, traj, r.regime, window, config.width,
                                       sim.exact_chi is not None)
            c, fit = timescale_check(r.stats, traj, "xi_q", "Q", preds, r.regime, r.run,
                                     window, config.width, k_fit, config.seed)
        else:
            c, fit = timescale_check(r.stats, traj, "xi", "c_h", preds, r.regime, r.run,
                                     window, config.width, k_fit, config.seed)
        mine.append(c)
        if r.regime == "untied":
            apply_derived_bias(mine, config.cell, predict_params, traj, window, config.width)
        if r.regime == "tied" and "Q_star" in preds:
            n_bad = nonstationary_networks(r.stats, window)
            for ch in mine:
                ch.nonstationary = n_bad
        checks += mine
        if fit is not None:
            fits[f"{r.regime}/{c.quantity}"] = asdict(fit)
    if any(r.regime == "tied" for r in runs):
        judge_tied(checks, config.cell, predict_params, config.width, config.tied_paths,
                   config.tied_steps)
        judge_tied_timescales(checks, config.cell, predict_params, config.width)
        for i, r in enumerate(evaluated):
            if r.regime != "tied":
                continue
            mean, se, why = tied_trajectory(config.cell, config.steps, r.Q0, r.C0, predict_params,
                                            config.tied_paths)
            judge_tied_trajectories(checks, r.run, mean, se, config.width, why or "")
            if mean is not None:  # the run's theory curves: the tied theory it was judged against
                evaluated[i] = RunResult(r.regime, r.run, r.Q0, r.C0, r.stats, mean, r.plan, r.seconds)
    for q, why in perrs.items():
        checks.append(Check(q, "fixed point", "-", "-", math.nan, math.nan, math.nan, 0, 0.0,
                            note=f"theory gave no value: {why}"))
    return PointReport(config, preds, perrs, evaluated, checks, fits, window)


def verify_point(
    config: PointConfig,
    *,
    devices: Optional[Sequence] = None,
    progress: Optional[Callable[[str], None]] = None,
    finalize: bool = True,
    alpha: float = ALPHA,
    program_steps: Optional[int] = None,
) -> PointReport:
    """Simulate and compare one point; with ``finalize`` the verdicts use Bonferroni ``k`` over
    this report's checks at false-alarm rate ``alpha``.  ``program_steps``: run the program
    compiled for that many steps (>= ``config.steps``; the statistics are those of a
    ``config.steps`` run, :func:`verify.engine.sharding.run_ensemble`)."""
    predicted = predictions(config.cell, config.params)
    runs = simulate_point(config, predicted[0], devices=devices, progress=progress,
                          program_steps=program_steps)
    report = evaluate_point(config, runs, config.params, predicted)
    if config.dtype == "float32":
        report.precision = precision_check(config, report.runs[0], report.fixed_point_window,
                                           devices)
    if finalize:
        assign_verdicts(report.checks, sim_gated(config.cell), alpha=alpha)
    return report


def precision_check(config: PointConfig, run: RunResult, window: tuple[int, int],
                    devices=None) -> dict:
    """Rerun the first ``PRECISION_SUBSET`` networks of a float32 run in float64 with the same
    (float32-drawn) samples. Per quantity: ``|mean_k (x32_k - x64_k)|`` over the subset against
    the float32 ensemble SE and ``B_N``; ``ok`` when below ``PRECISION_RATIO * (SE + B_N)``. In a chaotic regime the
    paired trajectories decorrelate (07 §6), so the difference then also contains sampling noise
    (``paired_se``) and can exceed the bound without any rounding bias: the report says which."""
    n_sub = min(config.ensemble, PRECISION_SUBSET)
    shape = RunShape(config.width, config.steps, run.regime == "tied", config.probes, "float64",
                     sample_dtype="float32", untied_engine=config.untied_engine)
    s64, _ = run_ensemble(config.cell, config.params, shape, seed=config.seed, ensemble=n_sub,
                          Q0=run.Q0, C0=run.C0, devices=devices)
    out = {"networks": n_sub, "regime": run.regime, "run": run.run, "quantities": {}}
    for q, obs in FIXED_POINTS.items():
        x32 = est.window_average(est.observable(run.stats, obs), window)
        x64 = est.window_average(est.observable(s64, obs), window)
        d = x32[:n_sub] - x64
        e32 = ensemble_estimate(x32)
        se = float(e32.se)
        b = float(allowance(q, e32.mean, config.width))
        mean_d = float(np.mean(d))
        out["quantities"][q] = {
            "mean_diff": mean_d,
            "paired_se": float(np.std(d, ddof=1) / math.sqrt(n_sub)),
            "ensemble_se": se,
            "allowance": b,
            "ratio_to_se": abs(mean_d) / se if se > 0 else math.inf,
            "ratio": abs(mean_d) / (se + b),
            "ok": bool(abs(mean_d) <= PRECISION_RATIO * (se + b)),
        }
    return out


def sim_gated(cell: str) -> bool:
    return get_simulator(cell).gated


def not_simulated_cells() -> list[str]:
    """Theory cells with no simulator here nor in ``GATED_SIMULATORS`` (reported, never skipped)."""
    from ..simulators import GATED_SIMULATORS

    return [c for c in theory_cells() if c not in SIMULATORS and c not in GATED_SIMULATORS]
