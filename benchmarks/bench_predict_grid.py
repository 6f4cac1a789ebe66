"""Time theory.predict(cell, "chi") over a parameter grid: numba, jax, and a plain scipy-quad loop.

    python benchmarks/bench_predict_grid.py [--n 1000] [--sub 12] [--cell vanilla-tanh]

The scipy loop (brentq on quad-evaluated maps, the route of tests/reference.py) runs on an
sub x sub sub-grid and is extrapolated per point.  Run by hand; figures go into README.md.
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import theory  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sub", type=int, default=12)
    ap.add_argument("--cell", default="vanilla-tanh")
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
    t = time.perf_counter()
    ref = np.array([[reference.reference(a.cell, "chi", sigma_w=float(sw[r, 0]), sigma_b=float(sb[0, s]))
                     for s in i] for r in i])
    t_sp = (time.perf_counter() - t) / a.sub ** 2 * a.n ** 2
    err = np.nanmax(np.abs(out_nb[np.ix_(i, i)] - ref) / np.abs(ref))
    print(f"cell={a.cell} grid={a.n}x{a.n} machine={platform.processor() or platform.machine()} cores={os.cpu_count()}")
    print(f"numba  : {t_nb:8.2f} s  ({t_nb / a.n ** 2 * 1e6:.2f} us/point)")
    print(f"jax    : {t_jx:8.2f} s  ({t_jx / a.n ** 2 * 1e6:.2f} us/point)  max |jax-numba|/numba = "
          f"{np.nanmax(np.abs(out_jx - out_nb) / np.abs(out_nb)):.1e}")
    print(f"scipy  : {t_sp:8.2f} s  extrapolated from {a.sub}x{a.sub}  ({t_sp / a.n ** 2 * 1e6:.0f} us/point); "
          f"max rel diff vs numba {err:.1e}")
    print(f"speed-up over scipy: numba x{t_sp / t_nb:.0f}, jax x{t_sp / t_jx:.0f}")


if __name__ == "__main__":
    main()
