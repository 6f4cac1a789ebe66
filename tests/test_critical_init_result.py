"""``critical_init`` returns one result type for every cell and both theories (#21 item 4).

Each claim: the result says which theory it solved and which criterion it met, the criterion holds
when the point is evaluated again through ``theory.predict`` (an independent call of the served
kernels, not the solver's own number), its initialisers realise the point, and the names of the
earlier per-family results still read as items.
"""
from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pytest

import theory
from theory.criticality.result import CriticalInit


@functools.lru_cache(maxsize=None)
def _solved(cell, **constraints):
    """One solve per cell and constraints in this module (the gated solve compiles jax.jacfwd)."""
    return theory.critical_init(cell, **constraints)


@pytest.mark.parametrize("cell, constraints, quantity", [
    ("vanilla-tanh", {"sigma_b": 0.05}, "chi"),
    ("minimalrnn", {"q_star": 16.0, "R": 0.46, "mu_b": 0.0}, "chi"),
    ("lstm", {}, "lambda_max"),
    ("gru", {}, "lambda_max"),
])
def test_every_cell_gets_a_critical_init_that_meets_its_criterion(cell, constraints, quantity):
    r = _solved(cell, **constraints)
    assert isinstance(r, CriticalInit)
    assert r.theory == "annealed" and r.feasible and r.criterion.startswith(f"{quantity} = 1")
    assert set(r.params) == set(theory.parameters(cell))
    assert float(theory.predict(cell, quantity, **r.params)) == pytest.approx(1.0, abs=1e-9)
    assert r[quantity] == r.predicted[quantity] == getattr(r, quantity)


def test_gated_result_keeps_the_names_of_the_earlier_dict():
    r = _solved("lstm")
    for k in ("params", "lambda_max", "xi_q", "xi", "scale", "feasible", "message"):
        assert k in r
    assert r["scale"] == r.details["scale"] == r.params["sigma_w_f"]
    assert r.get("no such name", 7) == 7
    with pytest.raises(KeyError):
        r["no such name"]
    with pytest.raises(AttributeError, match="has no 'no_such_name'"):
        r.no_such_name
    assert pickle.loads(pickle.dumps(r)) == r


def test_initializers_realise_the_point_for_both_families():
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    n = 512
    lstm = _solved("lstm")
    inits = lstm.initializers()
    W_f = np.asarray(inits["recurrent_kernel_f"](jax.random.PRNGKey(0), (n, n), jnp.float64))
    # n^2 Gaussian entries of variance s^2/n: n * var has relative SE sqrt(2/n^2); 5 SE
    s2 = lstm.params["sigma_w_f"] ** 2
    assert abs(n * W_f.var() - s2) <= 5 * s2 * math.sqrt(2.0) / n
    b_f = np.asarray(inits["bias_f"](jax.random.PRNGKey(1), (n,), jnp.float64))
    sb = lstm.params["sigma_b_f"]
    assert abs(b_f.mean() - lstm.params["mu_b_f"]) <= 5 * max(sb, 1e-12) / math.sqrt(n) + 1e-12

    vanilla = _solved("vanilla-tanh", sigma_b=0.05)
    W = np.asarray(vanilla.initializers()["W"](jax.random.PRNGKey(2), (n, n), jnp.float64))
    # orthogonal by default: W^T W = sigma_w^2 I to rounding
    assert np.allclose(W.T @ W, vanilla.params["sigma_w"] ** 2 * np.eye(n), atol=1e-10)
    with pytest.raises(ValueError, match="no options"):
        lstm.initializers(weights="orthogonal")


def test_an_infeasible_point_refuses_to_initialise():
    r = theory.critical_init("lstm", horizon=1e9)
    assert isinstance(r, CriticalInit) and not r.feasible and math.isnan(r.lambda_max)
    with pytest.raises(ValueError, match="no critical point"):
        r.initializers()


def test_tied_result_is_the_same_type_and_says_tied():
    r = theory.critical_init("minimalrnn", tied=True, paths=512, steps=60, seed=3)
    assert isinstance(r, CriticalInit) and r.theory == "tied" and r.criterion.startswith("tied lambda_max = 1")
    assert r.feasible and r["value"] == r.params[r["solve_for"]]
    # the solver's lambda_max at the root is the target to the root finder's tolerance (common random
    # numbers make lambda(theta) a smooth function of theta); its SE is what the sample allows
    assert r.lambda_max == pytest.approx(1.0, abs=1e-5) and r.lambda_max_se > 0
    assert set(r.initializers()) >= {"W", "b"}


def test_result_type_checks_its_own_fields():
    with pytest.raises(ValueError, match="theory must be"):
        CriticalInit(cell="lstm", params={}, theory="exact", criterion="", feasible=False, message="")
    with pytest.raises(ValueError, match="both predicted and details"):
        CriticalInit(cell="lstm", params={}, theory="tied", criterion="", feasible=False, message="",
                     predicted={"xi": 1.0}, details={"xi": 2.0})
