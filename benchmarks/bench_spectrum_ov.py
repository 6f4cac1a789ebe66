"""Time theory.jacobian.spectrum_ov (the exact untied minimalRNN law of J J^T) per density.

    taskset -c 0 python benchmarks/bench_spectrum_ov.py [--configs 2g 4o 8o 10o] [--M 16384]

At the near-critical minimalRNN point of tests/test_spectrum_ov.py (chi = 1), default accuracy
(M = 2^14 paths, n = 150 grid points + refinement, eta = 2e-4), one process, one core:

1. the Dyson-equation kernel alone: the numba kernel against the numpy path of
   ``DysonSystem.evaluate`` (``use_kernel=False``), plain and with the Jacobian, ms per call;
2. ``spectrum_ov`` per density: wall time, split into the neuron-path sample (``path_sample``) and the
   rest, and the number of plain / Jacobian evaluations; once as shipped (quasi-Newton steps from the
   neighbouring grid point's Jacobian, ``DysonSystem.solve``) and once with every solve by damped Newton
   (the neighbour's Jacobian dropped), in the same run.

Issue 22 item 2 asks for <= 2 s per density for T <= 10 on one core.  Run by hand; results go to
reports/spectrum_ov_speed_cpu/ with the machine named.
"""
import argparse
import os
import platform
import time
import warnings

import numpy as np

import theory
from theory.jacobian import spectrum_ov as so

MINIMAL = {"sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 2.0, "R": 1.0, "Sigma": 1.0, "sigma_w": 3.7728555582910093}
WEIGHTS = {"g": "gaussian", "o": "orthogonal"}


def _per_call(fn, repeat):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat * 1e3


def kernel_table(Ts, M):
    c = theory.cell("minimalrnn")
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    Q = float(theory.predict("minimalrnn", "Q_star", **MINIMAL))
    print(f"1. Dyson kernel, M = {M} paths, ms per call (numpy path / numba kernel)")
    print(f"{'T':>3} {'plain numpy':>12} {'plain numba':>12} {'ratio':>6} {'jac numpy':>10} {'jac numba':>10} {'ratio':>6}")
    for T in Ts:
        sample = so.path_sample(c, MINIMAL, q, Q, T, M=M, seed=0)
        fast, slow = so.DysonSystem(sample, True), so.DysonSystem(sample, True, use_kernel=False)
        z = 1.0 + 0.01j
        theta = fast.initial(z)
        row = []
        for jac in (False, True):
            t_slow = _per_call(lambda: slow.evaluate(theta, z, jac), 3)
            t_fast = _per_call(lambda: fast.evaluate(theta, z, jac), 20)
            row += [t_slow, t_fast, t_slow / t_fast]
        print(f"{T:>3} {row[0]:>12.2f} {row[1]:>12.2f} {row[2]:>6.1f} {row[3]:>10.2f} {row[4]:>10.2f} {row[5]:>6.1f}")


class _Counted:
    """Counts DysonSystem evaluations and times path_sample while installed (restored on exit)."""

    def __init__(self, quasi_newton: bool):
        self.quasi_newton = quasi_newton
        self.plain = self.jacobian = 0
        self.t_sample = 0.0

    def __enter__(self):
        self._evaluate, self._solve, self._sample = so.DysonSystem.evaluate, so.DysonSystem.solve, so.path_sample
        me = self

        def evaluate(system, theta, z, jacobian=False):
            if jacobian:
                me.jacobian += 1
            else:
                me.plain += 1
            return me._evaluate(system, theta, z, jacobian)

        def solve(system, theta, z, jacobian=None, **kw):
            return me._solve(system, theta, z, jacobian=jacobian if me.quasi_newton else None, **kw)

        def path_sample(*a, **kw):
            t = time.perf_counter()
            out = me._sample(*a, **kw)
            me.t_sample += time.perf_counter() - t
            return out

        so.DysonSystem.evaluate, so.DysonSystem.solve, so.path_sample = evaluate, solve, path_sample
        return self

    def __exit__(self, *exc):
        so.DysonSystem.evaluate, so.DysonSystem.solve, so.path_sample = self._evaluate, self._solve, self._sample
        return False


def density_table(configs, M):
    print(f"\n2. spectrum_ov per density (minimalRNN near-critical, M = {M}, defaults otherwise), seconds")
    print(f"{'config':>7} {'route':>13} {'total':>7} {'paths':>6} {'rest':>6} {'plain ev':>9} {'jac ev':>7} {'points':>7}")
    with warnings.catch_warnings():  # a tiny sample fails the self-check; this call only compiles / loads caches
        warnings.simplefilter("ignore")
        so.spectrum_ov("minimalrnn", T=2, weights="orthogonal", M=1024, **MINIMAL)
    for cfg in configs:
        T, w = int(cfg[:-1]), WEIGHTS[cfg[-1]]
        for quasi in (True, False):
            with _Counted(quasi) as c:
                t = time.perf_counter()
                s = so.spectrum_ov("minimalrnn", T=T, weights=w, M=M, **MINIMAL)
                total = time.perf_counter() - t
            route = "quasi-Newton" if quasi else "Newton only"
            print(f"{cfg:>7} {route:>13} {total:>7.2f} {c.t_sample:>6.2f} {total - c.t_sample:>6.2f} "
                  f"{c.plain:>9} {c.jacobian:>7} {s.lam.size:>7}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["2g", "4o", "8o", "10o"])
    ap.add_argument("--M", type=int, default=so.DEFAULT_M)
    a = ap.parse_args()
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"this process on {len(cpus) if cpus else '?'}; numpy {np.__version__}")
    kernel_table(sorted({int(c[:-1]) for c in a.configs}), a.M)
    density_table(a.configs, a.M)


if __name__ == "__main__":
    main()
