"""The independent parts of ``verify all`` (GRU/LSTM, dying ReLU, Jacobian spectra, and the points
of the feed-forward cells), run in worker processes while the parent runs the other points.

On a CPU a ``verify all`` run is one long chain of single-threaded work (XLA compilations, small
simulations, theory kernels, plots), so its parts are run side by side, one process each on the
machine's cores, as a ``make -j`` would.  Nothing is shared but the file system: each part writes
its own report folder exactly as in a sequential run, its progress goes to stderr as it happens
(interleaved with the parent's), and its stdout is captured and printed after the parent's, in
the sequential order (gated, dying ReLU, spectra), so the printed summary reads the same.  The exit
status is the worst part's.  The ``points`` part returns its (not yet judged) point reports to the
parent (pickled), which judges all points together (one Bonferroni family) and writes one report,
as in a sequential run.  ``jobs=0`` (the default on accelerators, where every process would
claim the device's memory) runs the parts one after the other in the parent.

A worker is ``python -m verify.commands.suite_parts SPEC.json``; it imports this package from the same
folders as the parent (``PYTHONPATH`` is set to them) and uses the parent's compilation cache.

Every exit path cleans up: SIGTERM/SIGHUP in the parent become ``SystemExit`` while workers run
(:func:`terminate_as_exit`), so the parent kills its workers and removes the temporary folder as on
Ctrl-C; a parent killed outright (SIGKILL) is noticed by each worker's watchdog thread
(:func:`watch_parent`: the parent's pid is gone), which removes the folder and ends the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: canonical order of the parts (their output is printed in this order) and a rough relative cost
#: on a CPU, used to spread them over the workers (largest first onto the least loaded worker)
ORDER = ("points", "gated", "dying-relu", "spectra")
COST = {"points": 1.0, "gated": 3.0, "dying-relu": 1.5, "spectra": 1.0}

SIDE_NICE = 5
"""Niceness a worker without the longest part (``gated``) takes once nothing it still runs is awaited
by the parent (after its ``points`` part): on a 2-core CPU three processes share two cores, and the
GRU/LSTM part is the long pole of ``verify all``; lowering the others' priority lets it keep a core."""

WORKER_FAILED = 3
"""Exit status of a worker whose part raised (its traceback is on stderr)."""


def default_jobs() -> int:
    """Worker processes for ``verify all``: 2 on a CPU with >= 2 cores (with the parent, three
    processes share the cores; the parts are uneven, so a third process keeps both cores busy
    to the end); 0 (sequential, in the parent) on accelerators or a single core."""
    import jax

    if jax.devices()[0].platform != "cpu":
        return 0
    return 2 if (os.cpu_count() or 1) >= 2 else 0


def run_part(name: str, args: dict):
    """Run one part in this process; its exit status (0 agree, 1 disagree), or for ``points`` the
    list of point reports."""
    if name == "points":
        from .cliutil import progress_printer
        from .suite_runs import suite_points

        return suite_points(**args, progress=progress_printer(args["quiet"]))
    if name == "gated":
        from .gated_cli import run_suite

        return run_suite(**args)
    if name == "dying-relu":
        from ..studies.dying_relu import suite_run

        return suite_run(**args)
    if name == "spectra":
        from .suite_runs import run_spectra

        return run_spectra({**args, "cells": tuple(args["cells"]), "weights": tuple(args["weights"]),
                            "steps": tuple(args["steps"]), "ks_steps": tuple(args["ks_steps"]),
                            "ks_weights": tuple(args["ks_weights"]), "ks_cells": tuple(args["ks_cells"]),
                            "regimes": tuple(args["regimes"])})
    raise ValueError(f"unknown part {name!r}")


def groups(parts: list, jobs: int) -> list:
    """Spread ``[(name, args), ...]`` over ``jobs`` workers: largest cost first, onto the least
    loaded; each group keeps the canonical order."""
    load = [0.0] * jobs
    out: list = [[] for _ in range(jobs)]
    for name, args in sorted(parts, key=lambda p: -COST.get(p[0], 1.0)):
        i = load.index(min(load))
        out[i].append((name, args))
        load[i] += COST.get(name, 1.0)
    return [sorted(g, key=lambda p: ORDER.index(p[0])) for g in out if g]


#: seconds between a worker's checks that its parent is still alive
WATCH_INTERVAL = 0.5


def watch_parent(parent: int, folder: str, interval: float = WATCH_INTERVAL) -> threading.Thread:
    """Start a daemon thread that ends this process (exit status 1) and removes ``folder`` once the
    process ``parent`` is no longer this process's parent (it died, even by SIGKILL, and this one was
    re-parented).  XLA releases the GIL while it computes, so the thread runs during long programs."""
    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(1)

    t = threading.Thread(target=watch, name="verify-parent-watch", daemon=True)
    t.start()
    return t


@contextlib.contextmanager
def terminate_as_exit(signals=(signal.SIGTERM, signal.SIGHUP)):
    """Within the block, SIGTERM/SIGHUP raise ``SystemExit(128 + signum)`` (so ``finally``/``except``
    cleanup runs, as for Ctrl-C) instead of ending the process on the spot; the previous handlers are
    restored after.  Outside the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    old = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class Workers:
    """Worker processes running ``parts``; :meth:`finish` waits, prints their stdout in canonical
    order and returns the worst exit status."""

    def __init__(self, parts: list, jobs: int):
        import jax

        self.dir = Path(tempfile.mkdtemp(prefix="verify-all-"))
        self.parts = [name for name, _ in parts]
        self.procs = []
        roots = {str(Path(__file__).resolve().parents[1])}
        try:
            import theory

            roots.add(str(Path(theory.__file__).resolve().parents[1]))
        except ImportError:  # pragma: no cover - theory is needed by every part anyway
            pass
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(sorted(roots) + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        cache = jax.config.jax_compilation_cache_dir
        for i, group in enumerate(groups(parts, jobs)):
            spec = {"parts": group, "dir": str(self.dir), "argv": sys.argv, "parent": os.getpid(),
                    "cache": cache, "cache_min_secs": jax.config.jax_persistent_cache_min_compile_time_secs}
            path = self.dir / f"worker{i}.json"
            path.write_text(json.dumps(spec))
            self.procs.append((group, subprocess.Popen([sys.executable, "-m", "verify.commands.suite_parts", str(path)],
                                                       env=env, stdout=subprocess.DEVNULL)))

    def result(self, name: str):
        """The return value of part ``name`` (waits for it; raises if its worker failed)."""
        path = self.dir / f"{name}.pkl"
        group, proc = next((g, p) for g, p in self.procs if any(n == name for n, _ in g))
        while not path.exists():
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            if not path.exists():
                raise RuntimeError(f"verify all: the worker running {name!r} failed (exit status "
                                   f"{proc.returncode}); see its traceback above")
        with open(path, "rb") as f:
            return pickle.load(f)

    def finish(self) -> int:
        rc = 0
        failed = []
        for group, proc in self.procs:
            code = proc.wait()
            if code != 0:
                failed.append((", ".join(n for n, _ in group), code))
        for name in self.parts:
            out = self.dir / f"{name}.stdout"
            if out.exists():
                text = out.read_text()
                sys.stdout.write(text)
                sys.stdout.flush()
            res = self.dir / f"{name}.rc"
            if res.exists():
                rc = max(rc, int(res.read_text()))
        shutil.rmtree(self.dir, ignore_errors=True)
        if failed:
            raise RuntimeError("verify all: worker process(es) failed: " + "; ".join(
                f"{names} (exit status {code})" for names, code in failed) + "; see their traceback above")
        return rc

    def kill(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("parent"):  # end with the parent, however it ends, and leave no folder behind
        watch_parent(int(spec["parent"]), spec["dir"])
    sys.argv = list(spec["argv"])  # the reports record the parent's command line
    import jax

    import verify  # noqa: F401  (x64, matmul precision)

    if spec.get("cache"):
        jax.config.update("jax_compilation_cache_dir", spec["cache"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", spec["cache_min_secs"])
    out = Path(spec["dir"])
    long_pole = max(ORDER, key=lambda n: COST[n])
    behind = all(name != long_pole for name, _ in spec["parts"])
    for name, args in spec["parts"]:
        if behind and name != "points":  # the parent no longer waits on this worker
            with contextlib.suppress(OSError):
                os.nice(SIDE_NICE)
            behind = False
        try:
            with open(out / f"{name}.stdout", "w") as f, contextlib.redirect_stdout(f):
                rc = run_part(name, args)
        except Exception:
            import traceback

            traceback.print_exc()
            return WORKER_FAILED
        if isinstance(rc, list):  # point reports: written whole, then renamed (the parent polls)
            tmp = out / f"{name}.pkl.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(rc, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, out / f"{name}.pkl")
            rc = 0
        (out / f"{name}.rc").write_text(str(int(rc)))
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
