"""Dying-ReLU theory (theory/studies/dying_relu.py): every served value against an independent route.

References are derived here: exact rational arithmetic (``fractions``), binomial sums (scipy),
scipy quadrature with the Gaussian ``E[relu(m + s Z)] = m Phi(m/s) + s phi(m/s)`` written out in this
file, and the bivariate normal CDF of scipy.  Nothing is copied from the code under test.
"""
import math
from fractions import Fraction
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import theory
from theory.studies import dying_relu as dr
from theory.studies.dying_relu_codegen import declaration_hash, render_package

ROOT = Path(__file__).resolve().parents[1]
CELL = "feedforward-relu"


def predict(q, **kw):
    return theory.predict(CELL, q, **kw)


def exact_point_law(widths):
    """P(dead by layer l) for l = 1..len(widths): 1 - prod (1 - 2^-N_l), in exact rationals."""
    alive, out = Fraction(1), []
    for n in widths:
        alive *= 1 - Fraction(1, 2 ** n)
        out.append(1 - alive)
    return out


def test_point_collapse_equals_exact_rational_law_for_small_widths_and_depths():
    for n in (1, 2, 3, 5, 8):
        ref = exact_point_law([n] * 40)
        got = predict("p_point_collapse", N=n, L=np.arange(1, 41))
        np.testing.assert_allclose(got, [float(r) for r in ref], rtol=1e-13, atol=0)


def test_point_collapse_with_per_layer_widths_equals_exact_product():
    widths = [2, 3, 3, 5, 1, 8, 4]
    got = predict("p_point_collapse", widths=widths)
    np.testing.assert_allclose(got, [float(r) for r in exact_point_law(widths)], rtol=1e-13)


def test_point_collapse_keeps_relative_accuracy_where_the_naive_formula_underflows():
    # 1 - (1 - p)^L = L p - C(L,2) p^2 + ...; with p = 2^-60 the second term is below 1e-17 relative
    got = predict("p_point_collapse", N=60, L=10)
    assert 1 - (1 - 2.0 ** -60) ** 10 == 0.0
    assert got == pytest.approx(10 * 2.0 ** -60, rel=1e-14)


def test_point_collapse_broadcasts_over_width_and_depth():
    got = predict("p_point_collapse", N=np.array([2, 4, 8]), L=np.arange(1, 6)[:, None])
    assert got.shape == (5, 3)
    assert got[4, 0] == pytest.approx(float(exact_point_law([2] * 5)[-1]), rel=1e-14)


def test_collapse_hazard_is_two_to_the_minus_width():
    assert predict("collapse_hazard", N=np.arange(1, 11)).tolist() == [2.0 ** -n for n in range(1, 11)]


def test_width_for_survival_is_the_least_width_meeting_the_target():
    for L in (1, 2, 10, 100, 1000, 10 ** 6):
        for delta in (0.5, 0.25, 0.1, 0.01, 1e-6):
            n = predict("width_for_survival", L=L, delta=delta)
            p = lambda m: 1 - (1 - Fraction(1, 2 ** m)) ** L if L < 2000 else -math.expm1(L * math.log1p(-2.0 ** -m))
            assert float(p(n)) <= delta
            assert n == 1 or float(p(n - 1)) > delta


def test_dead_fraction_at_a_point_is_one_half_plus_half_the_collapse_probability():
    for n in (2, 3, 6):
        ref = [0.5] + [float((1 + r) / 2) for r in exact_point_law([n] * 19)]
        np.testing.assert_allclose(predict("dead_fraction_point", N=n, L=np.arange(1, 21)), ref, rtol=1e-13)


def test_norm_relative_variance_equals_the_binomial_chi_square_sum():
    # per layer R = (2/N) chi^2_K, K ~ Bin(N, 1/2): E[R] = (2/N) E[K], E[R^2] = (4/N^2) E[K^2 + 2K]
    for n in (1, 2, 5, 16):
        k = np.arange(n + 1)
        pmf = stats.binom.pmf(k, n, 0.5)
        m1, m2 = (2 / n) * np.sum(pmf * k), (4 / n ** 2) * np.sum(pmf * (k ** 2 + 2 * k))
        for L in (1, 3, 10):
            assert predict("norm_relvar", N=n, L=L) == pytest.approx((m2 / m1 ** 2) ** L - 1, rel=1e-12)


def test_orthant_lower_bound_equals_product_over_layers_derived_here():
    for n, L, biased in ((2, 5, False), (2, 5, True), (3, 9, False)):
        p = Fraction(1, 2 ** (n * (n + int(biased))))
        ref = 1 - (1 - p) ** (L - 1)
        got = predict("bdp_lower", N=n, L=L, sigma_b=0.3 if biased else 0.0)
        assert got == pytest.approx(float(ref), rel=1e-13)
    # orthant domain: layer 1 (fan-in d) counts too
    ref = 1 - (1 - Fraction(1, 2 ** 4)) ** 4 * (1 - Fraction(1, 2 ** 2))
    assert predict("bdp_lower", N=2, L=5, d=1, domain="orthant") == pytest.approx(float(ref), rel=1e-13)


def test_born_dead_probability_tends_to_one_at_fixed_width():
    # Lu et al.'s key theorem through the lower bound: sum_l 2^-N^2 diverges
    assert predict("bdp_lower", N=2, L=400) > 1 - 1e-10
    assert predict("bdp_lower", N=3, L=20000) > 0.99


def test_domain_estimate_is_exact_for_two_layers_and_lies_between_the_bounds():
    for n in (1, 2, 3, 6):
        k = 2.0 ** -n
        assert predict("bdp_estimate", N=n, L=1) == 0.0
        # layer 1 kills +1 or -1 (disjoint events), layer 2 sees orthogonal inputs: both rows <= 0 w.p. 1/4
        assert predict("bdp_estimate", N=n, L=2) == pytest.approx((1 - 2 * k) * 0.25 ** n + 2 * k * k, rel=1e-13)
    L = np.arange(1, 301)
    for n in (2, 3, 5):
        est, lo, up = (predict(q, N=n, L=L) for q in ("bdp_estimate", "bdp_lower", "bdp_upper"))
        assert np.all(lo <= est + 1e-15) and np.all(est <= up + 1e-15)
        assert np.all(np.diff(est) >= -1e-15)


def _relu_mean(m, s):
    """E[relu(m + s Z)], Z standard normal."""
    return m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)


def _relu_product(q, c):
    """E[relu(u) relu(v)] for (u, v) ~ N(0, q [[1, c], [c, 1]]): quad over z1 > 0 of the closed inner mean."""
    s = math.sqrt(q)
    if c >= 1.0:
        return q / 2
    f = lambda z: s * z * _relu_mean(s * c * z, s * math.sqrt(1 - c * c)) * stats.norm.pdf(z)
    return integrate.quad(f, 0, 40, epsabs=1e-14, epsrel=1e-12, limit=200)[0]


@pytest.mark.parametrize("c", [-0.99, -0.5, 0.0, 0.3, 0.9, 0.999])
def test_relu_mean_field_covariance_kernel_matches_quadrature(c):
    import derivations.feedforward_relu.numba_kernels as k
    sw, sb, Q = 1.3, 0.4, 0.7
    q = sw ** 2 * Q + sb ** 2
    qab = sw ** 2 * c * Q + sb ** 2
    assert float(k.covariance_map(c * Q, Q, sw, sb)) == pytest.approx(_relu_product(q, qab / q), rel=1e-9, abs=1e-13)
    assert float(k.variance_map(Q, sw, sb)) == pytest.approx(q / 2, rel=1e-12)


@pytest.mark.parametrize("rho", [-0.9, 0.0, 0.5, 0.95])
def test_arccos_map_matches_quadrature_and_both_die_matches_bivariate_cdf(rho):
    mod = dr.kernels("numba")
    assert mod._arccos_map(rho) == pytest.approx(_relu_product(1.0, rho) / 0.5, rel=1e-9)
    orth = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([0, 0])
    assert mod._both_die(3.0, rho) == pytest.approx(orth ** 3, rel=1e-6)


def test_mean_field_second_moment_is_preserved_at_sigma_w_squared_two():
    tr = theory.trajectory(CELL, 50, 1.7, sigma_w=math.sqrt(2.0), sigma_b=0.0)
    np.testing.assert_allclose(tr["Q"], 1.7, rtol=1e-13)


QUANTITIES = ("p_point_collapse", "bdp_upper", "bdp_lower", "bdp_estimate", "dead_fraction_point", "norm_relvar")


@pytest.mark.parametrize("q", QUANTITIES)
def test_numba_and_jax_kernels_agree(q):
    N, L = np.array([1, 2, 3, 7, 12]), np.array([[1], [2], [9], [60]])
    a = predict(q, N=N, L=L)
    b = np.asarray(predict(q, backend="jax", N=N, L=L))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


def test_jax_kernels_compose_with_jit_vmap_and_grad():
    k = dr.kernels("jax")
    f = lambda L: k.p_point_collapse(3.0, L)
    # d/dL [1 - s^L] = -s^L log s with s = 1 - 1/8
    s = 7 / 8
    assert float(jax.jit(jax.grad(f))(5.0)) == pytest.approx(-s ** 5 * math.log(s), rel=1e-12)
    v = jax.vmap(f)(jnp.arange(1.0, 4.0))
    np.testing.assert_allclose(v, [1 - s, 1 - s ** 2, 1 - s ** 3], rtol=1e-13)


@pytest.mark.parametrize("bad", [0, -1, 2.5, float("nan"), float("inf"), True, "3", [2, 0]])
def test_non_positive_or_non_integer_width_or_depth_raises(bad):
    with pytest.raises(ValueError):
        predict("p_point_collapse", N=bad, L=3)
    with pytest.raises(ValueError):
        predict("bdp_estimate", N=3, L=bad)


def test_formulas_defined_for_zero_biases_refuse_biases_and_bad_options_raise():
    for q in ("p_point_collapse", "bdp_upper", "bdp_estimate", "norm_relvar"):
        with pytest.raises(ValueError, match="zero biases"):
            predict(q, N=2, L=3, sigma_b=0.1)
    with pytest.raises(ValueError):
        predict("p_point_collapse", N=2, L=3, widths=[2, 2])
    with pytest.raises(ValueError):
        predict("bdp_lower", N=2, L=3, domain="ball")
    with pytest.raises(ValueError):
        predict("bdp_lower", N=2, L=3, domain="orthant")   # needs d
    with pytest.raises(ValueError):
        predict("width_for_survival", L=3, delta=1.5)
    with pytest.raises(ValueError):
        predict("p_point_collapse", L=3)


def test_quantities_are_listed_by_the_api():
    assert {"p_point_collapse", "bdp_lower", "bdp_upper", "bdp_estimate", "width_for_survival"} <= set(theory.quantities())


def test_checked_in_package_is_byte_identical_to_regeneration():
    for name, text in render_package().items():
        path = ROOT / "derivations" / "dying_relu" / name
        assert path.read_text() == text, f"{path} differs: run python -m theory.studies.dying_relu_codegen"


def test_generated_files_carry_header_version_and_hash_and_the_hash_tracks_declarations(monkeypatch):
    text = (ROOT / "derivations" / "dying_relu" / "numba_kernels.py").read_text()
    assert text.startswith("# generated by signalprop — do not edit")
    from theory.declare.cell import GENERATOR_VERSION
    assert f"generator version: {GENERATOR_VERSION}" in text[:300]
    h = declaration_hash()
    assert h in text[:400]
    changed = dr.KERNELS[:-1] + (dr.Kernel("norm_relvar", ("N", "L"), (1 + dr.sp.Integer(4) / dr.N) ** dr.L - 1,
                                           "x", "y"),)
    monkeypatch.setattr("theory.studies.dying_relu_codegen.KERNELS", changed)
    assert declaration_hash() != h
