"""Width sweeps: order of convergence and the "closure-limited" verdict (07 §4, 02 §5).

At each width ``N`` of a geometric ladder and each regime, the ``approach`` run gives
per-network late-window averages ``X_k``. For every fixed-point quantity:

* **RMS error of single networks**, ``sqrt(mean_k (X_k - X_MF)^2)``: noise-dominated, declared
  slope ``-1/2`` in ``log N``; fitted by weighted least squares with an interval.
* **Bias of the mean**, ``|Xbar_N - X_MF|``: declared ``-1`` where the SE is negligible; reported.
* **Extrapolation** ``Xbar_N = X_inf + a/N``; ``X_inf`` is tested against ``X_MF`` with
  ``|X_inf - X_MF| <= k SE(X_inf)``.

Verdict per quantity and regime: agree if the extrapolation agrees and the RMS slope matches.
Tied runs are judged against the tied theory where it serves the quantity (``X_MF`` the tied solver's
value, ``|X_inf - X_MF| <= k sqrt(SE(X_inf)^2 + SE_theory^2)``; the annealed value recorded beside it).
For gated cells a tied failure judged against the annealed theory (no tied prediction) whose untied
twin agrees is "closure-limited": the gap does not shrink with width, so it is a property of the
annealed model, not of the finite width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from ..statistics import estimators as est
from ..reporting.atomic import save_figure
from .compare import FIXED_POINTS, predictions, tied_solution
from ..engine.sharding import check_memory, run_ensemble
from ..engine.simulate import RunShape
from ..simulators import get as get_simulator
from ..statistics.stats import (
    bonferroni_k,
    ensemble_estimate,
    extrapolate_width,
    log_log_slope,
    rms_error,
    slope_matches,
)

RMS_SLOPE = -0.5
"""Declared order of the single-network RMS error (fluctuations ``O(N^-1/2)``)."""

SLOPE_ALLOWANCE = 0.1
"""Allowance on a fitted log-log slope for the ``O(N^-1)`` bias inside the RMS error at the small
end of a CPU ladder (``bias^2/var = a^2/(sigma^2 N)``); fixed in advance, never enlarged."""


@dataclass
class QuantitySweep:
    quantity: str
    regime: str
    prediction: float
    widths: list
    means: list
    ses: list
    rms: list
    rms_se: list
    rms_slope: float
    rms_slope_se: float
    bias_slope: float
    bias_slope_se: float
    x_inf: float
    x_inf_se: float
    a: float
    a_se: float
    k: float = math.nan
    extrapolation_ok: bool = False
    slope_ok: bool = False
    verdict: str = ""
    theory: str = "annealed"  # "tied": tied runs judged against the tied theory (verify.judge.compare.tied_solution)
    theory_se: float = 0.0
    annealed: float = math.nan  # the annealed prediction, recorded beside a tied one


@dataclass
class SweepReport:
    cell: str
    params: dict
    widths: list
    ensemble: int
    steps: int
    window: tuple
    seed: int
    quantities: list = field(default_factory=list)
    prediction_errors: dict = field(default_factory=dict)

    def verdict(self) -> str:
        vs = {q.verdict for q in self.quantities}
        for v in ("disagree", "closure-limited", "agree"):
            if v in vs:
                return v
        return "not checked"


def check_widths(cell: str, widths: Sequence[int], *, ensemble: int, steps: int, probes: int = 4,
                 dtype: str = "float64", devices=None, starts: int = 1) -> None:
    """Measure every width's memory before anything runs (:func:`verify.engine.sharding.check_memory`): a
    ladder too large at its top is refused up front, not after its small widths ran.  The compiled
    programs are kept and reused by the runs."""
    for n in widths:
        check_memory(cell, RunShape(int(n), int(steps), False, probes, dtype), ensemble, devices, starts=starts)


def width_sweep(
    cell: str,
    params: dict,
    widths: Sequence[int],
    *,
    ensemble: int = 32,
    steps: int = 60,
    regimes: Sequence[str] = ("untied", "tied"),
    seed: int = 0,
    Q0: float = 1.0,
    C0: float = 0.0,
    probes: int = 4,
    dtype: str = "float64",
    quantities: Sequence[str] = ("q_star", "Q_star", "chi"),
    devices=None,
    progress: Optional[Callable[[str], None]] = None,
    predict_params: Optional[dict] = None,
    program_steps: Optional[int] = None,
    program_starts: Optional[int] = None,
) -> SweepReport:
    """``program_steps`` / ``program_starts``: run shared compiled programs
    (:func:`verify.engine.sharding.run_starts`; the statistics are the same)."""
    if len(widths) < 3:
        raise ValueError("a width sweep needs at least 3 widths")
    sim = get_simulator(cell)
    preds, perrs = predictions(cell, dict(predict_params or params))
    window = est.late_window(steps)
    rep = SweepReport(cell, dict(params), list(widths), ensemble, steps, window, seed,
                      prediction_errors=perrs)
    check_widths(cell, widths, ensemble=ensemble, steps=max(steps, program_steps or 0), probes=probes,
                 dtype=dtype, devices=devices, starts=max(1, program_starts or 1))
    per = {}  # (regime, quantity) -> list of per-network arrays
    for regime in regimes:
        for n in widths:
            if progress:
                progress(f"sweep {cell} {regime} N={n}")
            stats, _ = run_ensemble(cell, params, RunShape(n, steps, regime == "tied", probes, dtype),
                                    seed=seed, ensemble=ensemble, Q0=Q0, C0=C0, devices=devices,
                                    progress=progress, program_steps=program_steps,
                                    program_starts=program_starts)
            for q in quantities:
                per.setdefault((regime, q), []).append(
                    est.window_average(est.observable(stats, FIXED_POINTS[q]), window))
    sol = None
    if "tied" in regimes:  # tied runs against the tied theory (one cached solve per point)
        sol, _ = tied_solution(cell, dict(predict_params or params))
    for (regime, q), xs in per.items():
        if q not in preds:
            continue
        pred, kind, tse, ann = preds[q], "annealed", 0.0, math.nan
        if regime == "tied" and sol is not None and q in sol.mean and math.isfinite(sol.mean[q]) \
                and math.isfinite(sol.se[q]):
            pred, kind, tse, ann = float(sol.mean[q]), "tied", float(sol.se[q]), preds[q]
        ests = [ensemble_estimate(x) for x in xs]
        means = [float(e.mean) for e in ests]
        ses = [float(e.se) for e in ests]
        rr = [rms_error(x, pred) for x in xs]
        rms_fit = log_log_slope(widths, [r[0] for r in rr], [r[1] for r in rr])
        bias_fit = log_log_slope(widths, [m - pred for m in means], ses)
        x_inf, x_se, a, a_se = extrapolate_width(widths, means, ses)
        rep.quantities.append(QuantitySweep(
            q, regime, pred, list(widths), means, ses, [r[0] for r in rr], [r[1] for r in rr],
            rms_fit.slope, rms_fit.slope_se, bias_fit.slope, bias_fit.slope_se, x_inf, x_se, a, a_se,
            theory=kind, theory_se=tse, annealed=ann))
    m = max(1, 2 * len(rep.quantities))  # two tests (extrapolation, slope) per quantity
    for qs in rep.quantities:
        qs.k = bonferroni_k(m, ensemble)
        qs.extrapolation_ok = bool(abs(qs.x_inf - qs.prediction) <= qs.k * math.hypot(qs.x_inf_se, qs.theory_se))
        qs.slope_ok = slope_matches(qs.rms_slope, qs.rms_slope_se, RMS_SLOPE, qs.k, SLOPE_ALLOWANCE)
        qs.verdict = "agree" if qs.extrapolation_ok and qs.slope_ok else "disagree"
    if sim.gated:
        untied = {qs.quantity: qs for qs in rep.quantities if qs.regime == "untied"}
        for qs in rep.quantities:
            twin = untied.get(qs.quantity)
            if (qs.regime == "tied" and qs.theory == "annealed" and qs.verdict == "disagree" and twin
                    and twin.verdict == "agree"):  # only where no tied prediction exists
                qs.verdict = "closure-limited"
    return rep


def plot_sweep(rep: SweepReport, path) -> None:
    """Log-log |error| vs N per quantity, tied and untied, with the declared slopes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qnames = sorted({q.quantity for q in rep.quantities})
    fig, axes = plt.subplots(1, len(qnames), figsize=(4.2 * len(qnames), 3.4), squeeze=False)
    for ax, qn in zip(axes[0], qnames):
        for qs, color in zip([q for q in rep.quantities if q.quantity == qn], ("C0", "C3")):
            w = np.asarray(qs.widths, dtype=float)
            bias = np.abs(np.asarray(qs.means) - qs.prediction)
            ax.errorbar(w, qs.rms, yerr=qs.rms_se, fmt="o-", color=color, ms=3,
                        label=f"{qs.regime} RMS (slope {qs.rms_slope:+.2f}±{qs.rms_slope_se:.2f})")
            ax.errorbar(w, bias, yerr=qs.ses, fmt="s--", color=color, ms=3, alpha=0.6,
                        label=f"{qs.regime} |mean err| ({qs.verdict})")
        ref = np.asarray(rep.widths, dtype=float)
        top = max(max(q.rms) for q in rep.quantities if q.quantity == qn)
        ax.plot(ref, top * (ref / ref[0]) ** -0.5, "k:", lw=0.8, label="N^-1/2")
        ax.plot(ref, top * (ref / ref[0]) ** -1.0, "k-.", lw=0.8, label="N^-1")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width N")
        ax.set_title(qn)
        ax.legend(fontsize=6)
    fig.suptitle(f"{rep.cell} width sweep, E={rep.ensemble}, T={rep.steps}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    plt.close(fig)
