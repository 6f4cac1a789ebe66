"""Operator-valued (diagonal-amalgamated) Dyson equation for J J^T of untied gated cells
(theory/jacobian/spectrum_ov.py).  References are independent of the code under test:

* T = 1 closed forms at complex z: Marchenko-Pastur (a = 0, b = 1, Gaussian W), the arcsine law of
  a I + b sigma (O + O^T)/... (constant a, b, Haar O), a point mass (a = 0, orthogonal);
* T = 2, a = 0, b = 1, Gaussian: the Fuss-Catalan moments 1, 3, 12 (times sigma_w^(2Tk));
* minimalRNN: the law's own moments (contour integral) against the exact annealed variance of
  theory.jacobian.isometry_recursion, which the free-steps law misses, within 3 seed-to-seed SDs of the
  neuron-path sample (measured spread recorded below); the law's mass 1 and m1 = chi^T = 1 for path
  samples where the upper-edge search once went astray;
* minimalRNN: a direct numpy simulation of J_T ... J_1 with per-neuron paths frozen across steps
  (as in the real network) and independent W_t, KS distance against the density;
* minimalRNN: the *tabulated* density (real-axis grid at z = lambda (1 + eta i)) against the exact annealed
  mass, m1, variance (T = 2 Gaussian, T = 8 orthogonal) within the path-sample spread plus the measured
  tabulation allowance; the per-point physicality check against the other root of the T = 1
  Marchenko-Pastur quadratic; the mass below the grid against a closed-form power law.
"""
import math

import numpy as np
import pytest

import theory
from theory.jacobian.spectrum_ov import DysonSystem, PathSample, circle_moments, spectrum_ov, upper_edge

Z_POINTS = [2.0 + 1.0j, 0.3 + 0.05j, 5.0 + 0.2j, -1.0 + 0.5j]


def _const_sample(a, b, sigma_w, T=1, M=8):
    return PathSample(a=np.full((M, T), float(a)), s=np.full((M, T), float(b) ** 2), sigma_w=sigma_w,
                      h0=np.zeros(M))


def _solve(system, z):
    """Solve at z by continuation from 10 + 10i (where plain iteration converges): first down to
    Im = max(Im z, 0.5) - far from the real axis - then along the real direction, then down."""
    from theory.jacobian.spectrum_ov import continue_to
    z0 = 10.0 + 10.0j
    th, G, ok = system.start(z0)
    assert ok
    path = [complex(10.0, y) for y in np.geomspace(10.0, max(z.imag, 0.5), 30)[1:]]
    path += [complex(x, max(z.imag, 0.5)) for x in np.linspace(10.0, z.real, 60)[1:]]
    path += [complex(z.real, y) for y in np.geomspace(max(z.imag, 0.5), z.imag, 20)[1:]]
    zp = z0
    for zz in path:
        th, G, ok = continue_to(system, th, zp, zz)
        assert ok, zz
        zp = zz
    return G


def _mp_stieltjes(z, v):
    """Marchenko-Pastur (ratio 1, scale v): G(z) = (z - sqrt(z^2 - 4 v z)) / (2 v z), branch G ~ 1/z."""
    r = np.sqrt(z * (z - 4 * v))
    if (r / z).real < 0:  # sqrt(z^2 - 4vz) ~ z at infinity
        r = -r
    return (z - r) / (2 * v * z)


@pytest.mark.parametrize("z", Z_POINTS)
def test_T1_zero_gate_gaussian_is_marchenko_pastur(z):
    sw = 1.3
    G = _solve(DysonSystem(_const_sample(0.0, 1.0, sw), orthogonal=False), z)
    assert G == pytest.approx(_mp_stieltjes(z, sw ** 2), rel=1e-10)


@pytest.mark.parametrize("z", Z_POINTS)
def test_T1_zero_gate_orthogonal_is_a_point_mass(z):
    """J = b sigma_w O: J J^T = sigma_w^2 b^2 I, G(z) = 1 / (z - sigma_w^2 b^2).  Near the atom the
    physical Haar root f = 1 - sigma_w^2 b^2 / z is not the principal one: checks that f is continued
    analytically from z = infinity."""
    sw, b = 1.3, 0.7
    G = _solve(DysonSystem(_const_sample(0.0, b, sw), orthogonal=True), z)
    assert G == pytest.approx(1 / (z - sw ** 2 * b ** 2), rel=1e-10)


@pytest.mark.parametrize("z", Z_POINTS)
def test_T1_constant_gate_orthogonal_is_the_shifted_arcsine_law(z):
    """J = a I + b sigma_w O: J J^T = A + B (O + O^T), A = a^2 + b^2 sigma_w^2, B = a b sigma_w; the
    eigenvalues of O + O^T are 2 cos(theta), theta uniform (Haar), so
    G(z) = E[1 / (z - A - 2 B cos theta)] = 1 / sqrt((z - A)^2 - 4 B^2) (branch ~ 1/z)."""
    a, b, sw = 0.6, 0.5, 1.4
    A, B = a * a + b * b * sw * sw, a * b * sw
    G = _solve(DysonSystem(_const_sample(a, b, sw), orthogonal=True), z)
    r = np.sqrt((z - A) ** 2 - 4 * B * B)
    if (r / (z - A)).real < 0:
        r = -r
    assert G == pytest.approx(1 / r, rel=1e-10)


def test_T2_zero_gate_gaussian_has_the_fuss_catalan_moments():
    """J = sigma_w^2 W_2 W_1 (Ginibre): moments of J J^T are sigma_w^(4k) FC_2(k) = 1, 3, 12; the
    upper edge is (s+1)^(s+1)/s^s sigma_w^4 = 27/4 sigma_w^4."""
    sw = 0.9
    system = DysonSystem(_const_sample(0.0, 1.0, sw, T=2), orthogonal=False)
    lp, _, th_hi = upper_edge(system, 40.0)
    assert lp == pytest.approx(27 / 4 * sw ** 4, rel=1e-7)
    m = circle_moments(system, lp, 40.0, th_hi, kmax=3)
    np.testing.assert_allclose(m, [1.0, sw ** 4, 3 * sw ** 8, 12 * sw ** 12], rtol=1e-8)


MINIMAL = {"sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 2.0, "R": 1.0, "Sigma": 1.0,
           "sigma_w": 3.7728555582910093}  # near-critical point of verify/judge/spectra_report.py (chi = 1)

PATH_SAMPLE_SPREAD = {
    # (T, weights): seed-to-seed standard deviation over 8 path-sample seeds (0..7, 2^14 Sobol paths)
    # of the law's variance and m1 (contour moments), measured 2026-11-26 (reports/spectra_ov/README.md):
    # T=4 orth: var 5.565 +- 0.073 (exact 5.617, free 5.132); m1 0.9979 +- 0.0022 (32 seeds of the
    #   sample's forward recursion for m1, which the contour m1 equals to 5 digits: 0.9995 +- 0.0035)
    # T=8 gauss: var 12.656 +- 0.260 (exact 12.761, free 11.359); m1 0.9957 +- 0.0066
    (4, "orthogonal"): {"var": 0.0725, "m1": 0.0035},
    (8, "gaussian"): {"var": 0.260, "m1": 0.0066},
}
"""The law is a function of the sampled neuron paths, so its moments are random; their spread over
path-sample seeds is the scale of the check (seed 0 is tested)."""

K_SD = 3.0
"""A single path-sample draw lies within 3 standard deviations of its mean with probability ~0.997
(the moments are smooth functions of sample means of 2^14 paths: near-normal); the SDs themselves
come from 8 seeds (about +-25 %).  The 8-seed means sit 0.9 % (T=4; -2.0 standard errors) and 0.8 %
(T=8; -1.1 SE) below the exact variance: not significant at this sample (m1 at T=4 looked -2.7 SE
low over 8 seeds and is -0.9 SE over 32), reported rather than absorbed."""

QUADRATURE_ALLOWANCE = 1e-9
"""Relative error of the contour moments (trapezoid rule on a circle with margin 1/4 of the radius:
(2/3)^64 ~ 1e-11; the mass comes out 1 to 1e-15)."""


@pytest.mark.parametrize("T,weights", [(4, "orthogonal"), (8, "gaussian")])
def test_minimalrnn_law_has_the_exact_annealed_variance_not_the_free_one(T, weights):
    """|moment - exact annealed| <= K_SD x (seed-to-seed SD) + quadrature allowance, for the variance
    (theory.jacobian.isometry_recursion) and m1 (= chi^T = 1); the free-steps variance violates the same rule."""
    from theory.jacobian.spectrum_ov import path_sample
    c = theory.cell("minimalrnn")
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    Q = float(theory.predict("minimalrnn", "Q_star", **MINIMAL))
    system = DysonSystem(path_sample(c, MINIMAL, q, Q, T, M=2 ** 14, seed=0), weights == "orthogonal")
    lp, _, th_hi = upper_edge(system, 40.0 * T)
    mass, m1, m2 = circle_moments(system, lp, 40.0 * T, th_hi)
    exact = float(theory.predict("minimalrnn", "isometry_variance", T=T, weights=weights, **MINIMAL))
    free = float(theory.predict("minimalrnn", "isometry_variance_free", T=T, weights=weights, **MINIMAL))
    sd = PATH_SAMPLE_SPREAD[(T, weights)]
    var = m2 - m1 * m1
    assert mass == pytest.approx(1.0, abs=QUADRATURE_ALLOWANCE)
    assert abs(m1 - 1.0) <= K_SD * sd["m1"] + QUADRATURE_ALLOWANCE
    assert abs(var - exact) <= K_SD * sd["var"] + QUADRATURE_ALLOWANCE * exact
    assert abs(free - exact) > K_SD * sd["var"] + QUADRATURE_ALLOWANCE * exact  # the rule has power


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _haar(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def _simulate_frozen_paths(p, q_star, T, weights, N, draws, seed):
    """Eigenvalues of J J^T, J = J_T ... J_1, J_t = diag(u_t) + diag(u_t (1 - u_t)(h_{t-1} - z_t)) W_t,
    each neuron carrying its own path h_t = u_t h_{t-1} + (1 - u_t) z_t (u_t = sigmoid(e_t),
    e_t ~ N(mu_b, q*), z_t ~ N(0, R) fresh; h_0 after a 150-step burn-in: memory 0.7^150), and
    independent W_t (N(0, sigma_w^2/N) or sigma_w x Haar).  numpy only."""
    from tests.test_spectrum import _OneBlasThread
    rng = np.random.default_rng(seed)
    sq, sR = math.sqrt(q_star), math.sqrt(p["R"])
    out = []
    with _OneBlasThread():
        for _ in range(draws):
            h = sR * rng.standard_normal(N)
            for _ in range(150):
                u = _sigmoid(p["mu_b"] + sq * rng.standard_normal(N))
                h = u * h + (1 - u) * sR * rng.standard_normal(N)
            P = np.eye(N)
            for _ in range(T):
                u = _sigmoid(p["mu_b"] + sq * rng.standard_normal(N))
                z = sR * rng.standard_normal(N)
                W = (p["sigma_w"] * _haar(rng, N) if weights == "orthogonal"
                     else rng.standard_normal((N, N)) * (p["sigma_w"] / math.sqrt(N)))
                P = (u * (1 - u) * (h - z))[:, None] * (W @ P) + u[:, None] * P
                h = u * h + (1 - u) * z
            out.append(np.linalg.svd(P, compute_uv=False) ** 2)
    return np.array(out)


KS_NULL = 0.011
"""Scale of the KS distance from finite N at N = 1000, 4 draws (T = 4, orthogonal): two independent
simulated sets differ by a two-sample KS of 0.011 (one-sample equivalent ~0.011/sqrt 2 = 0.008).
Measured against the operator-valued density: 0.0086 and 0.0065 (two seeds); against the free-steps
density: 0.022 and 0.031.  Asserted: KS < 1.5 KS_NULL, and the free-steps law fails that bound."""


@pytest.mark.parametrize("T,weights", [(4, "orthogonal")])
def test_minimalrnn_density_matches_frozen_path_simulation(T, weights):
    from verify.engine.spectra import ks_distance
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    lam = _simulate_frozen_paths(MINIMAL, q, T, weights, N=1000, draws=4, seed=1)
    ov = spectrum_ov("minimalrnn", T, weights, n=150, **MINIMAL)
    free = theory.spectrum("minimalrnn", T=T, weights=weights, n=150, method="free-steps", **MINIMAL)
    assert ks_distance(lam, ov.cdf) < 1.5 * KS_NULL
    assert ks_distance(lam, free.cdf) > 1.5 * KS_NULL  # power: the free-steps law is rejected


@pytest.mark.parametrize("seed", [3, 4])
def test_minimalrnn_upper_edge_encloses_the_whole_law(seed):
    """Regression: for these path samples the downward real-axis continuation used to jump onto an
    unphysical real root (edges 4.9 and 9.5 instead of ~34: the circle then enclosed 96 % of the mass,
    or 100.5 % with m1 = 0.53).  The law is a probability measure with m1 = chi^T = 1 (up to the
    path-sample spread), so a contour around [0, edge] must carry mass 1 and mean ~1."""
    from theory.jacobian.spectrum_ov import path_sample
    T, weights = 4, "orthogonal"
    c = theory.cell("minimalrnn")
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    Q = float(theory.predict("minimalrnn", "Q_star", **MINIMAL))
    system = DysonSystem(path_sample(c, MINIMAL, q, Q, T, M=2 ** 14, seed=seed), orthogonal=True)
    lp, _, th_hi = upper_edge(system, 40.0 * T)
    mass, m1, _ = circle_moments(system, lp, 40.0 * T, th_hi)
    assert mass == pytest.approx(1.0, abs=QUADRATURE_ALLOWANCE)
    assert abs(m1 - 1.0) <= K_SD * PATH_SAMPLE_SPREAD[(T, weights)]["m1"]


TABULATED_SPREAD = {
    # (T, weights): path sample size M and the seed-to-seed SD of the law's contour variance and m1 at that M.
    # T=8 orth, M = 2^14, seeds 0..5, uncalibrated, measured 2026-11-26 (reports/spectra_ov/README.md, "Robust
    #   tabulation"): var 11.541 +- 0.260 (exact 11.666, free 10.264), m1 0.9938 +- 0.0046.
    # T=2 gauss: at M = 2^14 the spread (var 2.951 +- 0.040, m1 0.99948 +- 0.0015, seeds 0..7, uncalibrated)
    #   gives K_SD x 0.040 + 2 % = 0.179, more than the whole gap to the free-steps law (exact 2.9513, free
    #   2.8398: 0.1115), so the rule could not tell the two laws apart.  M = 2^16 instead: contour variance of
    #   the calibrated sample (spectrum_ov's default), seeds 0..7, measured 2026-12-04: 2.9568 2.9576 2.9669
    #   2.9628 2.9576 2.9652 2.9545 2.9584 -> 2.9600 +- 0.0044 (SD; m1 = 1 to 1e-6 after calibration; the
    #   M = 2^14 m1 SD is kept).  NB the 8-seed mean sits +0.0087 (+0.3 %, ~5 SE of the mean) above the exact
    #   annealed value: reported, not absorbed; seed 0 (tested) is 2.9568.
    (2, "gaussian"): {"M": 2 ** 16, "var": 0.0044, "m1": 0.0015},
    (8, "orthogonal"): {"M": 2 ** 14, "var": 0.260, "m1": 0.0046},
}

TABULATION_ALLOWANCE = {"mass": 0.005, "m1": 0.005, "var": 0.02}
"""Error of the real-axis tabulation itself (same law, grid vs contour moments), relative.  The density is
taken at z = lambda (1 + eta i), eta = 2e-4: a Cauchy smoothing whose Lorentzian leakage adds about
(eta / pi) lambda_+^k / k to the k-th grid moment (variance: +0.024 at T = 2, lambda_+ = 27.6, +0.8 %;
+0.08 at T = 8, +0.7 %); the quadrature (trapezoid in ln lambda on the refined grid) and the power-law
mass below 1e-16 lambda_+ add ~1e-3 to mass and m1.  Measured grid - contour at seed 0: T = 2 gauss
mass +0.0006, m1 +0.002, var +0.8 %.  The allowance is ~2.5x the measured error."""


@pytest.mark.parametrize("T,weights", [(2, "gaussian"), (8, "orthogonal")])
def test_minimalrnn_tabulated_density_has_the_exact_annealed_moments(T, weights):
    """The density spectrum_ov returns (real-axis grid, not the contour) integrates to 1 and has the exact
    annealed m1 = chi^T = 1 and variance (theory.jacobian.isometry_recursion) within K_SD path-sample SDs plus the
    tabulation allowance; it passed its own self-check (no RuntimeWarning, no SELF-CHECK FAILED note).
    Regression: at eta = 1e-10 T = 2 gauss returned mass 0.990, mean 0.914, variance 2.00 (exact 2.95) and
    T = 8 orth raised NonConvergence (3 of 149 points).  The variance rule has power: the free-steps law's
    variance (theory isometry_variance_free) violates it."""
    import warnings
    sd, tab = TABULATED_SPREAD[(T, weights)], TABULATION_ALLOWANCE
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sp = spectrum_ov("minimalrnn", T, weights, n=150, M=sd["M"], seed=0, **MINIMAL)
    assert not any("SELF-CHECK FAILED" in note for note in sp.notes)
    g = sp.grid_moments()
    exact = float(theory.predict("minimalrnn", "isometry_variance", T=T, weights=weights, **MINIMAL))
    free = float(theory.predict("minimalrnn", "isometry_variance_free", T=T, weights=weights, **MINIMAL))
    m1 = float(theory.predict("minimalrnn", "isometry_mean", T=T, weights=weights, **MINIMAL))
    var_tol = K_SD * sd["var"] + tab["var"] * exact
    assert abs(g["mass"] - 1.0) <= tab["mass"]
    assert abs(g["m1"] - m1) <= K_SD * sd["m1"] + tab["m1"] * m1
    assert abs(g["variance"] - exact) <= var_tol
    assert abs(free - exact) > var_tol  # the rule has power: the free-steps law is rejected
    assert np.all(sp.density >= 0) and np.all(np.diff(sp.lam) > 0)


@pytest.mark.parametrize("z", Z_POINTS[:3])
def test_physicality_check_rejects_the_other_root(z):
    """T = 1, a = 0, b = 1, Gaussian W: the Dyson equations g = 1 / (1 - s^2 k), k = 1 / (z - s^2 g) have two
    fixed points, the Marchenko-Pastur G (Im G < 0 for Im z > 0) and the quadratic's other root (Im > 0);
    both solve the equations (residual ~ 0), only the first passes is_physical."""
    from theory.jacobian.spectrum_ov import is_physical
    sw = 1.3
    system = DysonSystem(_const_sample(0.0, 1.0, sw), orthogonal=False)
    k_mp = _mp_stieltjes(z, sw ** 2)
    k_other = 1.0 / sw ** 2 - k_mp  # the two roots of s^2 z k^2 - z k + 1 = 0 sum to 1 / s^2
    for k, physical in ((k_mp, True), (k_other, False)):
        theta = np.array([1.0 / (1.0 - sw ** 2 * k), k], complex)
        res, _ = system.evaluate(theta, z)
        assert np.abs(res).max() < 1e-12
        assert is_physical(system, theta, z) is physical


def test_tail_mass_power_law_is_exact_for_a_power_law():
    """Mass below x0 from G at x0 (1 + i eta) alone, for rho = c lambda^-beta on (0, L): G in closed form by
    the hypergeometric integral; reference mass c x0^(1-beta) / (1 - beta)."""
    from theory.jacobian.spectrum_ov import tail_mass_power_law
    beta, c, L, x0, eta = 0.94, 0.3, 1.0, 1e-14, 2e-4
    z = x0 * complex(1.0, eta)
    # G(z) = int_0^L c x^-beta / (z - x) dx = -c pi (-z)^-beta / sin(pi beta) (the integral to infinity,
    # principal branch) + c L^-beta / beta + O(|z| / L) (minus the part above L)
    G = -c * np.pi / np.sin(np.pi * beta) * (-z) ** (-beta) + c * L ** (-beta) / beta
    mass, b = tail_mass_power_law(x0, G, eta)
    ref = c * x0 ** (1 - beta) / (1 - beta)
    assert b == pytest.approx(beta, abs=1e-6)
    assert mass == pytest.approx(ref, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# theory.spectrum(method=...): the operator-valued law behind the public entry point
# ---------------------------------------------------------------------------------------------

def test_spectrum_method_is_checked_and_operator_valued_is_for_gated_cells_only():
    from theory.jacobian.spectrum import spectrum
    with pytest.raises(ValueError, match="method must be one of"):
        spectrum("minimalrnn", T=2, method="exact")
    with pytest.raises(ValueError, match="gate diagonal"):
        spectrum("vanilla-tanh", T=2, method="operator-valued")


def test_spectrum_operator_valued_at_one_step_is_the_exact_free_steps_law():
    """T = 1: one step, no path to correlate: the free-steps law is exact and is what is returned."""
    from theory.jacobian.spectrum import spectrum
    a = spectrum("minimalrnn", T=1, weights="gaussian", n=200, method="operator-valued")
    b = spectrum("minimalrnn", T=1, weights="gaussian", n=200)
    np.testing.assert_array_equal(a.density, b.density)


def test_spectrum_operator_valued_routes_to_spectrum_ov(monkeypatch):
    import theory.jacobian.spectrum_ov as ov
    from theory.jacobian.spectrum import spectrum
    seen = {}

    def fake(cell, T, weights, **params):
        seen.update(cell=cell, T=T, weights=weights, params=params)
        return "law"
    monkeypatch.setattr(ov, "spectrum_ov", fake)
    assert spectrum("minimalrnn", T=4, weights="orthogonal", method="operator-valued", mu_b=3.0) == "law"
    assert seen["cell"] == "minimalrnn" and seen["T"] == 4 and seen["params"]["mu_b"] == 3.0


def test_sample_mean_is_the_laws_first_moment_and_calibration_makes_it_chi_to_the_T():
    """The control variate of spectrum_ov: ``sample_mean`` (a forward recursion over the sampled paths) is
    the first moment of the law the Dyson equation solves for those paths (independent route: the contour
    integral of its solution), and ``calibrated`` rescales that law so that its mean is exactly chi^T
    (= isometry_mean = 1 here), with mass 1 kept.  Tolerance: the contour quadrature (1e-9)."""
    from theory.jacobian.spectrum_ov import calibrated, path_sample, sample_mean
    T = 2
    c = theory.cell("minimalrnn")
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    Q = float(theory.predict("minimalrnn", "Q_star", **MINIMAL))
    m1 = float(theory.predict("minimalrnn", "isometry_mean", T=T, weights="gaussian", **MINIMAL))
    sample = path_sample(c, MINIMAL, q, Q, T, M=2 ** 12, seed=2)
    for smp, want in ((sample, sample_mean(sample)), (calibrated(sample, m1)[0], m1)):
        system = DysonSystem(smp, orthogonal=False)
        lp, _, th_hi = upper_edge(system, 80.0)
        mass, mean, _ = circle_moments(system, lp, 80.0, th_hi)
        assert mass == pytest.approx(1.0, abs=QUADRATURE_ALLOWANCE)
        assert mean == pytest.approx(want, rel=QUADRATURE_ALLOWANCE, abs=QUADRATURE_ALLOWANCE)
    assert abs(sample_mean(sample) / m1 - 1) > 1e-4  # the calibration had something to correct


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("jacobian", [False, True])
def test_numba_kernel_equals_the_numpy_path(T, jacobian):
    """The vectorised numba kernel (structure of arrays, blocks of 64 paths) against the numpy path of
    DysonSystem.evaluate (prefix products for the Jacobian, a different route to the same entries),
    on M = 200 paths (not a multiple of the block) with some zero links a_t = 0, at a complex z;
    residual, E[G_yTyT] and Jacobian to 1e-12 relative."""
    rng = np.random.default_rng(T)
    M = 200
    a = rng.uniform(-1.0, 1.0, (M, T))
    a[::7, 0] = 0.0
    sample = PathSample(a=a, s=rng.uniform(0.0, 1.0, (M, T)), sigma_w=1.3, h0=np.zeros(M))
    for orthogonal in (False, True):
        fast, slow = DysonSystem(sample, orthogonal), DysonSystem(sample, orthogonal, use_kernel=False)
        theta = fast.initial(2.0 + 0.5j) * (1.0 + 0.3j)
        for got, want in zip(fast.evaluate(theta, 2.0 + 0.5j, jacobian), slow.evaluate(theta, 2.0 + 0.5j, jacobian)):
            assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want))


def test_quasi_newton_from_a_neighbours_jacobian_reaches_the_newton_root():
    """DysonSystem.solve with the Jacobian of a neighbouring point (quasi-Newton steps, no Jacobian
    evaluation when they suffice) lands on the same root as damped Newton from the same start, to the
    solver tolerance; at T = 4 (orthogonal: 3T unknowns) on the minimalRNN path law."""
    from theory.jacobian.spectrum_ov import path_sample
    c = theory.cell("minimalrnn")
    q = float(theory.predict("minimalrnn", "q_star", **MINIMAL))
    Q = float(theory.predict("minimalrnn", "Q_star", **MINIMAL))
    system = DysonSystem(path_sample(c, MINIMAL, q, Q, 4, M=2 ** 12, seed=0), True)
    z0, z1 = 3.0 + 0.3j, 3.1 + 0.31j
    th0 = _solve_at(system, z0)
    *_, jac0 = system.solve(th0, z0)
    calls = {"jacobian": 0}
    evaluate = system.evaluate

    def counting(theta, z, jacobian=False):
        calls["jacobian"] += bool(jacobian)
        return evaluate(theta, z, jacobian)
    system.evaluate = counting
    th_q, G_q, ok_q, _ = system.solve(th0, z1, jacobian=jac0)
    quasi_jacobians = calls["jacobian"]
    th_n, G_n, ok_n = system.newton(th0, z1)
    assert ok_q and ok_n
    assert quasi_jacobians == 0  # a close neighbour: the secant steps alone converge
    assert np.max(np.abs(th_q - th_n)) <= 1e-10 * (1 + np.max(np.abs(th_n)))
    assert abs(G_q - G_n) <= 1e-10 * abs(G_n)


def _solve_at(system, z):
    th, _, ok = system.start(10.0 + 10.0j)
    assert ok
    from theory.jacobian.spectrum_ov import continue_to
    th, _, ok = continue_to(system, th, 10.0 + 10.0j, z)
    assert ok
    return th


DEFAULTS_T2_GAUSSIAN_SPREAD = {"M": 2 ** 14, "var": 0.00297, "m1": 0.00062}
"""minimalRNN at its default parameters (ordered, chi^2 = 0.456), T = 2, Gaussian W: seed-to-seed SD of the
tabulated (grid) variance and m1 at 2^14 paths, seeds 1..8, measured 2026-12-07: variance 0.31863 +- 0.00297
(exact annealed 0.31894, free steps 0.30580), m1 0.45610 +- 0.00062 (chi^2 0.45602), mass 1.0002-1.0006."""


def test_default_T2_gaussian_law_has_the_exact_annealed_moments():
    """Regression: at the defaults, seed 0's law raised NonConvergence (8 of 149 points next to a fold at 2.42,
    where the law reaches 4.9): Newton from the last real point had stopped the upper-edge search at an
    inner fold.  With the fold search's steps started from the exact Jacobian it finds 4.89 and the density
    has mass 1, m1 = chi^2 and the exact annealed variance (theory.jacobian.isometry_recursion) within K_SD
    seed SDs plus the tabulation allowance, at 2^14 paths, no retry.  (No power check here: at 2^14 paths
    that tolerance, 0.0153, exceeds the gap to the free-steps variance, 0.0131.)"""
    import warnings
    sd, tab = DEFAULTS_T2_GAUSSIAN_SPREAD, TABULATION_ALLOWANCE
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sp = theory.spectrum("minimalrnn", T=2, weights="gaussian")
    assert f"neuron law: {sd['M']} sampled paths" in sp.notes[0]
    g = sp.grid_moments()
    exact = float(theory.predict("minimalrnn", "isometry_variance", T=2, weights="gaussian"))
    m1 = float(theory.predict("minimalrnn", "isometry_mean", T=2, weights="gaussian"))
    assert abs(g["mass"] - 1.0) <= tab["mass"]
    assert abs(g["m1"] - m1) <= K_SD * sd["m1"] + tab["m1"] * m1
    assert abs(g["variance"] - exact) <= K_SD * sd["var"] + tab["var"] * exact


def test_a_failed_tabulation_is_repeated_once_with_more_paths_unless_M_was_given(monkeypatch):
    """The retry itself, with the first attempt made to fail (path_sample raises at DEFAULT_M paths): the
    second runs at ESCALATED_M and says so in notes; an explicit M is used as given; when both fail, the
    error names both."""
    from theory.jacobian import spectrum_ov as so
    real = so.path_sample

    def failing_at(bad):
        def sample(*a, M=so.DEFAULT_M, **kw):
            if M in bad:
                raise so.NonConvergence(f"made to fail at {M} paths")
            return real(*a, M=M, **kw)
        return sample
    monkeypatch.setattr(so, "path_sample", failing_at({so.DEFAULT_M}))
    sp = so.spectrum_ov("minimalrnn", 2, "orthogonal", **MINIMAL)
    assert f"neuron law: {so.ESCALATED_M} sampled paths" in sp.notes[0]
    assert sp.notes[-1] == (f"{so.ESCALATED_M} paths: the tabulation failed with {so.DEFAULT_M} "
                            f"(made to fail at {so.DEFAULT_M} paths)")
    with pytest.raises(so.NonConvergence, match=f"made to fail at {so.DEFAULT_M} paths"):
        so.spectrum_ov("minimalrnn", 2, "orthogonal", M=so.DEFAULT_M, **MINIMAL)
    monkeypatch.setattr(so, "path_sample", failing_at({so.DEFAULT_M, so.ESCALATED_M}))
    with pytest.raises(so.NonConvergence, match=f"at {so.ESCALATED_M} paths; with {so.DEFAULT_M} paths: made to fail"):
        so.spectrum_ov("minimalrnn", 2, "orthogonal", **MINIMAL)
