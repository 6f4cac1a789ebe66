"""Tied-weight (real network) theory: the single-site process of 08, generated from each declaration.

Claims checked here:
* control: for the vanilla RNN tied and annealed equal-time statistics coincide exactly (08 §2), so the
  tied solver must reproduce the annealed kernels within its stated standard error;
* the tied solver predicts real tied networks: a width ladder of simulations (N = 256, 1024; an
  independent numpy minimalRNN written here, the hand-written verify simulators for GRU/LSTM),
  extrapolated linearly in 1/N (the leading finite-width correction of a self-averaging second moment),
  agrees with the solver within K combined standard errors -- and rejects the annealed value where the
  two theories differ;
* an LSTM with forget-gate bias 4.5 is chaotic (lambda_max > 1) in both solver and simulation;
* the standard error shrinks as paths^(-1/2); results are deterministic for a seed; bad input raises.
"""
import math

import numpy as np
import pytest

import theory
from theory.tied.api import solve

from tied_networks import extrapolate

#: standard errors allowed in every Monte-Carlo comparison here (two-sided, ~1e-4 false alarm each)
K = 4.0


def within(a, sa, b, sb, k=K):
    return abs(a - b) <= k * math.hypot(sa, sb)


# ------------------------------------------------------------------------------------------ control
@pytest.mark.parametrize("cell,params", [("vanilla-tanh", dict(sigma_w=1.5, sigma_b=0.1)),
                                         ("vanilla-erf", dict(sigma_w=0.8, sigma_b=0.3, sigma_v=0.5))])
def test_vanilla_tied_equals_annealed_within_the_stated_error(cell, params):
    s = solve(cell, paths=4096, steps=100, **params)
    for q in ("Q_star", "q_star", "chi"):
        want = theory.predict(cell, q, **params)
        assert abs(s.mean[q] - want) <= K * s.se[q], (q, s.mean[q], s.se[q], want)
    chi = theory.predict(cell, "chi", **params)  # one-component vanilla: perturbation growth = chi
    assert abs(s.mean["lambda_max"] - chi) <= K * s.se["lambda_max"]
    assert 0 < s.se["Q_star"] < 0.01 * s.mean["Q_star"]  # 4096 paths x 50 window steps


def test_vanilla_tied_correlation_in_the_chaotic_phase_equals_annealed():
    p = dict(sigma_w=2.5, sigma_b=0.1)
    s = solve("vanilla-tanh", paths=4096, steps=100, pairs=True, **p)
    want = theory.predict("vanilla-tanh", "c_h_star", **p)
    assert want < 0.99
    assert abs(s.mean["c_h_star"] - want) <= K * s.se["c_h_star"]


# ------------------------------------------------------------------------------ real networks
def _minimalrnn_tied(N, ensemble, steps, burn, seed, sigma_w, sigma_v, sigma_b, mu_b, R):
    """Hidden second moment of real tied minimalRNNs, late-window average per network (numpy)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(ensemble):
        W = rng.standard_normal((N, N)) * sigma_w / math.sqrt(N)
        V = rng.standard_normal((N, N)) * sigma_v / math.sqrt(N)
        b = mu_b + sigma_b * rng.standard_normal(N)
        h = rng.standard_normal(N) * 0.5
        acc = 0.0
        for t in range(steps):
            z = math.sqrt(R) * rng.standard_normal(N)
            u = 1.0 / (1.0 + np.exp(-(W @ h + V @ z + b)))
            h = u * h + (1.0 - u) * z
            if t >= burn:
                acc += float(h @ h) / N
        out.append(acc / (steps - burn))
    out = np.asarray(out)
    return out.mean(), out.std(ddof=1) / math.sqrt(ensemble)


def test_tied_minimalrnn_solver_matches_real_networks_and_rejects_the_annealed_value():
    p = dict(sigma_w=3.4898, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0)
    s = solve("minimalrnn", paths=8192, steps=160, **p)
    small = _minimalrnn_tied(256, 16, 160, 80, 1, **p)
    large = _minimalrnn_tied(1024, 6, 160, 80, 2, **p)
    q_inf, se_inf = extrapolate(small, large, 256, 1024)
    assert within(s.mean["Q_star"], s.se["Q_star"], q_inf, se_inf), (s.mean["Q_star"], s.se["Q_star"], q_inf, se_inf)
    annealed = theory.predict("minimalrnn", "Q_star", **p)
    assert not within(annealed, 0.0, q_inf, se_inf), (annealed, q_inf, se_inf)


@pytest.mark.parametrize("cell,params", [("lstm", dict(mu_b_f=1.0, sigma_w_f=1.5)),
                                         ("gru", dict(mu_b_z=1.0, sigma_w_n=1.8)),
                                         ("gru-reset-after", dict(mu_b_z=1.0, sigma_w_n=1.8))])
def test_tied_gated_solver_matches_real_networks(cell, params):
    from verify.judge.gated import simulate
    from verify.simulators import get_gated as get
    sim = get(cell)
    p = theory.api.resolve_params(theory.cell(cell), params)
    s = solve(cell, paths=8192, steps=160, **p)
    burn = 80
    res = {}
    for n, ens in ((256, 16), (1024, 4)):
        stats = simulate(sim, p, width=n, ensemble=ens, steps=160, tied=True, seed=3, probes=1, Q0=0.3, C0=0.0)
        per_net = stats["Q_h"][:, burn:].mean(axis=1)
        res[n] = (per_net.mean(), per_net.std(ddof=1) / math.sqrt(ens))
    q_inf, se_inf = extrapolate(res[256], res[1024], 256, 1024)
    assert within(s.mean["Q_star"], s.se["Q_star"], q_inf, se_inf), (s.mean["Q_star"], s.se["Q_star"], q_inf, se_inf)


def test_lstm_with_forget_bias_4_5_is_chaotic_in_solver_and_simulation():
    from verify.judge.gated import simulate
    from verify.simulators import get_gated as get
    p = theory.api.resolve_params(theory.cell("lstm"), dict(mu_b_f=4.5))
    # sizes: lambda_max - 1 is ~18 SE in the solver (2048 paths) and ~10 SE over the 4 networks at N = 512
    s = solve("lstm", paths=2048, steps=120, **p)
    assert s.mean["lambda_max"] - 1.0 > K * s.se["lambda_max"], (s.mean["lambda_max"], s.se["lambda_max"])
    stats = simulate(get("lstm"), p, width=512, ensemble=4, steps=200, tied=True, seed=5, probes=1, Q0=0.3, C0=0.0)
    log_growth = np.log(stats["growth"][:, 100:]).mean(axis=1)  # per network, late window
    lam, se = math.exp(log_growth.mean()), math.exp(log_growth.mean()) * log_growth.std(ddof=1) / 2.0
    assert lam - 1.0 > K * se, (lam, se)
    assert theory.predict("lstm", "lambda_max", mu_b_f=4.5) < 1.0  # the annealed theory calls it ordered


# ------------------------------------------------------------------------------ the estimator
def test_standard_error_shrinks_as_inverse_square_root_of_paths():
    """Group variances at 4x the paths per group must be 4x smaller: F = var_small / (4 var_large) is
    F(63, 63)-distributed under the M^(-1/2) law; accepted in its central 99.8 %."""
    from scipy.stats import f as fdist
    p = dict(mu_b=1.0, sigma_w=2.0)
    g = 64
    small = solve("minimalrnn", paths=32 * g, steps=80, seed=1, groups=g, **p)
    large = solve("minimalrnn", paths=128 * g, steps=80, seed=2, groups=g, **p)
    F = (small.se["Q_star"] / large.se["Q_star"]) ** 2 / 4.0
    assert fdist.ppf(0.001, g - 1, g - 1) < F < fdist.ppf(0.999, g - 1, g - 1), F


def test_adaptive_solve_reaches_its_error_targets_or_says_it_did_not():
    s = solve("vanilla-tanh", rtol=4e-3, lambda_atol=4e-3, pairs=False, sigma_w=1.5)
    assert s.se["Q_star"] <= 4e-3 * s.mean["Q_star"] and s.se["lambda_max"] <= 4e-3 and not s.notes
    with pytest.warns(RuntimeWarning, match="not reached"):
        capped = solve("vanilla-tanh", rtol=1e-6, max_paths=12 * 4096, steps=40, pairs=False, sigma_w=1.5)
    assert capped.paths <= 12 * 4096 and any("not reached" in n for n in capped.notes)


def test_results_are_deterministic_for_a_seed():
    a = theory.predict("gru", "Q_star", tied=True, paths=512, steps=40, seed=7)
    b = theory.predict("gru", "Q_star", tied=True, paths=512, steps=40, seed=7)
    c = theory.predict("gru", "Q_star", tied=True, paths=512, steps=40, seed=8)
    assert a == b and a != c


def test_return_error_and_arrays():
    v, e = theory.predict("vanilla-tanh", "Q_star", tied=True, return_error=True, paths=512, steps=40)
    assert 0 < e < 0.05 * v
    grid = theory.predict("vanilla-tanh", "chi", tied=True, paths=256, steps=30, sigma_w=[0.5, 1.0, 1.5])
    assert grid.shape == (3,) and np.all(np.diff(grid) > 0)


def test_tied_trajectory_starts_from_Q0_and_reaches_the_stationary_value():
    tr = theory.trajectory("lstm", 60, {"c": 0.1, "h": 0.01}, tied=True, paths=2048)
    assert set(tr) >= {"Q", "Q_c", "Q_h", "q", "q_f", "lambda"}
    assert tr["Q_h"].shape == (60,) and tr["Q_h"][0] < tr["Q_h"][-1]


@pytest.mark.parametrize("kwargs,match", [
    (dict(cell="lstm", q="Q_star", sigma_w_f=-1.0), "sigma_w_f"),
    (dict(cell="lstm", q="Q_star", sigma_w_f=float("nan")), "finite"),
    (dict(cell="lstm", q="Q_star", steps=0), "steps"),
    (dict(cell="lstm", q="Q_star", paths=True), "paths"),
    (dict(cell="lstm", q="no_such_quantity"), "not served"),
    (dict(cell="feedforward-tanh", q="Q_star"), "feed-forward"),
    (dict(cell="lstm", q="Q_star", burn=40, steps=40), "burn"),
])
def test_bad_input_gives_a_clear_error(kwargs, match):
    cell, q = kwargs.pop("cell"), kwargs.pop("q")
    with pytest.raises(ValueError, match=match):
        theory.predict(cell, q, tied=True, **kwargs)


@pytest.mark.parametrize("cell,params", [("vanilla-relu", dict(sigma_w=3.0)), ("vanilla-linear", dict(sigma_w=1.5))])
def test_a_diverging_network_raises_instead_of_returning_a_huge_number(cell, params):
    with pytest.raises(theory.FixedPointError, match="grows without bound"):
        theory.predict(cell, "Q_star", tied=True, paths=1024, steps=40, **params)
    # the array form marks the point NaN with a warning
    with pytest.warns(RuntimeWarning, match="undefined"):
        out = theory.predict(cell, "Q_star", tied=True, paths=1024, steps=40, sigma_b=[0.1, 0.2],
                             **params)
    assert np.all(np.isnan(out))


@pytest.mark.parametrize("cell,params,q", [("vanilla-tanh", dict(sigma_w=1.5, sigma_b=0.1), "xi_q"),
                                           ("vanilla-erf", dict(sigma_w=2.0, sigma_b=0.3, Sigma=0.5), "xi"),
                                           ("vanilla-tanh", dict(sigma_w=2.5, sigma_b=0.1), "xi")])
def test_tied_relaxation_times_of_the_vanilla_rnn_equal_the_annealed_ones(cell, params, q):
    """The vanilla RNN's tied and annealed maps coincide, so the late-time rate of the linear response
    (common random numbers, jackknife SE over groups) must give the annealed xi_q / xi (chaotic and
    Sigma < 1 cases: the correlation relaxes to C* < Q*)."""
    v, e = theory.predict(cell, q, tied=True, return_error=True, paths=16384, **params)
    want = theory.predict(cell, q, **params)
    assert abs(v - want) <= K * e, (v, e, want)


def test_tied_minimalrnn_relaxes_slower_than_the_annealed_theory_says():
    """08 §6: the tied minimalRNN's second moment relaxes ~1.6-2x slower than the annealed xi_q (measured
    in large simulations); the tied xi_q exceeds the annealed one by many standard errors."""
    v, e = theory.predict("minimalrnn", "xi_q", tied=True, return_error=True, paths=16384, sigma_w=3.49)
    annealed = theory.predict("minimalrnn", "xi_q", sigma_w=3.49)
    assert v - annealed > K * e and v < 3.0 * annealed, (v, e, annealed)


def test_tied_must_be_a_bool():
    with pytest.raises(ValueError, match="tied"):
        theory.predict("lstm", "Q_star", tied="yes")


def test_site_functions_generated_for_numba_and_jax_agree():
    import derivations.lstm.tied_jax as j
    import derivations.lstm.tied_numba as n
    rng = np.random.default_rng(0)
    assert n.ARGS == j.ARGS
    for name, args in n.ARGS.items():
        x = [rng.standard_normal(16) for _ in args]
        np.testing.assert_allclose(np.asarray(getattr(j, name)(*x)), getattr(n, name)(*x), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ critical initialisation
def test_tied_critical_init_puts_the_tied_lambda_max_at_one_within_its_error():
    r = theory.critical_init("minimalrnn", tied=True, paths=2048, steps=100, seed=3, mu_b=1.0)
    assert r["feasible"] and r["solve_for"] == "sigma_w" and r["theory"] == "tied"
    # an independent solve (other seed) at the returned point: lambda_max = 1 within K SE
    s = solve("minimalrnn", paths=4096, steps=100, burn=50, seed=11, pairs=False, **r["params"])
    assert abs(s.mean["lambda_max"] - 1.0) <= K * math.hypot(s.se["lambda_max"], r["lambda_max_se"])
    assert 0 < r["value_se"] < 0.1 * r["value"]


def test_tied_critical_init_for_a_requested_xi_and_for_the_lstm_forget_bias():
    r = theory.critical_init("minimalrnn", tied=True, xi=5.0, paths=1024, steps=80, mu_b=1.0)
    assert r["lambda_max"] == pytest.approx(math.exp(-1.0 / 5.0), abs=1e-5)  # common random numbers: exact root
    lstm = theory.critical_init("lstm", tied=True, paths=1024, steps=100, bracket=(0.0, 6.0))
    assert lstm["solve_for"] == "mu_b_f" and lstm["feasible"]
    # the real LSTM reaches the edge of chaos at a smaller forget bias than the annealed theory says
    assert theory.predict("lstm", "lambda_max", mu_b_f=lstm["value"]) < 1.0


def test_tied_critical_init_reports_an_uncrossed_target_and_rejects_bad_arguments():
    r = theory.critical_init("minimalrnn", tied=True, paths=512, steps=60, bracket=(0.1, 0.5), mu_b=1.0)
    assert not r["feasible"] and "not crossed" in r["message"]
    with pytest.raises(ValueError, match="solve_for"):
        theory.critical_init("lstm", tied=True, solve_for="nope")
    with pytest.raises(ValueError, match="xi"):
        theory.critical_init("lstm", tied=True, xi=-2.0)
    with pytest.raises(ValueError, match="tied=True"):
        theory.critical_init("lstm", tied=True, T=10)


def test_vanilla_tied_trajectory_equals_the_annealed_one_within_its_standard_error():
    """Control (08 §1): for the vanilla RNN the tied single-site process has the annealed (untied)
    statistics, so the tied transient from (Q0, C0) is the annealed recursion's.  Chaotic point
    (sigma_w = 2, c_h* < 1, no correlation pinned at 1 where float32 draws set a ~1e-8 floor);
    8192 paths in 8 groups, 20 steps x 5 observables: each within 4.5 group-SE (two-sided p ~ 7e-6
    per comparison, ~1e-3 for the 100 together)."""
    params = dict(sigma_w=2.0, sigma_b=0.3)
    mean, se = theory.trajectory("vanilla-tanh", 20, 1.5, 0.6, tied=True, return_error=True, paths=8192, **params)
    ann = theory.trajectory("vanilla-tanh", 20, 1.5, 0.6, **params)
    for k in ("q", "Q", "C", "c", "c_h"):
        z = np.abs(mean[k] - ann[k]) / se[k]
        assert np.all(se[k] > 0) and np.all(z < 4.5), (k, z.max())


def test_tied_trajectory_takes_a_covariance_like_the_annealed_one():
    mean = theory.trajectory("minimalrnn", 3, 2.0, 2.0, tied=True, paths=256, groups=2)
    assert mean["c_h"][0] == pytest.approx(1.0, abs=1e-9)  # C0 = Q0: identical states, identical inputs
    with pytest.raises(ValueError, match="Cauchy-Schwarz"):
        theory.trajectory("minimalrnn", 3, 1.0, 1.5, tied=True, paths=256, groups=2)
    one = theory.trajectory("minimalrnn", 3, 1.0, tied=True, paths=256, groups=2)
    assert "C" not in one and "Q" in one
