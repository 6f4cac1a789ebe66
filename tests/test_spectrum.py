"""Limiting singular-value density of J J^T (issue #5) against the Fuss–Catalan law.

A linear network with Gaussian weights (vanilla-linear, sigma_w = 0.9) has
J J^T = sigma_w^(2T) x (product of T square Ginibre factors), whose eigenvalue law is the
Fuss–Catalan law of order T.  Its density is taken from the Haagerup–Möller parametrisation

    x(phi) = sin((s+1) phi)^(s+1) / (sin(phi) sin(s phi)^s),
    rho(x(phi)) = sin(phi)^2 sin(s phi)^(s-1) / (pi sin((s+1) phi)^s),   0 < phi < pi/(s+1),

which the first test checks independently (its moments, by scipy quadrature, are the Fuss–Catalan
numbers binom((s+1)k, k)/(sk+1)).  Nothing here is taken from the code under test.

The second half covers the cases the real-axis solvers added for (minimalRNN at T = 8, 16;
hard-tanh / ReLU with orthogonal W at T >= 2): self-consistency (mass, isometry_mean, variance,
no warning), the closed-form law of two free projections, and direct numpy simulations of the model
the density describes (N = 400, 8 draws each), with a power check.
"""
import math
import warnings

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
    # hard-tanh with orthogonal W, T = 2, forced onto the general (smoothed subordination) path with
    # slow=True: the upper edge sits on an atom of sigma_w^2 D^2 and that path loses mass (a known
    # limit; the default path, _TwoPoint, solves it -- tested below); the result must say so, loudly.
    with pytest.warns(RuntimeWarning, match="failed its self-check"):
        s = theory.spectrum("vanilla-hard-tanh", T=2, weights="orthogonal", n=100, slow=True)
    assert s.notes[-1].startswith("SELF-CHECK FAILED")


# ------------------------------------------------------------------------------------------------
# Cases that failed before (issue 5): minimalRNN at T >= 8, hard-tanh / ReLU with orthogonal W at
# T >= 2.  Independent references: a closed form (two free projections) and direct simulations
# written here in numpy (no theory code), at the parameter points of verify/judge/spectra_report.py.
# ------------------------------------------------------------------------------------------------


MINIMAL = {"sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 2.0, "R": 1.0, "Sigma": 1.0,
           "sigma_w": 3.7728555582910093}  # near-critical point of verify/judge/spectra_report.py (chi = 1)
HARD_TANH = {"sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0, "sigma_w": 1.217897713247267}
RELU = {"sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0, "sigma_w": 1.341640786499806}
SPEC_N = 150  # grid of verify/judge/spectra_report.py (SPECTRUM_GRID)
_CACHE = {}


def _spectrum(cell, T, weights, params):
    """theory.spectrum's free-steps solver (exact for vanilla cells; for minimalRNN the free-steps model
    these tests are about) with every warning an error (a self-check miss warns), cached per module."""
    key = (cell, T, weights)
    if key not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _CACHE[key] = theory.spectrum(cell, T=T, weights=weights, n=SPEC_N, method="free-steps", **params)
    return _CACHE[key]


def _hard_tanh_p(params):
    """P(|e| < 1) at the vanilla hard-tanh fixed point q = sigma_w^2 E[htanh(e)^2] + sigma_v^2 R +
    sigma_b^2, e ~ N(0, q), with E[htanh(e)^2] = q (erf(c/sqrt2) - 2 c phi(c)) + erfc(c/sqrt2),
    c = 1/sqrt(q) (truncated Gaussian second moment), solved by brentq (scipy only)."""
    from scipy.optimize import brentq
    from scipy.special import erf, erfc

    def excess(q):
        c = 1 / math.sqrt(q)
        phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
        e2 = q * (erf(c / math.sqrt(2)) - 2 * c * phi) + erfc(c / math.sqrt(2))
        return params["sigma_w"] ** 2 * e2 + params["sigma_v"] ** 2 * params["R"] + params["sigma_b"] ** 2 - q
    q = brentq(excess, 1e-3, 100.0, xtol=1e-15)
    return float(erf(1 / math.sqrt(2 * q)))


def two_projection_density(x, p):
    """Continuous part of P Q P, P, Q free projections of trace p (Voiculescu; e.g. Nica & Speicher,
    Lecture 14): sqrt((l+ - x)(x - l-)) / (2 pi x (1 - x)) with l+- = 2p - 2p^2 +- 2p(1 - p), plus atoms
    1 - p at 0 and max(0, 2p - 1) at 1.  Checked below by its mass and mean (tau(PQP) = p^2)."""
    lp = 4 * p * (1 - p)
    x = np.asarray(x, float)
    inside = (x > 0) & (x < lp)
    out = np.zeros(x.shape)
    xi = x[inside]
    out[inside] = np.sqrt((lp - xi) * xi) / (2 * np.pi * xi * (1 - xi))
    return out


@pytest.mark.parametrize("p", [0.5, 0.6741838889717988])
def test_two_projection_closed_form_has_the_right_mass_and_mean(p):
    lp = 4 * p * (1 - p)
    mass = quad(lambda x: two_projection_density(np.array([x]), p)[0], 0, lp, limit=200)[0]
    mean = quad(lambda x: x * two_projection_density(np.array([x]), p)[0], 0, lp, limit=200)[0]
    assert mass == pytest.approx(p - max(0.0, 2 * p - 1), rel=1e-7)  # total 1 with the two atoms
    assert mean + max(0.0, 2 * p - 1) == pytest.approx(p * p, rel=1e-7)


@pytest.mark.parametrize("cell,params", [("vanilla-hard-tanh", HARD_TANH), ("vanilla-relu", RELU)])
def test_orthogonal_T2_piecewise_linear_is_the_two_projection_law(cell, params):
    """J J^T = sigma_w^4 D_2 O D_1 O^T D_2 with D_t projections of trace p: the closed form above.
    (Before: hard-tanh failed its self-check, ReLU was 5e-3 off in its moments.)"""
    p = _hard_tanh_p(params) if cell == "vanilla-hard-tanh" else 0.5
    v2 = params["sigma_w"] ** 4
    sp = _spectrum(cell, 2, "orthogonal", params)
    assert sp.atom == pytest.approx(1 - p, rel=1e-9)
    top = dict(sp.point_masses).get(v2, 0.0) if sp.point_masses else 0.0
    assert top == pytest.approx(max(0.0, 2 * p - 1), abs=1e-12)
    assert all(abs(l - v2) < 1e-12 * v2 for l, _ in sp.point_masses)
    x = sp.lam / v2
    inner = (x > 1e-6) & (x < (1 - 1e-4) * 4 * p * (1 - p))
    assert inner.sum() > 100
    # the solve is on the real axis to Newton tolerance; measured max relative error 5e-14 / 1e-11
    np.testing.assert_allclose(sp.density[inner] * v2, two_projection_density(x[inner], p), rtol=1e-8)
    g = sp.grid_moments()
    # quadrature (Simpson on the edge-adapted grid, exact contour mass below it), n = 150:
    # measured |error| <= 5e-6
    assert g["mass"] == pytest.approx(1.0, abs=1e-4)
    assert g["m1"] == pytest.approx(p * p * v2, rel=1e-4)
    m2 = v2 ** 2 * (quad(lambda t: t * t * two_projection_density(np.array([t]), p)[0], 0, 4 * p * (1 - p),
                         limit=200)[0] + max(0.0, 2 * p - 1))
    assert g["variance"] + g["m1"] ** 2 == pytest.approx(m2, rel=1e-4)


@pytest.mark.parametrize("cell,T,weights,params,tol", [
    ("minimalrnn", 8, "orthogonal", MINIMAL, 1e-3), ("minimalrnn", 8, "gaussian", MINIMAL, 1e-3),
    ("minimalrnn", 16, "orthogonal", MINIMAL, 1e-3), ("minimalrnn", 16, "gaussian", MINIMAL, 1e-3),
    ("vanilla-hard-tanh", 2, "orthogonal", HARD_TANH, 1e-4), ("vanilla-hard-tanh", 3, "orthogonal", HARD_TANH, 1e-4),
    ("vanilla-hard-tanh", 4, "orthogonal", HARD_TANH, 1e-4), ("vanilla-relu", 2, "orthogonal", RELU, 1e-4),
])
def test_previously_failing_points_now_solve(cell, T, weights, params, tol):
    """No RuntimeError, no warning (_spectrum turns warnings into errors; the self-check warns), mass 1,
    mean isometry_mean, variance the free-steps variance (gated; the exact annealed isometry_variance
    is larger, 02 §5 / isometry_recursion) or isometry_variance (vanilla, exact).  Measured at n = 150:
    |error| <= 3e-4 (minimalRNN), <= 1e-5 (two-point)."""
    sp = _spectrum(cell, T, weights, params)
    assert not any("SELF-CHECK" in n for n in sp.notes)
    assert sp.eps.max() == 0.0 and sp.tail is not None and sp.quad is not None  # real axis, exact tail, Simpson
    g = sp.grid_moments()
    m1 = float(theory.predict(cell, "isometry_mean", T=T, weights=weights, **params))
    var = float(theory.predict(cell, "isometry_variance_free" if cell == "minimalrnn" else "isometry_variance",
                               T=T, weights=weights, **params))
    assert g["mass"] == pytest.approx(1.0, abs=tol)
    assert g["m1"] == pytest.approx(m1, rel=tol)
    assert g["variance"] == pytest.approx(var, rel=tol)
    c = sp.cdf(np.concatenate([sp.lam, [l for l, _ in sp.point_masses]]))
    assert np.all(np.diff(sp.cdf(sp.lam)) >= -1e-12) and c.max() == pytest.approx(1.0, abs=1e-12)


def _haar(rng, n):
    """Haar orthogonal matrix: QR of a Gaussian matrix, columns signed by diag(R)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


# numpy's bundled OpenBLAS on one thread: these simulations make thousands of small BLAS calls, and
# on a shared, oversubscribed machine a threaded BLAS spends most of their time waiting (measured:
# 40x slower); results are identical either way
from theory.jacobian.spectrum_ov import _one_blas_thread as _OneBlasThread  # noqa: E402


def _simulate(step_diagonals, sigma_w, T, weights, N, draws, seed, rotate):
    with _OneBlasThread():
        return _simulate_(step_diagonals, sigma_w, T, weights, N, draws, seed, rotate)


def _simulate_(step_diagonals, sigma_w, T, weights, N, draws, seed, rotate):
    """Eigenvalues of J J^T, J = J_T [U_T] ... [U_2] J_1, J_t = diag(a_t) + diag(b_t) W_t, per draw
    (rows).  W_t: N(0, sigma_w^2/N) entries or sigma_w x Haar; (a_t, b_t) = step_diagonals(rng, N),
    fresh every step; ``rotate``: independent Haar U_t between steps (see the minimalRNN test)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        P = np.eye(N)
        for t in range(T):
            if rotate and t:
                P = _haar(rng, N) @ P
            a, b = step_diagonals(rng, N)
            if weights == "orthogonal":
                W = sigma_w * _haar(rng, N)
            else:
                W = rng.standard_normal((N, N)) * (sigma_w / math.sqrt(N))
            P = b[:, None] * (W @ P) + (0.0 if a is None else a[:, None] * P)
        out.append(np.linalg.svd(P, compute_uv=False) ** 2)
    return np.array(out)


def _mean_se(per_draw):
    per_draw = np.asarray(per_draw, float)
    return float(per_draw.mean()), float(per_draw.std(ddof=1) / math.sqrt(per_draw.size))


def _quantile_points(sp, levels=(0.1, 0.25, 0.5, 0.75, 0.9)):
    """Distinct smallest grid eigenvalues where the predicted CDF reaches each level (the grid's lowest
    point stands for levels below the mass under it)."""
    F = sp.cdf(sp.lam)
    return sorted({float(sp.lam[min(np.searchsorted(F, lev), sp.lam.size - 1)]) for lev in levels})


def _compare(sp, lam, k, B_moment, B_cdf, x_points=None):
    """Failed checks (list of strings) of ``|pred - mean| <= k SE + B``: m1 and m2 (B_moment relative
    to the prediction) and the CDF at ``x_points`` (default: the predicted quantiles)."""
    bad = []
    m2_pred = sp.variance + sp.m1 ** 2
    for name, pred, per in (("m1", sp.m1, lam.mean(1)), ("m2", m2_pred, (lam ** 2).mean(1))):
        mean, se = _mean_se(per)
        if abs(pred - mean) > k * se + B_moment * abs(pred):
            bad.append(f"{name}: pred {pred:.5g} sim {mean:.5g} +- {se:.2g}")
    for x in (_quantile_points(sp) if x_points is None else x_points):
        pred = float(sp.cdf(np.array([x]))[0])
        mean, se = _mean_se((lam <= x).mean(1))
        if abs(pred - mean) > k * se + B_cdf:
            bad.append(f"F({x:.4g}): pred {pred:.4f} sim {mean:.4f} +- {se:.4f}")
    return bad


K_SE = 5.0
"""Multiple of the standard error over draws (E = 8-10 matrices: t-distribution with 7-9 degrees of
freedom, two-sided ~1e-3 per check) in every simulation comparison below."""


@pytest.mark.parametrize("cell,params,T", [("vanilla-hard-tanh", HARD_TANH, 2), ("vanilla-hard-tanh", HARD_TANH, 3),
                                           ("vanilla-relu", RELU, 2)])
def test_orthogonal_piecewise_linear_matches_simulation(cell, params, T):
    """J = D_T O_T ... D_1 O_1 sigma_w^T, D_t projections with exactly round(p N) ones at random
    places (so the atom at 0 and the top atom sigma_w^(2T) of mass max(0, 1 - T(1 - p)) are exact at
    finite N, not off by O(N^-1/2); a = 0 cells need no rotation between steps, Haar W_t is one).
    N = 400, 8 draws; allowance B = T/N relative for moments, 0.25 T/N for CDF values (O(T/N) finite-
    width effects) plus the shift of the atoms by the rounding of p N (which also moves m1 by
    2 |k/N - p| / p, 2.4e-3 for hard-tanh: inside T/N).  Measured: CDF within 0.0024, m1 and m2 within
    3e-3 relative."""
    p = _hard_tanh_p(params) if cell == "vanilla-hard-tanh" else 0.5
    N, draws = 400, 8
    k = int(round(p * N))

    def diag(rng, n):
        d = np.zeros(n)
        d[rng.permutation(n)[:k]] = 1.0
        return None, d
    lam = _simulate(diag, params["sigma_w"], T, "orthogonal", N, draws, seed=100 + T, rotate=False)
    sp = _spectrum(cell, T, "orthogonal", params)
    top = params["sigma_w"] ** (2 * T)
    # atoms: exact at this N up to the rounding of p N (checked exactly)
    zero_frac = (lam <= 1e-12 * top).mean()
    assert zero_frac == pytest.approx(1 - k / N, abs=1e-12)
    assert sp.atom == pytest.approx(1 - p, abs=1 / N)
    top_frac = (np.abs(lam - top) <= 1e-12 * top).mean()  # exact (rounding); the arcsine edge (ReLU) is 1e-6 away
    assert top_frac == pytest.approx(max(0.0, 1 - T * (1 - k / N)), abs=1e-12)
    assert sum(w for _, w in sp.point_masses) == pytest.approx(max(0.0, 1 - T * (1 - p)), abs=T / N)
    xs = [x for x in _quantile_points(sp) if x < top * (1 - 1e-6)] + [top * (1 - 1e-6)]
    # + T |k/N - p|: the rounding of p N moves the atoms (at most 0.0016 here)
    bad = _compare(sp, lam, K_SE, T / N, 0.25 * T / N + T * abs(k / N - p), xs)
    assert not bad, bad


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _minimal_q_star(p):
    """Fixed point of the minimalRNN closure (02 §2): q = sigma_w^2 Q(q) + sigma_v^2 R + sigma_b^2 with
    Q(q) = R E[(1 - u)^2] / (1 - E[u^2]), u = sigmoid(e), e ~ N(mu_b, q) (the stationary second moment
    of h' = u h + (1 - u) z); 200-point Gauss-Hermite and brentq (numpy / scipy only)."""
    from scipy.optimize import brentq
    x, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()

    def excess(q):
        u = _sigmoid(p["mu_b"] + math.sqrt(q) * x)
        Q = p["R"] * np.sum(w * (1 - u) ** 2) / np.sum(w * (1 - u * u))
        return p["sigma_w"] ** 2 * Q + p["sigma_v"] ** 2 * p["R"] + p["sigma_b"] ** 2 - q
    return brentq(excess, 1e-6, 1e3, xtol=1e-14)


@pytest.fixture(scope="module")
def minimal_population():
    """Stationary per-unit state of the minimalRNN closure at its fixed point q*, by simulation: M scalar
    chains h <- u h + (1 - u) z, u = sigmoid(e), e ~ N(mu_b, q*), z ~ N(0, R) fresh every step (200
    steps; the law of h relaxes like E[u^2]^t ~ 0.7^t).  Returns (h samples, q*)."""
    p, M = MINIMAL, 100_000
    q = _minimal_q_star(p)
    # the same fixed point as the theory's (a precondition, not the check)
    assert q == pytest.approx(float(theory.predict("minimalrnn", "q_star", **p)), rel=1e-8)
    rng = np.random.default_rng(7)
    h = math.sqrt(p["R"]) * rng.standard_normal(M)
    for _ in range(200):
        u = _sigmoid(p["mu_b"] + math.sqrt(q) * rng.standard_normal(M))
        h = u * h + (1 - u) * math.sqrt(p["R"]) * rng.standard_normal(M)
    return h, q


def _minimal_diagonals(h_pop, q):
    p = MINIMAL

    def diag(rng, n):
        h = rng.choice(h_pop, n, replace=False)
        e = p["mu_b"] + math.sqrt(q) * rng.standard_normal(n)
        z = math.sqrt(p["R"]) * rng.standard_normal(n)
        u = _sigmoid(e)
        return u, u * (1 - u) * (h - z)
    return diag


MINIMAL_CDF_DISCRETISATION = 0.008
"""Allowance for the per-unit law's discretisation (theory.jacobian.unit_law: the stored state's law by a
6-point Gauss rule, 3 values of (h - z)^2), which this simulation does not share (it draws h from
its exact stationary law).  Measured with this file's simulator at N = 1000 (4 draws, T = 16,
Gaussian W): the simulated CDF lies up to 0.006 above the prediction (at its median: 0.507 +- 0.0015
vs 0.5016) and within 0.002 of the prediction from a 10-point rule (theory.jacobian.unit_law.H_POINTS = 10),
so the gap is the rule, not finite N."""


@pytest.mark.parametrize("T,weights", [(8, "orthogonal"), (16, "gaussian")])
def test_minimalrnn_density_matches_free_steps_simulation(minimal_population, T, weights):
    """The density is that of the free-steps model (S_T = S_1^T): T independent one-step Jacobians
    diag(a) + diag(b) W_t with per-unit (a, b) drawn afresh from the fixed-point law, made free by an
    independent Haar rotation between steps (without it the commuting gate diagonals D_a of
    consecutive steps are not free: the CDF differs by ~0.04 at T = 8, see the next test).  N = 400,
    8 draws.  Allowances: moments 2 T/N relative, CDF values 0.5 T/N (finite width, O(T/N): with this
    file's seeds the simulated CDF lies 0.001-0.014 above the prediction at N = 400, and 0.001-0.006
    at N = 1000), plus the law's discretisation (above).  Moments: within 0.3 SE (m2's SE is 12-15 %:
    a heavy upper tail)."""
    h_pop, q = minimal_population
    sp = _spectrum("minimalrnn", T, weights, MINIMAL)
    N, draws = 400, 8
    lam = _simulate(_minimal_diagonals(h_pop, q), MINIMAL["sigma_w"], T, weights, N, draws, seed=200 + T,
                    rotate=True)
    bad = _compare(sp, lam, K_SE, 2 * T / N, 0.5 * T / N + MINIMAL_CDF_DISCRETISATION)
    assert not bad, bad


def test_minimalrnn_free_steps_comparison_has_power(minimal_population):
    """Power of the comparison above: the product *without* the rotations (consecutive gate diagonals
    commute: not free) is rejected at T = 8: its CDF at the predicted median is 0.54 (N = 400: 0.537 +-
    0.003; N = 1000: 0.5415 +- 0.0024, so not a finite-width effect) against 0.503."""
    h_pop, q = minimal_population
    sp = _spectrum("minimalrnn", 8, "orthogonal", MINIMAL)
    lam = _simulate(_minimal_diagonals(h_pop, q), MINIMAL["sigma_w"], 8, "orthogonal", 400, 8, seed=300,
                    rotate=False)
    bad = _compare(sp, lam, K_SE, 2 * 8 / 400, 0.5 * 8 / 400 + MINIMAL_CDF_DISCRETISATION)
    assert any(b.startswith("F(") for b in bad), bad  # measured: rejected at the median (0.034 > 0.024)


def test_default_method_is_the_exact_law_for_each_cell(monkeypatch):
    """method="auto" (the default): gated cells at T >= 2 get the operator-valued law (the exact untied
    law; free steps is a model there), vanilla cells and T = 1 the free-steps law (exact there)."""
    import theory.jacobian.spectrum_ov as ov
    seen = []
    monkeypatch.setattr(ov, "spectrum_ov", lambda cell, T, weights, **p: seen.append((cell, T)) or "ov")
    assert theory.spectrum("minimalrnn", T=2, **MINIMAL) == "ov" and seen == [("minimalrnn", 2)]
    assert theory.spectrum("minimalrnn", T=1, weights="gaussian", n=200, **MINIMAL).T == 1 and len(seen) == 1
    assert theory.spectrum("vanilla-tanh", T=2, n=100, **TANH).T == 2 and len(seen) == 1
