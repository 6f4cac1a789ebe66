"""Time ``theory.phase_diagram`` (chi, xi, isometry mean and variance: one vectorised kernel call
each, numba ufuncs) on an n x n grid of (sigma_w, sigma_b), and write the figure.

    python benchmarks/bench_phase_diagram.py --cell vanilla-erf --n 1000 [--no-xi] [--png out.png]
    python benchmarks/bench_phase_diagram.py --cell vanilla-tanh --n 1000 --backend jax --chunk 262144 --repeat 2

``--backend jax``: the generated jax kernels (``theory.predict(..., backend="jax")``, evaluated in
chunks of ``--chunk`` points, ``theory.api.JAX_CHUNK``; on a GPU when jax has one).  The first of
``--repeat`` runs includes XLA compilation for the chunk shape; later runs are warm.

Prints per-quantity seconds (``PhaseDiagram.seconds``), the total, the per-point cost and a
consistency check of the grid's chi = 1 curve against ``theory.critical_line`` (root-solved along
sigma_b) on 5 rows.  Warm-up on a 4 x 4 grid first so numba's cache load is not timed.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="vanilla-erf")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--weights", default="orthogonal")
    ap.add_argument("--no-xi", action="store_true")
    ap.add_argument("--png", default=None)
    ap.add_argument("--backend", default="numba", choices=("numba", "jax"))
    ap.add_argument("--chunk", type=int, default=None, help="jax: grid points per kernel call")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    import theory
    if a.chunk:
        theory.api.JAX_CHUNK = a.chunk
    if a.backend == "jax":
        import jax
        print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} ({jax.default_backend()}), "
              f"chunk {theory.api.JAX_CHUNK}")
    kw = dict(x="sigma_w", y="sigma_b", xlim=(0.5, 3.0), ylim=(0.01, 1.0), T=a.T, weights=a.weights,
              xi=not a.no_xi, sigma_v=0.0, backend=a.backend)
    theory.phase_diagram(a.cell, n=4, **kw)  # warm-up: load the compiled kernels
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, load average {os.getloadavg()}")
    print(f"{a.cell}: {a.n} x {a.n} grid, T={a.T}, weights={a.weights}, xi={not a.no_xi}, backend={a.backend}")
    for run in range(a.repeat):
        t = time.perf_counter()
        d = theory.phase_diagram(a.cell, n=a.n, **kw)
        total = time.perf_counter() - t
        print(f" run {run + 1}" + (" (includes compilation for the chunk shape)" if run == 0 and a.backend == "jax" else ""))
        for k, v in d.seconds.items():
            print(f"  {k:10s} {v:9.2f} s")
        print(f"  total      {total:9.2f} s   ({total / a.n ** 2 * 1e6:.1f} us per point)", flush=True)
    rows = np.linspace(0, a.n - 1, 5).astype(int)
    ys = d.ys[rows]
    ref = theory.critical_line(a.cell, along="sigma_b", values=ys, sigma_v=0.0)
    curve = d.chi_one_curve()[rows]
    print(f"  chi = 1 curve vs critical_line (5 rows): max |d sigma_w| = {np.nanmax(np.abs(curve - ref['sigma_w'])):.2e}")
    print(f"  NaN fraction: chi {np.isnan(d.chi).mean():.3g}, relvar {np.isnan(d.relvar).mean():.3g}"
          + (f", xi {np.isnan(d.xi).mean():.3g}" if d.xi is not None else ""))
    if a.png:
        t = time.perf_counter()
        d.plot(a.png)
        print(f"  plot -> {a.png} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
