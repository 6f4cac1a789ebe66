"""Jacobian moments of gated cells: m_1(T) of the T-step state Jacobian (theory.jacobian.gated_isometry).

References: population dynamics (the exact untied one-site law, pushed through the declaration with
``jax.jvp``, no moment closure), simulated untied GRU networks (hand-written simulator), and a
matrix-power identity on the perturbation map's entries served one by one.
"""
import math

import numpy as np
import pytest

import theory
from theory import api
from theory.closures import population
from theory.jacobian.gated_isometry import probe


def test_one_step_full_state_mean_is_chi_for_every_gated_cell():
    for cell in ("lstm", "gru", "gru-reset-after"):
        assert theory.predict(cell, "isometry_mean", T=1) == pytest.approx(theory.predict(cell, "chi"), rel=1e-12)


def test_lstm_m1_is_the_matrix_power_of_the_served_perturbation_map():
    # the map's entries from the public perturbation_map_ij kernels at the served fixed point, powered by numpy
    mod = api.kernels("lstm", "numba")
    args = [api.resolve_params(api.cell("lstm"), {"mu_b_f": 2.0})[n] for n in api.cell("lstm").param_names]
    Q = (mod.Q_c_star(*args), mod.Q_star(*args))
    M = np.array([[mod.perturbation_map_00(*Q, *args), mod.perturbation_map_01(*Q, *args)],
                  [mod.perturbation_map_10(*Q, *args), mod.perturbation_map_11(*Q, *args)]])
    for T in (1, 4, 9):
        MT = np.linalg.matrix_power(M, T)
        assert theory.predict("lstm", "isometry_mean", T=T, mu_b_f=2.0) == pytest.approx(MT.sum() / 2, rel=1e-12)
        assert theory.predict("lstm", "isometry_mean", T=T, block="h", mu_b_f=2.0) == pytest.approx(MT[1, 1], rel=1e-12)
        assert theory.predict("lstm", "isometry_mean", T=T, block="c", mu_b_f=2.0) == pytest.approx(MT[0, 0], rel=1e-12)


def test_m1_decays_like_lambda_max_to_the_T_at_large_T():
    lam = theory.predict("lstm", "lambda_max", mu_b_f=3.0)
    m = theory.predict("lstm", "isometry_mean", T=np.array([40, 41]), mu_b_f=3.0)
    assert m[1] / m[0] == pytest.approx(lam, rel=1e-6)


def test_numba_and_jax_agree_on_a_grid_and_jax_differentiates():
    import jax

    mus = np.linspace(-1.0, 4.0, 7)
    T = np.array([[1], [5], [12]])
    a = theory.predict("lstm", "isometry_mean", T=T, mu_b_f=mus)
    b = np.asarray(theory.predict("lstm", "isometry_mean", backend="jax", T=T, mu_b_f=mus))
    assert a.shape == (3, 7)
    np.testing.assert_allclose(b, a, rtol=1e-10)
    g = jax.grad(lambda m: theory.predict("gru", "isometry_mean", backend="jax", T=6, mu_b_z=m))(1.0)
    h = 1e-5
    fd = (theory.predict("gru", "isometry_mean", T=6, mu_b_z=1.0 + h)
          - theory.predict("gru", "isometry_mean", T=6, mu_b_z=1.0 - h)) / (2 * h)
    assert float(g) == pytest.approx(fd, rel=1e-6)


def test_annealed_m1_is_the_same_for_gaussian_and_orthogonal_weights():
    for T in (1, 7):
        assert theory.predict("lstm", "isometry_mean", T=T, weights="orthogonal") == \
            theory.predict("lstm", "isometry_mean", T=T, weights="gaussian")


def test_gru_gaussian_closure_equals_the_exact_untied_law():
    # The GRU's m_1 needs only second moments of the state (each unit's tangent is independent of its
    # fresh gates), so the closure is exact here: population dynamics must agree within its own error.
    # 8 replicas of 2^15 samples; population bias O(1/size) ~ 3e-5 relative, far below the SE.
    c = api.cell("gru")
    p = {k: float(v) for k, v in api.resolve_params(c, {"mu_b_z": 2.0}).items()}
    mean, se = population.isometry_mean(c, p, 8, probe(c, None))
    pred = theory.predict("gru", "isometry_mean", T=np.arange(1, 9), mu_b_z=2.0)
    z = (mean - pred) / se
    assert np.all(se > 0) and np.all(se < 0.02 * pred)  # resolving: a 2 % error would be seen
    assert np.max(np.abs(z)) < 4.0, z  # 8 correlated checks; 4 SE is a 1e-4 two-sided tail each


def test_lstm_gaussian_closure_is_close_to_the_exact_untied_law_and_says_it_is_not_exact():
    c = api.cell("lstm")
    p = {k: float(v) for k, v in api.resolve_params(c, {}).items()}
    mean, se = population.isometry_mean(c, p, 6, probe(c, "h"))
    pred = theory.predict("lstm", "isometry_mean", T=np.arange(1, 7), block="h")
    # the closure's error grows with T (the cell state's non-Gaussian law); within 10 % at 6 steps here
    assert np.all(np.abs(mean / pred - 1) < 0.10)
    assert "not exact" in theory.jacobian.gated_isometry.__doc__


def test_population_closure_is_served_through_predict():
    v = theory.predict("gru", "isometry_mean", T=3, closure="population", size=4096, seed=1)
    assert v == pytest.approx(theory.predict("gru", "isometry_mean", T=3), rel=0.05)


def test_simulated_untied_gru_networks_match_m1_within_their_standard_error():
    from verify.statistics.stats import FINITE_WIDTH_COEF, bonferroni_k
    from verify.studies.jacobian_moments import measure

    N, E, T = 256, 12, 3
    p = {k: float(v) for k, v in api.resolve_params(api.cell("gru"), {}).items()}
    full, _, _ = measure("gru", p, width=N, networks=E, t_max=T, burn=60, seed=3, tied=False)
    pred = theory.predict("gru", "isometry_mean", T=np.arange(1, T + 1))
    k = bonferroni_k(T, E)  # family-wise 1 % over the T checks, t with E - 1 dof
    se = full.std(axis=0, ddof=1) / math.sqrt(E)
    allowance = FINITE_WIDTH_COEF * pred / N
    assert np.all(se < 0.1 * pred)  # the check resolves a 10 % error (power stated, not assumed)
    assert np.all(np.abs(full.mean(axis=0) - pred) <= k * se + allowance), (full.mean(axis=0), pred, se)


@pytest.mark.parametrize("kwargs, message", [
    ({"block": "x"}, "block must be None"),
    ({"closure": "exact"}, "unknown closure"),
    ({"closure": "population", "mu_b_f": [1.0, 2.0]}, "scalar parameters"),
    ({"size": 100}, "closure='population' only"),
    ({"T": 0}, "positive integer"),
    ({"weights": "uniform"}, "weights must be one of"),
])
def test_bad_requests_say_what_is_wrong(kwargs, message):
    kw = {"T": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        theory.predict("lstm", "isometry_mean", **kw)


def test_what_is_not_derived_for_gated_cells_says_so():
    with pytest.raises(ValueError, match="only isometry_mean is derived"):
        theory.predict("lstm", "isometry_variance", T=3)
    with pytest.raises(ValueError, match="apply to gated cells"):
        theory.predict("vanilla-tanh", "isometry_mean", T=3, closure="population")
    with pytest.raises(ValueError, match="only state component"):
        theory.predict("vanilla-tanh", "isometry_mean", T=3, block="c")
    # the one component of a single-field cell is its whole state
    assert theory.predict("vanilla-tanh", "isometry_mean", T=3, block="h") == theory.predict("vanilla-tanh", "isometry_mean", T=3)


# ---- tied (real) networks ------------------------------------------------------------------------

def test_tied_m1_of_the_vanilla_rnn_is_the_annealed_chi_to_the_T():
    # vanilla: a unit's tangent field is independent of its own field (delta -> -delta symmetry) and
    # |dh|^2 = phi'(g)^2 dg^2, so tied weights give m_1 = chi^T exactly: a control of the engine's Jacobian mode
    from theory.tied.jacobian import isometry_mean_tied

    c = api.cell("vanilla-tanh")
    p = {k: float(v) for k, v in api.resolve_params(c, {"sigma_w": 1.5}).items()}
    mean, se = isometry_mean_tied(c, p, 8, groups=8, size=4096)
    pred = theory.predict("vanilla-tanh", "chi", sigma_w=1.5) ** np.arange(1, 9)
    assert np.all(se < 0.05 * pred)
    assert np.max(np.abs(mean - pred) / se) < 4.0


@pytest.mark.parametrize("cell", ["lstm", "minimalrnn"])
def test_tied_networks_follow_the_tied_theory_and_reject_the_annealed_one(cell):
    from theory.tied.jacobian import isometry_mean_tied
    from verify.statistics.stats import FINITE_WIDTH_COEF, bonferroni_k
    from verify.studies.jacobian_moments import measure

    N, E, T = 256, 12, 8
    p = {k: float(v) for k, v in api.resolve_params(api.cell(cell), {}).items()}
    full, _, _ = measure(cell, p, width=N, networks=E, t_max=T, burn=150, seed=5, tied=True)
    m, se = full.mean(axis=0), full.std(axis=0, ddof=1) / math.sqrt(E)
    th, th_se = isometry_mean_tied(api.cell(cell), p, T)  # every t <= T from one run
    # the public route serves the same run: its last step for one T, every step for an array of T
    assert theory.predict(cell, "isometry_mean", T=T, tied=True, return_error=True) == (th[-1], th_se[-1])
    v, e = theory.predict(cell, "isometry_mean", T=np.arange(1, T + 1), tied=True, return_error=True)
    assert np.array_equal(v, th) and np.array_equal(e, th_se)
    k = bonferroni_k(T, E)
    allowance = FINITE_WIDTH_COEF * th / N
    assert np.all(np.abs(m - th) <= k * np.hypot(se, th_se) + allowance), (m, th, se)
    annealed = theory.predict(cell, "isometry_mean", T=np.arange(1, T + 1))
    detectable = (k + 1.2816) * se[-1] / m[-1] + FINITE_WIDTH_COEF / N  # relative error caught with 90 % power
    assert detectable < 0.35
    if cell == "lstm":  # the annealed m_1 (half the tied one at T = 8) is outside the same interval
        assert abs(m[-1] - annealed[-1]) > k * se[-1] + FINITE_WIDTH_COEF * annealed[-1] / N
    # minimalRNN: the annealed m_1 is 16 % below the tied one at T = 8, under this size's power (~30 %);
    # reports/jacobian_moments_cpu/minimalrnn_default resolves it with 24 networks and T up to 24


def test_tied_isometry_mean_broadcasts_over_parameters_one_solve_per_point():
    kw = dict(T=4, tied=True, paths=2048, groups=4)
    grid = theory.predict("gru", "isometry_mean", mu_b_z=np.array([[0.0], [2.0]]), **kw)
    assert grid.shape == (2, 1)
    for mu, v in zip((0.0, 2.0), grid[:, 0]):
        assert v == theory.predict("gru", "isometry_mean", mu_b_z=mu, **kw)  # the same seeded solve


def test_tied_isometry_mean_requests_say_what_is_not_served():
    with pytest.raises(ValueError, match="i.i.d. Gaussian"):
        theory.predict("lstm", "isometry_mean", T=3, tied=True, weights="orthogonal")
    with pytest.raises(ValueError, match="with array parameters, one T"):
        theory.predict("lstm", "isometry_mean", T=[2, 3], tied=True, mu_b_f=[1.0, 2.0])
    with pytest.raises(ValueError, match="T must be"):
        theory.predict("lstm", "isometry_mean", T=[2, 0], tied=True)
    with pytest.raises(ValueError, match="block must be None"):
        theory.predict("gru", "isometry_mean", T=3, tied=True, block="c")
    with pytest.raises(ValueError, match="feed-forward"):
        theory.predict("feedforward-relu", "isometry_mean", T=3, tied=True)


# ---- the study's command line -------------------------------------------------------------------

def test_jacobian_moments_study_writes_its_report_and_plot(run_cli, tmp_path):
    import json

    out = tmp_path / "gj"
    r = run_cli("verify.cli", "study=jacobian-moments", "cell=gru", "width=32", "networks=3", "T=3", "burn=5",
                "population=false", f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert (out / "m1.png").stat().st_size > 0
    assert set(rep["regimes"]) == {"untied", "tied"} and rep["T"] == [1, 2, 3]
    for regime in rep["regimes"].values():
        assert len(regime["per_network"]["m1_full"]) == 3  # the raw per-network values are kept
        assert np.all(np.isfinite(regime["m1_full"])) and np.all(np.asarray(regime["m1_full_se"]) > 0)
    assert rep["gaussian_closure"]["full"][0] == pytest.approx(theory.predict("gru", "chi"), rel=1e-12)


@pytest.mark.parametrize("arg, message", [("cell=feedforward-tanh", "simulated recurrent cell"), ("bogus=1", "unknown option"),
                                          ("sigma_w_f=-1", "sigma_w_f must be >= 0"), ("width=x", "width must be")])
def test_jacobian_moments_study_refuses_bad_input_before_running(run_cli, tmp_path, arg, message):
    r = run_cli("verify.cli", "study=jacobian-moments", arg, f"out={tmp_path / 'x'}", cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr
    assert not (tmp_path / "x" / "report.json").exists()
