"""Claims that had no test (issue 17, item 5), each checked against an independent value.

Already covered elsewhere, not repeated here: jax.grad of c_star, c_h_star, xi, xi_q with respect to mu_b,
sigma_v, R, Sigma at a chaotic point (tests/test_jax_gradients.py); the generated isometry jax modules under
jit/vmap against the numba modules and their sigma_w/sigma_v derivatives (tests/test_isometry_jax.py, called
directly, not through theory.predict); ``derive list`` in-process and ``derive all`` (tests/test_derive_cli.py);
``derive cell=... out=`` for five of the package's files (tests/test_regeneration.py).

New here:
  * jax.grad through theory.predict(backend="jax") of c_star, c_h_star, xi, xi_q with respect to EVERY
    parameter (sigma_w and sigma_b had no gradient test at all) at an ordered point with differing inputs
    (Sigma = 0.7: c* < 1, xi finite; test_jax_gradients has only a chaotic point);
  * the isometry quantities through theory.predict(..., backend="jax"): under jax.jit(jax.vmap(...)) equal to
    a python loop of scalar calls, and jax.grad / jax.jacfwd with respect to sigma_b, mu_b, R (the parameters
    test_isometry_jax does not differentiate) equal to central finite differences of the numba route;
  * ``python -m theory.cli list`` and ``python -m theory.cli cell=vanilla-tanh out=DIR`` as processes (the
    module entry point), the latter writing the complete file set of derivations/vanilla_tanh byte for byte.

Finite-difference tolerance, derived (as in test_jax_gradients): the central difference D(h) with relative
step h = 1e-5 |x| has truncation error ~ f''' h^2 / 6; |D(h) - D(2h)| equals 3x that to leading order and
bounds it; the kernels' evaluation noise adds EPS_F |f| / h (fixed-point solves converge to ~1e-14 relative;
EPS_F = 1e-12 allows 100x that).  Each tolerance is also asserted to be below 1e-6 of the derivative's scale,
so the comparison keeps its power.  The FD values come from the numba kernels (a separately generated module
evaluated as numpy ufuncs), not from jax.
"""
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]
REL_H = 1e-5
EPS_F = 1e-12
POWER = 1e-6


def _fd(f, x):
    """(D(h), derived tolerance) for df/dx at x, h = REL_H |x|."""
    h = REL_H * abs(x)
    d = lambda s: (f(x + s) - f(x - s)) / (2 * s)  # noqa: E731
    dh = d(h)
    return dh, abs(dh - d(2 * h)) + EPS_F * abs(f(x)) / h, abs(f(x)) / abs(x)


def _assert_grad(got, f, x, label):
    want, tol, scale = _fd(f, x)
    assert tol <= POWER * max(abs(want), scale), (label, "FD tolerance lost its power", want, tol)
    assert abs(float(got) - want) <= tol, (label, float(got), want, tol)


# ------------------------------------------------------------------ core quantities: jax.grad vs FD(numba)
ORDERED = {
    "vanilla-tanh": dict(sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=0.7),
    "minimalrnn": dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.1, mu_b=1.0, R=1.0, Sigma=0.7),
}
QUANTITIES = ("c_star", "c_h_star", "xi", "xi_q")


@pytest.mark.parametrize("cell", list(ORDERED))
@pytest.mark.parametrize("quantity", QUANTITIES)
def test_jax_grad_through_predict_wrt_every_parameter_matches_fd_of_numba(cell, quantity):
    p = ORDERED[cell]
    assert theory.predict(cell, "chi", backend="numba", **p) < 1.0
    # an ordinary point: differing inputs keep c* strictly inside (0, 1)
    assert 0.0 < theory.predict(cell, "c_star", backend="numba", **p) < 1.0
    wrt = list(theory.cell(cell).param_names)
    assert set(wrt) == set(theory.parameters(cell))

    def F(d):
        return theory.predict(cell, quantity, backend="jax", **{**p, **d})

    g = jax.grad(F)({k: jnp.float64(p[k]) for k in wrt})
    for k in wrt:
        _assert_grad(g[k], lambda x: theory.predict(cell, quantity, backend="numba", **{**p, k: x}), p[k],
                     (cell, quantity, k))


# ------------------------------------------------------------------ isometry through theory.predict(jax)
ISO_POINTS = {  # ordered points (chi < 1): the isometry moments are finite and smooth
    "vanilla-tanh": dict(sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=1.0),
    "minimalrnn": dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.1, mu_b=1.0, R=1.0, Sigma=1.0),
}
ISO_CASES = [("isometry_mean", "gaussian"), ("isometry_variance", "gaussian"), ("isometry_variance", "orthogonal")]
# the predict route adds one wrapper (theory.jacobian.isometry._jax_function), the same for every isometry kernel and
# weights law (orthogonal changes only the constant v_W); the kernels themselves are checked under jit and vmap
# for every kernel in test_isometry_jax.  One kernel per cell here (runtime).
ISO_TRANSFORM_CASES = [("isometry_variance", "gaussian")]
T = 4
LOOP_REL = 1e-12


def _iso(cell, kernel, weights, backend, **kw):
    return theory.predict(cell, kernel, backend=backend, T=T, weights=weights, **{**ISO_POINTS[cell], **kw})


@pytest.mark.parametrize("cell", list(ISO_POINTS))
@pytest.mark.parametrize("kernel,weights", ISO_TRANSFORM_CASES)
def test_isometry_predict_jax_under_jit_of_vmap_equals_a_loop_of_scalar_calls(cell, kernel, weights):
    sws = ISO_POINTS[cell]["sigma_w"] * np.array([0.7, 0.85, 1.0])
    loop = np.array([float(_iso(cell, kernel, weights, "jax", sigma_w=float(s))) for s in sws])
    assert np.all(np.isfinite(loop)) and len(set(loop)) == len(loop)  # the parameter matters
    vm = jax.jit(jax.vmap(lambda s: _iso(cell, kernel, weights, "jax", sigma_w=s)))(jnp.asarray(sws))
    assert vm.dtype == jnp.float64 and vm.shape == sws.shape
    np.testing.assert_allclose(np.asarray(vm), loop, rtol=LOOP_REL, atol=0)
    # and the numba route (independently generated module) gives the same values to its documented 1e-10
    nb = np.array([_iso(cell, kernel, weights, "numba", sigma_w=float(s)) for s in sws])
    np.testing.assert_allclose(loop, nb, rtol=1e-10, atol=0)


@pytest.mark.parametrize("cell", list(ISO_POINTS))
@pytest.mark.parametrize("kernel,weights", ISO_CASES)
def test_isometry_predict_jax_derivative_matches_fd_of_numba(cell, kernel, weights):
    """d/dk for the parameters test_isometry_jax does not differentiate (it covers sigma_w, sigma_v; Sigma does
    not enter the single-sequence isometry moments): sigma_b, R and, for the minimalRNN, mu_b.  The
    minimalRNN's exact variance recursion documents forward mode only (T-loop), so jacfwd."""
    p = ISO_POINTS[cell]
    wrt = [k for k in theory.cell(cell).param_names if k not in ("Sigma", "sigma_w", "sigma_v")]
    assert wrt == (["sigma_b", "mu_b", "R"] if cell == "minimalrnn" else ["sigma_b", "R"])
    diff = jax.jacfwd if (cell == "minimalrnn" and kernel == "isometry_variance") else jax.grad
    g = diff(lambda d: _iso(cell, kernel, weights, "jax", **d))({k: jnp.float64(p[k]) for k in wrt})
    for k in wrt:
        _assert_grad(g[k], lambda x: _iso(cell, kernel, weights, "numba", **{k: x}), p[k], (cell, kernel, weights, k))


# ------------------------------------------------------------------ the command line as a process
def _cli(*argv):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "theory.cli", *argv], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_cli_list_as_a_process_prints_the_registered_cells_and_exits_0():
    r = _cli("list")
    assert r.returncode == 0, r.stderr
    # a fresh process knows the built-in cells (user cells registered by other tests live in this process only)
    from theory.cells import is_builtin
    assert r.stdout.splitlines() == [c for c in theory.cells() if is_builtin(c)]
    assert len(r.stdout.splitlines()) >= 14


def test_cli_cell_out_as_a_process_writes_the_complete_checked_in_package(tmp_path):
    """Every file of derivations/vanilla_tanh (kernels, isometry, tied site, docs, the hidden marker), no
    more and no fewer, byte for byte (test_regeneration compares five of them)."""
    out = tmp_path / "vt"
    r = _cli("cell=vanilla-tanh", f"out={out}")
    assert r.returncode == 0, r.stderr
    pkg = ROOT / "derivations" / theory.cell("vanilla-tanh").package
    want = sorted(f.name for f in pkg.iterdir() if f.is_file())
    got = sorted(f.name for f in out.iterdir() if f.is_file())
    assert got == want and len(want) >= 10
    assert not [f for f in out.iterdir() if f.is_dir()]
    for name in want:
        assert (out / name).read_bytes() == (pkg / name).read_bytes(), name
    assert f"wrote {len(want)} files in {out}" in r.stdout


# ------------------------------------------------------------------ jax kernels first imported inside jax.jit
_FIRST_USE_IN_JIT = r'''
import jax
jax.config.update("jax_enable_x64", True)
import theory
p = dict(sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=0.7)
f = jax.jit(lambda s: theory.predict("vanilla-tanh", "q_star", backend="jax", **{**p, "sigma_w": s}))
print(float(f(0.8)))
print(float(theory.predict("vanilla-tanh", "q_star", backend="jax", **p)))
'''


def test_first_use_of_a_cells_jax_kernels_inside_jit_leaves_later_calls_working():
    """A fresh process (the module must not be imported yet): jit first, then an ordinary call; both equal
    the numba kernel (a separately generated module) to 1e-12.  (Was a bug: module constants built with
    jnp became tracers of the first trace; the generated modules now build them with numpy,
    theory.codegen.jax_float64.CONSTANTS.)"""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", _FIRST_USE_IN_JIT], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    want = theory.predict("vanilla-tanh", "q_star", backend="numba",
                          sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=0.7)
    got = [float(x) for x in r.stdout.split()]
    assert got == pytest.approx([want, want], rel=1e-12)
