"""Limiting singular-value density of J J^T (issue #5) against the Fuss–Catalan law.

A linear network with Gaussian weights (vanilla-linear, sigma_w = 0.9) has
J J^T = sigma_w^(2T) x (product of T square Ginibre factors), whose eigenvalue law is the
Fuss–Catalan law of order T.  Its density is taken from the Haagerup–Möller parametrisation

    x(phi) = sin((s+1) phi)^(s+1) / (sin(phi) sin(s phi)^s),
    rho(x(phi)) = sin(phi)^2 sin(s phi)^(s-1) / (pi sin((s+1) phi)^s),   0 < phi < pi/(s+1),

which the first test checks independently (its moments, by scipy quadrature, are the Fuss–Catalan
numbers binom((s+1)k, k)/(sk+1)).  Nothing here is taken from the code under test.
"""
import math

import numpy as np
import pytest
from scipy.integrate import quad

import theory


def fc_density(s, phi):
    x = np.sin((s + 1) * phi) ** (s + 1) / (np.sin(phi) * np.sin(s * phi) ** s)
    rho = np.sin(phi) ** 2 * np.sin(s * phi) ** (s - 1) / (np.pi * np.sin((s + 1) * phi) ** s)
    return x, rho


def fc_moment(s, k):
    def integrand(phi):
        h = 1e-7
        x, r = fc_density(s, phi)
        dx = (fc_density(s, phi + h)[0] - fc_density(s, phi - h)[0]) / (2 * h)
        return x ** k * r * abs(dx)
    return quad(integrand, 1e-9, np.pi / (s + 1) - 1e-9, limit=400)[0]


@pytest.mark.parametrize("s", [1, 2])
def test_fuss_catalan_parametrisation_has_the_fuss_catalan_moments(s):
    for k in range(4):
        assert fc_moment(s, k) == pytest.approx(math.comb((s + 1) * k, k) / (s * k + 1), rel=1e-7)


@pytest.fixture(scope="module")
def linear_T2():
    return theory.spectrum("vanilla-linear", T=2, weights="gaussian", sigma_w=0.9, n=100, panels=16)


def test_linear_gaussian_density_is_the_scaled_fuss_catalan_density(linear_T2):
    sp_, s, scale = linear_T2, 2, 0.9 ** 4
    phi = np.linspace(1e-4, np.pi / (s + 1) - 1e-4, 20001)
    x, rho = fc_density(s, phi)
    order = np.argsort(x)
    edge = (s + 1) ** (s + 1) / s ** s * scale
    ref = np.interp(sp_.lam / scale, x[order], rho[order]) / scale
    bulk = (sp_.lam > 1e-3) & (sp_.lam < 0.9 * edge)
    assert bulk.sum() >= 15
    # Lorentzian smoothing eps = 1e-6 x scale and the reference's own interpolation (20001 nodes):
    # measured 1e-6..2e-5 in this window
    np.testing.assert_allclose(sp_.density[bulk], ref[bulk], rtol=1e-4)
    above = sp_.lam > 1.02 * edge
    assert np.all(sp_.density[above] < 1e-5 * sp_.density[bulk].max())


def test_linear_gaussian_density_integrates_to_one(linear_T2):
    assert linear_T2.atom == 0.0
    assert linear_T2.grid_moments()["mass"] == pytest.approx(1.0, abs=2e-4)  # Simpson, n = 100 (below)


TANH = {"sigma_w": 1.5566324901826276, "sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}  # chi = 1


@pytest.mark.parametrize("cell,T,weights,params", [
    ("vanilla-linear", 2, "gaussian", {"sigma_w": 0.9}),
    ("vanilla-tanh", 2, "gaussian", TANH),
    ("vanilla-tanh", 3, "orthogonal", TANH),
    ("vanilla-tanh", 8, "gaussian", TANH),
])
def test_density_reproduces_mass_mean_and_variance(cell, T, weights, params):
    """Error analysis.  For a = 0 the density is solved on the real axis (no smoothing) to Newton
    tolerance 1e-11 in ln z, and the mass below the grid is an exact contour integral, so the only
    error left in grid_moments() is the quadrature: composite Simpson in the grid parameter, on maps
    that make the integrand smooth (square-root edge, ln-lambda piece), hence O(h^4).  Richardson:
    err(n) ~ |I_n - I_{n/2}| / 15; asserted with a factor 2 of margin, plus 1e-9 of the scale for
    rounding.  (Measured: err(200) ~ 4e-6 and err(400) ~ 3e-7 relative, tanh.)"""
    fine = theory.spectrum(cell, T=T, weights=weights, n=200, **params)
    coarse = theory.spectrum(cell, T=T, weights=weights, n=100, **params)
    assert fine.eps.max() == 0.0 and fine.tail is not None and fine.quad is not None
    gf, gc = fine.grid_moments(), coarse.grid_moments()
    targets = {"mass": 1.0, "m1": fine.m1, "variance": fine.variance}
    for key, target in targets.items():
        tol = 2 * abs(gf[key] - gc[key]) / 15 + 1e-9 * abs(target)
        assert abs(gf[key] - target) <= tol, (key, gf[key], target, tol)
        assert abs(gf[key] / target - 1) < 1e-4  # and small in absolute terms
    # the CDF reaches 1 and is monotone
    c = fine.cdf(fine.lam)
    assert np.all(np.diff(c) >= -1e-12) and c[-1] == pytest.approx(1.0, abs=1e-12)


def test_spectrum_rejects_bad_input():
    with pytest.raises(ValueError):
        theory.spectrum("vanilla-tanh", T=0)
    with pytest.raises(ValueError):
        theory.spectrum("vanilla-tanh", T=2, weights="haar")


def test_a_failed_general_solve_is_flagged_not_returned_silently():
    # hard-tanh with orthogonal W, T = 2: the upper edge sits on an atom of sigma_w^2 D^2 and the
    # general path loses mass (a known limit); the result must say so, loudly.
    with pytest.warns(RuntimeWarning, match="failed its self-check"):
        s = theory.spectrum("vanilla-hard-tanh", T=2, weights="orthogonal", n=100)
    assert s.notes[-1].startswith("SELF-CHECK FAILED")
