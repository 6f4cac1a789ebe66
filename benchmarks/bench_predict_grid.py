"""Time theory.predict(cell, "chi") over a parameter grid: numba, jax, and scipy loops.

    taskset -c 0 python benchmarks/bench_predict_grid.py [--n 1000] [--sub 12] [--cell vanilla-tanh]

Two scipy references, each on a sub x sub sub-grid, extrapolated per point:

* ``plain`` (vanilla-tanh only): the loop a user would write — ``scipy.integrate.quad`` of the Gaussian
  expectations over the real line at epsrel = 1e-12 (the accuracy asked of the kernels, 1e-10, with margin)
  and ``scipy.optimize.brentq`` for Q* (xtol = rtol = 1e-15), then χ = σ_w² E[tanh'(z)²] at q*.  This is the
  reference the speed-up is quoted against (issue 22 item 1).
* ``careful``: tests/reference.py (the tests' independent route: split intervals, tighter tolerances,
  cached maps), slower per point; shown for comparison only.

Run by hand, on one core (``taskset -c 0``); figures go into README.md with the machine named.
"""
import argparse
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import theory  # noqa: E402


def plain_chi(sigma_w: float, sigma_b: float, sigma_v: float = 1.0, R: float = 1.0) -> float:
    """χ of vanilla-tanh at (σ_w, σ_b) by a plain scipy loop: Q* = E[tanh(z)²], z ~ N(0, q(Q)), by brentq."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    def gauss(f, q):
        s = math.sqrt(q)
        return quad(lambda x: f(s * x) * math.exp(-0.5 * x * x), -np.inf, np.inf, epsabs=0.0, epsrel=1e-12,
                    limit=200)[0] / math.sqrt(2.0 * math.pi)

    def field(Q):
        return sigma_w ** 2 * Q + sigma_v ** 2 * R + sigma_b ** 2

    Qs = brentq(lambda Q: gauss(lambda z: math.tanh(z) ** 2, field(Q)) - Q, 0.0, 1.0, xtol=1e-15, rtol=1e-15)
    return sigma_w ** 2 * gauss(lambda z: (1.0 - math.tanh(z) ** 2) ** 2, field(Qs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sub", type=int, default=12)
    ap.add_argument("--cell", default="vanilla-tanh")
    ap.add_argument("--careful-sub", type=int, default=3, help="sub-grid of the careful (tests/reference.py) loop")
    a = ap.parse_args()
    import reference
    sw = np.linspace(0.5, 3.0, a.n)[:, None]
    sb = np.linspace(0.01, 1.0, a.n)[None, :]
    kw = dict(sigma_w=sw, sigma_b=sb)
    theory.predict(a.cell, "chi", sigma_w=sw[:2], sigma_b=sb[:, :2])          # compile / load caches
    theory.predict(a.cell, "chi", backend="jax", sigma_w=sw[:2], sigma_b=sb[:, :2])
    t = time.perf_counter(); out_nb = theory.predict(a.cell, "chi", **kw); t_nb = time.perf_counter() - t
    t = time.perf_counter(); out_jx = np.asarray(theory.predict(a.cell, "chi", backend="jax", **kw)); t_jx = time.perf_counter() - t
    i = np.linspace(0, a.n - 1, a.sub).astype(int)
    plain = a.cell == "vanilla-tanh"
    if plain:
        t = time.perf_counter()
        ref = np.array([[plain_chi(float(sw[r, 0]), float(sb[0, s])) for s in i] for r in i])
        t_pl = (time.perf_counter() - t) / a.sub ** 2 * a.n ** 2
        err_pl = np.nanmax(np.abs(out_nb[np.ix_(i, i)] - ref) / np.abs(ref))
    j = np.linspace(0, a.n - 1, a.careful_sub).astype(int)
    t = time.perf_counter()
    ref_c = np.array([[reference.reference(a.cell, "chi", sigma_w=float(sw[r, 0]), sigma_b=float(sb[0, s]))
                       for s in j] for r in j])
    t_sp = (time.perf_counter() - t) / a.careful_sub ** 2 * a.n ** 2
    err = np.nanmax(np.abs(out_nb[np.ix_(j, j)] - ref_c) / np.abs(ref_c))
    print(f"cell={a.cell} grid={a.n}x{a.n} machine={platform.processor() or platform.machine()} "
          f"cores usable={len(os.sched_getaffinity(0))} of {os.cpu_count()}")
    print(f"numba  : {t_nb:8.2f} s  ({t_nb / a.n ** 2 * 1e6:.1f} us/point)")
    print(f"jax    : {t_jx:8.2f} s  ({t_jx / a.n ** 2 * 1e6:.1f} us/point)  max |jax-numba|/numba = "
          f"{np.nanmax(np.abs(out_jx - out_nb) / np.abs(out_nb)):.1e}")
    if plain:
        print(f"plain scipy loop  : {t_pl:10.1f} s  extrapolated from {a.sub}x{a.sub}  ({t_pl / a.n ** 2 * 1e6:.0f} us/point); "
              f"max rel diff vs numba {err_pl:.1e}")
        print(f"speed-up over the plain scipy loop: numba x{t_pl / t_nb:.1f}, jax x{t_pl / t_jx:.1f}")
    print(f"careful scipy loop: {t_sp:10.1f} s  extrapolated from {a.careful_sub}x{a.careful_sub}  "
          f"({t_sp / a.n ** 2 * 1e6:.0f} us/point); max rel diff vs numba {err:.1e}")
    print(f"speed-up over the careful loop (tests/reference.py; not the figure to quote): numba x{t_sp / t_nb:.0f}, "
          f"jax x{t_sp / t_jx:.0f}")

if __name__ == "__main__":
    main()
