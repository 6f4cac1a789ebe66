"""The generated isometry jax kernels (derivations/<cell>/isometry_jax.py) compose with jax.jit, jax.vmap and
jax.grad: values equal the numba isometry kernels (an independently generated module, numba ufuncs), and
derivatives equal central finite differences of the numba route (theory.predict, backend numba).

Finite-difference tolerance, derived from the step h (as in tests/test_jax_gradients.py): |D(h) - D(2h)|
(3x the leading truncation error f''' h^2 / 6 of D(h)) plus EPS_F |f| / h for the kernels' evaluation noise.

The minimalRNN's isometry_variance is the exact annealed recursion, a lax.fori_loop with a traced trip count;
its generated docstring documents forward-mode derivatives only ("no reverse mode in T-loop"), so it is
differentiated with jax.jacfwd; everything else with jax.grad.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from conftest import ordered_point
from theory.jacobian.isometry import isometry_kernels

CELLS = ("vanilla-tanh", "minimalrnn")
T, V_W = 4, 1.0  # 4 steps, Gaussian weights (v_W = 1)
KERNELS = ("isometry_mean", "isometry_variance", "isometry_spread")
H = 1e-4
EPS_F = 1e-12
REL = 1e-10  # jax vs numba: the same quadrature rule and constants (theory/jacobian/isometry_render.py)


def _lead(kernel):
    return {"isometry_mean": (T,), "isometry_variance": (T, V_W), "isometry_spread": (V_W,)}[kernel]


def _numba(cell, kernel, p):
    return float(theory.predict(cell, kernel, backend="numba", T=T, weights="gaussian", **p)
                 if kernel != "isometry_spread" else
                 theory.predict(cell, kernel, backend="numba", weights="gaussian", **p))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_isometry_jax_kernel_under_jit_and_vmap_equals_the_numba_kernel(cell, kernel):
    names = theory.cell(cell).param_names
    p = ordered_point(cell)
    core_nb, iso_nb, iso_jx = theory.kernels(cell, "numba"), isometry_kernels(cell, "numba"), isometry_kernels(cell, "jax")
    sws = np.array([0.6, 0.8, 1.0]) * p["sigma_w"]
    rows = [[sw if n == "sigma_w" else p[n] for n in names] for sw in sws]
    Qs = np.array([core_nb.Q_star(*r) for r in rows])
    want = np.array([getattr(iso_nb, kernel)(*_lead(kernel), q, *r) for q, r in zip(Qs, rows)])
    f = getattr(iso_jx, kernel)
    lead = tuple(jnp.float64(x) for x in _lead(kernel))
    got_jit = [float(jax.jit(f)(*lead, jnp.float64(q), *map(jnp.float64, r))) for q, r in zip(Qs, rows)]
    np.testing.assert_allclose(got_jit, want, rtol=REL)
    axes = (None,) * len(lead) + (0,) + tuple(0 if n == "sigma_w" else None for n in names)
    args = [jnp.asarray(sws) if n == "sigma_w" else jnp.float64(p[n]) for n in names]
    got_vmap = jax.jit(jax.vmap(f, in_axes=axes))(*lead, jnp.asarray(Qs), *args)
    assert got_vmap.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got_vmap), want, rtol=REL)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_isometry_jax_derivative_equals_finite_differences_of_numba(cell, kernel):
    """d/d(sigma_w, sigma_v) of the quantity at the fixed point: the jax isometry kernel at Q = Q*(params)
    of the jax core kernels, differentiated through both, against central differences of theory.predict."""
    names = theory.cell(cell).param_names
    p = ordered_point(cell)
    core_jx, iso_jx = theory.kernels(cell, "jax"), isometry_kernels(cell, "jax")
    wrt = ("sigma_w", "sigma_v")
    lead = tuple(jnp.float64(x) for x in _lead(kernel))

    def F(*a):
        return getattr(iso_jx, kernel)(*lead, core_jx.Q_star(*a), *a)

    argnums = tuple(names.index(k) for k in wrt)
    diff = jax.jacfwd if (cell == "minimalrnn" and kernel == "isometry_variance") else jax.grad
    g = diff(F, argnums=argnums)(*[jnp.float64(p[n]) for n in names])
    for k, gk in zip(wrt, g):
        f = lambda x: _numba(cell, kernel, {**p, k: x})  # noqa: E731
        d = lambda h: (f(p[k] + h) - f(p[k] - h)) / (2 * h)  # noqa: E731
        want = d(H)
        tol = abs(want - d(2 * H)) + EPS_F * abs(f(p[k])) / H
        assert abs(float(gk) - want) <= tol, (cell, kernel, k, float(gk), want, tol)
