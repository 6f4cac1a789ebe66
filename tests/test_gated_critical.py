"""Critical initialisation of gated cells (theory.criticality.gated_critical) and the jax.nn-style initialisers.

Marked slow: it compiles the forward-mode Jacobian of (lambda_max, xi_q) through the fixed point
(about 45 s of XLA compilation on 2 busy cores).  References are independent of the solver:
lambda_max is re-evaluated by the numba kernel at the returned parameters, and the initialisers'
sample variance is compared with sigma^2 / fan_in.
"""
import pytest

import theory


@pytest.mark.slow
def test_lstm_critical_init_lands_on_lambda_max_one_and_its_initialisers_have_the_stated_variance():
    """lambda_max = 1 solved for the common recurrent scale (bracket + Newton with jax.grad through
    the fixed point); the horizon variant also hits xi_q = T on the critical surface."""
    import jax

    from theory.criticality.gated_init import initializers

    c = theory.cell("lstm")
    sol = c.critical_init()
    assert sol["feasible"] and theory.predict("lstm", "lambda_max", **sol["params"]) == pytest.approx(1.0, abs=1e-10)
    hor = c.critical_init(horizon=20.0)
    assert hor["feasible"] and hor["xi_q"] == pytest.approx(20.0, rel=1e-6)
    assert hor["lambda_max"] == pytest.approx(1.0, abs=1e-10)
    assert not c.critical_init(horizon=1e9)["feasible"]
    # the solver's forward-mode derivatives (jax.jacfwd through lax.custom_root) vs central finite
    # differences of the numba kernels (an independent evaluation route)
    from theory.criticality.gated_critical import _grad
    p = dict(theory.parameters("lstm"))
    for q in ("lambda_max", "xi_q"):
        val, g = _grad(c, q, p)
        assert val == pytest.approx(theory.predict("lstm", q, **p), rel=1e-10)
        for n in ("mu_b_f", "sigma_w_o", "sigma_w_g"):
            h = 1e-5
            fd = (theory.predict("lstm", q, **{**p, n: p[n] + h}) - theory.predict("lstm", q, **{**p, n: p[n] - h})) / (2 * h)
            assert g[n] == pytest.approx(fd, rel=1e-6), (q, n)
    init = initializers("lstm", **sol["params"])
    W = init["recurrent_kernel_f"](jax.random.PRNGKey(0), (400, 400))
    assert float(W.var()) * 400 == pytest.approx(sol["params"]["sigma_w_f"] ** 2, rel=0.02)  # 160000 entries: SE 0.35%
    b = init["bias"](jax.random.PRNGKey(1), (4 * 50,))
    assert float(b[50:100].mean()) == pytest.approx(sol["params"]["mu_b_f"], abs=1e-12)  # sigma_b_f = 0
