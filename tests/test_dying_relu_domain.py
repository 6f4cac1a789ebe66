"""``domain_bdp`` (theory/studies/dying_relu_domain.py): the exact d = 1 domain born-dead law.

References come from independent routes written here: exact rationals for L = 1, 2 and N = 1
(derived below), the bounds and ``bdp_estimate`` of the generated kernels (a different code path),
scipy's bivariate normal CDF for the per-layer death probabilities, and a plain numpy simulation of
real networks at x = +1 and x = -1.  The numerical error of the computation (stated 1e-3 absolute)
is re-measured by changing the grid, the number of Sobol points and the scramble seed.
"""
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

import theory
from theory.studies import dying_relu_domain as dom

CELL = "feedforward-relu"
ERR = dom.NUMERICAL_ERROR


def predict(q, **kw):
    return theory.predict(CELL, q, **kw)


def test_one_layer_never_kills_both_signs():
    # layer 1: a = relu(w), b = relu(-w); both zero would need w = 0 (probability 0)
    assert np.all(predict("domain_bdp", N=np.arange(1, 17), L=1) == 0.0)


def test_two_layers_equal_the_closed_form_and_bdp_estimate():
    # after layer 1: one side dead w.p. 2k (k = 2^-N), it then dies w.p. k; else a, b have disjoint
    # supports (angle pi/2) and both die iff every row has w.a <= 0 and w.b <= 0, independent
    # half-lines: (1/4)^N.  D_2 = 2k^2 + (1 - 2k) 4^-N = 4^-N (3 - 2^(1-N)).
    for n in range(1, 17):
        k = Fraction(1, 2 ** n)
        ref = 2 * k * k + (1 - 2 * k) * Fraction(1, 4 ** n)
        assert ref == Fraction(1, 4 ** n) * (3 - 2 * k)
        got = predict("domain_bdp", N=n, L=2)
        assert got == pytest.approx(float(ref), rel=1e-12, abs=0)
        assert got == pytest.approx(predict("bdp_estimate", N=n, L=2), rel=1e-12, abs=0)


def test_width_one_is_the_point_law_shifted_by_one_layer():
    # N = 1: layer 1 always kills exactly one sign (2 * 2^-1 = 1); the survivor dies w.p. 1/2 per layer
    L = np.arange(1, dom.L_MAX + 1)
    np.testing.assert_allclose(predict("domain_bdp", N=1, L=L), 1 - 0.5 ** (L - 1), rtol=1e-13, atol=0)


@pytest.mark.parametrize("theta", [0.3, 1.0, np.pi / 2])
def test_per_layer_death_probabilities_match_the_bivariate_normal_cdf(theta):
    rho = np.cos(theta)
    orth = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([0, 0])
    for n in (1, 3, 8):
        d2, d1 = dom.death_probabilities(n, theta)
        assert d2 == pytest.approx(orth ** n, rel=1e-5)
        assert d1 == pytest.approx(2 * (0.5 ** n - orth ** n), rel=1e-5, abs=1e-12)


def test_at_angle_zero_the_two_sides_die_together():
    # theta = 0: g' = g, so both die w.p. 2^-N and exactly one never
    for n in (1, 3, 8):
        assert dom.death_probabilities(n, 0.0) == (0.5 ** n, 0.0)


def test_kernel_rows_are_probability_laws_and_width_one_maps_every_angle_to_zero():
    for n in (2, 4):
        K = dom.kernel(n)
        assert K.shape == (dom.GRID, dom.GRID) and np.all(K >= 0)
        np.testing.assert_allclose(K.sum(1), 1.0, rtol=1e-12)
    # N = 1: relu(g), relu(g') are positive scalars when both survive, so the angle is 0
    K1 = dom.kernel(1, grid=17, log2_points=10)
    np.testing.assert_allclose(K1[:, 0], 1.0, rtol=1e-12)


WIDTHS = (1, 2, 3, 4, 6, 8)


@pytest.fixture(scope="module")
def curves():
    L = np.arange(1, dom.L_MAX + 1)
    return L, {n: predict("domain_bdp", N=n, L=L) for n in WIDTHS}


def test_between_the_bounds_for_every_depth(curves):
    L, c = curves
    for n, d in c.items():
        up = predict("bdp_upper", N=n, L=L)
        lo = predict("bdp_lower", N=n, L=L)
        # the upper bound holds to rounding: side +1 dies at exactly 2^-N per layer in the chain
        assert np.all(d <= up + 1e-12), n
        assert np.all(lo <= d + 1e-12), n


def test_increases_with_depth_and_decreases_with_width(curves):
    L, c = curves
    for n, d in c.items():
        assert np.all(np.diff(d) >= -1e-15), n
    stacked = np.stack([c[n] for n in WIDTHS])
    grows = stacked[:, 1:]                    # L >= 2 (L = 1 is 0 for every width)
    assert np.all(np.diff(grows, axis=0) <= 1e-15)
    assert np.all(np.diff(grows[:, :40], axis=0) < 0)   # strictly, where nothing has saturated at 1


@pytest.mark.parametrize("n", [4, 8])
def test_discretisation_and_sampling_change_the_result_by_less_than_the_stated_error(n):
    L = np.arange(1, dom.L_MAX + 1)
    ref = dom.curve(n)[L]
    half_grid = dom.curve(n, grid=65)[L]
    quarter_points_other_seed = dom.curve(n, log2_points=15, seed=1)[L]
    for alt in (half_grid, quarter_points_other_seed):
        change = np.max(np.abs(alt - ref))
        assert change <= ERR / 2, change      # measured: a few 1e-4 (module docstring)


def simulate_first_dead(n, depth, nets, seed):
    """Plain numpy: first layer at which a bias-free Gaussian net is dead at both x = +1 and x = -1
    (depth + 1 if never), per net; activations renormalised per layer (signs are unchanged)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((nets, n))
    a, b = np.maximum(w, 0), np.maximum(-w, 0)
    first = np.full(nets, depth + 1)
    for layer in range(2, depth + 1):
        W = rng.standard_normal((nets, n, n))
        a = np.maximum(np.einsum("bij,bj->bi", W, a), 0)
        b = np.maximum(np.einsum("bij,bj->bi", W, b), 0)
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        first = np.where((na == 0) & (nb == 0) & (first > layer), layer, first)
        a, b = a / np.where(na > 0, na, 1)[:, None], b / np.where(nb > 0, nb, 1)[:, None]
    return first


@pytest.mark.parametrize("n,nets,seed", [(4, 40000, 11), (8, 40000, 12)])
def test_agrees_with_a_plain_simulation_and_the_simulation_rejects_bdp_estimate(n, nets, seed):
    depths = np.arange(5, 21)
    first = simulate_first_dead(n, depths[-1], nets, seed)
    freq = np.array([(first <= l).mean() for l in depths])
    exact = predict("domain_bdp", N=n, L=depths)
    se = np.sqrt(exact * (1 - exact) / nets)
    # pass within 4 SE (per depth) plus the stated numerical error
    assert np.all(np.abs(freq - exact) <= 4 * se + ERR), (freq, exact, se)
    # power: at the same size the mean-field-angle estimate is rejected somewhere
    est = predict("bdp_estimate", N=n, L=depths)
    se_est = np.sqrt(est * (1 - est) / nets)
    assert np.any(np.abs(freq - est) > 4 * se_est + ERR)


def test_vectorised_over_width_and_depth_and_served_by_the_jax_backend():
    got = predict("domain_bdp", N=np.array([2, 4]), L=np.array([[2], [5], [10]]))
    assert got.shape == (3, 2)
    assert got[1, 1] == predict("domain_bdp", N=4, L=5)
    assert isinstance(predict("domain_bdp", N=4, L=5), float)
    np.testing.assert_array_equal(np.asarray(predict("domain_bdp", backend="jax", N=4, L=[3, 7])),
                                  predict("domain_bdp", N=4, L=[3, 7]))
    assert "domain_bdp" in theory.quantities()


@pytest.mark.parametrize("bad", [0, -1, 2.5, float("nan"), float("inf"), True, "3", [2, 0], None])
def test_bad_width_or_depth_raises(bad):
    with pytest.raises(ValueError):
        predict("domain_bdp", N=bad, L=3)
    with pytest.raises(ValueError):
        predict("domain_bdp", N=3, L=bad)


def test_work_is_bounded_and_biases_are_refused():
    with pytest.raises(ValueError, match="bdp_upper"):
        predict("domain_bdp", N=dom.N_MAX + 1, L=3)
    with pytest.raises(ValueError, match="L <= 10000"):
        predict("domain_bdp", N=3, L=dom.L_MAX + 1)
    with pytest.raises(ValueError, match="zero biases"):
        predict("domain_bdp", N=3, L=3, sigma_b=0.1)
    with pytest.raises(ValueError):
        dom.domain_bdp(2.5, 3)


def test_verify_interval_test_accepts_inside_the_numerical_error_and_rejects_outside():
    from verify.studies.dying_relu_checks import DOMAIN_ERR, _interval_p
    assert DOMAIN_ERR == ERR
    n = 40000
    centre = np.array([0.1, 0.5, 0.0005])
    inside = np.round(n * (centre + 0.9 * ERR)).astype(int)          # within the stated error: p = 1
    np.testing.assert_array_equal(_interval_p(inside, n, centre, ERR), 1.0)
    # 0.02 off (the size of bdp_estimate's error) is rejected; the p-value is the binomial test at the
    # nearest end of [centre - err, centre + err], computed here with scipy
    k = np.round(n * (centre[:2] + 0.02)).astype(int)
    p = _interval_p(k, n, centre[:2], ERR)
    assert np.all(p < 1e-10)
    ref = [stats.binomtest(int(a), n, c + ERR).pvalue for a, c in zip(k, centre[:2])]
    np.testing.assert_allclose(p, ref, rtol=1e-10)
