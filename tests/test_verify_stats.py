"""Pass rules and fits (07 §4) on inputs with known answers."""

import math

import numpy as np
import pytest

from verify.statistics.stats import (
    ALPHA,
    Estimate,
    agrees,
    allowance,
    bonferroni_k,
    ensemble_estimate,
    extrapolate_width,
    log_log_slope,
    rms_error,
    slope_matches,
    weighted_line,
)


def test_bonferroni_k_reduces_to_the_normal_quantile_for_one_check_and_many_networks():
    # Phi^{-1}(1 - 0.01/2) = 2.5758 (standard table)
    assert bonferroni_k(1, 10**7, alpha=0.01) == pytest.approx(2.5758, abs=1e-3)


def test_bonferroni_k_grows_with_the_number_of_checks_and_uses_student_t():
    # t_{31} quantile at 1 - 0.01/(2*10) = 0.9995 is 3.633 (table value)
    assert bonferroni_k(10, 32, alpha=0.01) == pytest.approx(3.633, abs=2e-3)
    assert bonferroni_k(100, 32) > bonferroni_k(10, 32)
    assert ALPHA == 0.01


def test_ensemble_estimate_sample_size_is_the_number_of_networks():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])  # 3 networks, 2 steps
    e = ensemble_estimate(x)
    np.testing.assert_allclose(e.mean, [3.0, 6.0])
    np.testing.assert_allclose(e.se, [2.0 / math.sqrt(3), 4.0 / math.sqrt(3)])
    assert e.n == 3


def test_pass_rule_accepts_within_and_rejects_outside_k_se_plus_allowance():
    e = Estimate(1.0, 0.01, 32)
    assert agrees(1.035, e, 3.0, 0.01)  # |0.035| <= 0.03 + 0.01
    assert not agrees(1.05, e, 3.0, 0.01)
    assert not agrees(float("nan"), e, 3.0, 0.01)


def test_allowance_is_relative_for_moments_and_absolute_for_correlations():
    assert allowance("q_star", -2.0, 100, coef=5.0) == pytest.approx(0.1)
    assert allowance("c_star", 0.3, 100, coef=5.0) == pytest.approx(0.05)


def test_log_log_slope_recovers_declared_orders():
    w = np.array([64, 128, 256, 512, 1024])
    for p in (-0.5, -1.0):
        err = 3.0 * w**p
        fit = log_log_slope(w, err, 0.01 * err)
        assert fit.slope == pytest.approx(p, abs=1e-10)
        assert slope_matches(fit.slope, 0.01, p, 3.0)
        assert not slope_matches(fit.slope, 0.01, p + 0.5, 3.0, 0.1)


def test_extrapolation_recovers_the_infinite_width_value():
    w = np.array([64.0, 128, 256, 512])
    x_inf, se, a, _ = extrapolate_width(w, 0.7 + 2.5 / w, 1e-4 * np.ones(4))
    assert x_inf == pytest.approx(0.7, abs=1e-10) and a == pytest.approx(2.5, abs=1e-8)


def test_weighted_line_inflates_errors_when_scatter_exceeds_them():
    x = np.arange(6.0)
    y = 1.0 + 2.0 * x + np.array([0.5, -0.5, 0.5, -0.5, 0.5, -0.5])
    tight = weighted_line(x, y, 0.01 * np.ones(6))
    assert tight.slope_se > 0.05  # scaled by the reduced chi^2, not 0.01-sized


def test_rms_error_of_constant_offset():
    rms, se = rms_error(np.array([1.1, 1.1, 1.1, 1.1]), 1.0)
    assert rms == pytest.approx(0.1) and se == pytest.approx(0.0)
