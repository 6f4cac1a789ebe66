"""float32 runs with a float64 rerun of a subset (07 §6), and the recorded JAX settings."""

import jax
import pytest

import verify  # noqa: F401
from verify.judge.compare import PRECISION_RATIO, PRECISION_SUBSET, PointConfig, verify_point

theory = pytest.importorskip("theory")


def test_jax_settings_are_set_and_recorded():
    from verify.reporting.report import environment

    env = environment()["jax_config"]
    # the PRNG implementation is recorded because GPU runs may switch it (JAX_DEFAULT_PRNG_IMPL)
    assert env == {"jax_enable_x64": True, "jax_default_matmul_precision": "highest",
                   "jax_threefry_partitionable": True, "jax_default_prng_impl": "threefry2x32"}
    assert jax.config.jax_default_matmul_precision == "highest"


def test_float32_rounding_is_well_below_the_standard_error_at_an_ordered_point():
    """Same samples (drawn in float32) pushed through float32 and float64 arithmetic: the mean
    paired difference of each fixed-point estimate over 8 networks is < 0.1 (SE + B_N) (ordered
    point, so trajectories do not decorrelate), and for the moments also < 0.1 SE."""
    params = {**theory.parameters("vanilla-tanh"), "sigma_w": 0.8}
    cfg = PointConfig(cell="vanilla-tanh", params=params, width=64, ensemble=16, steps=20,
                      regimes=("tied",), seed=5, dtype="float32", label="f32")
    rep = verify_point(cfg)
    prec = rep.precision
    assert prec["networks"] == PRECISION_SUBSET
    for q, v in prec["quantities"].items():
        assert v["ok"] and v["ratio"] < PRECISION_RATIO, (q, v)
    for q in ("q_star", "Q_star", "chi"):
        assert prec["quantities"][q]["ratio_to_se"] < PRECISION_RATIO, prec["quantities"][q]
    # float32 really was used: the rounding difference is not exactly zero everywhere
    assert any(v["mean_diff"] != 0.0 for v in prec["quantities"].values())
