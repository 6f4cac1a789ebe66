"""Issue 18.4: every public function accepts every cell it lists, or says clearly that it does not;
arguments are type-checked with the parameter's name in the message; work per call is bounded."""
import warnings

import numpy as np
import pytest

import theory
from theory import validate

GATED = ["gru", "gru-reset-after", "lstm"]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_trajectory_of_a_gated_cell_iterates_its_per_component_maps(cell):
    out = theory.trajectory(cell, 40, 1.0)
    # the same maps the gated module iterates (theory.closures.gated_api.trajectory), reached from the general API
    from theory.closures.gated_api import trajectory as gated_trajectory
    ref = gated_trajectory(cell, 40, 1.0)
    assert set(out) == set(ref)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])
    # and the iteration converges to the served fixed point Q_h* (an independent solve: Newton on the map)
    assert out["Q_h"][-1] == pytest.approx(theory.predict(cell, "Q_star"), rel=1e-6)


def test_gated_trajectory_refuses_the_jax_backend_and_wrong_components():
    with pytest.raises(ValueError, match="numba kernels only"):
        theory.trajectory("gru", 5, 1.0, backend="jax")
    with pytest.raises(ValueError, match="state components"):
        theory.trajectory("lstm", 5, {"h": 1.0})
    with pytest.raises(ValueError, match="one state component"):
        theory.trajectory("vanilla-tanh", 5, {"h": 1.0})


@pytest.mark.parametrize("cell,along,values,solve_for", [
    ("lstm", "mu_b_f", [0.0, 3.0], "sigma_w_g"),
    ("gru", "mu_b_z", [0.0, 1.0], "sigma_w_n"),
])
def test_gated_critical_line_is_where_lambda_max_crosses_one(cell, along, values, solve_for):
    line = theory.critical_line(cell, along=along, values=values, solve_for=solve_for)
    assert np.all(np.isfinite(line[solve_for]))
    for v, s in zip(values, line[solve_for]):
        at = theory.predict(cell, "lambda_max", **{along: v, solve_for: s})
        below = theory.predict(cell, "lambda_max", **{along: v, solve_for: s * 0.98})
        above = theory.predict(cell, "lambda_max", **{along: v, solve_for: s * 1.02})
        assert at == pytest.approx(1.0, abs=1e-9)
        assert below < 1.0 < above  # a genuine crossing, not a touch


@pytest.mark.parametrize("call,match", [
    (lambda: theory.critical_line("lstm", q_star=[0.5]), "no closed-form parametrisation"),
    (lambda: theory.critical_line("gru", along="mu_b_z", values=[0.0]), "solve_for"),
    (lambda: theory.critical_line("vanilla-tanh", along="sigma_b", values=[0.1], sigma_w=1.0), "solved for"),
    (lambda: theory.phase_diagram("gru", tied=True, xi=True), "tied lambda_max only"),
    (lambda: theory.phase_diagram("feedforward-relu", tied=True), "feed-forward"),
    (lambda: theory.phase_diagram("lstm", x="sigma_w", y="sigma_w_f"), "both set"),
    (lambda: theory.spectrum("gru", T=2), "not for the gated cell gru"),
    (lambda: theory.spectrum("lstm", T=1), "not for the gated cell lstm"),
    (lambda: theory.predict("lstm", "isometry_variance", T=10), "served for single-field cells"),
    (lambda: theory.predict("vanilla-tanh", "p_point_collapse", N=4, L=50), "feed-forward ReLU"),
    (lambda: theory.predict("vanilla-tanh", "lambda_max"), "gated-cell quantity"),
    (lambda: theory.critical_init("lstm", T=100, max_variance=0.01, weights="gaussian"), "single-field cells"),
])
def test_requests_a_cell_does_not_serve_say_so(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gated_initializers_refuse_a_single_field_cell():
    from theory.criticality.gated_init import initializers
    with pytest.raises(ValueError, match="not one"):
        initializers("vanilla-tanh")


@pytest.mark.parametrize("value", ["1.5", True, None, {}, [1, "a"], 1 + 2j])
def test_a_parameter_must_be_a_number_and_the_error_names_it(value):
    with pytest.raises(ValueError, match="sigma_w must be"):
        theory.predict("vanilla-tanh", "chi", sigma_w=value)


def test_a_cell_must_be_a_name_or_a_declaration():
    with pytest.raises(ValueError, match="a cell is a name"):
        theory.predict(123, "chi")


@pytest.mark.parametrize("call,match", [
    (lambda: theory.trajectory("vanilla-tanh", float("nan"), 1.0), "steps must be an integer"),
    (lambda: theory.trajectory("vanilla-tanh", float("inf"), 1.0), "steps must be an integer"),
    (lambda: theory.trajectory("vanilla-tanh", 2.5, 1.0), "steps must be an integer"),
    (lambda: theory.trajectory("vanilla-tanh", True, 1.0), "steps must be an integer"),
    (lambda: theory.trajectory("vanilla-tanh", 10 ** 9, 1.0), "work bound"),
    (lambda: theory.trajectory("vanilla-tanh", 5, "1.0"), "Q0 must be"),
    (lambda: theory.trajectory("vanilla-tanh", 5, 1.0, sigma_w=[1.0, 2.0]), "scalar parameters"),
    (lambda: theory.spectrum("vanilla-tanh", T=2, n=-5), "n must be an integer >= 2"),
    (lambda: theory.spectrum("vanilla-tanh", T=2, n=0), "n must be an integer >= 2"),
    (lambda: theory.spectrum("vanilla-tanh", T=2, n=10 ** 8), "work bound"),
    (lambda: theory.spectrum("vanilla-tanh", T=float("nan")), "T must be an integer"),
    (lambda: theory.spectrum("vanilla-tanh", T=2, panels=0), "panels must be an integer"),
    (lambda: theory.spectrum("vanilla-tanh", T=2, eps_rel=-1.0), "eps_rel"),
    (lambda: theory.critical_line("vanilla-tanh", q_star=[float("nan")]), "q_star must be finite"),
    (lambda: theory.predict("vanilla-tanh", "chi", backend="bogus"), "unknown backend"),
    (lambda: theory.predict("vanilla-tanh", "chi", tied="yes"), "tied must be True or False"),
    (lambda: theory.critical_init("vanilla-tanh", T=10, max_variance=-1), "max_variance must be a positive"),
    (lambda: theory.predict("lstm", "Q_star", closure="population", size=-5), "size must be an integer"),
    (lambda: theory.predict("lstm", "Q_star", closure="population", size=0), "size must be an integer"),
])
def test_bad_arguments_get_one_library_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_work_bound_is_module_data_a_user_can_raise(monkeypatch):
    monkeypatch.setitem(validate.LIMITS, "steps", 3)
    with pytest.raises(ValueError, match="work bound 3"):
        theory.trajectory("vanilla-tanh", 4, 1.0)
    monkeypatch.setitem(validate.LIMITS, "steps", 4)
    assert theory.trajectory("vanilla-tanh", 4, 1.0)["Q"].shape == (4,)


def test_failed_grid_points_give_one_warning_with_the_reason_not_numpys_floating_point_noise():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = theory.predict("vanilla-linear", "q_star", sigma_w=np.array([0.5, 1.1, 1.2, 3.0]))
    assert np.isnan(out[1:]).all()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "NaN at 3 of 4 points" in messages[0], messages


@pytest.mark.parametrize("arg,match", [("widths=32,64", "width sweep"), ("dtype=float32", "float64 only")])
def test_verify_refuses_single_field_options_for_gated_cells_instead_of_ignoring_them(arg, match, tmp_path, capsys):
    from verify.cli import main
    assert main(["cell=gru", arg, f"out={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_gated_quantity_that_fails_raises_fixed_point_error_for_scalars_and_warns_once_for_arrays():
    with pytest.raises(theory.FixedPointError, match="lambda_max undefined"):
        theory.predict("gru", "lambda_max", sigma_w_z=1e200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = theory.predict("gru", "lambda_max", sigma_w_z=np.array([1.0, 1e200]))
    assert np.isfinite(out[0]) and np.isnan(out[1])
    assert [str(w.message) for w in caught] == ["gru: lambda_max is NaN at 1 of 2 points (NaN from the kernel)"]


@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_an_overflowing_quantity_raises_in_both_backends_instead_of_returning_inf(backend):
    """q* = sigma_w_z^2 Q* + ... overflows float64 at sigma_w_z = 1e200: numba used to return +inf
    silently (jax NaN, then an error); only a timescale may be +inf (its exact value at criticality)."""
    with pytest.raises(theory.FixedPointError, match="q_star undefined"):
        theory.predict("gru", "q_star", sigma_w_z=1e200, backend=backend)
    assert theory.api.TIMESCALE_QUANTITIES == {"xi", "xi_q", "xi_2", "xi_q_2"}


def test_an_overflow_in_an_array_request_is_named_in_the_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = theory.predict("gru", "q_star", sigma_w_z=np.array([1.0, 1e200]))
    assert np.isfinite(out[0])
    assert [str(w.message) for w in caught] == [
        "gru: q_star is infinite at 1 of 2 points (the value overflows float64 (|x| > 1.8e308)); see theory.status"]
