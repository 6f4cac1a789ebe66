"""Population dynamics (exact one-site solution, untied) against the Gaussian closure.

Sizes, fixed in advance: ``REPLICAS = 16`` independent populations of ``SIZE = 4096`` samples,
burn-in ``BURN = 80`` steps (>= 12 closure timescales xi_q at every point here), late window
``WINDOW = 60``.  Each estimate is the replica mean, SE = replica std / sqrt(16).  Pass rule
``|pop - ref| <= k SE + B_P``: ``k`` = Student t_{15} quantile at the per-test false-alarm rate of
``conftest_verify.TEST_ALPHA`` split over the test's ``m`` comparisons (Bonferroni), and
``B_P = 5 |ref| / SIZE`` for the O(1/SIZE) self-consistency bias of a finite population (the
estimators are ratios of population means, bias ~ variance / SIZE).  Power: every "agrees" test
also shows that a reference moved by a stated amount is rejected by the same rule.
"""
import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import integrate, stats

import theory
from theory.closures import population
from conftest_verify import TEST_ALPHA

SIZE, REPLICAS, BURN, WINDOW = 4096, 16, 80, 60


def k_for(m):
    return float(stats.t.ppf(1 - TEST_ALPHA / (2 * m), df=REPLICAS - 1))


def solve(cell, **over):
    return _solve(cell, tuple(sorted(over.items())))


@lru_cache(maxsize=None)
def _solve(cell, over):
    """Deterministic (fixed seed): tests at the same point share one population run."""
    c = theory.cell(cell)
    p = theory.api.resolve_params(c, dict(over))
    return population.solve(c, p, size=SIZE, replicas=REPLICAS, burn=BURN, window=WINDOW, seed=7), p


def agrees(pop, se, ref, k):
    return abs(pop - ref) <= k * se + 5 * abs(ref) / SIZE


def E(f, mu, q):
    s = math.sqrt(q)
    g = lambda z: f(mu + s * z) * math.exp(-0.5 * z * z)  # noqa: E731
    return integrate.quad(g, -14, 14, points=[0.0, -mu / s], epsabs=1e-14, epsrel=1e-12, limit=200)[0] / math.sqrt(2 * math.pi)


def sig(x):
    return 0.5 * (1 + math.tanh(0.5 * x))


def test_gru_population_converges_to_the_closure_which_is_exact_for_it():
    """The GRU's state enters only linearly or through Gaussian fields: the closure is exact.
    ``chi`` is the population's fresh-probe (Hutchinson) estimate of Tr(J^T J)/N, ``growth`` the
    carried tangent's: two estimators of the same 1x1 M."""
    res, p = solve("gru", sigma_w_z=2.0, sigma_w_n=2.0, mu_b_z=1.5)
    pairs = {"Q_h": "Q_star", "growth": "lambda_max", "chi": "chi", "q_z": "q_star_z", "q_n": "q_star_n"}
    k = k_for(2 * len(pairs))
    for key, q in pairs.items():
        ref = theory.predict("gru", q, **p)
        assert agrees(res.mean[key], res.se[key], ref, k), (key, res.mean[key], res.se[key], ref)
        # power: a 1% error in the reference is rejected by the same rule
        assert not agrees(res.mean[key], res.se[key], 1.01 * ref, k), (key, res.se[key])


@pytest.mark.parametrize("over", [{}, {"sigma_w_z": 2.0, "sigma_w_n": 2.5, "sigma_w_r": 2.0, "sigma_b_hn": 0.5,
                                          "mu_b_z": 1.5}])
def test_reset_after_gru_population_matches_its_closure_which_is_exact_untied(over):
    """Scaled gate (reset-after GRU): the candidate field a_n = U x + b + r (W h + b_h) is a Gaussian scale
    mixture; its Gaussian kernels (the closure) are exact for untied weights, so population dynamics --
    which draws r per unit and multiplies a fresh recurrent Gaussian by it -- must reproduce them.  At
    the defaults and at a point with a strong reset gate and a recurrent bias (lambda_max ~ 1)."""
    res, p = solve("gru-reset-after", **over)
    pairs = {"Q_h": "Q_star", "growth": "lambda_max", "chi": "chi", "q_z": "q_star_z", "q_r": "q_star_r",
             "q_n": "q_star_n"}
    k = k_for(2 * len(pairs))
    for key, q in pairs.items():
        ref = theory.predict("gru-reset-after", q, **p)
        assert agrees(res.mean[key], res.se[key], ref, k), (key, res.mean[key], res.se[key], ref)
        assert not agrees(res.mean[key], res.se[key], 1.02 * ref, k), (key, res.se[key])


def test_lstm_cell_state_moments_from_population_match_their_exact_recursions():
    """Given the gate variances, Q_c = E[i^2] E[g^2] / (1 - E[f^2]) and the fourth moment
    m4 = (6 E[f^2] E[i^2] E[g^2] Q_c + E[i^4] E[g^4]) / (1 - E[f^4]) are exact (no closure):
    evaluated here by scipy quadrature at the population's own gate variances."""
    res, p = solve("lstm", sigma_w_f=2.5, sigma_v_f=1.5, mu_b_f=2.0)
    q = {g: res.mean[f"q_{g}"] for g in "ifgo"}
    Ef2 = E(lambda x: sig(x) ** 2, p["mu_b_f"], q["f"])
    Ei2 = E(lambda x: sig(x) ** 2, p["mu_b_i"], q["i"])
    Eg2 = E(lambda x: math.tanh(x) ** 2, 0.0, q["g"])
    Qc = Ei2 * Eg2 / (1 - Ef2)
    m4 = (6 * Ef2 * Ei2 * Eg2 * Qc + E(lambda x: sig(x) ** 4, p["mu_b_i"], q["i"]) * E(lambda x: math.tanh(x) ** 4, 0.0, q["g"])) / (
        1 - E(lambda x: sig(x) ** 4, p["mu_b_f"], q["f"]))
    k = k_for(4)
    # the gate variances fluctuate with the population's Q_h: propagate their SE (delta method on Q_h)
    dq = p["sigma_w_f"] ** 2 * res.se["Q_h"]
    slope = abs(E(lambda x: sig(x) ** 2, p["mu_b_f"], q["f"] + dq) - Ef2) / (1 - Ef2)
    se_qc = math.hypot(res.se["Q_c"], slope * Qc)
    assert agrees(res.mean["Q_c"], se_qc, Qc, k), (res.mean["Q_c"], se_qc, Qc)
    assert agrees(res.mean["kurtosis_c"], res.se["kurtosis_c"], m4 / Qc ** 2, k), (res.mean["kurtosis_c"], m4 / Qc ** 2)
    assert res.mean["kurtosis_c"] > 3 + k * res.se["kurtosis_c"]  # a random forget gate: heavier tails than Gaussian
    assert not agrees(res.mean["Q_c"], se_qc, 1.02 * Qc, k)


def test_lstm_closure_error_is_resolved_and_has_the_sign_of_a_heavy_tailed_cell_state():
    """A random forget gate (sigma_f large) makes c a heavy-tailed scale mixture: with the same
    variance, E[tanh^2 c] is smaller than under N(0, Q_c), so the exact Q_h lies below the closure
    by many standard errors, and so does lambda_max (kappa, delta shrink)."""
    res, p = solve("lstm", sigma_w_f=2.5, sigma_v_f=1.5, mu_b_f=2.0)
    k = k_for(2)
    for key, q in (("Q_h", "Q_star"), ("growth", "lambda_max")):
        closure = theory.predict("lstm", q, **p)
        assert res.mean[key] < closure - k * res.se[key] - 5 * closure / SIZE, (key, res.mean[key], res.se[key], closure)


def test_lstm_closure_error_shrinks_as_the_cell_state_becomes_gaussian():
    """Deterministic forget and input gates (all their variances 0) make c = i sum_k f^k g_(t-k):
    its kurtosis tends to 3 as f -> 1 (many comparable terms), and the closure's relative error in
    Q_h falls with it (mu_f = 0: ~2 terms; mu_f = 4: ~27 terms)."""
    det = dict(sigma_w_f=0.0, sigma_v_f=0.0, sigma_b_f=0.0, sigma_w_i=0.0, sigma_v_i=0.0, sigma_b_i=0.0)
    gaps = []
    for mu_f in (0.0, 4.0):
        res, p = solve("lstm", mu_b_f=mu_f, **det)
        closure = theory.predict("lstm", "Q_star", **p)
        gaps.append((abs(res.mean["Q_h"] - closure) / closure, res.se["Q_h"] / closure, res.mean["kurtosis_c"]))
    (g0, s0, k0), (g4, s4, k4) = gaps
    assert abs(k4 - 3) < abs(k0 - 3) / 5
    assert g4 + k_for(2) * s4 < g0, gaps


def test_predict_offers_the_population_closure_for_lstm_quantities():
    p = dict(sigma_w_f=2.5, sigma_v_f=1.5, mu_b_f=2.0)
    exact = theory.predict("lstm", "Q_h_star", closure="population", size=SIZE, seed=3, **p)
    closure = theory.predict("lstm", "Q_h_star", **p)
    assert exact < closure and closure == pytest.approx(theory.predict("lstm", "Q_star", **p), rel=1e-15)
    # the core name takes the option too and runs the same solve
    assert theory.predict("lstm", "Q_star", closure="population", size=SIZE, seed=3, **p) == exact
    with pytest.raises(ValueError, match="population"):
        theory.predict("lstm", "xi_2", closure="population", **p)


def test_core_names_of_gated_cells_honour_the_closure_option():
    """Q_star / q_star / chi take closure=; the default (omitted or "gaussian") is the generated kernel."""
    p = dict(sigma_w_f=2.5, sigma_v_f=1.5, mu_b_f=2.0)
    for q in ("Q_star", "q_star", "chi", "xi"):
        assert theory.predict("lstm", q, closure="gaussian", **p) == theory.predict("lstm", q, **p)
    c = theory.cell("lstm")
    assert population.observable(c, "Q_star") == "Q_h" and population.observable(c, "q_star") == "q_f"
    assert population.observable(theory.cell("gru"), "q_star") == "q_z"
    for q in ("xi", "xi_q", "c_star", "c_h_star"):
        with pytest.raises(ValueError, match="population dynamics does not solve"):
            theory.predict("gru", q, closure="population")
    with pytest.raises(ValueError, match="closure"):
        theory.predict("lstm", "Q_star", closure="exact")
    with pytest.raises(ValueError, match="population' only"):
        theory.predict("lstm", "Q_star", seed=3)
    with pytest.raises(ValueError, match="gated cells only"):
        theory.predict("vanilla-tanh", "Q_star", closure="population")
    assert theory.predict("vanilla-tanh", "chi", closure="gaussian") == theory.predict("vanilla-tanh", "chi")
