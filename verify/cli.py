"""``verify``: simulate real random networks and check the theory's predictions.

Strict ``key=value`` arguments; exit status 0 when every check agrees (closure-limited gaps of
tied gated cells in checks with no tied prediction, finite-width gaps of tied runs with non-stationary networks, and inconclusive
checks, whose interval is wider than the quantity, are reported and do not fail), 1 when some check
disagrees, 2 on bad input.

Compiled XLA programs are cached on disk across runs (``~/.cache/signalprop/jax``; set
``SIGNALPROP_JAX_CACHE`` to another folder, or to ``off``): on a CPU most of a run's time is
compilation, so a repeated ``verify all`` is several times faster.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

from .commands.cliutil import (BOOL, REGIMES, BadInput, check_out, parse_bool, parse_choice, parse_float,  # noqa: F401  (re-exported)
                      parse_int, progress_printer, split_pairs)
from .engine.simulate import UNTIED_ENGINES
from .reporting.atomic import start_run
from .commands.suite_runs import family_horizons, run_spectra, suite_points

#: study name -> module (relative to this package) whose ``main(kv)`` runs it
STUDIES = {"dying-relu": ".studies.dying_relu", "trainability": ".studies.trainability_cli",
           "jacobian-moments": ".studies.jacobian_moments", "relu-growth": ".studies.relu_growth"}

USAGE = """\
usage: verify cell=NAME [key=value ...]
       verify all [width=N] [ensemble=E] [seed=S] [dtype=float32|float64] [out=DIR] [cells=A,B]
                  [sweep=true|false] [jobs=J]   (width default 64 on CPU, 1024 on accelerators;
                  jobs: worker processes for the gated, dying-ReLU and spectral parts, which run
                  beside the other cells; default 2 on a CPU with >= 2 cores, 0 = sequential)
       verify study=dying-relu [width=2,4,8 depth=1:100 ensemble=E init=he,rai out=DIR ...]
       verify study=trainability [cell=vanilla-tanh|minimalrnn|lstm|gru knob=P values=a,b T=1,2,4 seeds=S
                  width=N steps=K tied_xi=true|false out=DIR ...]   (does xi predict the trainable horizon?
                  verify/README_trainability.md)
       verify study=jacobian-moments [cell=lstm|gru|minimalrnn|vanilla-tanh|... width=N networks=E T=Tmax burn=B
                  population=true|false critical=H out=DIR ...]   (T-step Jacobian moments of untied and tied
                  networks against the annealed and tied m_1; theory/README_isometry.md)
       verify study=relu-growth [widths=64,128,256,512,1024 networks=E L=300 input_dim=d seed=S out=DIR]
                  (forward/backward norms of tied ReLU RNNs at W, A ~ N(0, 2/m) against the annealed law;
                  verify/README_relu_growth.md)
       verify spectra [cells=A,B] [width=N] [ensemble=E] [steps=1,2,4,8,16] [ks_steps=1,4,8]
                      [weights=orthogonal,gaussian] [tied=true|false|both] [seed=S] [out=DIR]
                      [plots=true|false] [quiet=true|false] [law=auto|free-steps|operator-valued] [samples=DIR]
                      (law: minimalRNN's predicted density, theory.spectrum method=; default auto =
                      the operator-valued law, the exact untied one, at T >= 2, seconds to tens of
                      seconds per (T, weights); free-steps: the older model; verify/README_spectra.md)
       verify --help

Simulates E randomly initialised networks of width N (real weight matrices, plain JAX), compares
q_t, Q_t, c_t, chi and the timescales xi, xi_q with theory.predict / theory.trajectory, writes
DIR/report.json and PNGs, prints a table. Pass rule: |pred - est| <= k*SE + B_N (Bonferroni k,
finite-width allowance B_N = 5*scale/N); SE over the E networks.

keys (single cell):
  cell=NAME        a theory cell with a simulator (feedforward-*, vanilla-*, minimalrnn,
                   gru, lstm: see verify/commands/gated_cli.py, which adds bias=MU1,MU2,... sweeps)
  width=N          network width (default 128)
  ensemble=E       number of independent networks (default 32)
  steps=T          time steps / layers (default 100)
  tied=true|false|both   one weight set reused (true) or redrawn each step (false);
                   default both for recurrent cells, false for feed-forward
  seed=S           master seed (default 0); network k uses fold_in(key(S), k)
  probes=P         Hutchinson probes per step for chi (default 4)
  untied_engine=projected|dense  untied runs: draw each step's fresh W only on the span of the
                   vectors it multiplies (projected: the same law, O(N) per step; default) or
                   the whole N x N matrix (dense; feed-forward, vanilla, minimalRNN)
  dtype=float64|float32  default float64 on CPU, float32 on accelerators
  Q0=X C0=Y        initial second moment and overlap of the two sequences (default 1, 0)
  window=F         fixed-point window: last fraction F of the run (default 0.5)
  widths=A,B,C,..  also run a width sweep over these widths (>= 3)
  out=DIR          output folder (default out/verify-<cell>)
  plots=true|false write PNGs (default true)
  quiet=true|false no progress on stderr (default false)
  <param>=X        any cell parameter (see theory.parameters(cell)), e.g. sigma_w=1.5

keys (verify spectra: end-to-end Jacobian spectra vs isometry_mean / isometry_variance and the
predicted density theory.spectrum; near-critical parameters by rule, verify/judge/spectra_report.py):
  cells=A,B        vanilla-tanh, vanilla-erf, vanilla-relu, vanilla-hard-tanh, minimalrnn (default all)
  width=N          network width (default 128); ensemble=E networks (default 16)
  steps=T1,T2,..   checkpoints of the product (default 1,2,4,8,16)
  ks_steps=T1,..   checkpoints compared with the predicted density (default 1,4,8; subset of steps)
  weights=LIST     orthogonal and/or gaussian (default both); tied=true|false|both (default both)
  seed=S (default 0), out=DIR (default out/verify-spectra), plots, quiet
  samples=DIR      keep each run's eigenvalues in DIR (.npz) and reuse them when present: simulate
                   on one machine (a GPU), judge on another, or against another law=...

exit status: 0 all agree, 1 some disagree, 2 bad input (closure-limited gaps of tied gated
cells, finite-width gaps of tied runs where some networks never became stationary, and
inconclusive checks are listed in the report and table but do not fail)

compiled programs are cached in ~/.cache/signalprop/jax (SIGNALPROP_JAX_CACHE=DIR or off)
"""

RUN_KEYS = ("width", "ensemble", "steps", "tied", "seed", "probes", "dtype", "untied_engine", "Q0", "C0",
            "window", "widths", "out", "plots", "quiet")
SUITE_KEYS = ("width", "ensemble", "seed", "dtype", "probes", "out", "cells", "plots", "quiet",
              "sweep", "jobs")


def _default_suite_width() -> int:
    import jax

    from .commands.suite import ACCELERATOR_WIDTH, CPU_WIDTH

    return CPU_WIDTH if jax.devices()[0].platform == "cpu" else ACCELERATOR_WIDTH


def _default_dtype() -> str:
    import jax

    return "float64" if jax.devices()[0].platform == "cpu" else "float32"


def _theory():
    try:
        import theory

        theory.cells, theory.parameters, theory.predict, theory.trajectory  # noqa: B018
    except (ImportError, AttributeError) as exc:
        raise BadInput(f"the theory package is not usable ({exc}); cannot compare") from None
    return theory


def parse_cell_args(kv: dict[str, str]) -> dict:
    """Validate a single-cell invocation; returns a plain dict of typed settings."""
    from .simulators import SIMULATORS, get as get_simulator

    theory = _theory()
    cells = list(theory.cells())
    if "cell" not in kv:
        raise BadInput(f"missing cell=NAME; valid cells: {', '.join(sorted(SIMULATORS))}")
    cell = kv.pop("cell")
    if cell not in cells:
        raise BadInput(f"unknown cell {cell!r}; valid cells: {', '.join(cells)}")
    if cell not in SIMULATORS:
        raise BadInput(f"cell {cell!r} has no simulator yet; simulated cells: "
                       f"{', '.join(sorted(SIMULATORS))}")
    sim = get_simulator(cell)
    params = dict(theory.parameters(cell))
    valid = sorted(RUN_KEYS + tuple(params))
    unknown = [k for k in kv if k not in valid]
    if unknown:
        raise BadInput(f"unknown key {unknown[0]!r} for {cell}; valid keys: cell, {', '.join(valid)}")
    for k in list(kv):
        if k in params:
            params[k] = parse_float(k, kv.pop(k))
    try:
        sim.check_params(params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    s = {"cell": cell, "params": params}
    s["width"] = parse_int("width", kv.get("width", "128"), 2)
    s["ensemble"] = parse_int("ensemble", kv.get("ensemble", "32"), 2)
    s["steps"] = parse_int("steps", kv.get("steps", "100"), 4)
    s["seed"] = parse_int("seed", kv.get("seed", "0"), 0)
    s["probes"] = parse_int("probes", kv.get("probes", "4"), 1)
    s["dtype"] = parse_choice("dtype", kv.get("dtype", _default_dtype()), ("float64", "float32"))
    s["untied_engine"] = parse_choice("untied_engine", kv.get("untied_engine", "projected"), UNTIED_ENGINES)
    s["Q0"] = parse_float("Q0", kv.get("Q0", "1"))
    s["C0"] = parse_float("C0", kv.get("C0", "0"))
    if s["Q0"] < 0 or abs(s["C0"]) > s["Q0"]:
        raise BadInput(f"need Q0 >= 0 and |C0| <= Q0; got Q0={s['Q0']}, C0={s['C0']}")
    s["window"] = parse_float("window", kv.get("window", "0.5"))
    if not 0 < s["window"] < 1:
        raise BadInput(f"window must lie in (0, 1), got {s['window']}")
    tied = parse_choice("tied", kv.get("tied", "both" if sim.recurrent else "false"),
                   ("true", "false", "both"))
    if tied != "false" and not sim.recurrent:
        raise BadInput(f"{cell} draws fresh weights per layer; tied must be false")
    s["regimes"] = REGIMES[tied]
    s["widths"] = None
    if "widths" in kv:
        ws = [parse_int("widths", w, 2) for w in kv["widths"].split(",")]
        if len(ws) < 3:
            raise BadInput("widths needs at least 3 comma-separated widths")
        s["widths"] = ws
    s["out"] = kv.get("out", f"out/verify-{cell}")
    s["plots"] = parse_bool("plots", kv.get("plots", "true"))
    s["quiet"] = parse_bool("quiet", kv.get("quiet", "false"))
    return s


def parse_suite_args(kv: dict[str, str]) -> dict:
    from .simulators import SIMULATORS

    theory = _theory()
    unknown = [k for k in kv if k not in SUITE_KEYS]
    if unknown:
        raise BadInput(f"unknown key {unknown[0]!r} for verify all; valid keys: {', '.join(SUITE_KEYS)}")
    s = {
        "width": parse_int("width", kv.get("width", str(_default_suite_width())), 16),
        "ensemble": parse_int("ensemble", kv.get("ensemble", "32"), 2),
        "seed": parse_int("seed", kv.get("seed", "0"), 0),
        "probes": parse_int("probes", kv.get("probes", "4"), 1),
        "dtype": parse_choice("dtype", kv.get("dtype", _default_dtype()), ("float64", "float32")),
        "out": kv.get("out", "out/verify-all"),
        "plots": parse_bool("plots", kv.get("plots", "true")),
        "quiet": parse_bool("quiet", kv.get("quiet", "false")),
        "sweep": parse_bool("sweep", kv.get("sweep", "true")),
    }
    if "jobs" in kv:
        s["jobs"] = parse_int("jobs", kv["jobs"], 0)
    else:
        from .commands.suite_parts import default_jobs

        s["jobs"] = default_jobs()
    all_cells = list(theory.cells())
    if "cells" in kv:
        cells = kv["cells"].split(",")
        for c in cells:
            if c not in all_cells:
                raise BadInput(f"unknown cell {c!r}; valid cells: {', '.join(all_cells)}")
    else:
        cells = all_cells
    s["cells"] = cells
    from .simulators import GATED_SIMULATORS  # GRU/LSTM: multi-component state, verify.commands.gated_cli

    s["gated"] = [c for c in cells if c in GATED_SIMULATORS]
    s["not_simulated"] = [c for c in cells if c not in SIMULATORS and c not in GATED_SIMULATORS]
    s["simulated"] = [c for c in cells if c in SIMULATORS]
    return s


SPECTRA_KEYS = ("cells", "width", "ensemble", "steps", "ks_steps", "weights", "tied", "seed", "out",
                "plots", "quiet", "law", "samples")

#: `verify all` spectral part (CI-sized): compiled programs dominate on CPU, so few configurations.
SUITE_SPECTRA = {"cells": ("vanilla-tanh", "minimalrnn"), "width": 32, "ensemble": 16, "steps": (1, 2, 4),
                 # densities at T = 1, 2 with orthogonal W: at T = 2 the minimalRNN's is the exact untied
                 # (operator-valued) law, ~15 s on a CPU
                 "ks_steps": (1, 2), "ks_weights": ("orthogonal",), "ks_cells": ("vanilla-tanh", "minimalrnn"),
                 "regimes": ("untied",)}


def _int_list(key: str, v: str) -> tuple:
    xs = tuple(parse_int(key, x, 1) for x in v.split(","))
    if list(xs) != sorted(set(xs)):
        raise BadInput(f"{key} must be increasing, got {v!r}")
    return xs


def parse_spectra_args(kv: dict[str, str]) -> dict:
    from .judge.spectra_report import STANDARD_CELLS

    unknown = [k for k in kv if k not in SPECTRA_KEYS]
    if unknown:
        raise BadInput(f"unknown key {unknown[0]!r} for verify spectra; valid keys: {', '.join(SPECTRA_KEYS)}")
    _theory()
    cells = tuple(kv["cells"].split(",")) if "cells" in kv else STANDARD_CELLS
    for c in cells:
        if c not in STANDARD_CELLS:
            raise BadInput(f"cell {c!r} has no spectral point; valid cells: {', '.join(STANDARD_CELLS)}")
    weights = tuple(kv.get("weights", "orthogonal,gaussian").split(","))
    for w in weights:
        parse_choice("weights", w, ("orthogonal", "gaussian"))
    s = {"cells": cells, "weights": weights,
         "width": parse_int("width", kv.get("width", "128"), 4),
         "ensemble": parse_int("ensemble", kv.get("ensemble", "16"), 2),
         "steps": _int_list("steps", kv.get("steps", "1,2,4,8,16")),
         "seed": parse_int("seed", kv.get("seed", "0"), 0),
         "out": kv.get("out", "out/verify-spectra"),
         "samples": kv.get("samples"),
         "plots": parse_bool("plots", kv.get("plots", "true")),
         "quiet": parse_bool("quiet", kv.get("quiet", "false"))}
    s["ks_steps"] = _int_list("ks_steps", kv.get("ks_steps", ",".join(str(t) for t in (1, 4, 8) if t in s["steps"])
                                                  or str(s["steps"][0])))
    bad = [t for t in s["ks_steps"] if t not in s["steps"]]
    if bad:
        raise BadInput(f"ks_steps must be among steps {list(s['steps'])}; got {bad}")
    tied = parse_choice("tied", kv.get("tied", "both"), ("true", "false", "both"))
    s["regimes"] = REGIMES[tied]
    from theory.jacobian.spectrum import METHODS

    s["law"] = parse_choice("law", kv.get("law", "auto"), METHODS)
    return s


def run_cell(s: dict) -> int:
    from .judge.compare import PointConfig, verify_point
    from .judge.sweep import check_widths, width_sweep

    check_out(s["out"])
    if s["widths"]:  # refused before the point runs, not after
        check_widths(s["cell"], s["widths"], ensemble=s["ensemble"], steps=s["steps"], probes=s["probes"],
                     dtype=s["dtype"])
    progress = progress_printer(s["quiet"])
    cfg = PointConfig(cell=s["cell"], params=s["params"], width=s["width"], ensemble=s["ensemble"],
                      steps=s["steps"], regimes=s["regimes"], seed=s["seed"], probes=s["probes"],
                      dtype=s["dtype"], Q0=s["Q0"], C0=s["C0"], window_fraction=s["window"],
                      label="cli", untied_engine=s["untied_engine"])
    point = verify_point(cfg, progress=progress)
    sweeps = []
    if s["widths"]:
        rep = width_sweep(s["cell"], s["params"], s["widths"], ensemble=s["ensemble"],
                          steps=s["steps"], regimes=s["regimes"], seed=s["seed"], Q0=s["Q0"],
                          C0=s["C0"], probes=s["probes"], dtype=s["dtype"], progress=progress)
        sweeps.append(rep)
    return finish([point], sweeps, s, progress)


def finish(points, sweeps, s, progress, not_simulated=()) -> int:
    from dataclasses import asdict

    from .reporting import report
    from .reporting.atomic import begin
    from .judge.sweep import plot_sweep

    out = Path(s["out"])
    out.mkdir(parents=True, exist_ok=True)
    begin(out)
    figs = []
    if s["plots"]:
        for rep in sweeps:
            name = f"{rep.cell}_width_sweep.png"
            plot_sweep(rep, out / name)
            figs.append(name)
    extra = {"width_sweeps": [asdict(r) for r in sweeps],
             "not_simulated": [{"cell": c, "verdict": "not simulated"} for c in not_simulated],
             "sweep_figures": figs}
    path = report.write(out, points, meta={"argv": sys.argv[1:]}, extra=extra, plots=s["plots"],
                        plot_jobs=s.get("jobs", 0), also=figs)
    print(report.table(points))
    for rep in sweeps:
        print(f"\nwidth sweep {rep.cell} (E={rep.ensemble}, widths {rep.widths}):")
        for q in rep.quantities:
            print(f"  {q.regime:7s} {q.quantity:8s} pred {q.prediction:.5g}  X_inf {q.x_inf:.5g} ± "
                  f"{q.x_inf_se:.2g}  RMS slope {q.rms_slope:+.2f} ± {q.rms_slope_se:.2f} "
                  f"(declared -0.5)  mean-error slope {q.bias_slope:+.2f}  -> {q.verdict}")
    for c in not_simulated:
        print(f"{c}: not simulated (no simulator in verify.simulators)")
    print("\n" + "\n".join(report.summary_lines(points)))
    print(f"report: {path}")
    bad = any(p.verdict() == "disagree" for p in points) or any(
        r.verdict() == "disagree" for r in sweeps)
    return 1 if bad else 0


#: cells whose suite points a worker simulates when ``jobs >= 1`` (verify.commands.suite_parts): the
#: feed-forward family, about a fifth of the points' work, which balances the processes
WORKER_POINT_CELLS = ("feedforward-",)


def suite_side_parts(s: dict, point_cells=()) -> list:
    """The parts of ``verify all`` that do not need the parent's points: ``[(name, kwargs), ...]``
    in the order their output is printed (verify.commands.suite_parts.run_part); ``point_cells``: cells
    whose points a worker simulates and returns to the parent."""
    parts = []
    if point_cells:
        parts.append(("points", {"cells": list(point_cells), **{k: s[k] for k in ("width", "ensemble", "seed",
                                                                                  "dtype", "probes", "quiet")}}))
    if s.get("gated"):  # GRU/LSTM: verify.commands.gated_cli
        parts.append(("gated", {"cells": list(s["gated"]), "width": s["width"], "ensemble": s["ensemble"],
                                "seed": s["seed"], "out": s["out"] + "/gated", "plots": s["plots"],
                                "quiet": s["quiet"]}))
    if "feedforward-relu" in s["cells"]:  # issue 7: the dying-ReLU study at its CI size
        parts.append(("dying-relu", {"out": s["out"] + "/dying-relu", "seed": s["seed"], "plots": s["plots"],
                                     "quiet": s["quiet"]}))
    spectral = [c for c in SUITE_SPECTRA["cells"] if c in s["cells"]]
    if spectral:  # issue 5: end-to-end Jacobian spectra at CI size (verify/README_spectra.md)
        parts.append(("spectra", {**{k: list(v) if isinstance(v, tuple) else v for k, v in SUITE_SPECTRA.items()},
                                  "cells": spectral, "weights": ["orthogonal", "gaussian"], "seed": s["seed"],
                                  "out": s["out"] + "/spectra", "plots": s["plots"], "quiet": s["quiet"]}))
    return parts


def run_suite(s: dict) -> int:
    """``verify all``: the points of the simulated cells and the width sweep (this process), the
    gated, dying-ReLU and spectral parts (in ``jobs`` worker processes, or here after the points)."""
    from .commands.suite_parts import Workers, run_part, terminate_as_exit

    check_out(s["out"])

    remote = [c for c in s["simulated"] if c.startswith(WORKER_POINT_CELLS)] if s.get("jobs", 0) > 0 else []
    side = suite_side_parts(s, remote)
    jobs = min(s.get("jobs", 0), len(side))
    with terminate_as_exit():  # SIGTERM/SIGHUP: kill the workers and remove their folder, as on Ctrl-C
        workers = Workers(side, jobs) if jobs > 0 else None
        try:
            rc = run_points_suite(s, [c for c in s["simulated"] if c not in remote],
                                  (lambda: workers.result("points")) if remote else None)
            if workers is not None:
                return max(rc, workers.finish())
        except BaseException:
            if workers is not None:
                workers.kill()
            raise
    for name, args in side:
        rc = max(rc, run_part(name, args))
    return rc


def run_points_suite(s: dict, cells=None, remote_points=None) -> int:
    """The points of the vanilla, feed-forward and minimalRNN cells (verify.commands.suite) and the width
    sweep; the report in ``s["out"]``.  ``cells``: those simulated here (default all);
    ``remote_points()``: the other cells' points (from a worker), merged in cell order."""
    from .judge.compare import assign_verdicts, count_open, sim_gated
    from .engine.sharding import family_of
    from .commands.suite import SWEEP_CELLS, SWEEP_POINT, sweep_widths
    from .judge.sweep import width_sweep

    progress = progress_printer(s["quiet"])
    cells = list(s["simulated"] if cells is None else cells)
    own = suite_points(cells, **{k: s[k] for k in ("width", "ensemble", "seed", "dtype", "probes", "quiet")},
                       progress=progress)
    others = remote_points() if remote_points is not None else []
    order = {c: i for i, c in enumerate(s["simulated"])}
    points = sorted(others + own, key=lambda p: order[p.config.cell])  # stable: point order kept
    m = {"trajectory": 0, "point": 0}
    for p in points:
        for f, n in count_open(p.checks).items():
            m[f] += n
    for p in points:
        assign_verdicts(p.checks, sim_gated(p.config.cell), m=m)
    horizon = family_horizons([p.config for p in points])
    sweeps = []
    if s["sweep"]:
        for cell in SWEEP_CELLS:
            if cell in s["simulated"]:
                configs = [p.config for p in points]
                cfg = next((c for c in configs if c.cell == cell and c.label == SWEEP_POINT),
                           next(c for c in configs if c.cell == cell))
                sweeps.append(width_sweep(cell, cfg.params, sweep_widths(s["width"]),
                                          ensemble=s["ensemble"], steps=cfg.steps,
                                          seed=s["seed"] + 100, dtype=s["dtype"],
                                          probes=s["probes"], progress=progress,
                                          program_steps=horizon[family_of(cell)],
                                          program_starts=2))  # the points' program at N
    return finish(points, sweeps, s, progress, not_simulated=s["not_simulated"])


def enable_compilation_cache() -> Optional[str]:
    """Persist compiled XLA programs across runs; returns the folder (None when disabled).

    ``$SIGNALPROP_JAX_CACHE`` names the folder (``off`` disables); default
    ``~/.cache/signalprop/jax``.  Only programs that took >= 1 s to compile are stored."""
    import os

    import jax

    where = os.environ.get("SIGNALPROP_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache",
                                                                "signalprop", "jax"))
    if where.lower() in ("off", "0", "false", ""):
        return None
    try:
        os.makedirs(where, exist_ok=True)
    except OSError:  # read-only home: run without the cache rather than fail
        return None
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return where


def main(argv: Optional[list[str]] = None) -> int:
    from_shell = argv is None  # the console script; library callers keep their own jax config
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    if from_shell:
        enable_compilation_cache()
    start_run()  # one id for every file this command (and its workers) writes: verify.reporting.atomic
    try:
        if argv[0] == "all":
            return run_suite(parse_suite_args(split_pairs(argv[1:])))
        if argv[0] == "spectra":
            return run_spectra(parse_spectra_args(split_pairs(argv[1:])))
        kv = split_pairs(argv)
        if "study" in kv:  # --- study dispatch: verify/README_dying_relu.md, verify/README_trainability.md
            if kv["study"] not in STUDIES:
                raise BadInput(f"unknown study {kv['study']!r}; valid studies: {', '.join(STUDIES)}")
            return importlib.import_module(STUDIES[kv["study"]], __package__).main(kv)  # --- end study dispatch
        from .simulators import GATED_SIMULATORS

        if kv.get("cell") in GATED_SIMULATORS:  # GRU/LSTM: multi-component state
            from .commands.gated_cli import run_cell as run_gated_cell

            return run_gated_cell(kv)
        return run_cell(parse_cell_args(kv))
    except BadInput as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # memory refusal is bad input too
        from .engine.sharding import MemoryPlanError

        if isinstance(exc, MemoryPlanError):
            print(f"verify: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
