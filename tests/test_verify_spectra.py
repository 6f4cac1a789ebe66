"""Jacobian spectra of real networks (verify/engine/spectra.py, verify/judge/spectra_report.py; issue #5 item 5).

* the simulator's end-to-end Jacobian equals the product of hand-written step Jacobians (N = 2, 3);
* linear Gaussian nets: the ensemble moment estimators are unbiased against exact finite-N moments
  derived here (not taken from the code under test), and a 5 % error in sigma_w is rejected;
* one near-critical vanilla-tanh point agrees with theory.predict / theory.spectrum, and the same
  networks judged against the theory at 1.05 sigma_w are rejected.
Statistical budget: tests/conftest_verify.py (each Monte-Carlo test at TEST_ALPHA, Bonferroni inside).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import verify  # noqa: F401  (x64)
from tests.conftest_verify import TEST_ALPHA, k_for
from verify.engine.spectra import (SpectraRun, ks_distance, moments, network_products, network_trace,
                            simulate_spectra)


def _product(Js):
    P = np.eye(Js[0].shape[0])
    out = []
    for J in Js:
        P = J @ P
        out.append(P)
    return out


@pytest.mark.parametrize("weights,tied", [("gaussian", False), ("orthogonal", True)])
def test_vanilla_tanh_product_by_hand(weights, tied):
    p = dict(sigma_w=1.4, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=1.0)
    run = SpectraRun("vanilla-tanh", 3, 2, (1, 3), weights, tied, burn_in=2, seed=5)
    tr = network_trace(run, p, 0.8, 1, 3)
    Js = []
    for t in range(3):
        W, V, b, x, h = tr["W"][t], tr["V"][t], tr["b"][t], tr["x"][t], tr["h"][t]
        e = W @ h + V @ x + b
        np.testing.assert_allclose(np.tanh(e), tr["h"][t + 1], rtol=1e-13, atol=1e-14)
        Js.append(np.diag(1.0 - np.tanh(e) ** 2) @ W)  # d tanh(W h + ...)/dh
    if weights == "orthogonal":
        np.testing.assert_allclose(tr["W"][0] @ tr["W"][0].T, p["sigma_w"] ** 2 * np.eye(3), atol=1e-13)
    if tied:
        assert np.array_equal(tr["W"][0], tr["W"][2])
    else:
        assert not np.allclose(tr["W"][0], tr["W"][1])
    P = np.asarray(network_products(run, p, 0.8, 1))
    want = _product(Js)
    np.testing.assert_allclose(P[0], want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(P[1], want[2], rtol=1e-12, atol=1e-14)


def test_minimalrnn_product_by_hand():
    p = dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.2, mu_b=1.0, R=1.0, Sigma=1.0)
    run = SpectraRun("minimalrnn", 2, 2, (2,), "gaussian", False, burn_in=1, seed=3)
    tr = network_trace(run, p, 0.5, 0, 2)
    Js = []
    for t in range(2):
        W, V, b, z, h = tr["W"][t], tr["V"][t], tr["b"][t], tr["x"][t], tr["h"][t]
        u = 1.0 / (1.0 + np.exp(-(W @ h + V @ z + b)))
        np.testing.assert_allclose(u * h + (1 - u) * z, tr["h"][t + 1], rtol=1e-13, atol=1e-14)
        # h' = u h + (1-u) z: dh'_i/dh_j = u_i delta_ij + u_i (1-u_i) (h_i - z_i) W_ij
        Js.append(np.diag(u) + np.diag(u * (1 - u) * (h - z)) @ W)
    P = np.asarray(network_products(run, p, 0.5, 0))
    np.testing.assert_allclose(P[0], Js[1] @ Js[0], rtol=1e-12, atol=1e-14)


def exact_linear_moments(N: int, T: int, s2: float):
    r"""Exact finite-N moments of :math:`A=JJ^\top`, :math:`J=W_T\cdots W_1`, real Gaussian
    :math:`W_{ij}\sim\mathcal N(0,s^2/N)`, derived by Wick's theorem on one factor given the rest:

    * :math:`E[\mathrm{tr}(WAW^\top)]=s^2\mathrm{tr}A` (so :math:`E\hat m_1=s^{2T}` exactly);
    * :math:`\mathrm{tr}(WAW^\top)=\sum_i w_i^\top Aw_i` over N i.i.d. rows: variance
      :math:`2s^4\mathrm{tr}(A^2)/N`, so :math:`a'=s^4(a+2b/N)` for :math:`a=E[(\mathrm{tr}A)^2]`;
    * the three pairings of :math:`\mathrm{tr}(WAW^\top WAW^\top)` give
      :math:`s^4[(\mathrm{tr}A)^2/N+\mathrm{tr}(A^2)(1+1/N)]`, so :math:`b'=s^4(a/N+b(1+1/N))` for
      :math:`b=E[\mathrm{tr}(A^2)]`; :math:`A_0=I`: :math:`a=N^2, b=N`.

    Returns :math:`(E\hat m_1, E\hat\sigma^2)` with :math:`\hat\sigma^2=\mathrm{tr}(A^2)/N-(\mathrm{tr}A/N)^2`."""
    a, b = float(N) ** 2, float(N)
    for _ in range(T):
        a, b = s2 * s2 * (a + 2 * b / N), s2 * s2 * (a / N + b * (1 + 1 / N))
    return s2 ** T, b / N - a / N ** 2


def test_exact_linear_moments_limit_is_fuss_catalan():
    # large N: m2 -> (T+1) s^{4T} (Fuss-Catalan FC_T(2) = binom(2T+2, 2)/(2T+1) = T+1), variance T s^{4T}
    for T in (1, 2, 5):
        m1, var = exact_linear_moments(10 ** 7, T, 1.3)
        assert m1 == pytest.approx(1.3 ** T, rel=1e-14)
        assert var == pytest.approx(T * 1.3 ** (2 * T), rel=1e-5)
        assert math.comb(2 * T + 2, 2) / (2 * T + 1) == T + 1
    # N = 1: A = prod of T squared Gaussians w^2 (s2 = 1): E[A^2] = 3^T, variance 0 (one eigenvalue)
    assert exact_linear_moments(1, 3, 1.0)[1] == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def linear_gaussian():
    p = dict(sigma_w=1.1, sigma_b=0.0)
    run = SpectraRun("feedforward-linear", 16, 400, (1, 2, 3), "gaussian", False, burn_in=0, seed=11, chunk=100)
    return p, run, simulate_spectra(run, p, 1.0)


def _linear_checks(lam, run, sigma_w):
    mo = moments(lam, run.steps)
    out = []
    for i, T in enumerate(run.steps):
        m1, var = exact_linear_moments(run.width, T, sigma_w ** 2)
        out += [(m1, mo.m1[i]), (var, mo.variance[i])]
    return out


def test_linear_moment_estimators_unbiased(linear_gaussian):
    p, run, lam = linear_gaussian
    checks = _linear_checks(lam, run, p["sigma_w"])
    k = k_for(len(checks), run.ensemble)  # E = 400 networks, m = 6, no allowance (exact at this N)
    for pred, est in checks:
        assert abs(pred - est.mean) <= k * est.se, (pred, est)
        assert est.se < 0.1 * abs(pred)  # the check resolves the quantity


def test_linear_wrong_sigma_w_rejected(linear_gaussian):
    p, run, lam = linear_gaussian
    checks = _linear_checks(lam, run, 1.05 * p["sigma_w"])
    k = k_for(len(checks), run.ensemble)
    rejected = [abs(pred - est.mean) > k * est.se for pred, est in checks]
    assert all(rejected[0::2]), "every m1 check must reject sigma_w off by 5 %"


def test_linear_orthogonal_is_isometric():
    p = dict(sigma_w=0.9, sigma_b=0.0)
    run = SpectraRun("feedforward-linear", 8, 2, (1, 4), "orthogonal", False, burn_in=0, seed=1)
    lam = simulate_spectra(run, p, 1.0)
    np.testing.assert_allclose(lam[:, 0], 0.81, rtol=1e-12)
    np.testing.assert_allclose(lam[:, 1], 0.81 ** 4, rtol=1e-12)


def test_ks_distance_exact():
    # uniform samples against the uniform CDF: sup gap at the known points
    assert ks_distance(np.array([0.25, 0.75]), lambda x: x) == pytest.approx(0.25)
    assert ks_distance(np.array([0.5, 0.5]), lambda x: x) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def tanh_point():
    from verify.judge.spectra_report import SpectralPoint, near_critical_params
    p = near_critical_params("vanilla-tanh")
    common = dict(cell="vanilla-tanh", label="test", params=p, width=48, ensemble=48, steps=(1, 2, 4, 8),
                  regimes=("untied",), seed=21)
    # the predicted density at T = 1 with orthogonal W is the exact push-forward (cheap); gaussian: moments only
    return [SpectralPoint(weights=("orthogonal",), ks_steps=(1,), **common),
            SpectralPoint(weights=("gaussian",), ks_steps=(), **common)]


def test_vanilla_tanh_agrees(tanh_point):
    from verify.judge.spectra_report import assign, spectral_point
    results = [spectral_point(pt) for pt in tanh_point]
    assign(results, alpha=TEST_ALPHA)
    checks = [c for r in results for c in r["checks"]]
    assert {c.quantity for c in checks} >= {"m1", "variance", "ks", "cdf@0.5"}
    bad = [(c.weights, c.T, c.quantity, c.prediction, c.estimate, c.se, c.k, c.allowance)
           for c in checks if c.verdict != "agree"]
    assert not bad, bad


def test_vanilla_tanh_wrong_sigma_w_rejected(tanh_point):
    # At CPU test sizes a 5 % error in sigma_w is NOT resolved for tanh: B_N = 3 T |pred| / N alone is
    # 25 % of m1 at T = 4, N = 48 (and at N = 32, E = 16 even 15 % was not rejected: k ~ 6.5) -- the
    # 5 % power check is the exact linear one above.  Here: 15 %, N = 48, E = 48.
    from verify.judge.spectra_report import assign, spectral_point
    wrong = {**tanh_point[0].params, "sigma_w": 1.15 * tanh_point[0].params["sigma_w"]}
    results = [spectral_point(pt, predict_params=wrong) for pt in tanh_point]
    assign(results, alpha=TEST_ALPHA)
    checks = [c for r in results for c in r["checks"]]
    assert any(c.verdict == "disagree" for c in checks if c.quantity == "m1"), \
        [(c.T, c.prediction, c.estimate, c.se, c.k, c.allowance) for c in checks if c.quantity == "m1"]


def test_saved_samples_are_reused_and_judged_identically_and_stale_ones_refused(tmp_path):
    # samples=DIR: networks simulated once (e.g. on a GPU) are judged elsewhere from the file; the
    # report from the file must equal the report from the simulation, and a file made at other
    # parameters must be refused, not judged
    from verify.judge.spectra_report import SpectralPoint, near_critical_params, spectral_point
    p = near_critical_params("vanilla-erf")
    pt = SpectralPoint(cell="vanilla-erf", label="test", params=p, width=16, ensemble=3, steps=(1, 2),
                       regimes=("untied",), weights=("orthogonal",), ks_steps=(), seed=5)
    first = spectral_point(pt, samples_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = spectral_point(pt, samples_dir=tmp_path)
    assert again["sample_sources"] and not first["sample_sources"]
    assert [(c.quantity, c.T, c.estimate, c.se) for c in again["checks"]] == \
        [(c.quantity, c.T, c.estimate, c.se) for c in first["checks"]]
    # a file made at other parameters (or of another shape) is refused, not judged
    from verify.judge.spectra_report import load_samples
    moved = {**p, "sigma_b": p["sigma_b"] + 0.01}
    with pytest.raises(ValueError, match="other parameters"):
        load_samples(files[0], moved, (3, 2, 16))
    with pytest.raises(ValueError, match="other parameters"):
        load_samples(files[0], p, (3, 2, 17))
    assert load_samples(tmp_path / "absent.npz", p, (3, 2, 16)) is None
