r"""Does ξ predict what trains?  The trainability study (issue 19; Chen, Pennington & Schoenholz 2018).

For one cell, a grid of one initialisation parameter (``knob``: σ_w for vanilla-tanh, σ_w or μ_b for
the minimalRNN, the memory-gate bias for GRU/LSTM) × horizons ``T``, several seeds per grid point, each
network trained on the memory task of :mod:`verify.studies.trainability_task` for a fixed budget.

Per grid row (knob value):

* ``T_max``: the largest grid ``T`` up to which the seed-mean accuracy stays at or above ``threshold``
  (every shorter ``T`` too), with a seed-bootstrap interval (seeds resampled with replacement,
  ``T_max`` recomputed; 2.5 / 97.5 % percentiles);
* the theory's correlation timescale ξ at that initialisation, **annealed** (untied weights, generated
  kernels) and, with ``tied_xi=True``, **tied** (real networks, the tied site process; Monte-Carlo with
  its SE) — both recorded; the task's two examples see independent inputs after the first, so ξ is
  evaluated at input correlation Σ = 0 and the task's input variance ``R``.

Across rows: least squares of :math:`\log T_{\max}` on :math:`\log\xi` (slope, intercept, R², residuals)
over the rows whose ``T_max`` is inside the grid (neither below its first ``T`` nor at its last).  A
heat map of accuracy over (knob, T) with :math:`c\,\xi` overlaid (``c`` fitted) is written beside the
JSON.  Whatever the data say is the result: the report states the fit, including when it is poor.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .trainability_task import Training, run_horizon

#: default accuracy that counts as "learned" (chance is 1/classes)
THRESHOLD = 0.8
#: seed-bootstrap resamples of T_max
BOOTSTRAP = 2000


def theory_xi(cell: str, param_sets: list, labels: list, tied: bool = False, tied_paths: int = 8192) -> dict:
    """ξ at Σ = 0 for each parameter set: ``{"annealed": [...], "tied": [...], "tied_se": [...]}`` (tied
    only when asked; NaN where the theory has no finite value, with the reason in ``"notes"``)."""
    import theory

    out = {"annealed": [], "tied": [], "tied_se": [], "notes": []}
    for label, params in zip(labels, param_sets):
        p = {**params, "Sigma": 0.0}
        try:
            out["annealed"].append(float(theory.predict(cell, "xi", **p)))
        except (theory.FixedPointError, ValueError) as e:
            out["annealed"].append(math.nan)
            out["notes"].append(f"{label}: annealed xi: {e}")
        if tied:
            try:
                x, se = theory.predict(cell, "xi", tied=True, return_error=True, paths=tied_paths, **p)
                out["tied"].append(float(x))
                out["tied_se"].append(float(se))
            except (theory.FixedPointError, ValueError) as e:
                out["tied"].append(math.nan)
                out["tied_se"].append(math.nan)
                out["notes"].append(f"{label}: tied xi: {e}")
    return out


def t_max(acc: np.ndarray, Ts, threshold: float) -> float:
    """Largest ``T`` with ``acc >= threshold`` at it and at every shorter grid ``T`` (``acc`` over
    ``Ts``, increasing); 0 if the first fails."""
    best = 0.0
    for a, T in zip(acc, Ts):
        if not a >= threshold:
            break
        best = float(T)
    return best


def row_summary(correct: np.ndarray, Ts, eval_size: int, threshold: float, rng) -> dict:
    """``correct``: (len(Ts), seeds).  T_max of the seed mean, and its seed-bootstrap interval."""
    acc = correct / eval_size
    point = t_max(acc.mean(axis=1), Ts, threshold)
    seeds = acc.shape[1]
    boot = np.array([t_max(acc[:, rng.integers(0, seeds, seeds)].mean(axis=1), Ts, threshold)
                     for _ in range(BOOTSTRAP)])
    return {"T_max": point, "T_max_lo": float(np.percentile(boot, 2.5)), "T_max_hi": float(np.percentile(boot, 97.5)),
            "accuracy_mean": acc.mean(axis=1).tolist()}


def fit_log(T_max, xi, Ts) -> dict:
    """Least squares ``log T_max = slope log xi + intercept`` over rows with T_max inside the grid, when
    they hold at least 3 distinct T_max values (else a ``note`` says why there is no fit)."""
    T_max, xi = np.asarray(T_max, float), np.asarray(xi, float)
    use = (T_max > 0) & (T_max < max(Ts)) & np.isfinite(xi) & (xi > 0)
    out = {"rows_used": int(use.sum()), "rule": "rows with 0 < T_max < max(T) and finite xi; >= 3 distinct T_max"}
    if use.sum() < 3:  # two points fit any line exactly: R^2 = 1 would say nothing
        out["note"] = f"{int(use.sum())} row(s) with T_max inside the grid (3 needed): no fit"
        return out
    x, y = np.log(xi[use]), np.log(T_max[use])
    if np.unique(y).size < 3 or np.ptp(x) < 1e-6:  # T_max on a factor-2 grid: two levels are two points
        out["note"] = f"the {int(use.sum())} fitted rows have fewer than 3 distinct T_max (or one xi): no fit"
        return out
    slope, intercept = np.polyfit(x, y, 1)
    res = y - (slope * x + intercept)
    ss = float(np.sum((y - y.mean()) ** 2))
    out.update(slope=float(slope), intercept=float(intercept), c=float(math.exp(intercept)),
               r2=float(1 - np.sum(res ** 2) / ss) if ss > 0 else math.nan, residuals=res.tolist())
    # with the slope fixed at 1 (T_max = c xi): the c of the overlay
    out["c_at_slope_1"] = float(math.exp(np.mean(y - x)))
    return out


def _checked(Ts, cfg, threshold):
    Ts = sorted(int(T) for T in Ts)
    if not Ts or Ts[0] < 1:
        raise ValueError("T values must be positive integers")
    if not 1.0 / cfg.classes < threshold < 1.0:
        raise ValueError(f"threshold must lie between chance (1/{cfg.classes}) and 1, got {threshold}")
    return Ts


def _run_rows(cell, labels, sets, schemes, Ts, seeds, cfg, threshold, tied_xi, progress) -> dict:
    """Train every (row, T, seed); the per-row summaries, ξ and fits shared by both study kinds."""
    t0 = time.time()
    correct = np.zeros((len(sets), len(Ts), len(seeds)), dtype=int)
    for j, T in enumerate(Ts):
        correct[:, j, :] = run_horizon(cell, T, cfg, sets, list(seeds), schemes)
        if progress is not None:
            print(f"trainability {cell}: T={T} done ({j + 1}/{len(Ts)}, {time.time() - t0:.0f} s)", file=progress,
                  flush=True)
    xi = theory_xi(cell, sets, labels, tied=tied_xi)
    rng = np.random.default_rng(0)
    rows = [row_summary(correct[i], Ts, cfg.eval_size, threshold, rng) for i in range(len(sets))]
    fits = {"annealed": fit_log([r["T_max"] for r in rows], xi["annealed"], Ts)}
    if tied_xi:
        fits["tied"] = fit_log([r["T_max"] for r in rows], xi["tied"], Ts)
    return {"cell": cell, "T": Ts, "seeds": list(seeds), "training": asdict(cfg), "threshold": threshold,
            "chance": 1.0 / cfg.classes, "weights": "tied (one W at every step, as in a real network)",
            "correct": correct.tolist(), "rows": rows, "xi": xi, "fit": fits, "seconds": round(time.time() - t0, 1)}


def run_study(cell: str, knob: str, values, Ts, seeds=(0, 1, 2), cfg: Training = Training(),
              threshold: float = THRESHOLD, tied_xi: bool = False, params: dict | None = None,
              progress=sys.stderr) -> dict:
    """The study's whole result (JSON-ready): raw per-seed correct counts ``correct[row][T][seed]``,
    per-row ``T_max`` with intervals, both ξ, the fit, the configuration and the time taken."""
    import theory

    c = theory.cell(cell)
    if knob not in c.param_names or knob in ("R", "Sigma"):
        raise ValueError(f"{cell}: knob must be an initialisation parameter of the cell, one of "
                         f"{[n for n in c.param_names if n not in ('R', 'Sigma')]}; got {knob!r}")
    Ts = _checked(Ts, cfg, threshold)
    base = {**theory.parameters(cell), **(params or {})}
    values = [float(v) for v in values]
    sets = [{**base, knob: v} for v in values]
    out = _run_rows(cell, [f"{knob}={v:g}" for v in values], sets, None, Ts, seeds, cfg, threshold, tied_xi, progress)
    return {**out, "knob": knob, "values": values, "labels": [f"{v:g}" for v in values], "params": base}


def run_inits(cell: str, Ts, seeds=(0, 1, 2), cfg: Training = Training(), schemes=("critical", "pytorch", "glorot",
              "orthogonal"), threshold: float = THRESHOLD, tied_xi: bool = False, params: dict | None = None,
              progress=sys.stderr) -> dict:
    """Item 3: T_max of the library's critical initialisation against common ones on the same task.

    ``"critical"``: ``theory.critical_init(cell, tied=True)`` — the real (tied) network's λ_max = 1,
    solved for the memory-gate bias of a gated cell or σ_w otherwise, other parameters at their
    defaults (where the bias never reaches λ_max = 1, as for the GRU at σ_w = 1, for every gate's σ_w
    together instead; the report's ``schemes`` says which) — drawn as Gaussians.  The others (:data:`~verify.studies.trainability_task.SCHEMES`)
    replace the draw; their ξ is the theory's at the Gaussian-equivalent parameters
    (:func:`~verify.studies.trainability_task.equivalent_params`).  Rows are the schemes."""
    import theory

    from .trainability_task import SCHEMES, equivalent_params
    Ts = _checked(Ts, cfg, threshold)
    base = {**theory.parameters(cell), **(params or {})}
    sets, draws, notes = [], [], {}
    for s in schemes:
        if s == "critical":
            ci = theory.critical_init(cell, tied=True, **(params or {}))
            if not ci.feasible and "sigma_w" not in (params or {}):
                # e.g. the GRU at sigma_w = 1 is ordered at every update-gate bias: scale the recurrent
                # weights instead (every gate's sigma_w together)
                first = ci.message
                ci = theory.critical_init(cell, tied=True, solve_for="sigma_w", **(params or {}))
                notes["critical (first try)"] = first
            if not ci.feasible:
                raise ValueError(f"{cell}: no tied critical initialisation at these parameters: {ci.message}")
            sets.append({**base, **ci.params})
            draws.append("theory")
            notes[s] = ci.message
        elif s in SCHEMES and s != "theory":
            sets.append(equivalent_params(base, s, cfg.width))
            draws.append(s)
            notes[s] = SCHEMES[s]
        else:
            raise ValueError(f"unknown scheme {s!r}; choose from critical, pytorch, glorot, orthogonal")
    out = _run_rows(cell, list(schemes), sets, draws, Ts, seeds, cfg, threshold, tied_xi, progress)
    return {**out, "knob": "initialisation", "values": list(range(len(schemes))), "labels": list(schemes),
            "params": base, "row_params": sets, "schemes": notes}


def plot(result: dict, path) -> str:
    """Heat map of seed-mean accuracy over (knob, T), T_max per row with its interval, and c·ξ."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals, Ts = np.asarray(result["values"]), np.asarray(result["T"])
    acc = np.asarray(result["correct"]).mean(axis=2) / result["training"]["eval_size"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    m = ax.pcolormesh(np.arange(Ts.size + 1) - 0.5, np.arange(vals.size + 1) - 0.5, acc, vmin=result["chance"],
                      vmax=1.0, cmap="magma", shading="flat")
    fig.colorbar(m, ax=ax, label="test accuracy (mean over seeds)")
    logT = np.log(Ts)

    def col(T):  # position of a horizon on the log-spaced column axis
        return np.interp(np.log(np.maximum(T, 1e-9)), logT, np.arange(Ts.size), left=-0.5, right=Ts.size - 0.5)
    rows = result["rows"]
    y = np.arange(vals.size)
    tm = np.array([r["T_max"] for r in rows])
    ok = tm > 0
    ax.errorbar(col(tm[ok]), y[ok], xerr=[col(tm[ok]) - col(np.array([r["T_max_lo"] for r in rows])[ok].clip(Ts[0])),
                                         col(np.array([r["T_max_hi"] for r in rows])[ok]) - col(tm[ok])],
                fmt="o", color="c", ms=5, capsize=3, label=rf"$T_{{\max}}$ (acc $\geq$ {result['threshold']:g})")
    for name, style in (("annealed", "--"), ("tied", ":")):
        xi = np.asarray(result["xi"].get(name) or [], float)
        fit = result["fit"].get(name, {})
        if xi.size and "c_at_slope_1" in fit:
            fmt = (("x" if name == "annealed" else "+") if result["knob"] == "initialisation" else style)
            ax.plot(col(fit["c_at_slope_1"] * xi), y, fmt, color="w", lw=1.8, ms=9,
                    label=rf"{fit['c_at_slope_1']:.2g} $\xi$ ({name})")
    ax.set_xticks(np.arange(Ts.size), [str(t) for t in Ts])
    ax.set_yticks(y, result.get("labels") or [f"{v:g}" for v in vals])
    ax.set_xlabel("horizon T (steps between the class input and the readout)")
    ax.set_ylabel(result["knob"])
    fa = result["fit"]["annealed"]
    fit_txt = (f"fit log T_max ~ log xi: slope {fa['slope']:.2f}, R^2 {fa['r2']:.2f}" if "slope" in fa
               else fa.get("note", ""))
    ax.set_title(f"{result['cell']} trainability, width {result['training']['width']}, "
                 f"{len(result['seeds'])} seeds\n{fit_txt}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write_report(result: dict, out) -> Path:
    """``out/report.json`` and ``out/trainability.png``; returns the directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=1))
    plot(result, out / "trainability.png")
    return out


__all__ = ["run_study", "run_inits", "theory_xi", "t_max", "row_summary", "fit_log", "plot", "write_report", "THRESHOLD"]
