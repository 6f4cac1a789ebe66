"""The trainability study (issue 19) at CPU size: the memory task is learned when the horizon is far
shorter than the theory's ξ and is at chance when it is far longer, judged by exact binomial tests on
the held-out answers of each trained network; the T_max rule, its bootstrap and the power-law fit on
constructed inputs; the command line.
"""
import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest

import theory
from verify.studies.trainability import fit_log, row_summary, run_study, t_max
from verify.studies.trainability_task import Training

#: vanilla-tanh with a weak input (sigma_v = 0.1, sigma_b = 0): xi(0.5) = 0.71, xi(1.2) = 18.3 at Sigma = 0
WEAK_INPUT = {"sigma_v": 0.1, "sigma_b": 0.0}
CFG = Training(width=32, steps=200, batch=64, eval_size=400)


@pytest.fixture(scope="module")
def study():
    return run_study("vanilla-tanh", "sigma_w", [0.5, 1.2], [2, 16], seeds=(0, 1), cfg=CFG, params=WEAK_INPUT,
                     progress=None)


def test_xi_is_recorded_at_the_tasks_input_statistics(study):
    xi = study["xi"]["annealed"]
    for v, x in zip(study["values"], xi):
        assert x == theory.predict("vanilla-tanh", "xi", sigma_w=v, Sigma=0.0, **WEAK_INPUT)
    assert xi[0] < 1.0 and xi[1] > 15.0


def test_memory_is_learned_when_the_horizon_is_much_shorter_than_xi(study):
    # sigma_w = 1.2 (xi = 18) at T = 2: every seed's held-out accuracy is >= 0.8 at 99.9 % confidence
    n = CFG.eval_size
    for k in study["correct"][1][0]:
        low = binomtest(k, n).proportion_ci(0.999, method="exact").low
        assert low >= 0.8, (k, n)


def test_memory_is_at_chance_when_the_horizon_is_much_longer_than_xi(study):
    # sigma_w = 0.5 (xi = 0.71) at T = 16 (22 xi): each seed is consistent with chance (two-sided exact
    # test, Bonferroni over seeds, family alpha 1e-3) and its accuracy is below 0.4 at 99.9 % confidence
    n, chance = CFG.eval_size, 1.0 / CFG.classes
    ks = study["correct"][0][1]
    for k in ks:
        assert binomtest(k, n, chance).pvalue > 1e-3 / len(ks), (k, n)
        assert binomtest(k, n).proportion_ci(0.999, method="exact").high < 0.4, (k, n)


def test_t_max_is_the_last_horizon_of_an_unbroken_run_above_threshold():
    Ts = [1, 2, 4, 8]
    assert t_max([0.9, 0.95, 0.5, 0.99], Ts, 0.8) == 2.0  # a later recovery does not count
    assert t_max([0.5, 0.9, 0.9, 0.9], Ts, 0.8) == 0.0
    assert t_max([0.9] * 4, Ts, 0.8) == 8.0
    assert t_max([0.9, float("nan"), 0.9, 0.9], Ts, 0.8) == 1.0  # NaN is not a pass


def test_bootstrap_interval_covers_the_seed_disagreement():
    # two seeds learn up to T = 8, one only to T = 2: the point estimate uses the seed mean, the
    # bootstrap interval spans what resampled seeds give (2 when the weak seed dominates, 8 without it)
    Ts, n = [1, 2, 4, 8, 16], 100
    acc = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.9], [1.0, 1.0, 0.3], [0.9, 0.9, 0.3], [0.3, 0.3, 0.3]])
    r = row_summary(np.round(acc * n), Ts, n, 0.8, np.random.default_rng(1))
    assert r["T_max"] == 2.0  # seed mean at T = 4: 0.77 < 0.8
    assert r["T_max_lo"] == 2.0 and r["T_max_hi"] == 8.0


def test_fit_recovers_a_known_power_law_and_refuses_too_few_rows():
    xi = np.array([0.5, 1.0, 3.0, 9.0, 40.0])
    Ts = [1, 2, 4, 8, 16, 32, 64]
    T_max = 3.0 * xi ** 0.8
    f = fit_log(T_max, xi, [1, 2, 4, 8, 16, 32, 1000])
    assert f["rows_used"] == 5
    assert f["slope"] == pytest.approx(0.8, abs=1e-12) and f["c"] == pytest.approx(3.0, rel=1e-12)
    assert f["r2"] == pytest.approx(1.0, abs=1e-12)
    capped = fit_log([2.0, 64.0, 64.0], [1.0, 5.0, 9.0], Ts)  # rows at the grid's last T are censored
    assert capped["rows_used"] == 1 and "no fit" in capped["note"]
    for flat in ([8.0, 8.0, 8.0], [8.0, 8.0, 32.0]):  # one or two levels of T_max: one or two points
        f = fit_log(flat, [0.7, 0.8, 0.9], Ts)
        assert "slope" not in f and "no fit" in f["note"]


def test_command_writes_the_report_and_heat_map(tmp_path, run_cli):
    r = run_cli("verify.cli", "study=trainability", "cell=lstm", "values=-1,3", "T=1,4", "seeds=2", "width=16", "steps=20",
                "eval=64", f"out={tmp_path}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["knob"] == "mu_b_f" and np.asarray(rep["correct"]).shape == (2, 2, 2)
    assert all(0 <= k <= 64 for k in np.ravel(rep["correct"]))
    assert math.isfinite(rep["xi"]["annealed"][1]) and rep["weights"].startswith("tied")
    assert (tmp_path / "trainability.png").stat().st_size > 10_000


@pytest.mark.parametrize("args,match", [
    (("cell=feedforward-relu",), "cell must be one of"),
    (("cell=lstm", "knob=R"), "knob must be"),
    (("cell=vanilla-tanh", "sigma_v=-1"), "sigma_v"),
    (("threshold=0.1",), "threshold"),
    (("bogus=1",), "unknown key"),
    (("compare=inits", "schemes=critical,he"), "schemes must be"),
    (("schemes=pytorch",), "goes with compare=inits"),
])
def test_command_rejects_bad_input_with_exit_2(tmp_path, run_cli, args, match):
    r = run_cli("verify.cli", "study=trainability", *args, f"out={tmp_path}", cwd=tmp_path)
    assert r.returncode == 2 and match in r.stderr, (r.returncode, r.stderr)


@pytest.mark.parametrize("scheme,var_n,bias_var_n", [("pytorch", 1 / 3, 2 / 3), ("glorot", 1.0, 0.0),
                                                      ("orthogonal", 1.0, 0.0)])
def test_reinitialised_weights_have_the_schemes_moments(scheme, var_n, bias_var_n):
    # N = 200: 40 000 matrix entries per matrix; the sample variance of a uniform has relative SE
    # sqrt(0.8 / 40 000) = 0.45 %, checked at 5 SE; a bias vector (200 entries) at 5 SE of its own
    import jax
    from verify.studies.trainability_task import equivalent_params, network, reinit
    n = 200
    w = reinit(network("lstm")[0](jax.random.PRNGKey(0), n, theory.parameters("lstm")), scheme, jax.random.PRNGKey(1), n)
    for gate in "ifgo":
        W, U, b = (np.asarray(a, dtype=float) for a in w[gate])
        for M in (W, U):
            assert M.var() * n == pytest.approx(var_n, rel=5 * math.sqrt(0.8 / M.size))
            if scheme == "orthogonal":
                np.testing.assert_allclose(M @ M.T, np.eye(n), atol=1e-5)
        if bias_var_n:
            assert b.var() * n == pytest.approx(bias_var_n, rel=5 * math.sqrt(2 / n))
        else:
            assert not b.any()
    eq = equivalent_params(theory.parameters("lstm"), scheme, n)
    assert eq["sigma_w_f"] ** 2 == pytest.approx(var_n) and eq["sigma_b_f"] ** 2 * n == pytest.approx(bias_var_n)
    assert eq["mu_b_f"] == 0.0


def test_compare_inits_puts_the_tied_critical_init_beside_pytorchs(tmp_path, run_cli):
    r = run_cli("verify.cli", "study=trainability", "cell=gru", "compare=inits", "schemes=critical,pytorch", "T=1,2", "seeds=2",
                "width=16", "steps=10", "eval=64", f"out={tmp_path}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["labels"] == ["critical", "pytorch"] and np.asarray(rep["correct"]).shape == (2, 2, 2)
    # at sigma_w = 1 the tied GRU is ordered at every update-gate bias, so the critical point is solved in
    # the recurrent scale of all gates: the library's tied critical point, and the report says so
    assert not theory.critical_init("gru", tied=True).feasible
    crit = theory.critical_init("gru", tied=True, solve_for="sigma_w")
    assert rep["row_params"][0]["sigma_w_z"] == crit.params["sigma_w_z"] == rep["row_params"][0]["sigma_w_r"]
    assert "not crossed" in rep["schemes"]["critical (first try)"]
    assert rep["row_params"][1]["sigma_w_z"] == pytest.approx(1 / math.sqrt(3))
    assert "lambda_max" in rep["schemes"]["critical"] and "torch" in rep["schemes"]["pytorch"]
