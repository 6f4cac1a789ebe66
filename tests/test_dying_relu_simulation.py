"""Dying ReLU by simulation (verify/studies/dying_relu_sim.py): real random networks against exact laws.

Sample sizes are fixed here; probabilities use exact binomial tests and Wilson intervals, means use
z-tests with the sample SE, each test at family-wise ``ALPHA`` with a Bonferroni split over its own
comparisons (every depth counts).  Power checks show the same tests reject a wrong law (``2^(1-N)``
per layer instead of ``2^-N``) at the same sizes.  References are closed forms written in this file.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats

from verify.studies.dying_relu_sim import NetShape, RnnShape, points_network, rnn_network, run_ensemble, tracked_network
from verify.studies import dying_relu_stats as st

ROOT = Path(__file__).resolve().parents[1]
ALPHA = 1e-4
SEED = 20240607
N, DEPTH, E = 2, 8, 20000


def point_law(n, depths, per_layer=None):
    p = 2.0 ** -n if per_layer is None else per_layer
    return 1 - (1 - p) ** np.asarray(depths, dtype=float)


def dead_by(first, depth):
    return np.array([(first <= l).sum() for l in range(1, depth + 1)])


@pytest.fixture(scope="module")
def he_runs():
    """E He networks of width 2, depth 8, at the inputs +1 and -1 (point: +1; domain [-1, 1]: both)."""
    shape = NetShape(N, DEPTH, 1, "he")
    master = jax.random.key(SEED)
    return run_ensemble(lambda i: points_network(shape, master, i, np.array([[1.0], [-1.0]])), E, chunk=E)


@pytest.fixture(scope="module")
def rai_tracked():
    shape = NetShape(N, 6, 1, "rai")
    master = jax.random.key(SEED + 1)
    out = run_ensemble(lambda i: tracked_network(shape, master, i, capacity=32), 1000, chunk=1000)
    return shape, master, out


def test_point_collapse_frequency_matches_exact_law_within_binomial_tests(he_runs):
    k = dead_by(he_runs["first_dead_point"], DEPTH)
    p = st.binom_p(k, E, point_law(N, np.arange(1, DEPTH + 1)))
    assert np.all(p >= ALPHA / DEPTH), p
    lo, hi = st.wilson(k, E, ALPHA / DEPTH)
    assert np.all((lo <= point_law(N, np.arange(1, DEPTH + 1))) & (point_law(N, np.arange(1, DEPTH + 1)) <= hi))


def test_wrong_law_with_two_to_the_one_minus_n_is_rejected_at_the_same_sample_size(he_runs):
    k = dead_by(he_runs["first_dead_point"], DEPTH)
    p_wrong = st.binom_p(k, E, point_law(N, np.arange(1, DEPTH + 1), per_layer=2.0 ** (1 - N)))
    assert np.all(p_wrong < ALPHA / DEPTH)


def test_censored_hazard_estimate_covers_two_to_the_minus_n(he_runs):
    first = he_runs["first_dead_point"]
    deaths = int((first <= DEPTH).sum())
    at_risk = int(np.minimum(first, DEPTH).sum())      # layers entered alive, death layer included
    lo, hi = st.wilson(deaths, at_risk, ALPHA)
    assert lo <= 2.0 ** -N <= hi
    assert not (lo <= 2.0 ** (1 - N) <= hi)


def test_dead_unit_fraction_per_layer_matches_one_half_plus_half_the_collapse_probability(he_runs):
    f = he_runs["dead_frac_point"]
    prev = np.concatenate([[0.0], point_law(N, np.arange(1, DEPTH))])
    pred, wrong = (1 + prev) / 2, np.full(DEPTH, 0.5)
    z = (f.mean(0) - pred) / (f.std(0, ddof=1) / math.sqrt(E))
    assert np.all(np.abs(z) < stats.norm.isf(ALPHA / (2 * DEPTH)))
    zw = (f.mean(0) - wrong) / (f.std(0, ddof=1) / math.sqrt(E))
    assert np.any(np.abs(zw) > stats.norm.isf(ALPHA / (2 * DEPTH)))     # power: "always 1/2" rejected


def test_domain_born_dead_frequency_lies_between_orthant_bound_and_point_law(he_runs):
    depths = np.arange(1, DEPTH + 1)
    k = dead_by(he_runs["first_dead"], DEPTH)
    upper = point_law(N, depths)
    lower = 1 - (1 - 2.0 ** -(N * N)) ** (depths - 1)
    # one-sided exact tests that the bound is violated
    assert np.all(stats.binom.sf(k - 1, E, upper) >= ALPHA / (2 * DEPTH))
    assert np.all(stats.binom.cdf(k, E, lower) >= ALPHA / (2 * DEPTH))
    assert np.all(k <= dead_by(he_runs["first_dead_point"], DEPTH))   # dead on D implies dead at +1


def _forward_all(shape, master, indices, xs):
    """Independent float64 numpy forward passes of networks ``indices`` at the points ``xs`` (d = 1);
    only the weight draws (one jitted call) are shared with the simulator."""
    from verify.studies.dying_relu_sim import _keys, draw_layer

    def weights(i):
        kw, _ = _keys(master, i)
        return [draw_layer(shape.init, jax.random.fold_in(kw, l), 1 if l == 1 else shape.width, shape.width,
                           np.float64) for l in range(1, shape.depth + 1)]
    ws = jax.device_get(jax.jit(jax.vmap(weights))(np.asarray(indices, dtype=np.int32)))
    out = []
    for k in range(len(indices)):
        x = np.asarray(xs, dtype=float)[:, None]
        for W, b in ws:
            x = np.maximum(x @ W[k] + b[k], 0.0)
        out.append(x)
    return out


def test_breakpoint_tracker_reproduces_the_forward_pass_on_a_dense_grid(rai_tracked):
    shape, master, tr = rai_tracked
    grid = np.linspace(-1, 1, 2001)
    assert tr["overflow"].sum() == 0
    direct = _forward_all(shape, master, range(8), grid)
    for i in range(8):
        n = int(tr["points"][i])
        pos, vals = tr["positions"][i][:n], tr["values"][i][:n]
        interp = np.stack([np.interp(grid, pos, vals[:, j]) for j in range(shape.width)], axis=1)
        np.testing.assert_allclose(interp, direct[i], atol=1e-9)


def test_exact_domain_death_agrees_with_dense_sampling_and_refining_the_grid_only_lowers_it(rai_tracked):
    shape, master, tr = rai_tracked
    exact = tr["first_dead"]
    grid = np.linspace(-1, 1, 1001)[:, None]
    coarse = np.arange(0, 1001, 50)                   # 21 points, spacing 0.1
    s = run_ensemble(lambda i: points_network(shape, master, i, grid, coarse), 1000, chunk=1000)
    fine, rough = s["first_dead"], s["first_dead_sub"]
    assert np.all(fine <= exact) and np.all(rough <= exact)   # dead on [-1, 1] implies dead on any sample
    assert np.all(rough <= fine)
    assert np.sum(fine < exact) <= 5                   # live sets thinner than the 2e-3 spacing: rare


def test_rai_lowers_born_dead_frequency_relative_to_he_at_the_median_death_depth(he_runs, rai_tracked):
    L = round(2 ** N * math.log(2))                   # 3: He's median first-death depth at N = 2
    k_he = int((he_runs["first_dead"] <= L).sum())
    k_rai = int((rai_tracked[2]["first_dead"] <= L).sum())
    p = st.rai_vs_he_p(k_he, E, k_rai, 1000)
    assert p < ALPHA
    assert k_rai / 1000 < 0.5 * k_he / E


def test_untied_relu_rnn_with_input_only_at_the_first_step_dies_by_the_point_law():
    T, n_net = 8, 10000
    shape = RnnShape(2, T, tied=False, input_steps=1)
    master = jax.random.key(SEED + 2)
    zero = run_ensemble(lambda i: rnn_network(shape, master, i), n_net, chunk=n_net)["zero"].astype(bool)
    assert np.all(zero[:, 1:] >= zero[:, :-1])        # h = 0 is absorbing without input or bias
    k = zero.sum(0)
    assert np.all(st.binom_p(k, n_net, point_law(2, np.arange(1, T + 1))) >= ALPHA / T)
    assert np.any(st.binom_p(k, n_net, point_law(2, np.arange(1, T + 1), 0.5)) < ALPHA / T)


def test_ensemble_samples_do_not_depend_on_the_device_count():
    code = (
        "import jax, numpy as np\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "from verify.studies.dying_relu_sim import NetShape, points_network, run_ensemble\n"
        "s = NetShape(2, 3, 1, 'he'); m = jax.random.key(3)\n"
        "f = lambda i: points_network(s, m, i, np.array([[1.0], [-1.0]]))\n"
        "a = run_ensemble(f, 50, chunk=8, devices=jax.devices()[:1])\n"
        "b = run_ensemble(f, 50, chunk=8)\n"
        "assert len(jax.devices()) == 4\n"
        "assert all(np.array_equal(a[k], b[k]) for k in ('first_dead', 'first_dead_point'))\n"
        "np.testing.assert_allclose(a['log_ratio'], b['log_ratio'], rtol=1e-12)\n")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("argv", [["study=dying-relu", "width=0"], ["study=dying-relu", "depth=9:3"],
                                  ["study=dying-relu", "init=xavier"], ["study=dying-relu", "colour=red"],
                                  ["study=dying-rely"]])
def test_cli_rejects_bad_study_input_with_exit_status_two(argv, capsys):
    from verify.cli import main
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("k,n", [(0, 50), (3, 50), (25, 50), (50, 50), (9731, 20000)])
def test_wilson_and_clopper_pearson_intervals_match_scipy(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.99, method="wilson")
    np.testing.assert_allclose(st.wilson(k, n, 0.01), (ci.low, ci.high), rtol=1e-9, atol=1e-12)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.99, method="exact")
    np.testing.assert_allclose(st.clopper_pearson(k, n, 0.01), (ci.low, ci.high), rtol=1e-7, atol=1e-12)
