"""Generator 0.5.0 regenerated every package (lazily built numba ufuncs, jax quantities served by group
functions, GRU's one-field maps calling private helpers).  Issue 15's rule for such a change: the new
kernels equal the previous ones to <= 1e-13 relative over random parameter points, for every cell and
served quantity.  The previous values are a fixture computed by generator 0.4.0 (commit 8c8f106) with
``tests/data/make_generator_regression.py`` (its docstring says how), never by the code under test.
Generator 0.5.1 only adds pickling by reference to the lazy ufunc (no kernel body changes); the same
fixture holds it to the 0.4.0 values.

Generator 0.6.0 changes the quadrature rule of kink-free expectations on purpose (two segments of 5 panels:
the same nodes as before to rounding, except where the zero crossing is far from the bulk, where the old
rule was wrong by up to 4e-8; tests/test_quadrature.py).  Rounding-level changes of the maps are amplified
by the conditioning of a fixed point near the edge of chaos: c* and the timescales at points with
|chi - 1| < NEAR_CRITICAL are held to ``CONDITIONED_RTOL`` (measured: feedforward-tanh at chi = 1.002,
c* 9e-13 and xi = 515 7e-11; at chi = 1.021, xi 2e-13), every other value to 1e-13.  The kernels' accuracy
itself is held by the independent references (tests/test_kernels_match_reference.py, test_quadrature.py)."""

NEAR_CRITICAL = 0.05
CONDITIONED = {"c_star", "c_h_star", "xi", "xi_q"}
CONDITIONED_RTOL = 1e-9
import warnings
from pathlib import Path

import numpy as np
import pytest

import theory

FIXTURE = np.load(Path(__file__).parent / "data" / "generator_0_4_0.npz")
CASES = sorted({tuple(k.split("|")[::2]) for k in FIXTURE.files if not k.endswith("|params")})


def test_the_fixture_covers_every_cell_and_both_backends():
    cells = {c for c, _ in CASES}
    assert cells == set(theory.cells())
    assert {b for _, b in CASES} == {"numba", "jax"}


@pytest.mark.parametrize("cell,backend", CASES)
def test_every_served_quantity_equals_generator_0_4_0(cell, backend):
    names = theory.cell(cell).param_names
    params = dict(zip(names, FIXTURE[f"{cell}|params"]))
    prefix = f"{cell}|"
    quantities = sorted(k.split("|")[1] for k in FIXTURE.files if k.startswith(prefix) and k.endswith(f"|{backend}"))
    assert quantities
    mod = theory.kernels(cell, "numba")
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in quantities:
            old = FIXTURE[f"{cell}|{q}|{backend}"]
            if backend == "numba":
                new = np.asarray(getattr(mod, q)(*[params[n] for n in names]))
            else:
                new = np.asarray(theory.predict(cell, q, backend="jax", **params))
            rtol = np.full(old.shape, 1e-13)
            chi_key = f"{cell}|chi|{backend}"
            if q in CONDITIONED and chi_key in FIXTURE.files:
                rtol[np.abs(FIXTURE[chi_key] - 1.0) < NEAR_CRITICAL] = CONDITIONED_RTOL
            same = (np.isnan(old) & np.isnan(new)) | (old == new) | (
                np.isfinite(old) & (np.abs(new - old) <= rtol * np.abs(old)))
            bad += [(q, i, float(old[i]), float(new[i])) for i in np.nonzero(~same)[0]]
    assert not bad, bad[:10]
