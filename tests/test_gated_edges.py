"""Gated cells at edge points: both backends give the same value or the same error, and a point's value
does not depend on the batch it is computed in.

The edge grid puts every recurrent weight scale at 0, 1e-300, 1 or 1e300 and the memory gate's bias
mean (LSTM forget gate, GRU update gate) at -1e150, 0 or 1e150.  At mu_b = +1e150 the gate is exactly
1 in float64: the cell copies its state, the variance map is the identity, lambda_max = 1 exactly and
the solver's Q* is 0, where correlations are undefined (numba's status 5, "degenerate").  Before the
jax kernels checked Q* > 0 there, their c* was 1 or NaN depending on whether lambda_max rounded to
<= 1, which changed with the number of points in the call; xi_q was 0 where the fixed point had
failed (NaN).  The reference here is the numba backend, which is itself held to scipy quadrature in
tests/test_gated_theory.py; this file checks that the two backends agree where the values are extreme.
"""
import warnings

import numpy as np
import pytest

import theory
from theory.api import FixedPointError

SIGMA_W = [0.0, 1e-300, 1.0, 1e300]
MU_B = [-1e150, 0.0, 1e150]
QUANTITIES = ("Q_star", "q_star", "chi", "xi_q", "lambda_max", "c_star", "c_h_star", "xi")
MEMORY_BIAS = {"lstm": "mu_b_f", "gru": "mu_b_z"}


def _grid(cell):
    c = theory.api.cell(cell)
    sw, mb = np.meshgrid(SIGMA_W, MU_B, indexing="ij")
    params = {n: sw for n in c.param_names if n.startswith("sigma_w_")}
    params[MEMORY_BIAS[cell]] = mb
    return params


def _predict(cell, q, backend, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(theory.predict(cell, q, backend=backend, **params), dtype=float)


@pytest.mark.parametrize("cell", sorted(MEMORY_BIAS))
def test_both_backends_give_the_same_value_or_no_value_at_gated_edge_points(cell):
    """Every served value agrees to 1e-10 relative (inf with inf; correlations also to 1e-14 absolute),
    and where one backend has no value (NaN) neither has."""
    params = _grid(cell)
    bad = []
    for q in QUANTITIES:
        a, b = _predict(cell, q, "numba", params), _predict(cell, q, "jax", params)
        floor = 1e-14 if q in ("c_star", "c_h_star") else 0.0
        with np.errstate(invalid="ignore"):
            same = (np.isnan(a) & np.isnan(b)) | (a == b) | (
                np.isfinite(a) & (np.abs(a - b) <= 1e-10 * np.maximum(np.abs(a), np.abs(b)) + floor))
        bad += [(q, {k: v[i] for k, v in params.items() if k.startswith(("sigma_w_r", "sigma_w_i", "mu"))},
                 a[i], b[i]) for i in zip(*np.nonzero(~same))]
    assert not bad, "\n".join(map(str, bad[:20])) + f"\n({len(bad)} disagreements)"


@pytest.mark.parametrize("cell", sorted(MEMORY_BIAS))
def test_a_points_jax_value_does_not_depend_on_the_rest_of_its_batch(cell):
    """The grid's values equal those of a batch (of the grid's size) of copies of one point: bit for bit
    where finite, NaN where NaN (the kernels' lanes are independent; padding relies on it)."""
    params = _grid(cell)
    for q in ("c_star", "xi"):
        grid = _predict(cell, q, "jax", params)
        for i in [(1, 2), (2, 2), (2, 1), (0, 0)]:
            point = {k: float(v[i]) for k, v in params.items()}
            copies = {k: np.full(grid.size, v) for k, v in point.items()}  # same padded size: no new program
            alone = _predict(cell, q, "jax", copies)
            assert np.array_equal(alone, np.full(grid.size, grid[i]), equal_nan=True), (q, i, grid[i], alone[0])


@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_a_gate_stuck_open_copies_the_state_and_its_correlations_are_undefined(backend):
    """GRU with the update gate at 1 (mu_b_z = 1e150): h_t = h_(t-1), so lambda_max = 1 exactly and the
    solver reports Q* = 0, where c* has no value: both backends raise the same 'degenerate' error."""
    p = dict(mu_b_z=1e150, sigma_w_r=0.5, sigma_w_z=0.5, sigma_w_n=0.5)
    assert float(theory.predict("gru", "lambda_max", backend=backend, **p)) == 1.0
    assert float(theory.predict("gru", "Q_star", backend=backend, **p)) == 0.0
    with pytest.raises(FixedPointError, match="degenerate"):
        theory.predict("gru", "c_star", backend=backend, **p)
