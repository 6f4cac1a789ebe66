"""Compile time of a cell's jax quantities: one program per quantity against one per solve.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_compile.py --cell minimalrnn

Each quantity of ``PROGRAMS`` is compiled on its own (``jax.jit`` of the kernel, as ``theory.predict``
did before generator 0.2.0). Then each group is compiled as one program (``theory.api.jax_value`` today).
Both are lowered and compiled from scratch in one process, scalar arguments at the cell's defaults,
and the persistent compilation cache is off. Prints seconds per program and the ratio of the totals.
Timings depend on the machine: state it with the numbers.

Measured 2026-12-06, one run, the 2-core x86_64 CPU machine (no GPU), generator 0.2.0, ``--cell minimalrnn``::

    Q_star 1.22 s, q_star 1.26 s, chi 1.41 s, xi_q 1.32 s alone; the four as one program 2.78 s
    c_star 2.85 s, c_h_star 2.93 s, xi 3.01 s alone; the three as one program 5.96 s
    total: one per quantity 14.0 s, one per solve 8.7 s, ratio 1.60

(compile only; tracing and lowering, about 0.4-1 s per program, come on top and are saved alike).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _compile_seconds(fn, args) -> float:
    import jax
    t = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", default="minimalrnn")
    a = ap.parse_args(argv)
    import jax.numpy as jnp

    from theory import api
    c = api.cell(a.cell)
    mod = api.kernels(c, "jax")
    p = api.resolve_params(c, {})
    args = [jnp.asarray(p[n], dtype=jnp.float64) for n in c.param_names]
    print(f"cell {c.name}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"scalar programs, compile cache off")
    separate = grouped = 0.0
    for group in mod.PROGRAMS:
        for name in group:
            s = _compile_seconds(getattr(mod, name), args)
            separate += s
            print(f"  {name:12s} alone   {s:6.2f} s")
        fns = [getattr(mod, n) for n in group]
        s = _compile_seconds(lambda *x, fns=fns: tuple(f(*x) for f in fns), args)
        grouped += s
        print(f"  {'+'.join(group)[:60]:60s} one program {s:6.2f} s")
    print(f"total: one per quantity {separate:.1f} s, one per solve {grouped:.1f} s, ratio {separate / grouped:.2f}")


if __name__ == "__main__":
    main()
