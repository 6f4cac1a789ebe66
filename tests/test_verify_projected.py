"""The projected untied engine (issue 22 item 3) draws each step's fresh matrix only on the span of the
vectors it multiplies.  Claim: that is the *law* of a dense draw, not an approximation -- for the fields
``W x``, for the diagonal and the row norms the exact Jacobian norm reads, and for their dependence.
The reference is numpy's dense Gaussian matrix (an independent route); two-sample Kolmogorov-Smirnov
tests at a Bonferroni-corrected level compare them, and a run of whole networks is compared engine
against engine within stated standard errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from verify.engine.sharding import run_ensemble
from verify.engine.simulate import RunShape
from verify.simulators.base import diagonal, matvec, row_sq_norms
from verify.simulators.projected import draw_projected

N, SCALE, DRAWS = 24, 1.3, 20000


def _reads(rng):
    """Six read vectors of rank four: a repeated one and a zero one, as equal starts and Q0 = 0 give.
    The first lies close to e_0, so W_00 and its field (W x_1)_0 are strongly dependent; the second
    has unit norm."""
    g = rng.standard_normal((4, N))
    g[0] = 3.0 * (np.eye(N)[0] + 0.3 * g[0] / np.sqrt(N))
    g[1] /= np.linalg.norm(g[1])
    return np.vstack([g, g[1:2], np.zeros((1, N))])


def _functionals(Wx, diag, row_sq):
    """Scalars of rows 0 and 1 whose laws pin the marginals and the dependence between the fields,
    the diagonal and the row norm."""
    return {
        "(Wx1)_0": Wx[:, 0, 0],
        "(Wx3)_1": Wx[:, 2, 1],
        "(Wx1)_0 (Wx2)_0": Wx[:, 0, 0] * Wx[:, 1, 0],
        "W_00": diag[:, 0],
        "W_00 (Wx1)_0": diag[:, 0] * Wx[:, 0, 0],
        "W_00 - (Wx1)_0/3": diag[:, 0] - Wx[:, 0, 0] / 3.0,
        "|W_0|^2": row_sq[:, 0],
        "|W_1|^2 - (Wx2)_1^2": row_sq[:, 1] - Wx[:, 1, 1] ** 2,
        "|W_0|^2 (Wx1)_0^2": row_sq[:, 0] * Wx[:, 0, 0] ** 2,
        "|W_1|^2 - W_11^2": row_sq[:, 1] - diag[:, 1] ** 2,
    }


def _projected_draws(seed, mutate=None):
    """``DRAWS`` projected draws on :func:`_reads`: fields of every read, diagonal, row norms;
    ``mutate(w, key) -> (diag, row_sq)`` replaces the last two (to show the checks can fail)."""
    reads = _reads(np.random.default_rng(seed))
    with jax.enable_x64(True):
        r = jnp.asarray(reads)

        def one(k):
            w = draw_projected(k, r, SCALE, jnp.float64, norms=True)
            d, q = (diagonal(w), row_sq_norms(w)) if mutate is None else mutate(w, k)
            return jax.vmap(lambda x: matvec(w, x))(r), d, q

        out = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(seed + 1), DRAWS))
    return reads, tuple(np.asarray(a) for a in out)


def _dense_draws(reads, seed):
    """The same from numpy's dense N x N Gaussian matrices (the independent reference)."""
    W = np.random.default_rng(seed).standard_normal((DRAWS, N, N)) * SCALE / np.sqrt(N)
    return np.einsum("dij,kj->dki", W, reads), np.einsum("dii->di", W), np.sum(W * W, axis=2)


def _disagreements(projected, dense):
    """Failures of the comparison at a family-wise false-failure rate of about 0.1 %: each functional's
    two-sample KS p-value against 1e-3/(number of tests), and the covariance of W_11² with |W_1|²
    (its dense value 2 s⁴/N², which couples the row norm to the diagonal) by a two-sample z within 4 SE."""
    fp, fd = _functionals(*projected), _functionals(*dense)
    alpha = 1e-3 / (len(fp) + 1)
    bad = {name: p for name in fp if (p := stats.ks_2samp(fp[name], fd[name]).pvalue) <= alpha}

    def cov_terms(diag, row_sq):
        a, b = diag[:, 1] ** 2, row_sq[:, 1]
        return (a - a.mean()) * (b - b.mean())

    cp, cd = cov_terms(*projected[1:]), cov_terms(*dense[1:])
    z = (cp.mean() - cd.mean()) / np.sqrt(cp.var() / cp.size + cd.var() / cd.size)
    if abs(z) > 4:
        bad["cov(W_11^2, |W_1|^2) z"] = z
    return bad


def test_projected_draw_has_the_joint_law_of_a_dense_gaussian_matrix():
    reads, projected = _projected_draws(0)
    Wx = projected[0]
    # in the span the field is exact: the zero read gives exactly zero, the repeated one the same field
    assert np.all(Wx[:, 5] == 0.0)
    np.testing.assert_allclose(Wx[:, 4], Wx[:, 1], rtol=0, atol=1e-12)
    assert _disagreements(projected, _dense_draws(reads, 1)) == {}


def _diagonal_without_its_field_part(w, k):
    """W_ii drawn independently of the fields (the G·U term dropped, the variance kept)."""
    return SCALE / np.sqrt(N) * jax.random.normal(jax.random.fold_in(k, 9), (N,), jnp.float64), row_sq_norms(w)


def _diagonal_decoupled_from_the_row_norm(w, k):
    """W_ii's part outside the span drawn afresh, so the row norm no longer contains it."""
    p_norm = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(w.U * w.U, axis=1), 0.0))
    z = jax.random.normal(jax.random.fold_in(k, 9), (N,), jnp.float64)
    return jnp.sum(w.G * w.U, axis=1) + SCALE / np.sqrt(N) * p_norm * z, row_sq_norms(w)


@pytest.mark.parametrize("mutate", [_diagonal_without_its_field_part, _diagonal_decoupled_from_the_row_norm])
def test_the_comparison_rejects_a_draw_that_gets_the_dependence_wrong(mutate):
    """The check above can fail: each mutation keeps every marginal law and breaks one dependence."""
    reads, projected = _projected_draws(2, mutate)
    assert _disagreements(projected, _dense_draws(reads, 3)) != {}


def test_a_projected_draw_needs_fewer_reads_than_units():
    with pytest.raises(ValueError, match="at most N - 2 read vectors"):
        draw_projected(jax.random.key(0), jnp.ones((8, 8)), 1.0, jnp.float32)


ENSEMBLE, WIDTH, STEPS, LATE = 64, 48, 30, 10
POINTS = [
    ("vanilla-tanh", dict(sigma_w=1.6, sigma_v=0.5, sigma_b=0.2, R=1.0, Sigma=0.3)),
    ("minimalrnn", dict(sigma_w=1.4, sigma_v=0.8, sigma_b=0.3, mu_b=0.5, R=1.0, Sigma=0.2)),
    ("feedforward-relu", dict(sigma_w=1.3, sigma_b=0.1)),
]


def _assert_same_means(cell, projected, dense):
    """Per statistic, the two engines' means over networks agree within Z = 4 (two-sample z)."""
    for k in dense:
        a, b = projected[k], dense[k]
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= 4 * se, (cell, k, a.mean(), b.mean(), se)


@pytest.mark.parametrize("cell,params", POINTS, ids=[c for c, _ in POINTS])
def test_whole_untied_networks_on_the_projected_engine_match_dense_draws(cell, params):
    """Networks of width 48, 64 per engine, independent samples.  Each network's mean over steps
    21-30 of q, Q, c, χ (Hutchinson) and χ (exact Frobenius norm, from the drawn diagonal and row
    norms) is compared between engines by a two-sample z within Z = 4 (SE from the 64 networks per
    side).  A 2-SE shift per side is seen with probability ~0.8 at this size."""
    means = {}
    for engine in ("projected", "dense"):
        s, _ = run_ensemble(cell, params, RunShape(WIDTH, STEPS, False, untied_engine=engine), seed=5 if
                            engine == "dense" else 6, ensemble=ENSEMBLE, Q0=0.8, C0=0.3)
        means[engine] = {k: s[k][:, -LATE:].mean(axis=1) for k in ("q_a", "Q_a", "c", "chi", "chi_exact")}
    _assert_same_means(cell, means["projected"], means["dense"])


@pytest.mark.parametrize("engine", ["projected", "dense"])
def test_the_command_runs_either_engine_and_records_which(engine, tmp_path):
    import json

    from verify.cli import main

    out = tmp_path / engine
    argv = ["cell=vanilla-tanh", "width=16", "ensemble=4", "steps=8", "tied=false", "quiet=true", "plots=false",
            f"out={out}"] + ([] if engine == "projected" else ["untied_engine=dense"])
    assert main(argv) in (0, 1)  # a run this small may disagree; it must run and say how it drew W
    report = json.loads((out / "report.json").read_text())
    assert report["points"][0]["config"]["untied_engine"] == engine


GATED_POINTS = ["lstm", "gru-reset-after", "gru"]


@pytest.mark.parametrize("cell", GATED_POINTS)
def test_untied_gated_networks_on_the_projected_engine_match_dense_draws(cell):
    """LSTM and the reset-after GRU read only h_{t-1} through W and x_t through U; the Cho GRU's W_n
    reads r ⊙ h and is drawn in a second stage on it (and its tangents).  Width 32, 48 networks per engine, independent samples: each network's mean
    over steps 11-20 of Q_h, q of the memory gate, c, χ and the growth of the Jacobian's vector is
    compared between engines by a two-sample z within Z = 4."""
    import theory
    from verify.judge.gated import simulate
    from verify.simulators import get_gated

    sim, params = get_gated(cell), dict(theory.parameters(cell))
    means = {}
    for engine, seed in (("projected", 11), ("dense", 12)):
        s = simulate(sim, params, width=32, ensemble=48, steps=20, tied=False, seed=seed, untied_engine=engine)
        means[engine] = {k: s[k][:, -10:].mean(axis=1)
                         for k in ("Q_h", f"q_{sim.memory_gate}", "c", "chi", "growth")}
    _assert_same_means(cell, means["projected"], means["dense"])


def test_gated_points_batched_on_the_projected_engine_equal_their_separate_runs():
    import theory
    from verify.judge.gated import simulate, simulate_points
    from verify.simulators import get_gated

    sim, base = get_gated("lstm"), dict(theory.parameters("lstm"))
    points = [({**base, "mu_b_f": mu}, {"c": q0, "h": q0}, 0.0) for mu, q0 in ((0.0, 0.3), (2.0, 0.1))]
    batch = simulate_points(sim, points, width=16, ensemble=4, steps=8, tied=False, seed=3)
    for (params, q0, c0), got in zip(points, batch):
        alone = simulate(sim, params, width=16, ensemble=4, steps=8, tied=False, seed=3, Q0=q0, C0=c0)
        for k in alone:
            np.testing.assert_allclose(got[k], alone[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


def _completed(tree, key):
    """Every projected matrix of ``tree`` completed to a dense one that agrees with it on its span:
    ``G Uᵀ + W⊥ (I - U Uᵀ)`` with an arbitrary ``W⊥``.  A step that multiplies only vectors in the
    spans gives the same result with either, to rounding; any read outside a span changes it by O(1)."""
    from verify.simulators.projected import ProjectedGaussian

    leaves, treedef = jax.tree.flatten(tree, is_leaf=lambda x: isinstance(x, ProjectedGaussian))
    out = []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, ProjectedGaussian):
            n = leaf.U.shape[0]
            other = jax.random.normal(jax.random.fold_in(key, i), (n, n), jnp.float64)
            leaf = leaf.G @ leaf.U.T + other @ (jnp.eye(n) - leaf.U @ leaf.U.T)
        out.append(leaf)
    return jax.tree.unflatten(treedef, out)


def _assert_same_outputs(projected, dense):
    """Every array of the two output trees equal to rounding."""
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in jax.tree.leaves(projected)]),
                               np.concatenate([np.ravel(a) for a in jax.tree.leaves(dense)]),
                               rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("cell", ["lstm", "gru-reset-after", "gru"])
def test_a_gated_step_and_its_jacobian_multiply_each_projected_matrix_only_inside_its_span(cell):
    """The exactness claim made directly: with the engine's reads (states, probe tangents, growth
    vector; inputs), the step of both sequences and its Jacobian along every tangent come out the
    same from the projected matrices as from any dense completion of them."""
    import theory
    from verify.simulators import get_gated

    sim, n = get_gated(cell), 24
    with jax.enable_x64(True):
        p = {k: jnp.asarray(v, jnp.float64) for k, v in theory.parameters(cell).items()}
        g = jax.random.normal(jax.random.key(0), (6 + 2 * len(sim.components), n), jnp.float64)
        comps = len(sim.components)
        s_a, s_b = tuple(g[:comps]), tuple(g[comps:2 * comps])
        x_a, x_b = g[2 * comps], g[2 * comps + 1]
        ir = sim.components.index(sim.read)
        tangents = g[2 * comps + 2:]
        reads = jnp.concatenate([jnp.stack([s_a[ir], s_b[ir]]), tangents])
        w = sim.draw_weights(jax.random.key(1), n, p, jnp.float64, reads=(reads, jnp.stack([x_a, x_b])))
        dense = _completed(w, jax.random.key(2))

        def outputs(weights):
            fmap = lambda s: sim.step(weights, s, x_a, p)[0]  # noqa: E731
            tangent = lambda t: tuple(t if i == ir else jnp.zeros(n) for i in range(comps))  # noqa: E731
            jv = [jax.jvp(fmap, (s_a,), (tangent(t),))[1] for t in tangents]
            return fmap(s_a), sim.step(weights, s_b, x_b, p)[0], jv

        _assert_same_outputs(outputs(w), outputs(dense))


@pytest.mark.parametrize("cell,params", POINTS, ids=[c for c, _ in POINTS])
def test_a_one_field_step_and_its_jacobian_multiply_each_projected_matrix_only_inside_its_span(cell, params):
    from verify.simulators import get

    sim, n = get(cell), 24
    with jax.enable_x64(True):
        p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        g = jax.random.normal(jax.random.key(3), (8, n), jnp.float64)
        h_a, h_b, x_a, x_b, tangents = g[0], g[1], g[2], g[3], g[4:]
        inputs = jnp.stack([x_a, x_b]) if sim.draw_inputs is not None else None
        w = sim.draw_weights(jax.random.key(4), n, p, jnp.float64, reads=(g[jnp.array([0, 1, 4, 5, 6, 7])], inputs))
        dense = _completed(w, jax.random.key(5))

        def outputs(weights):
            xa, xb = (x_a, x_b) if inputs is not None else (None, None)
            fmap = lambda h: sim.step(weights, h, xa, p).h  # noqa: E731
            return (sim.step(weights, h_a, xa, p), sim.step(weights, h_b, xb, p),
                    [jax.jvp(fmap, (h_a,), (t,))[1] for t in tangents])

        _assert_same_outputs(outputs(w), outputs(dense))


def test_below_the_width_a_projection_needs_the_run_draws_dense_matrices_instead_of_failing():
    """Two states and four probes need N >= 8 to project; at N = 6 the default engine draws densely,
    so its run is the dense engine's, sample for sample."""
    p = dict(sigma_w=1.2, sigma_v=0.5, sigma_b=0.1, R=1.0, Sigma=0.3)
    runs = [run_ensemble("vanilla-tanh", p, RunShape(6, 5, False, untied_engine=e), seed=1, ensemble=2, Q0=1.0,
                         C0=0.2)[0] for e in ("projected", "dense")]
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k], err_msg=k)
    import theory
    from verify.judge.gated import simulate
    from verify.simulators import get_gated

    lstm = dict(theory.parameters("lstm"))  # two states, two probes and the growth vector need N >= 7
    gated = [simulate(get_gated("lstm"), lstm, width=6, ensemble=2, steps=3, tied=False, seed=1, untied_engine=e)
             for e in ("projected", "dense")]
    for k in gated[0]:
        np.testing.assert_array_equal(gated[0][k], gated[1][k], err_msg=k)
