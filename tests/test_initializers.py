"""Initialisers (theory/criticality/initializers.py): second moments, orthogonality, Haar signs, RAI structure.

Statistical checks use z-tests whose standard errors come from closed forms written here (Gaussian
``Var(W^2) = 2 s^4``) or from the sample, each at ``ALPHA`` with a Bonferroni split inside the test,
and each has a power check (a wrong scale or a wrong law is rejected at the same sample size).
Seeds are fixed, so every test either always passes or always fails.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from theory.criticality.initializers import RAI_SCALE, gaussian, he_normal, orthogonal, rai, rai_dense

ALPHA = 1e-4


def z_crit(m=1):
    return stats.norm.isf(ALPHA / (2 * m))


def second_moment_z(w, s2):
    """z of the sample mean of W^2 against s2 for i.i.d. N(0, s2) entries: SE = sqrt(2) s2 / sqrt(n)."""
    w = np.asarray(w, dtype=float).ravel()
    return (np.mean(w * w) - s2) / (math.sqrt(2.0) * s2 / math.sqrt(w.size))


def test_he_normal_has_second_moment_two_over_fan_in_and_rejects_one_over_fan_in():
    w = he_normal()(jax.random.PRNGKey(0), (200, 64, 48), jnp.float64)
    assert w.shape == (200, 64, 48) and w.dtype == jnp.float64
    assert abs(second_moment_z(w, 2 / 64)) < z_crit(2)
    assert abs(second_moment_z(w, 1 / 64)) > z_crit(2)          # power: LeCun scale rejected
    assert abs(np.mean(np.asarray(w))) < z_crit(2) * math.sqrt(2 / 64 / w.size)


@pytest.mark.parametrize("scaled", [True, False])
def test_gaussian_second_moment_follows_its_scaling_convention(scaled):
    std, fan_in = 1.7, 32
    w = gaussian(std, fan_in_scaled=scaled)(jax.random.PRNGKey(1), (300, fan_in, 16), jnp.float64)
    s2 = std ** 2 / fan_in if scaled else std ** 2
    wrong = std ** 2 if scaled else std ** 2 / fan_in
    assert abs(second_moment_z(w, s2)) < z_crit(2)
    assert abs(second_moment_z(w, wrong)) > z_crit(2)


@pytest.mark.parametrize("shape", [(12, 5), (5, 12), (3, 6, 6)])
def test_orthogonal_has_orthonormal_columns_or_rows_times_gain(shape):
    g = 1.5
    w = np.asarray(orthogonal(g)(jax.random.PRNGKey(2), shape, jnp.float64))
    n_in, n_out = shape[-2:]
    gram = np.swapaxes(w, -1, -2) @ w if n_in >= n_out else w @ np.swapaxes(w, -1, -2)
    np.testing.assert_allclose(gram, g * g * np.broadcast_to(np.eye(min(n_in, n_out)), gram.shape), atol=1e-12)


def test_orthogonal_is_haar_sign_symmetric_while_uncorrected_qr_is_not():
    n, draws = 8, 4000
    keys = jax.random.split(jax.random.PRNGKey(3), draws)
    w = np.asarray(jax.vmap(lambda k: orthogonal()(k, (n, n), jnp.float64))(keys))
    x = w[:, 0, 0]
    # Haar: E[W_11] = 0 and E[W_11^2] = 1/n; SEs from the sample
    assert abs(x.mean()) < z_crit(3) * x.std(ddof=1) / math.sqrt(draws)
    assert abs((x ** 2).mean() - 1 / n) < z_crit(3) * (x ** 2).std(ddof=1) / math.sqrt(draws)
    # power: QR without moving the signs of diag(R) into Q gives a biased first entry
    a = jax.vmap(lambda k: jax.random.normal(k, (n, n), jnp.float64))(keys)
    q = np.asarray(jnp.linalg.qr(a)[0])[:, 0, 0]
    assert abs(q.mean()) > z_crit(3) * q.std(ddof=1) / math.sqrt(draws)


def test_rai_puts_one_beta_two_one_entry_per_neuron_at_a_uniform_position():
    rows, cols, batch = 6, 50, 200          # 5 weights + bias per neuron
    v = np.asarray(rai(scale=1e-9)(jax.random.PRNGKey(4), (batch, rows, cols), jnp.float64))
    big = np.abs(v) > 1e-6                   # the Gaussian entries are ~1e-9: only the positive one is large
    assert np.all(big.sum(axis=-2) == 1)
    pos = v[big]
    assert np.all(pos > 0) and np.all(pos <= 1)
    assert stats.kstest(pos, stats.beta(2, 1).cdf).pvalue > ALPHA / 3
    assert stats.kstest(pos, stats.uniform.cdf).pvalue < ALPHA / 3        # power: Uniform(0, 1) rejected
    where = np.argmax(big, axis=-2).ravel()
    counts = np.bincount(where, minlength=rows)
    assert stats.chisquare(counts).pvalue > ALPHA / 3                     # uniform over the 6 entries


def test_rai_column_moments_match_beta_plus_gaussian_entries():
    rows, cols, batch = 9, 64, 400
    v = np.asarray(rai()(jax.random.PRNGKey(5), (batch, rows, cols), jnp.float64)).reshape(-1, rows, cols)
    s2 = RAI_SCALE ** 2 / (rows - 1)         # fan-in excludes the bias row
    col_sum = v.sum(axis=1).ravel()
    col_sq = (v ** 2).sum(axis=1).ravel()
    m = col_sum.size
    # E[sum] = E[Beta(2,1)] = 2/3; E[sum of squares] = (rows-1) s2 + E[Beta^2] = (rows-1) s2 + 1/2
    assert abs(col_sum.mean() - 2 / 3) < z_crit(4) * col_sum.std(ddof=1) / math.sqrt(m)
    assert abs(col_sq.mean() - ((rows - 1) * s2 + 0.5)) < z_crit(4) * col_sq.std(ddof=1) / math.sqrt(m)
    # power: a symmetric column has mean 0; He-scaled Gaussian entries give a larger second moment
    assert abs(col_sum.mean()) > z_crit(4) * col_sum.std(ddof=1) / math.sqrt(m)
    he_scaled = (rows - 1) * 2 / (rows - 1) + 0.5          # the Gaussian entries at He scale 2/fan_in
    assert abs(col_sq.mean() - he_scaled) > z_crit(4) * col_sq.std(ddof=1) / math.sqrt(m)


def test_rai_dense_splits_weights_and_bias_and_fan_in_option_changes_the_scale():
    W, b = rai_dense(jax.random.PRNGKey(6), 7, 5, jnp.float64)
    assert W.shape == (7, 5) and b.shape == (5,) and W.dtype == jnp.float64
    key = jax.random.PRNGKey(7)
    a = np.asarray(rai(scale=1.0)(key, (4, 3), jnp.float64))
    b2 = np.asarray(rai(scale=1.0, fan_in_counts_bias=True)(key, (4, 3), jnp.float64))
    gauss = a != b2                      # same draws; only the Gaussian entries are rescaled
    np.testing.assert_allclose(b2[gauss] / a[gauss], math.sqrt(3 / 4), rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: gaussian(-1.0), lambda: orthogonal(float("nan")),
                                  lambda: rai(alpha=0.0), lambda: rai(scale=-0.1)])
def test_invalid_initialiser_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


def test_kernels_need_two_dimensions_and_rai_needs_a_bias_row():
    with pytest.raises(ValueError):
        he_normal()(jax.random.PRNGKey(0), (5,))
    with pytest.raises(ValueError):
        rai()(jax.random.PRNGKey(0), (1, 4))
