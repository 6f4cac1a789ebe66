"""The critical line: parametrisation by q* and root-finding in sigma_w agree, and chi = 1 on it."""
import numpy as np
import pytest

import theory


@pytest.mark.parametrize("cell", ["vanilla-tanh", "vanilla-erf", "vanilla-hard-tanh", "feedforward-tanh"])
def test_critical_line_parametrised_by_q_star_has_chi_one_and_matches_root_finding(cell):
    extra = dict(sigma_v=0.3, R=1.0) if cell.startswith("vanilla") else {}
    line = theory.critical_line(cell, q_star=np.array([0.15, 0.5, 1.0, 2.0]), **extra)
    ok = np.isfinite(line["sigma_b"])
    assert ok.sum() >= 2
    sw, sb = line["sigma_w"][ok], line["sigma_b"][ok]
    chi = theory.predict(cell, "chi", sigma_w=sw, sigma_b=sb, **extra)
    np.testing.assert_allclose(chi, 1.0, rtol=1e-10)
    np.testing.assert_allclose(theory.predict(cell, "q_star", sigma_w=sw, sigma_b=sb, **extra), line["q_star"][ok], rtol=1e-9)
    roots = theory.critical_line(cell, along="sigma_b", values=sb, **extra)
    np.testing.assert_allclose(roots["sigma_w"], sw, rtol=1e-9)


def test_erf_critical_line_matches_the_closed_form_of_01():
    # 01 §3: chi = 4 sigma_w^2 / (pi sqrt(1 + 4 q*)) = 1  =>  sigma_w^2 = pi sqrt(1 + 4 q*) / 4
    qs = np.array([0.1, 0.5, 2.0])
    line = theory.critical_line("feedforward-erf", q_star=qs)
    np.testing.assert_allclose(line["sigma_w"] ** 2, np.pi * np.sqrt(1 + 4 * qs) / 4, rtol=1e-14)


def test_minimalrnn_critical_family_gives_chi_one_where_feasible():
    line = theory.critical_line("minimalrnn", q_star=np.array([2.0, 4.0, 16.0]), mu_b=0.0, R=0.46, sigma_b=0.0)
    ok = np.isfinite(line["sigma_v"])
    assert ok.any()
    chi = theory.predict("minimalrnn", "chi", sigma_w=line["sigma_w"][ok], sigma_v=line["sigma_v"][ok],
                         sigma_b=0.0, mu_b=0.0, R=0.46)
    np.testing.assert_allclose(chi, 1.0, rtol=1e-9)


def test_relu_critical_point_is_sigma_w_sqrt2_and_infeasible_with_inputs():
    line = theory.critical_line("feedforward-relu", q_star=np.array([1.0]))
    assert line["sigma_w"][0] == pytest.approx(np.sqrt(2), rel=1e-15) and line["sigma_b"][0] == 0.0
    line = theory.critical_line("vanilla-relu", q_star=np.array([1.0]), sigma_v=0.5)
    assert np.isnan(line["sigma_b"][0])
