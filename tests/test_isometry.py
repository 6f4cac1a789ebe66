"""Dynamical isometry (issue #5): free-probability moments of J J^T against independent routes.

Reference values never come from the code under test:

* closed forms written here — Catalan / Fuss–Catalan numbers (moments of products of square
  Gaussian matrices; Penson & Życzkowski 2011), the S-transforms of Marchenko–Pastur (1/(1+z)) and
  of a {0, 1} Bernoulli law ((1+z)/(p+z)), the 03 §3 expansion of m_1 S(z);
* ``tests/reference.py`` (scipy quadrature) for q*, Q* and the Gaussian expectations mu_1, mu_2;
* numpy Monte Carlo of *real* untied networks (width N, fresh W_t each step, the true Jacobians
  J_t recorded along the trajectory).  Each Monte-Carlo check states its sample size and passes at
  K_SE standard errors plus a stated O(1/N) finite-width allowance.  The simulations run in a
  subprocess with ``OPENBLAS_NUM_THREADS=1`` (multi-threaded LAPACK QR thrashes on the shared
  2-core machine: 1.6 s instead of 12 ms per 256 x 256 QR).
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import theory
from reference import expect1, reference
from theory.jacobian import freeprob
from theory.jacobian.isometry import isometry_kernels, isometry_moments, t_step_formulas

ROOT = Path(__file__).resolve().parents[1]
K_SE = 4.0  #: standard errors allowed in Monte-Carlo comparisons


def catalan(k):
    return math.comb(2 * k, k) // (k + 1)


def fuss_catalan(T, k):
    """k-th moment of W_T...W_1 (W_1...W_T)^T for square Gaussian W_t with entries N(0, 1/N)."""
    return math.comb((T + 1) * k, k) // (T * k + 1)


# ---------------------------------------------------------------------------------------------
# symbolic free probability
# ---------------------------------------------------------------------------------------------

def test_s_series_of_marchenko_pastur_is_one_over_one_plus_z():
    s = freeprob.s_series([catalan(k) for k in range(1, 7)])
    assert s == [(-1) ** k for k in range(6)]


def test_s_series_of_a_bernoulli_law_is_one_plus_z_over_p_plus_z():
    p, z = sp.symbols("p z", positive=True)
    s = freeprob.s_series([p] * 5)
    expect = sp.series((1 + z) / (p + z), z, 0, 5).removeO()
    assert all(sp.simplify(s[k] - expect.coeff(z, k)) == 0 for k in range(5))


def test_s_series_reproduces_the_second_order_expansion_of_the_notes():
    m1, m2, m3 = sp.symbols("m1 m2 m3", positive=True)
    s = freeprob.s_series([m1, m2, m3])
    assert sp.simplify(m1 * s[0] - 1) == 0
    assert sp.simplify(m1 * s[1] - (1 - m2 / m1 ** 2)) == 0
    assert sp.simplify(m1 * s[2] - (2 * m2 ** 2 / m1 ** 4 - m2 / m1 ** 2 - m3 / m1 ** 3)) == 0


@pytest.mark.parametrize("T", [2, 3, 5])
def test_product_of_T_marchenko_pastur_factors_gives_fuss_catalan_moments(T):
    s_mp = freeprob.s_series([catalan(k) for k in range(1, 5)])
    assert freeprob.moments_from_s(freeprob.s_power(s_mp, T)) == [fuss_catalan(T, k) for k in range(1, 5)]
    assert freeprob.moments_from_s(freeprob.s_product(*[s_mp] * T)) == [fuss_catalan(T, k) for k in range(1, 5)]


def test_symbolic_T_power_specialises_to_fuss_catalan():
    s_mp = freeprob.s_series([catalan(k) for k in range(1, 4)])
    T = sp.Symbol("T", positive=True, integer=True)
    moments = freeprob.moments_from_s(freeprob.s_power(s_mp, T))
    for t in (1, 2, 4, 7):
        assert [sp.simplify(m.subs(T, t)) for m in moments] == [fuss_catalan(t, k) for k in range(1, 4)]


def test_t_step_formulas_are_chi_to_the_T_and_T_times_spread():
    mean, var = t_step_formulas()
    m1, v, T = sp.Symbol("m_1", positive=True), sp.Symbol("v", nonnegative=True), sp.Symbol("T", positive=True)
    # Fuss–Catalan: m_1 = 1, m_2 - m_1^2 = (T + 1) - 1 = T for Marchenko–Pastur steps (m_1 = 1, v = 1)
    for t in (1, 3, 10):
        assert mean.subs({m1: 1, T: t}) == 1
        assert sp.simplify(var.subs({m1: 1, v: 1, T: t})) == fuss_catalan(t, 2) - 1
    assert sp.simplify(var - T * m1 ** (2 * T) * v) == 0


def test_weight_law_and_step_count_are_validated():
    for bad in ({"weights": "haar"}, {"weights": None}, {"T": 0}, {"T": 2.5}, {"T": -3}):
        kw = {"T": 4, "weights": "orthogonal", **bad}
        with pytest.raises(ValueError):
            theory.predict("vanilla-tanh", "isometry_variance", **kw)
    with pytest.raises(ValueError):
        theory.predict("vanilla-tanh", "isometry_mean", T=np.array([1, 0]))


# ---------------------------------------------------------------------------------------------
# generated kernels against closed forms and quadrature
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [1, 4, 9])
def test_linear_network_moments_are_the_scaled_fuss_catalan_numbers(T):
    sw = 0.9  # vanilla-linear has a finite fixed point for sigma_w < 1; the Jacobian is prod_t W_t
    g = theory.predict("vanilla-linear", "isometry_variance", T=T, weights="gaussian", sigma_w=sw)
    o = theory.predict("vanilla-linear", "isometry_variance", T=T, weights="orthogonal", sigma_w=sw)
    m = theory.predict("vanilla-linear", "isometry_mean", T=T, weights="gaussian", sigma_w=sw)
    assert m == pytest.approx(sw ** (2 * T), rel=1e-13)
    assert g == pytest.approx(sw ** (4 * T) * (fuss_catalan(T, 2) - 1), rel=1e-13)
    assert abs(o) <= 1e-15  # orthogonal: J J^T = sigma_w^(2T) I exactly


def _tanh_moments(q):
    d2 = lambda x: (1.0 - math.tanh(x) ** 2) ** 2
    d4 = lambda x: (1.0 - math.tanh(x) ** 2) ** 4
    return expect1(d2, 0.0, q), expect1(d4, 0.0, q)


@pytest.mark.parametrize("point", [dict(sigma_w=1.3, sigma_v=0.5, sigma_b=0.2, R=1.0),
                                   dict(sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0)])
def test_vanilla_tanh_moments_match_scipy_quadrature(point):
    q = reference("vanilla-tanh", "q_star", **point)
    mu1, mu2 = _tanh_moments(q)
    mom = isometry_moments("vanilla-tanh", weights="gaussian", **point)
    assert mom["B2"] == pytest.approx(mu1, rel=1e-10)
    assert mom["B4"] == pytest.approx(mu2, rel=1e-10)
    assert mom["A2"] == mom["A4"] == mom["A2B2"] == 0.0
    chi = point["sigma_w"] ** 2 * mu1
    for w, vw in (("gaussian", 1.0), ("orthogonal", 0.0)):
        v = mu2 / mu1 ** 2 - 1.0 + vw
        assert theory.predict("vanilla-tanh", "isometry_spread", weights=w, **point) == pytest.approx(v, rel=1e-9)
        for T in (1, 7):
            assert theory.predict("vanilla-tanh", "isometry_mean", T=T, weights=w, **point) == pytest.approx(
                chi ** T, rel=1e-9)
            assert theory.predict("vanilla-tanh", "isometry_variance", T=T, weights=w, **point) == pytest.approx(
                T * chi ** (2 * T) * v, rel=1e-9)


def test_minimalrnn_fourth_moment_matches_the_stationary_closure_by_quadrature():
    p = dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0)
    Q = reference("minimalrnn", "Q_star", **p)
    q = reference("minimalrnn", "q_star", **p)
    sig = lambda e: 1.0 / (1.0 + math.exp(-e))
    E = lambda f: expect1(f, p["mu_b"], q)
    R = p["R"]
    # E h^4 = E[u^4] E h^4 + 6 E[u^2 (1-u)^2] Q R + E[(1-u)^4] 3 R^2   (03 §6; Gaussian inputs)
    q4 = (6 * E(lambda e: sig(e) ** 2 * sig(-e) ** 2) * Q * R + 3 * R ** 2 * E(lambda e: sig(-e) ** 4)) / (
        1.0 - E(lambda e: sig(e) ** 4))
    mom = isometry_moments("minimalrnn", weights="orthogonal", **p)
    assert mom["Q_star"] == pytest.approx(Q, rel=1e-12)
    assert mom["Q4"] == pytest.approx(q4, rel=1e-9)
    # b = u (1 - u) (h - z): E[b^2] = E[u^2 (1-u)^2] (Q + R), E[b^4] = E[u^4 (1-u)^4] (Q4 + 6 Q R + 3 R^2)
    assert mom["B2"] == pytest.approx(E(lambda e: (sig(e) * sig(-e)) ** 2) * (Q + R), rel=1e-9)
    assert mom["B4"] == pytest.approx(E(lambda e: (sig(e) * sig(-e)) ** 4) * (q4 + 6 * Q * R + 3 * R ** 2), rel=1e-9)
    assert mom["chi"] == pytest.approx(reference("minimalrnn", "chi", **p), rel=1e-9)


@pytest.mark.parametrize("cell,point", [
    ("vanilla-tanh", dict(sigma_w=1.3, sigma_v=0.5, sigma_b=0.2)),
    ("minimalrnn", dict(sigma_w=2.0, sigma_v=1.0, mu_b=1.0)),
])
def test_numba_and_jax_isometry_kernels_agree(cell, point):
    # one jit compile per quantity: the variance (the gated cell's annealed fori_loop) and the mean
    for q, kw in (("isometry_mean", {"T": 6}), ("isometry_variance", {"T": 6})):
        for w in ("gaussian", "orthogonal"):
            a = theory.predict(cell, q, weights=w, **kw, **point)
            b = float(theory.predict(cell, q, backend="jax", weights=w, **kw, **point))
            assert b == pytest.approx(a, rel=1e-10, abs=1e-300), (q, w)


def test_isometry_markdown_states_the_conditions():
    for pkg in ("vanilla_tanh", "minimalrnn"):
        text = (ROOT / "derivations" / pkg / "isometry.md").read_text()
        assert "## Conditions for dynamical isometry" in text
        assert "\\chi = 1" in text


def test_kernels_of_kinked_cells_load_and_match_the_bernoulli_spread():
    # ReLU: D^2 in {0, 1} with p = 1/2, so mu_2/mu_1^2 = 1/p = 2 (03 §5): v = 1 + v_W
    from conftest import ordered_point
    for cell in ("vanilla-relu", "feedforward-relu"):
        for w, vw in (("gaussian", 1.0), ("orthogonal", 0.0)):
            v = theory.predict(cell, "isometry_spread", weights=w, **ordered_point(cell))
            assert v == pytest.approx(1.0 + vw, rel=1e-12), cell
    # hard-tanh: D^2 = 1 with p = P(|e| < 1) = erf(1/sqrt(2 q*)), else 0: v = (1 - p)/p + v_W
    point = ordered_point("vanilla-hard-tanh")
    assert hasattr(isometry_kernels("vanilla-hard-tanh"), "isometry_variance")
    p = math.erf(1.0 / math.sqrt(2.0 * reference("vanilla-hard-tanh", "q_star", **point)))
    for w, vw in (("gaussian", 1.0), ("orthogonal", 0.0)):
        v = theory.predict("vanilla-hard-tanh", "isometry_spread", weights=w, **point)
        assert v == pytest.approx((1.0 - p) / p + vw, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Monte Carlo: real untied networks
# ---------------------------------------------------------------------------------------------

SIM_SRC = r'''
import json, sys
import numpy as np

def haar(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]

def weight(rng, sw, n, law):
    return sw * haar(rng, n) if law == "orthogonal" else sw * rng.standard_normal((n, n)) / np.sqrt(n)

def moments(J):
    M = J @ J.T
    return [float(np.trace(M) / M.shape[0]), float(np.sum(M * M) / M.shape[0])]

def vanilla_tanh(p, T, N, nets, law, seed):
    """h_t = tanh(W_t h_(t-1) + xi_t), xi_t ~ N(0, sigma_v^2 R + sigma_b^2) fresh per unit and step;
    h_0 drawn from the stationary law tanh(sqrt(q*) z), so no burn-in is needed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(nets):
        h = np.tanh(np.sqrt(p["q_star"]) * rng.standard_normal(N))
        J = np.eye(N)
        for _ in range(T):
            W = weight(rng, p["sigma_w"], N, law)
            h = np.tanh(W @ h + np.sqrt(p["sigma_v"] ** 2 * p["R"] + p["sigma_b"] ** 2) * rng.standard_normal(N))
            J = ((1.0 - h * h)[:, None] * W) @ J
        out.append(moments(J))
    return out

def minimalrnn(p, T, N, nets, law, seed, burn=200):
    """e_t = W_t h_(t-1) + sqrt(sigma_v^2 R + sigma_b^2) xi + mu_b, u = sigmoid(e),
    h_t = u h_(t-1) + (1 - u) z_t, z_t ~ N(0, R); J_t = diag(u) + diag(u (1 - u) (h_(t-1) - z_t)) W_t.
    Burn-in draws the recurrent field from its law (sigma_w^2 <h^2> per unit, independent of the unit)."""
    rng = np.random.default_rng(seed)
    sig = lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))
    out = []
    for _ in range(nets):
        h = np.sqrt(p["R"]) * rng.standard_normal(N)
        J = np.eye(N)
        for t in range(burn + T):
            if t >= burn:
                W = weight(rng, p["sigma_w"], N, law)
                wh = W @ h
            else:
                wh = p["sigma_w"] * np.sqrt(np.mean(h * h)) * rng.standard_normal(N)
            z = np.sqrt(p["R"]) * rng.standard_normal(N)
            u = sig(wh + np.sqrt(p["sigma_v"] ** 2 * p["R"] + p["sigma_b"] ** 2) * rng.standard_normal(N) + p["mu_b"])
            if t >= burn:
                J = u[:, None] * J + (u * (1.0 - u) * (h - z))[:, None] * (W @ J)
            h = u * h + (1.0 - u) * z
        out.append(moments(J))
    return out

args = json.loads(sys.argv[1])
fn = {"vanilla-tanh": vanilla_tanh, "minimalrnn": minimalrnn}[args.pop("cell")]
print(json.dumps(fn(**args)))
'''


def simulate(cell, p, T, N, nets, law, seed):
    """Per-network (tau(JJ^T), tau((JJ^T)^2)) of ``nets`` untied networks of width ``N``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    arg = json.dumps(dict(cell=cell, p=p, T=T, N=N, nets=nets, law=law, seed=seed))
    r = subprocess.run([sys.executable, "-c", SIM_SRC, arg], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return np.array(json.loads(r.stdout))


def _check(sim, m1_pred, relvar_pred, N, finite_width):
    """m_1 (per-network tau(JJ^T), mean over networks) and the normalised variance
    r = tau((JJ^T)^2)/tau(JJ^T)^2 - 1 (per network, averaged) against the predictions, at K_SE
    standard errors plus ``finite_width / N`` relative (the O(1/N) finite-width bias)."""
    m1, m2 = sim[:, 0], sim[:, 1]
    r = m2 / m1 ** 2 - 1.0
    n = len(sim)
    se1, ser = m1.std(ddof=1) / math.sqrt(n), r.std(ddof=1) / math.sqrt(n)
    assert abs(m1.mean() - m1_pred) <= K_SE * se1 + finite_width / N * m1_pred, (m1.mean(), m1_pred, se1)
    assert abs(r.mean() - relvar_pred) <= K_SE * ser + finite_width / N * relvar_pred, (r.mean(), relvar_pred, ser)
    return r.mean(), ser


@pytest.mark.parametrize("law", ["gaussian", "orthogonal"])
def test_vanilla_tanh_moments_match_untied_network_simulation(law):
    # N = 256, 24 networks, T = 5.  At N = 128 the measured bias of r was 4 % (Gaussian): allowance 8/N.
    point = dict(sigma_w=1.3, sigma_v=0.5, sigma_b=0.2, R=1.0)
    q = reference("vanilla-tanh", "q_star", **point)
    T, N = 5, 256
    sim = simulate("vanilla-tanh", {**point, "q_star": q}, T, N, 24, law, seed=11)
    m1 = theory.predict("vanilla-tanh", "isometry_mean", T=T, weights=law, **point)
    var = theory.predict("vanilla-tanh", "isometry_variance", T=T, weights=law, **point)
    _check(sim, m1, var / m1 ** 2, N, finite_width=8.0)


@pytest.mark.parametrize("law", ["gaussian", "orthogonal"])
def test_minimalrnn_annealed_variance_matches_simulation_and_the_free_product_does_not(law):
    # N = 256, 24 networks, T = 1 and 8 (200 burn-in steps).  The exact annealed recursion must
    # agree; the S-product (steps treated as free) is ~18 % low at T = 8 and must be rejected.
    p = dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0)
    N = 256
    for T, seed in ((1, 5), (8, 7)):
        sim = simulate("minimalrnn", p, T, N, 24, law, seed=seed)
        m1 = theory.predict("minimalrnn", "isometry_mean", T=T, weights=law, **p)
        var = theory.predict("minimalrnn", "isometry_variance", T=T, weights=law, **p)
        r, se = _check(sim, m1, var / m1 ** 2, N, finite_width=8.0)
        if T > 1:
            free = theory.predict("minimalrnn", "isometry_variance_free", T=T, weights=law, **p) / m1 ** 2
            assert abs(r - free) > K_SE * se + 8.0 / N * free, (r, free, se)
