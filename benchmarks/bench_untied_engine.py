"""Untied simulation: the projected engine against dense draws, in one process (issue 22 item 3).

    python benchmarks/bench_untied_engine.py                       # N = 256, 1024; E = 32, T = 40
    python benchmarks/bench_untied_engine.py --widths 256 1024 4096 --dense-max 1024

For each width, ``verify``'s vanilla-tanh ensemble and an LSTM ensemble at its default parameters
(untied, float64; ``--cells``) run on both engines (``untied_engine``); each is timed from a cold program (compilation included) and then warm
(best of ``--reps``).  Widths above ``--dense-max`` run the projected engine only (a dense run there
costs minutes on a CPU).  Prints a table and, with ``--out``, writes it as JSON; the machine is named.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARAMS = dict(sigma_w=1.5, sigma_v=0.5, sigma_b=0.1, R=1.0, Sigma=0.3)


def time_engine(cell: str, engine: str, width: int, ensemble: int, steps: int, reps: int) -> dict:
    from verify.engine.sharding import run_ensemble
    from verify.engine.simulate import RunShape

    if cell == "lstm":
        import theory
        from verify.judge.gated import simulate
        from verify.simulators import get_gated

        params = dict(theory.parameters("lstm"))

        def run(seed):
            simulate(get_gated("lstm"), params, width=width, ensemble=ensemble, steps=steps, tied=False,
                     seed=seed, untied_engine=engine)
    else:
        shape = RunShape(width, steps, False, untied_engine=engine)

        def run(seed):
            run_ensemble(cell, PARAMS, shape, seed=seed, ensemble=ensemble, Q0=1.0, C0=0.5)
    times = []
    for r in range(reps + 1):
        t0 = time.perf_counter()
        run(r)
        times.append(time.perf_counter() - t0)
    return {"cold_s": times[0], "warm_s": min(times[1:])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--cells", nargs="+", default=["vanilla-tanh", "lstm"], choices=["vanilla-tanh", "lstm"])
    ap.add_argument("--ensemble", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--dense-max", type=int, default=1024)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    import jax

    import verify  # noqa: F401  (float64, partitionable Threefry)

    machine = f"{platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, " \
              f"{jax.device_count()} device(s)"
    print(f"untied, E={a.ensemble}, T={a.steps}, float64; {machine}")
    print(f"{'cell':>13} {'N':>6} {'engine':>10} {'cold s':>8} {'warm s':>8} {'warm ratio':>11}")
    rows = []
    for cell in a.cells:
        for n in a.widths:
            got = {"projected": time_engine(cell, "projected", n, a.ensemble, a.steps, a.reps)}
            if n <= a.dense_max:
                got["dense"] = time_engine(cell, "dense", n, a.ensemble, a.steps, a.reps)
            for engine, t in got.items():
                ratio = got["dense"]["warm_s"] / t["warm_s"] if "dense" in got else float("nan")
                print(f"{cell:>13} {n:>6} {engine:>10} {t['cold_s']:>8.2f} {t['warm_s']:>8.3f} "
                      f"{ratio if engine == 'projected' else 1.0:>11.1f}", flush=True)
                rows.append({"cell": cell, "width": n, "engine": engine, **t})
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"machine": machine, "ensemble": a.ensemble, "steps": a.steps,
                                     "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
