"""jax.grad of the correlation quantities and timescales (c_star, c_h_star, xi, xi_q) with respect to
mu_b, sigma_v, R and Sigma equals a central finite difference of the numba kernels (theory.predict,
backend numba) — through the generated jax modules and through theory.predict(..., backend="jax").

Tolerance, derived from the step h: the central difference D(h) has truncation error ~ f''' h^2 / 6,
estimated (x 3, i.e. bounded by) |D(h) - D(2h)| (= 3 f''' h^2 / 6 to leading order), plus the rounding
term EPS_F |f| / h from the kernels' evaluation noise (fixed-point solves converge to ~1e-14 relative;
EPS_F = 1e-12 allows 100x that).  At h = 1e-4 this is ~1e-8 relative (measured errors 1e-10 - 1e-8).

Points: inside the chaotic phase (chi > 1: c* < 1 and xi finite) with differing inputs (Sigma = 0.7, so a
central difference in Sigma stays inside [0, 1]); in the ordered phase with Sigma = 1 the correlation
quantities are constant.  The test checks chi > 1 there with the numba kernel.
"""
import jax
import jax.numpy as jnp
import pytest

import theory

POINTS = {
    "vanilla-tanh": dict(sigma_w=2.5, sigma_v=0.5, sigma_b=0.2, R=1.0, Sigma=0.7),
    "minimalrnn": dict(sigma_w=6.0, sigma_v=0.5, sigma_b=0.0, mu_b=0.3, R=1.0, Sigma=0.7),
}
QUANTITIES = ("c_star", "c_h_star", "xi", "xi_q")
WRT = ("mu_b", "sigma_v", "R", "Sigma")
H = 1e-4
EPS_F = 1e-12


def _fd(cell, quantity, p, k):
    """(D(H), derived tolerance) for d quantity / d k with the numba backend."""
    def f(x):
        return theory.predict(cell, quantity, backend="numba", **{**p, k: x})

    d = lambda h: (f(p[k] + h) - f(p[k] - h)) / (2 * h)  # noqa: E731
    dh = d(H)
    return dh, abs(dh - d(2 * H)) + EPS_F * abs(f(p[k])) / H


def _check(cell, quantity, p, grads):
    assert theory.predict(cell, "chi", **p) > 1.0  # chaotic: the quantity varies smoothly here
    for k, g in grads.items():
        want, tol = _fd(cell, quantity, p, k)
        assert abs(float(g) - want) <= tol, (cell, quantity, k, float(g), want, tol)


@pytest.mark.parametrize("cell", list(POINTS))
@pytest.mark.parametrize("quantity", QUANTITIES)
def test_jax_grad_of_generated_kernel_matches_finite_differences_of_numba(cell, quantity):
    p = POINTS[cell]
    names = theory.cell(cell).param_names
    mod = theory.kernels(cell, "jax")
    wrt = [k for k in WRT if k in names]
    g = jax.grad(getattr(mod, quantity), argnums=tuple(names.index(k) for k in wrt))(
        *[jnp.float64(p[n]) for n in names])
    _check(cell, quantity, p, dict(zip(wrt, g)))


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_jax_grad_through_predict_matches_finite_differences_of_numba(quantity):
    cell = "minimalrnn"
    p = POINTS[cell]

    def f(d):
        return theory.predict(cell, quantity, backend="jax", **{**p, **d})

    g = jax.grad(f)({k: jnp.float64(p[k]) for k in WRT})
    _check(cell, quantity, p, g)
