"""How generated kernels are built and grouped (issue 22 item 4), without changing a value.

* Public numba kernels are ufuncs built on first use (theory/codegen/numba_ufunc.py): importing a
  module builds none, and a built kernel is the eager ``numba.vectorize`` ufunc of the same function
  (same values bit for bit, same broadcasting, numpy scalars for scalar input).
* Each jax module serves its quantities in groups, one solve per group (theory/codegen/programs.py):
  every group function's value of a quantity is that quantity's own kernel's value, and the groups
  cover every served quantity once.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import theory
from conftest import GATED, ordered_point

IMPORT_ALL = """
import glob, importlib, os
built = []
for f in sorted(glob.glob(os.path.join('derivations', '*', '*numba*.py'))):
    mod = importlib.import_module(f[:-3].replace(os.sep, '.'))
    lazy = [v for v in vars(mod).values() if type(v).__name__ == '_LazyUfunc']
    assert lazy, f
    built += [f + ':' + v.__name__ for v in lazy if v._built is not None]
print(len(built), built[:5])
"""


def test_importing_every_generated_numba_module_builds_no_ufunc():
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.startswith("0 "), out.stdout


@pytest.mark.parametrize("cell,name", [("vanilla-tanh", "chi"), ("lstm", "Q_star"), ("gru", "variance_map")])
def test_a_lazily_built_kernel_is_the_eager_ufunc_of_the_same_function(cell, name):
    from numba import vectorize
    lazy = getattr(theory.kernels(cell, "numba"), name)
    n = lazy.nin  # read from the built ufunc
    eager = vectorize(["float64(" + ", ".join(["float64"] * n) + ")"])(lazy.__wrapped__)
    c = theory.cell(cell)
    p = theory.api.resolve_params(c, ordered_point(cell) if cell not in GATED else {})
    args = [0.7] * (n - len(c.param_names)) + [float(p[k]) for k in c.param_names]  # maps lead with Q
    grid = list(args)
    grid[0] = args[0] * np.array([[0.5], [1.0], [1.5]])  # broadcast (3, 1) against (1, 4)
    grid[-1] = args[-1] * np.array([[0.25, 0.5, 1.0, 2.0]])
    a, b = lazy(*grid), eager(*grid)
    assert a.shape == b.shape == (3, 4)
    assert np.array_equal(a, b, equal_nan=True)
    scalar = lazy(*args)
    assert isinstance(scalar, np.float64) and (scalar == eager(*args) or np.isnan(scalar))


@pytest.mark.parametrize("cell", ["vanilla-tanh", "gru"])
def test_every_group_function_gives_each_quantity_its_own_kernels_value(cell):
    import jax
    import jax.numpy as jnp
    mod = theory.kernels(cell, "jax")
    c = theory.cell(cell)
    points = [theory.api.resolve_params(c, ordered_point(cell) if cell not in GATED else {})]
    if cell == "gru":
        points.append(theory.api.resolve_params(c, dict(sigma_w_n=3.0, sigma_w_r=3.0, sigma_w_z=3.0)))
    served = [q for names in mod.PROGRAMS.values() for q in names]
    assert len(served) == len(set(served)), "a quantity served by two groups"
    assert set(served) >= {"Q_star", "q_star", "chi", "xi_q", "c_star", "c_h_star", "xi"}
    for function, names in mod.PROGRAMS.items():
        group = jax.jit(getattr(mod, function))
        each = jax.jit(lambda *a, names=names: {q: getattr(mod, q)(*a) for q in names})
        for p in points:
            args = [jnp.float64(p[k]) for k in c.param_names]
            g, e = group(*args), each(*args)
            assert set(g) == set(names)
            for q in names:
                a, b = float(g[q]), float(e[q])
                assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-14, abs=1e-300), (q, p, a, b)


def test_a_lazy_kernel_pickles_by_reference_and_runs_in_a_process_pool():
    """Generated kernels go to worker processes (process pools, Dask) the way numpy's own ufuncs do: pickled
    by module and name, unpickled as the same object, and they compute there the value they compute here."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    mod = theory.kernels("vanilla-tanh", "numba")
    assert pickle.loads(pickle.dumps(mod.chi)) is mod.chi
    args = (1.5, 1.0, 0.3, 1.0, 1.0)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(mod.chi, *args).result(timeout=300)
    assert remote == mod.chi(*args)
