"""Phase diagrams and critical lines of gated cells (issue 23 item 5): the lambda_max = 1 line over
sigma_w (every gate's recurrent scale together) and the memory-gate bias, annealed and tied.

The root-solved line is checked where it claims to be: lambda_max of the kernels is 1 there to 1e-9
and crosses (0.98 s below, 1.02 s above); the grid's interpolated contour must sit within its own
interpolation error bound of it.  The tied grid must be the tied solver's values on common random
numbers (the same seed at every point), with their standard errors.
"""
from pathlib import Path

import numpy as np
import pytest

import theory


def _lam(cell, scale, **params):
    names = [n for n in theory.cell(cell).param_names if n.startswith("sigma_w_")]
    return theory.predict(cell, "lambda_max", **{**{n: scale for n in names}, **params})


@pytest.fixture(scope="module")
def lstm_diagram():
    return theory.phase_diagram("lstm", xlim=(0.5, 6.0), ylim=(-1.0, 5.0), n=(23, 4))


def test_lstm_defaults_are_sigma_w_over_the_forget_gate_bias(lstm_diagram):
    d = lstm_diagram
    assert (d.x, d.y, d.criterion, d.theory) == ("sigma_w", "mu_b_f", "lambda_max", "annealed")
    assert d.order.shape == d.xi_q.shape == (4, 23)
    assert d.xi is None and d.relvar is None  # xi is opt-in for gated cells; no Jacobian moments yet
    assert [p[0] for p in d.panels()] == ["order", "xi_q"]
    with pytest.raises(AttributeError, match="read .order"):
        d.chi


def test_sigma_w_axis_moves_every_gate_together(lstm_diagram):
    d = lstm_diagram
    i, j = 2, 7
    together = _lam("lstm", d.xs[j], mu_b_f=d.ys[i])
    assert d.order[i, j] == pytest.approx(together, rel=1e-12)
    alone = theory.predict("lstm", "lambda_max", sigma_w_f=d.xs[j], mu_b_f=d.ys[i])
    assert abs(alone - together) > 1e-3  # the axis is not just the forget gate's scale


def test_root_solved_line_is_where_lambda_max_crosses_one(lstm_diagram):
    d = lstm_diagram
    roots = d.critical["sigma_w"]
    assert np.all(np.isfinite(roots)) and np.all(d.critical["mu_b_f"] == d.ys)
    for y, s in zip(d.ys, roots):
        assert _lam("lstm", s, mu_b_f=y) == pytest.approx(1.0, abs=1e-9)
        assert _lam("lstm", 0.98 * s, mu_b_f=y) < 1.0 < _lam("lstm", 1.02 * s, mu_b_f=y)
    # a larger forget-gate bias makes the cell critical at a smaller recurrent scale (06 §5)
    assert np.all(np.diff(roots) < 0)


def test_grid_contour_lies_within_its_interpolation_error_of_the_roots(lstm_diagram):
    d = lstm_diagram
    curve = d.critical_curve()
    h = d.xs[1] - d.xs[0]
    for i, s in enumerate(d.critical["sigma_w"]):
        j = int(np.searchsorted(d.xs, s)) - 1
        g = d.order[i]
        d2 = max(abs(g[k + 1] - 2 * g[k] + g[k - 1]) for k in (j, j + 1) if 1 <= k < g.size - 1) / h ** 2
        d1 = abs(g[j + 1] - g[j]) / h
        assert abs(curve[i] - s) <= 2.0 * (h * h / 8.0) * d2 / d1 + 1e-12  # factor 2: g'' estimated


def test_critical_line_takes_parameter_families_on_either_side():
    a = theory.critical_line("lstm", along="mu_b_f", values=[1.0], solve_for="sigma_w")
    s = float(a["sigma_w"][0])
    assert _lam("lstm", s, mu_b_f=1.0) == pytest.approx(1.0, abs=1e-9)
    b = theory.critical_line("lstm", along="sigma_w", values=[s], solve_for="mu_b_f")
    assert float(b["mu_b_f"][0]) == pytest.approx(1.0, abs=1e-8)  # the same point, solved the other way
    with pytest.raises(ValueError, match="same parameter"):
        theory.critical_line("lstm", along="sigma_w", values=[1.0], solve_for="sigma_w_f")
    with pytest.raises(ValueError, match="not a parameter or a family"):
        theory.critical_line("lstm", along="sigma_q", values=[1.0], solve_for="mu_b_f")


def test_gru_diagram_uses_the_update_gate_bias_and_plots_headless(tmp_path):
    d = theory.phase_diagram("gru", n=(16, 10))
    assert (d.x, d.y) == ("sigma_w", "mu_b_z")
    ordered, chaotic = d.order < 1, d.order > 1
    assert ordered.any() and chaotic.any()
    path = Path(d.plot(tmp_path / "gru.png"))
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.shape[1] > 800 and np.std(img[..., :3]) > 0.05


def test_tied_grid_is_the_tied_solver_on_common_random_numbers():
    d = theory.phase_diagram("gru", tied=True, xlim=(1.0, 5.0), ylim=(0.0, 2.0), n=(3, 2), paths=2048)
    assert (d.theory, d.criterion) == ("tied", "lambda_max")
    assert d.order.shape == d.order_se.shape == d.annealed_order.shape == (2, 3)
    assert np.all(d.order_se > 0) and np.all(d.order_se < 0.05)
    i, j = 1, 2
    p = {f"sigma_w_{g}": d.xs[j] for g in "rzn"}
    v, e = theory.predict("gru", "lambda_max", tied=True, return_error=True, paths=2048, seed=0, mu_b_z=d.ys[i], **p)
    assert (d.order[i, j], d.order_se[i, j]) == (v, e)
    assert d.annealed_order[i, j] == pytest.approx(theory.predict("gru", "lambda_max", mu_b_z=d.ys[i], **p), rel=1e-12)
    # the annealed comparison line is solved on its own annealed grid, not the coarse tied one
    assert d.critical is not None and d.critical["mu_b_z"].size == 36
    assert [p[0] for p in d.panels()] == ["order"]


def test_derive_plot_phase_for_a_gated_cell(tmp_path, run_cli):
    r = run_cli("theory.cli", "cell=gru", "plot=phase", f"out={tmp_path}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "gru_phase.png").stat().st_size > 20_000


def test_tied_critical_line_is_where_the_tied_lambda_max_is_one():
    # GRU, recurrent scale of all three gates = 3: the update-gate bias where the real network is critical
    line = theory.critical_line("gru", along="sigma_w", values=[3.0], tied=True, paths=1024)
    mu, se = float(line["mu_b_z"][0]), float(line["mu_b_z_se"][0])
    assert np.isfinite(mu) and 0 < se < 0.5
    same = theory.critical_init("gru", tied=True, paths=1024, sigma_w_r=3.0, sigma_w_z=3.0, sigma_w_n=3.0)
    assert same.details["value"] == mu  # one root per value, on the same common random numbers
    # the tied solver at the root, on those random numbers (seed 0, 160 steps, burn-in 80), gives 1 to the
    # root finder's tolerance (1e-6 in mu times the slope), far below its Monte-Carlo SE
    lam, lam_se = theory.predict("gru", "lambda_max", tied=True, return_error=True, paths=1024, steps=160, burn=80,
                                 seed=0, mu_b_z=mu, sigma_w_r=3.0, sigma_w_z=3.0, sigma_w_n=3.0)
    assert lam == pytest.approx(1.0, abs=1e-5) and lam_se > 1e-4
    with pytest.raises(ValueError, match="no q"):
        theory.critical_line("gru", q_star=[1.0], tied=True)
    with pytest.raises(ValueError, match="feed-forward"):
        theory.critical_line("feedforward-relu", along="sigma_b", values=[0.1], tied=True)
