"""Simulators against hand-computed cases (07 §1: test the simulator itself)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import verify  # noqa: F401  (x64 on)
from verify.simulators import SIMULATORS, get
from verify.simulators.base import Weights, correlated_inputs, initial_pair

# A width-2 network with fixed numbers; expected values below are written out by hand.
W2 = np.array([[0.5, -1.0], [0.25, 2.0]])
V2 = np.array([[1.0, 0.0], [-0.5, 0.5]])
B2 = np.array([0.1, -0.2])
H2 = np.array([0.3, -0.4])
X2 = np.array([1.0, 2.0])


def _w(V=V2):
    return Weights(jnp.asarray(W2), None if V is None else jnp.asarray(V), jnp.asarray(B2))


def test_vanilla_tanh_width2_step_matches_hand_computation():
    # e_1 = 0.5*0.3 - 1.0*(-0.4) + 1.0*1 + 0*2 + 0.1 = 0.15 + 0.4 + 1 + 0.1 = 1.65
    # e_2 = 0.25*0.3 + 2*(-0.4) - 0.5*1 + 0.5*2 - 0.2 = 0.075 - 0.8 - 0.5 + 1 - 0.2 = -0.425
    out = get("vanilla-tanh").step(_w(), jnp.asarray(H2), jnp.asarray(X2), {})
    np.testing.assert_allclose(out.e, [1.65, -0.425], rtol=1e-14)
    np.testing.assert_allclose(out.h, [math.tanh(1.65), math.tanh(-0.425)], rtol=1e-14)
    np.testing.assert_allclose(out.rec, [0.55, -0.725], rtol=1e-14)


@pytest.mark.parametrize(
    "act, expected",
    [
        ("relu", [1.65, 0.0]),
        ("hard-tanh", [1.0, -0.425]),
        ("linear", [1.65, -0.425]),
        ("erf", [math.erf(1.65), math.erf(-0.425)]),
    ],
)
def test_vanilla_width2_activations_match_hand_computation(act, expected):
    out = get(f"vanilla-{act}").step(_w(), jnp.asarray(H2), jnp.asarray(X2), {})
    np.testing.assert_allclose(out.h, expected, rtol=1e-14)


def test_feedforward_relu_width2_layer_matches_hand_computation():
    # e = W h + b = [0.55 + 0.1, -0.725 - 0.2] = [0.65, -0.925]
    out = get("feedforward-relu").step(_w(V=None), jnp.asarray(H2), None, {})
    np.testing.assert_allclose(out.e, [0.65, -0.925], rtol=1e-14)
    np.testing.assert_allclose(out.h, [0.65, 0.0], rtol=1e-14)


def test_minimalrnn_width2_step_matches_hand_computation():
    # same e as vanilla (z = X2): u = sigmoid(e); h' = u h + (1-u) z
    e = np.array([1.65, -0.425])
    u = 1.0 / (1.0 + np.exp(-e))
    expected = u * H2 + (1.0 - u) * X2
    out = get("minimalrnn").step(_w(), jnp.asarray(H2), jnp.asarray(X2), {})
    np.testing.assert_allclose(out.e, e, rtol=1e-14)
    np.testing.assert_allclose(out.h, expected, rtol=1e-14)


@pytest.mark.parametrize("cell", sorted(SIMULATORS))
def test_exact_chi_equals_full_jacobian_frobenius_norm(cell):
    """The hand-derived (1/N)||J||_F^2 of each cell equals the norm of jax.jacfwd's Jacobian."""
    sim = get(cell)
    n = 7
    p = {k: 0.8 for k in sim.param_names} | ({"Sigma": 0.3} if "Sigma" in sim.param_names else {})
    kw, kx, kh = jax.random.split(jax.random.key(3), 3)
    w = sim.draw_weights(kw, n, p, jnp.float64)
    x = sim.draw_inputs(kx, n, p, jnp.float64)[0] if sim.draw_inputs else None
    h = jax.random.normal(kh, (n,), jnp.float64)
    out = sim.step(w, h, x, p)
    J = jax.jacfwd(lambda hh: sim.step(w, hh, x, p).h)(h)
    assert float(sim.exact_chi(w, h, x, out, p)) == pytest.approx(float(jnp.sum(J * J)) / n, rel=1e-12)


def test_weights_have_the_declared_variances():
    """Entries of W, V ~ N(0, sigma^2/N), b ~ N(mu_b, sigma_b^2): sample moments within 5 SE."""
    n = 400
    p = {"sigma_w": 1.5, "sigma_v": 0.7, "sigma_b": 0.3, "mu_b": 2.0, "R": 1.0, "Sigma": 1.0}
    w = get("minimalrnn").draw_weights(jax.random.key(0), n, p, jnp.float64)
    for mat, s in ((w.W, 1.5), (w.V, 0.7)):
        m2 = float(jnp.mean(mat**2)) * n
        se = s**2 * math.sqrt(2.0 / (n * n))  # Var(g^2) = 2 for g ~ N(0,1)
        assert abs(m2 - s**2) < 5 * se
    assert abs(float(jnp.mean(w.b)) - 2.0) < 5 * 0.3 / math.sqrt(n)


def test_correlated_inputs_have_second_moment_R_and_correlation_Sigma():
    n = 200_000
    xa, xb = correlated_inputs(jax.random.key(1), n, 2.0, 0.6, jnp.float64)
    # E[x^2] = R = 2, E[x_a x_b] = Sigma R = 1.2; sd of a product of two N(0,2) ~ 2*sqrt(1+0.36)
    assert abs(float(jnp.mean(xa * xa)) - 2.0) < 5 * 2.0 * math.sqrt(2 / n)
    assert abs(float(jnp.mean(xb * xb)) - 2.0) < 5 * 2.0 * math.sqrt(2 / n)
    assert abs(float(jnp.mean(xa * xb)) - 1.2) < 5 * 2.0 * math.sqrt(1.36 / n)


def test_initial_pair_has_exact_second_moment_and_overlap():
    ha, hb = initial_pair(jax.random.key(2), 64, 0.7, -0.2, jnp.float64)
    assert float(jnp.mean(ha * ha)) == pytest.approx(0.7, rel=1e-12)
    assert float(jnp.mean(hb * hb)) == pytest.approx(0.7, rel=1e-12)
    assert float(jnp.mean(ha * hb)) == pytest.approx(-0.2, rel=1e-12)


def test_simulators_reject_negative_variance_and_unknown_parameters():
    sim = get("vanilla-tanh")
    good = {"sigma_w": 1.0, "sigma_v": 1.0, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}
    sim.check_params(good)
    with pytest.raises(ValueError, match="sigma_b must be >= 0"):
        sim.check_params(good | {"sigma_b": -0.1})
    with pytest.raises(ValueError, match="unknown"):
        sim.check_params(good | {"mu_b": 0.0})
    with pytest.raises(ValueError, match="no simulator"):
        get("gru")
