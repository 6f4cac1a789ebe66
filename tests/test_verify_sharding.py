"""Keys, chunking, sharding over a device mesh, and memory planning (07 §6-7)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import verify  # noqa: F401
from verify.engine.sharding import (
    BYTES,
    HEADROOM,
    VECTOR_SLOTS,
    WEIGHT_COPIES,
    MemoryPlanError,
    bytes_per_network,
    check_memory,
    plan_memory,
    run_ensemble,
)
from verify.engine.simulate import RunShape, stat_names
from verify.simulators import get

P = {"sigma_w": 1.3, "sigma_v": 0.6, "sigma_b": 0.2, "mu_b": 0.5, "R": 1.0, "Sigma": 0.8}
REPO = Path(__file__).resolve().parents[1]


def _close(a, b):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14, equal_nan=True, err_msg=k)


def test_network_samples_do_not_depend_on_ensemble_size_or_chunking():
    # vanilla-tanh tied at the agreement tests' shape (N = 128, T = 40): E = 32 is compiled once
    # per session already; E = 16 and the 16-network chunks share one more program.
    p = {"sigma_w": 1.3, "sigma_v": 0.6, "sigma_b": 0.2, "R": 1.0, "Sigma": 0.8}
    shape = RunShape(128, 40, tied=True)
    big, _ = run_ensemble("vanilla-tanh", p, shape, seed=5, ensemble=32, Q0=0.5, C0=0.1)
    small, _ = run_ensemble("vanilla-tanh", p, shape, seed=5, ensemble=16, Q0=0.5, C0=0.1)
    chunked, plan = run_ensemble("vanilla-tanh", p, shape, seed=5, ensemble=32, Q0=0.5, C0=0.1,
                                 max_chunk=16)
    assert plan.chunks == 2
    _close({k: v[:16] for k, v in big.items()}, small)
    _close(big, chunked)
    # and different seeds give different networks
    other, _ = run_ensemble("vanilla-tanh", p, shape, seed=6, ensemble=16, Q0=0.5, C0=0.1)
    assert not np.allclose(other["Q_a"], small["Q_a"])


def test_untied_weights_are_shared_by_both_sequences_and_redrawn_each_step():
    """Identical initial states and inputs (Sigma = 1, C0 = Q0) must give identical sequences
    only if both sequences see the same W_t; the recurrent field decorrelates untied."""
    # shapes as in the agreement tests (N = 128, T = 40, E = 32): compiled once per session
    p = {"sigma_w": 1.5, "sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}
    for tied in (False, True):
        s, _ = run_ensemble("vanilla-tanh", p, RunShape(128, 40, tied=tied), seed=1, ensemble=32,
                            Q0=0.8, C0=0.8)
        np.testing.assert_allclose(s["c_h"], 1.0, rtol=1e-12)
    # Slow gate (mu_b = 3: u ~ 0.95) keeps h_t ~ h_{t-1}; with the same W the recurrent field
    # (W h_{t-1})_i then barely changes (lag-one correlation near 1), with a fresh W_t it is
    # uncorrelated (|corr| ~ N^-1/2), the mechanism behind the tied gated gap (02 §5).
    slow = {"sigma_w": 1.0, "sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 3.0, "R": 1.0, "Sigma": 1.0}
    lag = {}
    for tied in (False, True):
        s, _ = run_ensemble("minimalrnn", slow, RunShape(128, 40, tied=tied), seed=1,
                            ensemble=32, Q0=0.5, C0=0.0)
        lag[tied] = float(np.nanmean(s["rec_lag1"][:, 5:]))
    assert abs(lag[False]) < 0.1 and lag[True] > 0.8, lag


def test_memory_plan_uses_the_stated_formula():
    sim = get("vanilla-tanh")
    shape = RunShape(1000, 50, tied=True, probes=4, dtype="float64")
    expected = 8 * (WEIGHT_COPIES * 2 * 1000**2 + 1000 * (VECTOR_SLOTS + 12) + 50 * len(stat_names(sim)))
    assert bytes_per_network(sim, shape) == expected
    assert BYTES["float32"] == 4


def test_memory_plan_chunks_when_the_ensemble_does_not_fit():
    sim = get("vanilla-tanh")
    shape = RunShape(1000, 50, tied=True)
    per = bytes_per_network(sim, shape)
    plan = plan_memory(sim, shape, 64, jax.devices(), free_bytes=int(10 * per / HEADROOM))
    assert plan.chunk == 10 and plan.chunks == 7


def test_memory_plan_refuses_with_the_bytes_needed():
    sim = get("minimalrnn")
    shape = RunShape(65536, 10, tied=False, dtype="float32")
    with pytest.raises(MemoryPlanError, match=r"needs about .* GiB per network"):
        plan_memory(sim, shape, 8, jax.devices(), free_bytes=2**30)


def test_measured_plan_refuses_the_request_the_formula_let_through():
    """Issue 18.2: ``width=4000 ensemble=32 steps=4 tied=false`` (vanilla-tanh, float64) passed the
    formula (0.77 GB per network) and XLA then asked for 19.2 GB in one buffer.  The measured plan
    (XLA's memory analysis of the compiled chunk program; nothing runs) fits the chunk to the memory:
    with 16 GiB free, at most 8 GiB for the chunk, so fewer than 32 networks per call."""
    free = 16 * 2**30
    _, plan = check_memory("vanilla-tanh", RunShape(4000, 4, tied=False), 32, free_bytes=free)
    assert 0 < plan.measured_bytes <= HEADROOM * free
    assert plan.chunk < 32 and plan.chunks * plan.chunk >= 32
    # the measured need per network is well above the formula's guess at this width
    assert plan.measured_bytes / plan.chunk > 1.3 * plan.bytes_per_network
    with pytest.raises(MemoryPlanError, match=r"XLA memory analysis"):
        check_memory("vanilla-tanh", RunShape(4000, 4, tied=False), 32, free_bytes=2**30)


def test_a_repeated_run_reuses_its_fitted_chunk_instead_of_recompiling_for_the_free_memory_of_the_moment():
    """Free memory moves between calls; the chunk the plan fitted last time still fits, so the second
    call starts there and compiles nothing (it recompiled on every call when the guess moved)."""
    from verify.engine import sharding

    shape = RunShape(48, 6, tied=False)
    per_net = sharding.bytes_per_network(sharding.get_simulator("vanilla-erf"), shape)
    free = int(8 * per_net / HEADROOM) + 1  # the formula's guess: 8 networks per chunk
    _, first = check_memory("vanilla-erf", shape, 32, free_bytes=free)
    misses = sharding._compiled_program.cache_info().misses
    _, again = check_memory("vanilla-erf", shape, 32, free_bytes=2 * free)  # guess: 16
    assert sharding._compiled_program.cache_info().misses == misses
    assert again.chunk == first.chunk <= 8


SHARDED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    import verify
    from verify.engine.sharding import run_ensemble
    from verify.engine.simulate import RunShape
    assert len(jax.devices()) == 4, jax.devices()
    p = {"sigma_w": 1.3, "sigma_v": 0.6, "sigma_b": 0.2, "mu_b": 0.5, "R": 1.0, "Sigma": 0.8}
    shape = RunShape(32, 8, tied=False)  # untied: weights regenerated inside the sharded scan
    sharded, plan = run_ensemble("minimalrnn", p, shape, seed=9, ensemble=6, Q0=0.5, C0=0.1)
    single, _ = run_ensemble("minimalrnn", p, shape, seed=9, ensemble=6, Q0=0.5, C0=0.1,
                             devices=jax.devices()[:1])
    diff = max(float(np.nanmax(np.abs(sharded[k] - single[k]))) for k in sharded)
    print(json.dumps({"devices": plan.devices, "chunk": plan.chunk, "max_abs_diff": diff,
                      "scale": float(np.nanmax(np.abs(single["q_a"])))}))
    """
)


def test_sharded_over_four_cpu_devices_equals_unsharded_for_the_same_keys():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["devices"] == 4 and r["chunk"] == 8  # 6 networks padded to 8 over 4 devices
    assert r["max_abs_diff"] <= 1e-12 * r["scale"], r
