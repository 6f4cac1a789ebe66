"""Reports: ``report.json``, matplotlib PNGs (Agg, saved, never shown) and a printed table (07 §8).

Everything a reader needs to redo a run is in ``report.json``: configuration, seeds, versions,
devices, dtype, matmul precision, XLA flags, predictions, per-check ``(prediction, estimate, SE,
E, k, B_N, verdict)``, timescale fits with their windows, width-sweep fits and the per-step
ensemble means and SEs behind every plot.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .. import COMPILER_OPTIONS
from ..statistics import estimators as est
from .atomic import begin, current_run, save_figure, write_manifest, write_text
from ..judge.compare import Check, PointReport
from ..statistics.stats import ALPHA, FINITE_WIDTH_COEF, TIMESCALE_WINDOW_TOL

PLOTTED = ("q", "Q", "c_h", "chi")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict:
    """Versions, devices and the JAX settings that change numbers."""
    import jax

    devs = jax.devices()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {d: _version(d) for d in ("signalprop", "jax", "jaxlib", "numpy", "scipy")},
        "devices": {"platform": devs[0].platform, "kind": devs[0].device_kind, "count": len(devs)},
        "jax_config": {
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
            "jax_default_prng_impl": str(jax.config.jax_default_prng_impl),
        },
        "compiler_options": dict(COMPILER_OPTIONS),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "rules": {
            "alpha": ALPHA,
            "k": "t^{-1}_{E-1}(1 - (alpha/2)/(2m)), Bonferroni over the m checks of the report in "
                 "each of two families (per-step trajectory checks; fixed points and timescales)",
            "finite_width_coef": FINITE_WIDTH_COEF,
            "B_N": "finite_width_coef * scale / N; scale = |prediction| (1 for correlations)",
            "derived_bias": "untied vanilla/feed-forward q, Q, q_star, Q_star: prediction = mean field + the derived "
                            "O(1/N) bias (check field finite_width; verify.statistics.finite_width), allowance = "
                            "|bias| instead of B_N",
            "timescale_window_tol": TIMESCALE_WINDOW_TOL,
            "timescale_allowance": "timescale_window_tol / xi + finite_width_coef / N on 1/xi",
            "sample_size": "E networks (units of one network are not independent)",
        },
    }


def clean_json(x):
    """JSON-safe: NaN/inf -> None, numpy -> python."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean_json(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


_CHECK_FIELDS = tuple(f.name for f in fields(Check))


def check_dict(c: Check) -> dict:
    """``asdict(c)`` plus the label (the fields are plain values: no deep copy needed)."""
    d = {name: getattr(c, name) for name in _CHECK_FIELDS}
    d["label"] = c.label
    d["detectable"] = c.detectable  # power: relative error flagged with >= 90 % probability
    return d


def dumps(doc, indent: int = 1, depth: int = 4, _level: int = 0) -> str:
    """``json.dumps(doc, indent=indent)`` down to nesting level ``depth``, one line per value below
    it (one check per line in a report): the same JSON, mostly written by the C encoder, which
    ``indent`` would disable (the report of ``verify all`` is tens of MB)."""
    if _level >= depth or not isinstance(doc, (dict, list)) or not doc:
        return json.dumps(doc)
    inner = "\n" + " " * (indent * (_level + 1))
    outer = "\n" + " " * (indent * _level)
    if isinstance(doc, dict):
        items = [f"{json.dumps(str(k))}: {dumps(v, indent, depth, _level + 1)}" for k, v in doc.items()]
        return "{" + inner + ("," + inner).join(items) + outer + "}"
    items = [dumps(v, indent, depth, _level + 1) for v in doc]
    return "[" + inner + ("," + inner).join(items) + outer + "]"


def point_dict(p: PointReport) -> dict:
    runs = []
    for r in p.runs:
        traj = {}
        for name in (*est.SEQUENCE_PAIRS, "C", "c", "c_h", "chi", "chi_exact", "rec_lag1",
                     *(["gate_state_cov"] if "gate_state_cov" in r.stats else [])):
            e = est.trajectory(r.stats, name)
            traj[name] = {"mean": e.mean, "se": e.se}
        runs.append({"regime": r.regime, "run": r.run, "Q0": r.Q0, "C0": r.C0, "plan": r.plan,
                     "seconds": r.seconds, "simulated": traj, "theory": r.theory})
    return {
        "config": asdict(p.config),
        "verdict": p.verdict(),
        "predictions": p.predictions,
        "prediction_errors": p.prediction_errors,
        "fixed_point_window": list(p.fixed_point_window),
        "timescale_fits": p.timescale_fits,
        "precision_check": p.precision,
        "counts": dict(Counter(c.verdict for c in p.checks)),
        "checks": [check_dict(c) for c in p.checks],
        "runs": runs,
    }


def summary_lines(points: Iterable[PointReport]) -> list[str]:
    """One-line-per-point plain summary, plus the worst trajectory deviation per group."""
    lines = []
    for p in points:
        cnt = Counter(c.verdict for c in p.checks)
        worst = ""
        bad = [c for c in p.checks if c.verdict in ("disagree", "closure-limited", "finite-width", "inconclusive")]
        if bad:
            c = max(bad, key=lambda c: abs(c.prediction - c.estimate)
                    / max(c.k * math.hypot(c.se, c.theory_se) + c.allowance, 1e-300))
            worst = (f"; worst: {c.regime} {c.run} {c.label} pred {c.prediction:.5g} vs "
                     f"{c.estimate:.5g} ± {c.se:.2g} ({c.verdict})")
        lines.append(f"{p.config.cell} [{p.config.label or 'point'}] N={p.config.width} "
                     f"E={p.config.ensemble} T={p.config.steps}: {p.verdict()} "
                     f"({', '.join(f'{v} {n}' for v, n in sorted(cnt.items()))}){worst}")
    return lines


def table(points: Iterable[PointReport]) -> str:
    """Fixed-point and timescale rows, plus one aggregate row per trajectory group."""
    rows = [("cell", "point", "regime", "quantity", "prediction", "estimate ± SE", "k·SE+B", "detects ≥", "verdict")]
    for p in points:
        groups = defaultdict(list)
        for c in p.checks:
            if c.kind == "trajectory":
                groups[(c.regime, c.run, c.quantity)].append(c)
                continue
            est_s = "—" if not math.isfinite(c.estimate) else f"{c.estimate:.5g} ± {c.se:.2g}"
            tol = "—" if not math.isfinite(c.k) else f"{c.k * math.hypot(c.se, c.theory_se) + c.allowance:.2g}"
            pred_s = (f"{c.prediction:.5g} ± {c.theory_se:.2g} (tied; annealed {c.annealed:.5g})"
                      if c.theory == "tied" else f"{c.prediction:.5g}")
            det = "—" if not math.isfinite(c.detectable) else f"{100 * c.detectable:.2g} %"
            rows.append((p.config.cell, p.config.label, c.regime, c.label, pred_s, est_s, tol, det, c.verdict))
        for (regime, run, q), cs in groups.items():
            n_ok = sum(c.verdict == "agree" for c in cs)
            ratio = max(abs(c.prediction - c.estimate) / max(c.k * c.se + c.allowance, 1e-300)
                        for c in cs)
            verdicts = Counter(c.verdict for c in cs)
            v = "agree" if n_ok == len(cs) else ", ".join(f"{k} {n}" for k, n in verdicts.items())
            dets = [c.detectable for c in cs if math.isfinite(c.detectable)]
            det = f"median {100 * float(np.median(dets)):.2g} %" if dets else "—"
            rows.append((p.config.cell, p.config.label, regime, f"{q}[t] ({run})",
                         f"{len(cs)} steps", f"{n_ok}/{len(cs)} within", f"max {ratio:.2f}×", det, v))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:]])


def plot_point(p: PointReport, out: Path) -> list[str]:
    """Theory curve vs simulated mean ± k·SE over time, tied and untied, both runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    ks = [c.k for c in p.checks if math.isfinite(c.k)]
    k = max(ks) if ks else 3.0
    for run in ("approach", "corr"):
        rs = [r for r in p.runs if r.run == run]
        if not rs:
            continue
        fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.4))
        for ax, name in zip(axes, PLOTTED):
            for r, color in zip(rs, ("C0", "C3")):
                e = est.trajectory(r.stats, name)
                t = np.arange(1, e.mean.size + 1)
                ax.plot(t, e.mean, color=color, lw=1, label=f"sim {r.regime}")
                ax.fill_between(t, e.mean - k * e.se, e.mean + k * e.se, color=color, alpha=0.25)
                if r.theory is not None and name in r.theory:
                    ax.plot(t, r.theory[name], "k--", lw=1, label="theory" if r is rs[0] else None)
            star = {"q": "q_star", "Q": "Q_star", "c_h": "c_h_star", "chi": "chi"}[name]
            if star in p.predictions:
                ax.axhline(p.predictions[star], color="0.5", lw=0.8, ls=":", label=f"{star}")
            ax.set_xlabel("step t")
            ax.set_title(name)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{p.config.cell} [{p.config.label}] N={p.config.width} E={p.config.ensemble} "
                     f"run={run} (band: ±k·SE)", fontsize=9)
        # fixed margins: tight_layout measured every tick label and took a third of the time
        fig.subplots_adjust(left=0.045, right=0.99, bottom=0.14, top=0.86, wspace=0.22)
        name = f"{p.config.cell}_{p.config.label or 'point'}_{run}.png".replace("/", "_")
        save_figure(fig, out / name, dpi=90)
        plt.close(fig)
        files.append(name)
    return files


def _plot_group(points: list, out: str) -> list:
    return [plot_point(p, Path(out)) for p in points]


def plot_points(points: list[PointReport], out: Path, jobs: int = 0) -> list[str]:
    """:func:`plot_point` for every point, the file names in point order; with ``jobs >= 2`` in that
    many spawned processes (the 78 figures of ``verify all`` take half a minute on one core, mostly
    matplotlib laying out tick labels).  The same files either way."""
    if jobs < 2 or len(points) < 2:
        return [f for p in points for f in plot_point(p, out)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs = min(jobs, len(points))
    groups = [points[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_plot_group, groups, [str(out)] * jobs))
    return [f for i in range(len(points)) for f in done[i % jobs][i // jobs]]


def write(out_dir: str | os.PathLike, points: list[PointReport], *, meta: Optional[dict] = None,
          extra: Optional[dict] = None, plots: bool = True, plot_jobs: int = 0, also=()) -> Path:
    """Plot the points and write ``out_dir/report.json`` (with the run id), every file atomically
    (:mod:`verify.reporting.atomic`), then the run manifest listing them and the files ``also`` (names in
    ``out_dir`` this run wrote before, e.g. width-sweep figures).  Returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    begin(out)
    figures = plot_points(points, out, plot_jobs) if plots else []
    doc = {
        "run_id": current_run(),
        "environment": environment(),
        "meta": meta or {},
        "summary": summary_lines(points),
        "points": [point_dict(p) for p in points],
        "figures": figures,
        **(extra or {}),
    }
    path = write_text(out / "report.json", dumps(clean_json(doc)))
    write_manifest(out, [*also, *figures, path.name])
    return path
