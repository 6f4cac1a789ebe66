"""Bad input gives the documented error, never silent garbage."""
import subprocess
import sys

import numpy as np
import pytest

import theory


@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma_w=-1.0), "sigma_w must be >= 0"),
    (dict(R=-0.1), "R must be >= 0"),
    (dict(Sigma=1.5), r"Sigma must lie in \[-1, 1\]"),
    (dict(sigma_b=float("nan")), "must be finite"),
    (dict(sigma_q=1.0), "unknown parameter"),
])
def test_invalid_parameters_raise_value_error_naming_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        theory.predict("vanilla-tanh", "chi", **kwargs)


def test_unknown_cell_quantity_backend_name_the_valid_choices():
    with pytest.raises(ValueError, match="choose one of.*minimalrnn"):
        theory.predict("lstm2", "chi")
    with pytest.raises(ValueError, match="unknown quantity"):
        theory.predict("minimalrnn", "chi_squared")
    with pytest.raises(ValueError, match="unknown backend"):
        theory.predict("minimalrnn", "chi", backend="torch")


def test_no_fixed_point_raises_for_scalars_and_warns_with_nan_for_arrays():
    with pytest.raises(theory.FixedPointError, match="diverges"):
        theory.predict("vanilla-linear", "q_star", sigma_w=1.1)
    with pytest.warns(RuntimeWarning, match="NaN at 2 of 4 points"):
        out = theory.predict("vanilla-linear", "q_star", sigma_w=np.array([0.5, 0.9, 1.1, 1.2]))
    assert np.isnan(out[2:]).all() and np.isfinite(out[:2]).all()
    np.testing.assert_array_equal(theory.status("vanilla-linear", sigma_w=np.array([0.5, 1.1])), [0, 2])


def test_trajectory_rejects_bad_initial_conditions():
    with pytest.raises(ValueError, match="Cauchy-Schwarz"):
        theory.trajectory("vanilla-tanh", 5, Q0=1.0, C0=2.0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        theory.trajectory("vanilla-tanh", 0, Q0=1.0)


def _derive(*args):
    return subprocess.run([sys.executable, "-m", "theory.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args,msg", [
    (["cell=vanilla-foo"], "unknown cell"),
    (["cell=minimalrnn", "colour=red"], "unknown key 'colour'"),
    (["cell=minimalrnn", "sigma_w=abc"], "sigma_w must be a number"),
    (["cell=minimalrnn", "sigma_b=-1"], "sigma_b must be >= 0"),
    (["cell=minimalrnn", "backend=torch"], "unknown backend"),
    (["minimalrnn"], "expected key=value"),
])
def test_derive_cli_bad_input_exits_2_with_one_line_error(args, msg):
    r = _derive(*args)
    assert r.returncode == 2
    assert msg in r.stderr and r.stderr.count("\n") == 1


def test_derive_cli_help_lists_keys_and_cells():
    r = _derive("--help")
    assert r.returncode == 0 and "backend" in r.stdout and "vanilla-tanh" in r.stdout and "out" in r.stdout
