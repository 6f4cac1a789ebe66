"""numba and jax kernels agree; jax kernels compose with jit, vmap and grad; float64 throughout."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import theory
from conftest import CELLS, chaotic_point, ordered_point

ONE_D = ("q_star", "Q_star", "chi", "xi_q")


def valid_params(cell):
    """Hypothesis strategy of parameters with a finite fixed point for ``cell``."""
    sw_max = {"relu": 1.35, "linear": 0.95}.get(cell.split("-", 1)[-1], 3.0)
    sw = st.floats(0.1, sw_max)
    sb = st.floats(0.0, 1.0)
    if cell.startswith("feedforward-"):
        return st.fixed_dictionaries(dict(sigma_w=sw, sigma_b=sb))
    base = dict(sigma_w=sw, sigma_v=st.floats(0.0, 1.5), sigma_b=sb, R=st.floats(0.1, 2.0),
                Sigma=st.floats(0.0, 1.0))
    if cell == "minimalrnn":
        base.update(sigma_w=st.floats(0.1, 4.0), mu_b=st.floats(-3.0, 5.0))
    return st.fixed_dictionaries(base)


@pytest.mark.parametrize("cell", CELLS)
def test_numba_and_jax_agree_to_1e10_over_hypothesis_drawn_parameters(cell):
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(valid_params(cell))
    def check(p):
        for q in ONE_D:
            a = theory.predict(cell, q, backend="numba", **p)
            b = float(theory.predict(cell, q, backend="jax", **p))
            assert b == pytest.approx(a, rel=1e-10, abs=1e-13), (q, p)
    check()


@pytest.mark.parametrize("cell", [c for c in CELLS if chaotic_point(c)])
def test_numba_and_jax_agree_on_correlation_quantities(cell):
    for p in (chaotic_point(cell), dict(ordered_point(cell), **({"Sigma": 0.3} if "Sigma" in ordered_point(cell) else {}))):
        for q in ("c_star", "c_h_star", "xi"):
            a = theory.predict(cell, q, backend="numba", **p)
            b = float(theory.predict(cell, q, backend="jax", **p))
            assert b == pytest.approx(a, rel=1e-10, abs=1e-13), (q, p)


@pytest.mark.parametrize("cell", ["vanilla-tanh", "vanilla-erf", "minimalrnn", "feedforward-relu", "vanilla-hard-tanh"])
@pytest.mark.parametrize("quantity", ["q_star", "chi"])
def test_jax_grad_of_fixed_point_quantities_matches_finite_differences(cell, quantity):
    p = dict(ordered_point(cell))
    p["sigma_b"] = max(p["sigma_b"], 0.2)  # central differences need sigma_b > 0
    names = theory.cell(cell).param_names
    mod = theory.kernels(cell, "jax")
    f = getattr(mod, quantity)
    for k in ("sigma_w", "sigma_b"):
        i = names.index(k)
        args = [jnp.float64(p[n]) for n in names]
        g = jax.grad(f, argnums=i)(*args)
        h = 1e-5
        up = list(map(float, args)); up[i] += h
        dn = list(map(float, args)); dn[i] -= h
        fd = (theory.predict(cell, quantity, **dict(zip(names, up))) - theory.predict(cell, quantity, **dict(zip(names, dn)))) / (2 * h)
        assert float(g) == pytest.approx(fd, rel=1e-6, abs=1e-9), (k, float(g), fd)


def test_jit_and_vmap_compose_and_preserve_float64():
    mod = theory.kernels("minimalrnn", "jax")
    sw = jnp.linspace(0.5, 3.0, 5)
    f = jax.jit(jax.vmap(mod.chi, in_axes=(0, None, None, None, None, None)))
    out = f(sw, 1.0, 0.0, 1.0, 1.0, 1.0)
    assert out.dtype == jnp.float64 and out.shape == (5,)
    want = theory.predict("minimalrnn", "chi", sigma_w=np.asarray(sw))
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-10)
    g = jax.jit(jax.vmap(jax.grad(mod.q_star), in_axes=(0, None, None, None, None, None)))(sw, 1.0, 0.0, 1.0, 1.0, 1.0)
    assert g.dtype == jnp.float64 and np.all(np.isfinite(np.asarray(g)))


def test_predict_broadcasts_over_parameter_grids_for_both_backends():
    sw = np.linspace(0.5, 2.5, 7)[:, None]
    sb = np.linspace(0.05, 0.5, 3)[None, :]
    a = theory.predict("vanilla-tanh", "chi", sigma_w=sw, sigma_b=sb)
    b = np.asarray(theory.predict("vanilla-tanh", "chi", backend="jax", sigma_w=sw, sigma_b=sb))
    assert a.shape == b.shape == (7, 3) and a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-10)
    assert isinstance(theory.predict("vanilla-tanh", "chi"), float)
