"""Long grid evaluations report progress and give the values of one call (issue 22 item 1).

:func:`theory.grid.evaluate` slices the broadcast grid; the reference is the same ufunc called once
on the whole grid, so the values must be equal bit for bit (each point is computed alone)."""
import io

import numpy as np
import pytest

import theory
from theory import grid


def _chi():
    return theory.kernels("vanilla-tanh", "numba").chi


@pytest.mark.parametrize("shape_w,shape_b", [((97, 1), (1, 61)), ((1, 1), (1, 9000)), ((70, 1), (70, 90))])
def test_sliced_evaluation_equals_one_call_and_reports_every_slice(shape_w, shape_b):
    sw = np.linspace(0.5, 3.0, int(np.prod(shape_w))).reshape(shape_w)
    sb = np.linspace(0.0, 1.0, int(np.prod(shape_b))).reshape(shape_b)
    args = [sw, np.float64(1.0), sb, np.float64(1.0), np.float64(1.0)]
    whole = _chi()(*args)
    stream = io.StringIO()
    sliced = grid.evaluate(_chi(), args, "chi", progress=True, stream=stream)
    assert sliced.shape == whole.shape and sliced.flags.c_contiguous
    assert np.array_equal(sliced, whole)
    lines = stream.getvalue().splitlines()
    assert lines, "a grid larger than one slice reports with progress=True"
    assert lines[-1].startswith(f"chi: {whole.size} points in ")
    assert all("points (" in line and "left" in line for line in lines[:-1])


def test_short_calls_and_progress_false_are_silent(monkeypatch):
    monkeypatch.setattr(grid, "QUIET_SECONDS", 1e9)  # "short": under the threshold, whatever the machine's load
    stream = io.StringIO()
    sw = np.linspace(0.5, 3.0, 3 * grid.SLICE_POINTS)
    args = [sw, 1.0, 0.1, 1.0, 1.0]
    a = grid.evaluate(_chi(), args, "chi", progress=False, stream=stream)
    b = grid.evaluate(_chi(), args, "chi", progress=None, stream=stream)
    assert np.array_equal(a, b) and stream.getvalue() == ""


def test_predict_takes_progress_as_a_flag():
    with pytest.raises(ValueError, match="progress must be True or False"):
        theory.predict("vanilla-tanh", "chi", progress="yes")
    assert theory.predict("vanilla-tanh", "chi", progress=False) == theory.predict("vanilla-tanh", "chi")


def test_a_jax_grid_of_several_chunks_reports_and_keeps_its_values(monkeypatch, capsys):
    from theory import api
    monkeypatch.setattr(api, "JAX_CHUNK", 1024)  # 2 chunks of a 1500-point grid (the program's lanes: 1024)
    sw = np.linspace(0.5, 3.0, 1500)
    chunked = np.asarray(theory.predict("vanilla-tanh", "chi", backend="jax", progress=True, sigma_w=sw))
    err = capsys.readouterr().err
    assert "predict vanilla-tanh chi: 1024/1500 points" in err and "1500 points in" in err
    assert np.allclose(chunked, theory.predict("vanilla-tanh", "chi", sigma_w=sw), rtol=1e-10, atol=0)


def test_a_tied_grid_reports_through_the_same_flag(capsys):
    """The tied solver solves point by point; progress=True reports each point, False none (same values:
    the same seeds)."""
    kw = dict(sigma_w=np.array([1.5, 2.0]), paths=256, steps=40)
    a = theory.predict("minimalrnn", "Q_star", tied=True, progress=True, **kw)
    err = capsys.readouterr().err
    assert "predict minimalrnn Q_star (tied): 1/2 points" in err and "2 points in" in err
    b = theory.predict("minimalrnn", "Q_star", tied=True, progress=False, **kw)
    assert capsys.readouterr().err == "" and np.array_equal(a, b)
