"""Estimators on cases with a known answer at any width (07 §3).

An *untied linear* RNN has exact finite-width moments: averaging over fresh ``W_t, V_t, b_t``,
``E[q_t] = sigma_w^2 E[Q_{t-1}] + sigma_v^2 R + sigma_b^2`` and ``Q_t = q_t`` (phi = identity, mu_b = 0),
``E[q^ab_t] = sigma_w^2 E[C_{t-1}] + sigma_v^2 R Sigma + sigma_b^2``, ``E[(1/N)||J_t||_F^2] = sigma_w^2``.
So the ensemble means must match the closed forms within ``k SE`` with no finite-width allowance.
"""

import math

import numpy as np
import pytest

import verify  # noqa: F401
from verify.statistics import estimators as est
from verify.engine.sharding import run_ensemble
from verify.engine.simulate import RunShape
from verify.statistics.stats import ensemble_estimate

from conftest_verify import k_for

# Same shapes as the agreement tests, so a full-suite run compiles each program once.
E = 32  # networks: sample size of every check below
N = 128
T = 40
P = {"sigma_w": 0.8, "sigma_v": 0.6, "sigma_b": 0.3, "R": 1.5, "Sigma": 0.4}
Q0, C0 = 2.0, 0.5


def exact_linear_moments(p, steps, q0, c0):
    """Closed-form E[Q_t], E[C_t] of the untied linear RNN (hand-derived, see module doc)."""
    Q, C, out_Q, out_C = q0, c0, [], []
    drive = p["sigma_v"] ** 2 * p["R"] + p["sigma_b"] ** 2
    drive_ab = p["sigma_v"] ** 2 * p["R"] * p["Sigma"] + p["sigma_b"] ** 2
    for _ in range(steps):
        Q = p["sigma_w"] ** 2 * Q + drive
        C = p["sigma_w"] ** 2 * C + drive_ab
        out_Q.append(Q)
        out_C.append(C)
    return np.array(out_Q), np.array(out_C)


@pytest.fixture(scope="module")
def linear_untied():
    stats, _ = run_ensemble("vanilla-linear", P, RunShape(N, T, tied=False), seed=7,
                            ensemble=E, Q0=Q0, C0=C0)
    return stats


def test_untied_linear_rnn_moments_are_unbiased_at_every_step(linear_untied):
    EQ, EC = exact_linear_moments(P, T, Q0, C0)
    k = k_for(4 * T, E)  # q, Q, q_ab, C at T steps
    for name, exact in (("q", EQ), ("Q", EQ), ("q_ab", EC), ("C", EC)):
        e = est.trajectory(linear_untied, name)
        assert np.all(np.abs(e.mean - exact) <= k * e.se), (name, e.mean - exact, e.se)


def test_untied_linear_rnn_wrong_sigma_w_is_rejected(linear_untied):
    """Power: the same rule rejects the closed form evaluated at sigma_w * 1.05."""
    EQ, _ = exact_linear_moments(P | {"sigma_w": 1.05 * P["sigma_w"]}, T, Q0, C0)
    e = est.trajectory(linear_untied, "Q")
    k = k_for(4 * T, E)
    assert np.any(np.abs(e.mean - EQ) > k * e.se)


def test_hutchinson_chi_is_unbiased_for_the_frobenius_norm(linear_untied):
    """Untied linear: E[(1/N)||W||_F^2] = sigma_w^2 exactly; Hutchinson and exact both match."""
    k = k_for(2, E)
    for name in ("chi", "chi_exact"):
        e = ensemble_estimate(linear_untied[name].mean(axis=1))
        assert abs(e.mean - P["sigma_w"] ** 2) <= k * e.se, name


def test_hutchinson_chi_matches_exact_vanilla_tanh_paired():
    """(1/NP) sum |J v|^2 (jax.jvp) vs (1/N) sum phi'(e)^2 |W_i|^2 on the same networks and steps:
    the paired difference has mean zero (k SE over E networks)."""
    p = {"sigma_w": 1.6, "sigma_v": 0.5, "sigma_b": 0.2, "R": 1.0, "Sigma": 1.0}
    stats, _ = run_ensemble("vanilla-tanh", p, RunShape(N, T, tied=True), seed=3,
                            ensemble=E, Q0=1.0, C0=0.0)
    d = (stats["chi"] - stats["chi_exact"]).mean(axis=1)
    e = ensemble_estimate(d)
    assert abs(e.mean) <= k_for(1, E) * e.se
    # and the exact value is not trivially equal to the estimate (the check can fail)
    assert np.std(d) > 0


def test_timescale_fit_recovers_the_linear_q_rate(linear_untied):
    """E[Q_t] - Q* = (Q0 - Q*) sigma_w^{2t} exactly, so 1/xi_q = -ln sigma_w^2."""
    stats, _ = run_ensemble("vanilla-linear", P, RunShape(N, T, tied=False), seed=11,
                            ensemble=E, Q0=6.0, C0=0.0)
    fit = est.fit_timescale(est.observable(stats, "Q"), est.late_window(T), start=1,
                            k=3.0, floor=0.0)
    assert fit is not None and fit.points >= 3
    true = -math.log(P["sigma_w"] ** 2)
    assert abs(fit.inv_xi - true) <= k_for(1, E) * fit.inv_xi_se, (fit, true)


def test_timescale_fit_recovers_a_synthetic_rate():
    rng = np.random.default_rng(0)
    t = np.arange(1, 61)
    x = 0.3 + 0.8 * np.exp(-t / 5.0) + 0.01 * rng.standard_normal((64, 60))
    fit = est.fit_timescale(x, (31, 61), start=1, k=3.0, floor=0.0)
    assert abs(fit.inv_xi - 0.2) <= 4 * fit.inv_xi_se
    assert fit.window[0] == 1 and fit.window[1] <= 31


def test_timescale_fit_returns_none_without_an_approach():
    x = 0.5 + 0.01 * np.random.default_rng(1).standard_normal((32, 40))
    assert est.fit_timescale(x, (21, 41), start=1, k=3.0, floor=0.0) is None


def test_window_average_uses_the_stated_steps():
    x = np.tile(np.arange(1, 11, dtype=float), (3, 1))  # value = step
    assert est.late_window(10) == (6, 11)
    np.testing.assert_allclose(est.window_average(x, (6, 11)), 8.0)
    with pytest.raises(ValueError):
        est.window_average(x, (0, 5))
