"""Shared compiled programs and parallel suite parts give the statistics of separate runs.

``verify all`` runs one compiled program per family of cells (the activation a runtime index),
per regime pair (``tied`` a runtime flag) and per horizon (shorter runs keep their first steps);
the two runs of a point share their samples, and so do the biases of a gated sweep.  Each of
these must reproduce, to rounding, what a separate single-cell, single-regime, single-start run
with the same seed gives.  Small shapes (N = 16, E = 4): the programs compile in seconds.
"""

import json
from functools import partial

import jax
import numpy as np
import pytest

import verify  # noqa: F401
from verify.reporting.report import dumps
from verify.engine.sharding import family_of, run_ensemble, run_starts
from verify.engine.simulate import RunShape, simulate_network
from verify.simulators import get

VANILLA = {"sigma_w": 1.4, "sigma_v": 0.6, "sigma_b": 0.2, "R": 1.0, "Sigma": 0.7}
FEEDFORWARD = {"sigma_w": 1.6, "sigma_b": 0.2}


def _reference(cell, params, n, steps, tied, seed, ensemble, Q0, C0):
    """One cell, regime and start, compiled on its own (the engine before programs were shared)."""
    fn = jax.jit(jax.vmap(partial(simulate_network, get(cell), RunShape(n, steps, tied)),
                          in_axes=(None, 0, None, None, None)))
    out = fn(jax.random.key(seed), np.arange(ensemble, dtype=np.int32),
             {k: float(params[k]) for k in get(cell).param_names}, float(Q0), float(C0))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def _close(a, b):
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


def test_families_group_the_activations_and_nothing_else():
    assert family_of("vanilla-relu") == tuple(f"vanilla-{a}" for a in ("tanh", "erf", "relu", "hard-tanh", "linear"))
    assert family_of("feedforward-tanh")[0] == "feedforward-tanh" and len(family_of("feedforward-tanh")) == 5
    assert family_of("minimalrnn") == ("minimalrnn",)


@pytest.mark.parametrize("cell,params,tied", [("vanilla-relu", VANILLA, True), ("vanilla-erf", VANILLA, False),
                                              ("feedforward-hard-tanh", FEEDFORWARD, False)])
def test_shared_program_and_starts_reproduce_separate_runs(cell, params, tied):
    starts = [(1.0, 0.2), (0.4, -0.1)]
    shared, _ = run_starts(cell, params, RunShape(16, 12, tied), seed=7, ensemble=4, starts=starts,
                           program_steps=20)
    for (q0, c0), got in zip(starts, shared):
        assert got["Q_a"].shape == (4, 12)
        _close(got, _reference(cell, params, 16, 12, tied, 7, 4, q0, c0))
    # a single start through a program compiled for two (the width sweep's case)
    one, _ = run_ensemble(cell, params, RunShape(16, 12, tied), seed=7, ensemble=4, Q0=0.4, C0=-0.1,
                          program_starts=2)
    _close(one, shared[1])


def test_gated_points_batched_with_common_seed_equal_separate_runs():
    theory = pytest.importorskip("theory")
    from verify.judge.gated import simulate, simulate_points
    from verify.simulators import get_gated

    sim = get_gated("gru")
    base = dict(theory.parameters("gru"))
    points = [({**base, "mu_b_z": mu}, {"h": q0}, 0.0) for mu, q0 in ((-1.0, 0.3), (2.0, 0.1))]
    for tied in (False, True):
        batch = simulate_points(sim, points, width=16, ensemble=4, steps=10, tied=tied, seed=3, program_steps=14)
        for (params, q0, c0), got in zip(points, batch):
            _close(got, simulate(sim, params, width=16, ensemble=4, steps=10, tied=tied, seed=3, Q0=q0, C0=c0))


def test_suite_parts_are_spread_by_cost_and_keep_their_order():
    from verify.commands.suite_parts import ORDER, groups

    parts = [(name, {}) for name in ORDER]
    two = groups(parts, 2)
    assert sorted(n for g in two for n, _ in g) == sorted(ORDER)
    assert [n for n, _ in two[0]] == ["gated"]
    for g in two:
        names = [n for n, _ in g]
        assert names == sorted(names, key=ORDER.index)
    assert [n for n, _ in groups(parts, 1)[0]] == list(ORDER)


def test_report_writer_is_json_with_shallow_indentation():
    doc = {"a": [1, {"b": [1.5, None]}, []], "c": {}, "d": {"e": {"f": {"g": {"h": "x"}}}}}
    assert json.loads(dumps(doc)) == doc
    assert dumps(doc, depth=100) == json.dumps(doc, indent=1)
    assert '"g": {"h": "x"}' in dumps(doc, depth=4)
