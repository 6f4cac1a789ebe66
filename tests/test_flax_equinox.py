"""signalprop.flax and signalprop.equinox: per-gate laws land in the framework's own gates.

Two kinds of check, for every supported cell class:

* **read-back** — after ``initialize``, every gate's weight variance and bias mean (read by
  ``parameters``) equals the law it was given, within ``Z`` standard errors of the sample statistic
  (relative SE of a variance of n Gaussian draws: sqrt(2/n); of a mean: sigma/sqrt(n));
* **behaviour** — independent of how the bridge cuts the arrays: with all weights zero and only gate
  biases set, one step of the framework's own ``__call__`` must give what the cell's equations give
  with those biases in *the framework's* gate (LSTM: c_t = sigmoid(b_f) c_(t-1) with the input gate shut
  and the output gate open; GRU: h_t = sigmoid(b_z) h_(t-1) when the candidate is 0).  A bias written
  into the wrong gate changes these numbers.

CI installs flax and equinox and sets SIGNALPROP_REQUIRE_EXTRAS=1, so these tests cannot skip there.
"""
import math
import os

import numpy as np
import pytest

if os.environ.get("SIGNALPROP_REQUIRE_EXTRAS"):
    import equinox as eqx
    import flax.linen as nn
else:
    nn = pytest.importorskip("flax.linen")
    eqx = pytest.importorskip("equinox")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import theory  # noqa: E402
import signalprop.equinox as se  # noqa: E402
import signalprop.flax as sf  # noqa: E402

Z = 5.0
H, I = 256, 128

LSTM_LAWS = dict(sigma_w_i=0.5, sigma_v_i=0.7, sigma_b_i=0.1, mu_b_i=-0.5,
                 sigma_w_f=1.0, sigma_v_f=0.9, sigma_b_f=0.2, mu_b_f=3.0,
                 sigma_w_g=1.5, sigma_v_g=1.1, sigma_b_g=0.3,
                 sigma_w_o=2.0, sigma_v_o=1.3, sigma_b_o=0.4, mu_b_o=0.5)
GRU_LAWS = dict(sigma_w_r=0.5, sigma_v_r=0.7, sigma_b_r=0.1, mu_b_r=-0.5,
                sigma_w_z=1.0, sigma_v_z=0.9, sigma_b_z=0.2, mu_b_z=2.0,
                sigma_w_n=1.5, sigma_v_n=1.1, sigma_b_n=0.3, sigma_b_hn=0.25)
VANILLA_LAWS = dict(sigma_w=1.3, sigma_v=0.8, sigma_b=0.2)


def assert_reads_back(got, laws):
    """Each written law is read back within Z SE of its sample statistic."""
    for k, v in laws.items():
        if k.startswith("sigma_w"):
            n = H * H
        elif k.startswith("sigma_v"):
            n = H * I
        elif k.startswith("sigma_b"):
            n = H
        else:  # a bias mean: SE sigma_b / sqrt(H)
            sb = laws[k.replace("mu_b", "sigma_b")]
            assert abs(got[k] - v) < Z * sb / math.sqrt(H) + 1e-6, (k, got[k], v)
            continue
        assert abs(got[k] ** 2 / v ** 2 - 1) < Z * math.sqrt(2 / n), (k, got[k], v)


def _flax(cls, **kw):
    cell = cls(features=H, **kw)
    variables = cell.init(jax.random.PRNGKey(0), cell.initialize_carry(jax.random.PRNGKey(1), (1, I)), jnp.zeros((1, I)))
    return cell, variables


@pytest.mark.parametrize("cls, cell_name, laws", [
    ("LSTMCell", "lstm", LSTM_LAWS), ("OptimizedLSTMCell", "lstm", LSTM_LAWS),
    ("GRUCell", "gru-reset-after", GRU_LAWS), ("SimpleCell", "vanilla-tanh", VANILLA_LAWS)])
def test_flax_cells_hold_every_gates_law(cls, cell_name, laws):
    cell, variables = _flax(getattr(nn, cls))
    full = {**theory.parameters(cell_name), **laws}
    new = sf.initialize(cell, variables, full, jax.random.PRNGKey(2))
    assert set(new) == set(variables) and jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(variables)
    name, got = sf.parameters(cell, new)
    assert name == cell_name
    assert_reads_back(got, laws)


@pytest.mark.parametrize("make, cell_name, laws", [
    (lambda k: eqx.nn.LSTMCell(I, H, key=k), "lstm", LSTM_LAWS),
    (lambda k: eqx.nn.GRUCell(I, H, key=k), "gru-reset-after", GRU_LAWS)])
def test_equinox_cells_hold_every_gates_law(make, cell_name, laws):
    m = make(jax.random.PRNGKey(0))
    full = {**theory.parameters(cell_name), **laws}
    new = se.initialize(m, full, jax.random.PRNGKey(2))
    name, got = se.parameters(new)
    assert name == cell_name
    assert_reads_back(got, laws)


def _biases_only(cell_name, **bias):
    p = {k: 0.0 for k in theory.parameters(cell_name) if k.startswith(("sigma", "mu"))}
    return {**theory.parameters(cell_name), **p, **bias}


LSTM_STEP = _biases_only("lstm", mu_b_i=-40.0, mu_b_f=3.0, mu_b_o=40.0)
GRU_STEP = _biases_only("gru-reset-after", mu_b_z=2.0)
sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731


@pytest.mark.parametrize("cls", ["LSTMCell", "OptimizedLSTMCell"])
def test_flax_lstm_forget_bias_acts_as_the_forget_gate(cls):
    cell, variables = _flax(getattr(nn, cls))
    new = sf.initialize(cell, variables, LSTM_STEP, jax.random.PRNGKey(0))
    (c, h), _ = cell.apply(new, (jnp.ones((1, H)), jnp.zeros((1, H))), jnp.zeros((1, I)))
    np.testing.assert_allclose(np.asarray(c), sigmoid(3.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(h), math.tanh(sigmoid(3.0)), rtol=1e-6)


def test_flax_gru_update_bias_acts_as_the_update_gate():
    cell, variables = _flax(nn.GRUCell)
    new = sf.initialize(cell, variables, GRU_STEP, jax.random.PRNGKey(0))
    h, _ = cell.apply(new, jnp.ones((1, H)), jnp.zeros((1, I)))
    np.testing.assert_allclose(np.asarray(h), sigmoid(2.0), rtol=1e-6)


def test_equinox_gates_act_as_their_names_say():
    lstm = se.initialize(eqx.nn.LSTMCell(I, H, key=jax.random.PRNGKey(0)), LSTM_STEP, jax.random.PRNGKey(1))
    h, c = lstm(jnp.zeros(I), (jnp.zeros(H), jnp.ones(H)))
    np.testing.assert_allclose(np.asarray(c), sigmoid(3.0), rtol=1e-6)
    gru = se.initialize(eqx.nn.GRUCell(I, H, key=jax.random.PRNGKey(0)), GRU_STEP, jax.random.PRNGKey(1))
    np.testing.assert_allclose(np.asarray(gru(jnp.zeros(I), jnp.ones(H))), sigmoid(2.0), rtol=1e-6)


def test_critical_init_returns_new_params_and_what_it_solved():
    cell, variables = _flax(nn.LSTMCell)
    # a small fixed budget: what is checked here is that the solved parameters are the ones written
    new, r = sf.critical_init(cell, variables, jax.random.PRNGKey(0), xi=5.0, paths=1024, steps=80)
    assert r.theory == "tied" and r.feasible and r.lambda_max == pytest.approx(math.exp(-1 / 5), abs=1e-6)
    assert sf.parameters(cell, new)[1]["mu_b_f"] == pytest.approx(r.params["mu_b_f"], abs=1e-6)
    m, r2 = se.critical_init(eqx.nn.GRUCell(I, H, key=jax.random.PRNGKey(0)), jax.random.PRNGKey(1), xi=5.0,
                             paths=1024, steps=80)
    assert se.parameters(m)[1]["mu_b_z"] == pytest.approx(r2.params["mu_b_z"], abs=1e-6)


# --------------------------------------------------------------------------------------------------
# the tied theory against the framework's own cell (Benettin on its own apply / __call__)
# --------------------------------------------------------------------------------------------------
WIDTHS = (128, 512)
NETS = 4
SOLVER = dict(paths=8192, seed=0)


def measured(build, measure):
    """(lambda_inf, SE): NETS cells per width in WIDTHS, each built by ``build(width, key)`` and measured by
    ``measure(cell)``; mean and SE over cells (network-to-network spread included), extrapolated in 1/N."""
    from tied_networks import extrapolate
    out = []
    for w in WIDTHS:
        lams = [measure(build(w, jax.random.PRNGKey(10 * w + k)))[0] for k in range(NETS)]
        out.append((float(np.mean(lams)), float(np.std(lams, ddof=1) / math.sqrt(NETS))))
    return extrapolate(out[0], out[1], *WIDTHS)


def test_flax_lstm_grows_perturbations_as_the_tied_theory_says_not_the_annealed():
    """A Flax LSTMCell written with the LSTM's defaults (forget bias 1) and scanned over time is a tied
    network: its measured lambda_max (extrapolated to infinite width) equals the tied prediction within
    Z combined SE, and the annealed prediction is rejected."""
    params = theory.parameters("lstm")

    def build(w, key):
        cell = nn.LSTMCell(features=w)
        v = cell.init(key, cell.initialize_carry(key, (1, w)), jnp.zeros((1, w)))
        return cell, sf.initialize(cell, v, params, key)

    lam, se_ = measured(build, lambda cv: sf.lyapunov(*cv, batch=8))
    cell, v = build(WIDTHS[-1], jax.random.PRNGKey(99))
    pred, pred_se = sf.predict(cell, v, "lambda_max", return_error=True, **SOLVER)
    total = math.hypot(se_, pred_se)
    assert abs(lam - pred) < Z * total, (lam, se_, pred, pred_se)
    assert abs(lam - sf.predict(cell, v, "lambda_max", tied=False)) > Z * total


def test_equinox_gru_grows_perturbations_as_the_tied_theory_says():
    """The same for an Equinox GRUCell at the GRU's defaults (update bias 1)."""
    params = theory.parameters("gru-reset-after")
    lam, se_ = measured(lambda w, key: se.initialize(eqx.nn.GRUCell(w, w, key=key), params, key),
                        lambda m: se.lyapunov(m, batch=8))
    pred, pred_se = theory.predict("gru-reset-after", "lambda_max", tied=True, return_error=True, **SOLVER)
    total = math.hypot(se_, pred_se)
    assert abs(lam - pred) < Z * total, (lam, se_, pred, pred_se)
    assert abs(lam - theory.predict("gru-reset-after", "lambda_max")) > Z * total


def test_measuring_leaves_the_users_jax_settings_alone():
    cell, v = _flax(nn.GRUCell)
    with jax.enable_x64(False):
        sf.lyapunov(cell, v, steps=20, burn=10, batch=2)
        assert jnp.array(1.0).dtype == jnp.float32
    with pytest.raises(ValueError, match="burn"):
        se.lyapunov(eqx.nn.GRUCell(4, 8, key=jax.random.PRNGKey(0)), steps=10, burn=10)


@pytest.mark.parametrize("framework", ["flax", "equinox"])
def test_the_lstm_example_runs_for_flax_and_equinox(tmp_path, framework):
    """examples/lstm_timescales.py framework=flax|equinox at a toy size (smoke test; see test_torch)."""
    from example_scripts import load
    rows = load("lstm_timescales").main([f"framework={framework}", "xis=3", "width=64", "nets=2", "paths=1024", f"out={tmp_path}"])
    assert (tmp_path / "timescales.png").stat().st_size > 10_000
    assert abs(rows[0]["xi_measured"] - 3.0) < 0.5 and rows[0]["xi_annealed"] < 2.5


def test_what_the_theory_does_not_describe_is_refused():
    with pytest.raises(ValueError, match="serves"):
        sf.cell_name(nn.Dense(4))
    with pytest.raises(ValueError, match="residual"):
        sf.cell_name(nn.SimpleCell(features=8, residual=True))
    with pytest.raises(ValueError, match="sigmoid gates and tanh"):
        sf.cell_name(nn.LSTMCell(features=8, activation_fn=nn.relu))
    with pytest.raises(ValueError, match="use_bias=False"):
        se.initialize(eqx.nn.LSTMCell(4, 8, use_bias=False, key=jax.random.PRNGKey(0)),
                      theory.parameters("lstm"), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="missing"):
        se.initialize(eqx.nn.GRUCell(4, 8, key=jax.random.PRNGKey(0)), {"sigma_w_r": 1.0}, jax.random.PRNGKey(0))
    m = eqx.nn.GRUCell(4, 64, key=jax.random.PRNGKey(0))
    m = eqx.tree_at(lambda m: m.weight_hh, m, m.weight_hh + 1.0)
    with pytest.raises(ValueError, match="zero-mean weights"):
        se.parameters(m)
