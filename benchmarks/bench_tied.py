"""Speed of the tied-weight solver (issue 16, item 6): one LSTM stationary point, and a bias sweep.

    python benchmarks/bench_tied.py [--paths 8192] [--steps 200] [--points 64] [--threads 1]

Prints, after a warm-up call (numba compilation excluded): seconds for one LSTM point at the
given paths/steps and the standard errors it reached (Q*, lambda_max), then seconds for a sweep of
``--points`` forget-gate biases (one solve per point).  ``--threads`` caps the BLAS/numba threads
(1: the single-core figure the issue asks for).  Run by hand; figures go to reports/tied_cpu/.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    import numpy as np
    from theory.tied.api import solve
    solve("lstm", paths=256, steps=20, pairs=False)  # compile
    t0 = time.perf_counter()
    s = solve("lstm", paths=a.paths, steps=a.steps, burn=a.steps // 2, pairs=False, mu_b_f=1.0)
    t1 = time.perf_counter() - t0
    print(f"one LSTM point (mu_b_f=1, {a.paths} paths, {a.steps} steps, {a.threads} thread(s)): {t1:.2f} s; "
          f"Q* = {s.mean['Q_star']:.5f} +- {s.se['Q_star']:.5f} (rel {s.se['Q_star'] / s.mean['Q_star']:.2e}), "
          f"lambda_max = {s.mean['lambda_max']:.5f} +- {s.se['lambda_max']:.5f}", flush=True)
    mus = np.linspace(-1.0, 6.0, a.points)
    t0 = time.perf_counter()
    for m in mus:
        solve("lstm", paths=a.paths, steps=a.steps, burn=a.steps // 2, pairs=False, mu_b_f=float(m))
    t2 = time.perf_counter() - t0
    print(f"{a.points}-point forget-bias sweep: {t2:.1f} s ({t2 / a.points:.2f} s per point)", flush=True)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
