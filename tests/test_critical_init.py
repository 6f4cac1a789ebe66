"""critical_init and the jax.nn.initializers-style initialisers (issue #5).

chi and q* at the returned parameters are checked with ``tests/reference.py`` (scipy quadrature,
independent of the generated kernels); the isometry budget with mu_1, mu_2 by quadrature; the
initialisers' second moments by Monte Carlo (stated size and standard error) and orthogonality
exactly.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from reference import expect1, reference
from theory.criticality.critical import CHI_TOL
from theory.criticality.initializers import bias, gaussian, orthogonal


def _ref(cell, q, params):
    keys = {"vanilla-tanh": ("sigma_w", "sigma_v", "sigma_b", "R"),
            "minimalrnn": ("sigma_w", "sigma_v", "sigma_b", "mu_b", "R")}[cell]
    return reference(cell, q, **{k: params[k] for k in keys})


@pytest.mark.parametrize("q_star", [0.05, 4.0])
def test_vanilla_tanh_q_star_mode_lands_on_chi_one_at_the_requested_q_star(q_star):
    cp = theory.critical_init("vanilla-tanh", q_star=q_star, sigma_v=0.0)
    assert cp.feasible and abs(cp.chi - 1.0) <= CHI_TOL
    assert abs(_ref("vanilla-tanh", "chi", cp.params) - 1.0) <= 1e-10
    assert _ref("vanilla-tanh", "q_star", cp.params) == pytest.approx(q_star, rel=1e-10)
    assert cp.params["sigma_v"] == 0.0


def test_vanilla_tanh_with_sigma_b_fixed_root_solves_sigma_w():
    cp = theory.critical_init("vanilla-tanh", sigma_b=0.05, sigma_v=0.3, R=2.0)
    assert cp.params["sigma_b"] == 0.05 and cp.params["sigma_v"] == 0.3 and cp.params["R"] == 2.0
    assert abs(_ref("vanilla-tanh", "chi", cp.params) - 1.0) <= 1e-10
    assert "root solve" in cp.method


def test_minimalrnn_meets_q_star_R_and_mu_b():
    cp = theory.critical_init("minimalrnn", q_star=16.0, R=0.46, mu_b=0.0)
    assert cp.params["R"] == 0.46 and cp.params["mu_b"] == 0.0
    assert abs(_ref("minimalrnn", "chi", cp.params) - 1.0) <= 1e-10
    assert _ref("minimalrnn", "q_star", cp.params) == pytest.approx(16.0, rel=1e-10)
    assert cp.feasible


def test_isometry_budget_mode_meets_the_variance_budget():
    # orthogonal W, T = 20 steps, budget sigma^2/m_1^2 = T (mu_2/mu_1^2 - 1) <= 0.1 at chi = 1
    T, budget = 20, 0.1
    cp = theory.critical_init("vanilla-tanh", sigma_v=0.0, T=T, max_variance=budget)
    assert abs(_ref("vanilla-tanh", "chi", cp.params) - 1.0) <= 1e-10
    q = _ref("vanilla-tanh", "q_star", cp.params)
    mu1 = expect1(lambda x: (1 - math.tanh(x) ** 2) ** 2, 0.0, q)
    mu2 = expect1(lambda x: (1 - math.tanh(x) ** 2) ** 4, 0.0, q)
    assert T * (mu2 / mu1 ** 2 - 1.0) == pytest.approx(budget, rel=1e-7)  # largest q* within budget
    assert cp.variance == pytest.approx(budget, rel=1e-7)


def test_bad_or_infeasible_constraints_raise_clear_errors():
    with pytest.raises(ValueError, match="both given"):
        theory.critical_init("vanilla-tanh", sigma_w=1.0, sigma_b=0.1)
    with pytest.raises(ValueError, match="infeasible"):  # sigma_b^2 < 0: sigma_v^2 R exceeds q*
        theory.critical_init("vanilla-tanh", q_star=0.5, sigma_v=1.0, R=1.0)
    with pytest.raises(ValueError, match="no isometry-optimal interior point"):  # spread falls as q* -> 0
        theory.critical_init("vanilla-tanh", sigma_v=0.0)
    with pytest.raises(ValueError, match="weights"):
        theory.critical_init("vanilla-tanh", q_star=1.0, weights="unitary")
    with pytest.raises(ValueError):
        theory.critical_init("vanilla-tanh", q_star=1.0, sigma_q=3.0)  # unknown parameter


# ---------------------------------------------------------------------------------------------
# initialisers
# ---------------------------------------------------------------------------------------------

def test_gaussian_initializer_has_variance_std_squared_over_fan_in():
    std, shape = 1.7, (300, 200)  # Flax Dense kernel (in, out): fan_in = 300
    W = np.asarray(gaussian(std)(jax.random.PRNGKey(0), shape, jnp.float64))
    assert W.shape == shape and W.dtype == np.float64
    x = W.ravel() ** 2 * shape[0] / std ** 2  # chi^2_1: mean 1, variance 2
    se = math.sqrt(2.0 / x.size)  # 60000 entries: SE 0.0058
    assert abs(x.mean() - 1.0) <= 4 * se
    assert abs(W.mean()) <= 4 * std / math.sqrt(shape[0]) / math.sqrt(W.size)
    W2 = np.asarray(gaussian(std, in_axis=-1)(jax.random.PRNGKey(1), shape, jnp.float64))  # (out, in)
    x2 = W2.ravel() ** 2 * shape[1] / std ** 2
    assert abs(x2.mean() - 1.0) <= 4 * se


@pytest.mark.parametrize("shape", [(64, 64), (80, 48), (48, 80)])
def test_orthogonal_initializer_is_scaled_orthogonal(shape):
    gain = 1.3
    W = np.asarray(orthogonal(gain)(jax.random.PRNGKey(2), shape, jnp.float64))
    assert W.shape == shape and W.dtype == np.float64
    small = min(shape)
    G = W.T @ W if shape[0] >= shape[1] else W @ W.T
    np.testing.assert_allclose(G, gain ** 2 * np.eye(small), atol=1e-12)
    W32 = np.asarray(orthogonal(gain)(jax.random.PRNGKey(2), shape))
    assert W32.dtype == np.float32
    np.testing.assert_allclose(W32.T @ W32 if shape[0] >= shape[1] else W32 @ W32.T, gain ** 2 * np.eye(small),
                               atol=2e-5)
    with pytest.raises(ValueError, match="kernel needs shape"):
        orthogonal(gain)(jax.random.PRNGKey(0), (4,))


def test_orthogonal_initializer_is_not_biased_towards_identity():
    # Haar: E[W_11] = 0 and E[W_11^2] = 1/N; 400 draws of a 16 x 16 matrix, SE of mean 1/sqrt(16 * 400)
    keys = jax.random.split(jax.random.PRNGKey(3), 400)
    f = jax.vmap(lambda k: orthogonal(1.0)(k, (16, 16), jnp.float64)[0, 0])
    d = np.asarray(f(keys))
    assert abs(d.mean()) <= 4 / math.sqrt(16 * 400)
    assert abs((d ** 2).mean() * 16 - 1.0) <= 4 * math.sqrt(2.0 / 400)


def test_bias_initializer_mean_and_std():
    b = np.asarray(bias(0.7, 0.2)(jax.random.PRNGKey(4), (40000,), jnp.float64))
    assert abs(b.mean() - 0.7) <= 4 * 0.2 / math.sqrt(b.size)
    assert abs(b.var() / 0.04 - 1.0) <= 4 * math.sqrt(2.0 / b.size)


def test_critical_point_initializers_realise_the_point():
    cp = theory.critical_init("vanilla-tanh", q_star=0.5, sigma_v=0.0)
    inits = cp.initializers()
    assert set(inits) == {"W", "V", "b"}
    N = 64
    W = np.asarray(inits["W"](jax.random.PRNGKey(5), (N, N), jnp.float64))
    assert np.trace(W @ W.T) / N == pytest.approx(cp.params["sigma_w"] ** 2, rel=1e-12)  # orthogonal: exact
    Wg = np.asarray(cp.initializer("W", weights="gaussian")(jax.random.PRNGKey(6), (400, 400), jnp.float64))
    se = math.sqrt(2.0 / Wg.size) * cp.params["sigma_w"] ** 2  # SE of (1/N) tr W W^T
    assert abs(np.trace(Wg @ Wg.T) / 400 - cp.params["sigma_w"] ** 2) <= 4 * se
    b = np.asarray(inits["b"](jax.random.PRNGKey(7), (40000,), jnp.float64))
    assert abs(b.std() - cp.params["sigma_b"]) <= 4 * cp.params["sigma_b"] / math.sqrt(2 * b.size)
