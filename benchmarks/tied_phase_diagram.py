"""Tied vs annealed order-chaos boundary of the LSTM in (sigma_w, forget-gate bias) (issue 16, item 3).

    python benchmarks/tied_phase_diagram.py --out reports/tied_cpu [--n 11] [--paths 2048] [--steps 120]

``theory.phase_diagram("lstm", tied=True)``: sigma_w is the recurrent scale of all four gates together;
the tied lambda_max (site process, common random numbers: one seed for every grid point) on an n x n
grid, with the annealed lambda_max = 1 line root-solved on the generated kernels.  Writes phase.json
and phase.png.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/tied_cpu")
    ap.add_argument("--n", type=int, default=11)
    ap.add_argument("--paths", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=120)
    a = ap.parse_args(argv)
    import os

    import theory
    t0 = time.time()
    d = theory.phase_diagram("lstm", tied=True, xlim=(0.5, 3.0), ylim=(-1.0, 6.0), n=(a.n, a.n), paths=a.paths,
                             steps=a.steps)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "phase.json").write_text(json.dumps({
        "theory": "tied (real network); annealed beside it", "sigma_w": d.xs.tolist(), "mu_b_f": d.ys.tolist(),
        "tied_lambda_max": d.order.tolist(), "tied_se": d.order_se.tolist(),
        "annealed_lambda_max": d.annealed_order.tolist(),
        "annealed_critical_line": {k: v.tolist() for k, v in d.critical.items()},
        "paths": a.paths, "steps": a.steps, "seconds": round(time.time() - t0),
        "seconds_by_part": {k: round(v, 1) for k, v in d.seconds.items()},
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU"}, indent=1))
    d.plot(out / "phase.png")


if __name__ == "__main__":
    main()
