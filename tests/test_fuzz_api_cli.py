"""Issue 18.7: a hypothesis-driven fuzz of the public API and the two CLIs (small budget).

It fails on
* any raw Python exception (only the library's own ``ValueError`` messages and
  :class:`theory.FixedPointError` are allowed; the CLIs must exit 0 or 2 without a traceback),
* a silent NaN or infinity for a scalar request (a timescale ξ may be exactly ``inf``: it is at
  criticality and at marginal points, as documented),
* a file written outside ``out=``.

Scope and budget: ``predict`` over every cell and quantity with hostile parameter values (numba
backend; the jax route shares the same validation in ``theory.api.resolve_params``, and compiling a
jax kernel per cell/quantity would cost minutes), ``trajectory`` and ``critical_line`` with short runs,
and the CLIs' argument handling (each fuzzed command line ends in a token the CLI must refuse, so the
test exercises the parsing of everything before it without starting an hour-long job).  The
expensive options (``tied=True``, ``closure="population"``, spectra) have their own tests.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import theory

FUZZ = settings(max_examples=int(os.environ.get("SIGNALPROP_FUZZ_EXAMPLES", 120)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)  # CI sees the same cases every run; set the env var for a longer fuzz
LIBRARY_ERRORS = (ValueError, theory.FixedPointError)
#: quantities that are exactly +inf at criticality / marginal points (documented, not an overflow)
TIMESCALES = {"xi", "xi_q", "xi_2", "xi_q_2"}
#: expensive or Monte-Carlo quantities fuzzed only through their argument checks (own tests elsewhere)
SLOW = {"domain_bdp"}

hostile_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-3.0, max_value=5.0),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, 2.0 ** 0.5, 1.0, 1 - 1e-15]),
    st.integers(min_value=-10, max_value=10),
    st.sampled_from(["1.5", True, False, None, {}, [], [1.0, "a"], 1 + 1j, b"1"]),
    st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=1, max_size=3),
)
extra_value = st.one_of(st.integers(min_value=-3, max_value=12), st.sampled_from(
    [float("nan"), float("inf"), 2.5, "3", True, None, "gaussian", "orthogonal", "bogus", 0]))


def _scalar_request(params) -> bool:
    return all(np.ndim(v) == 0 for v in params.values() if isinstance(v, (int, float, np.ndarray)))


def _check_value(quantity, out, params):
    if isinstance(out, (float, np.floating)) and _scalar_request(params):
        if math.isnan(out):
            pytest.fail(f"silent NaN for scalar {quantity} at {params}")
        if math.isinf(out) and not (quantity in TIMESCALES and out > 0):
            pytest.fail(f"silent infinity for scalar {quantity} at {params}")


@st.composite
def predict_call(draw):
    cell = draw(st.one_of(st.sampled_from(theory.cells()), st.sampled_from(["lstm2", "", 3, None])))
    quantity = draw(st.one_of(st.sampled_from([q for q in theory.api.quantities() if q not in SLOW]),
                              st.sampled_from(["chi_squared", 7])))
    names = list(theory.parameters(cell)) if cell in theory.cells() else ["sigma_w"]
    chosen = draw(st.lists(st.sampled_from(names + ["sigma_q"]), max_size=3, unique=True))
    params = {n: draw(hostile_number) for n in chosen}
    extra = theory.api.EXTRA_QUANTITIES.get(quantity)
    if extra is not None:
        for k in draw(st.lists(st.sampled_from(sorted(extra.extra) or ["T"]), max_size=3, unique=True)):
            params[k] = draw(extra_value)
    backend = draw(st.sampled_from(["numba", "numba", "numba", "bogus"]))
    tied = draw(st.sampled_from([False, False, False, "yes", 1]))
    return cell, quantity, backend, tied, params


@FUZZ
@given(predict_call())
def test_predict_gives_a_value_or_a_library_error(call):
    cell, quantity, backend, tied, params = call
    try:
        out = theory.predict(cell, quantity, backend=backend, tied=tied, **params)
    except LIBRARY_ERRORS:
        return
    _check_value(quantity, out, params)


@FUZZ
@given(cell=st.sampled_from(theory.cells()), steps=extra_value, q0=hostile_number, c0=hostile_number,
       sigma_w=hostile_number)
def test_trajectory_gives_finite_arrays_or_a_library_error(cell, steps, q0, c0, sigma_w):
    name = "sigma_w" if "sigma_w" in theory.parameters(cell) else next(iter(theory.parameters(cell)))
    try:
        out = theory.trajectory(cell, steps, q0, c0, **{name: sigma_w})
    except LIBRARY_ERRORS:
        return
    assert isinstance(out, dict) and out
    for k, v in out.items():  # NaN only where documented: c = C/Q at Q = 0
        assert not np.any(np.isinf(v)), f"{cell}: {k} has inf"


@FUZZ
@given(cell=st.sampled_from([c for c in theory.cells() if theory.cell(c).critical_pair is not None]),
       q_star=hostile_number)
def test_critical_line_gives_arrays_or_a_library_error(cell, q_star):
    try:
        out = theory.critical_line(cell, q_star=q_star)
    except LIBRARY_ERRORS:
        return
    assert all(isinstance(v, np.ndarray) for v in out.values())


# ------------------------------------------------------------------------------------------------
# the CLIs: every fuzzed command line ends in a token the CLI must refuse -> exit 2, nothing written
# ------------------------------------------------------------------------------------------------

token = st.one_of(
    st.builds(lambda k, v: f"{k}={v}",
              st.sampled_from(["cell", "out", "backend", "plot", "sigma_w", "sigma_b", "mu_b_f", "R", "Sigma",
                               "widths", "width", "ensemble", "steps", "tied", "dtype", "seed", "study", "T",
                               "regime", "cells", "", "sigma_w_z"]),
              st.one_of(st.sampled_from(["vanilla-tanh", "gru", "lstm", "nan", "-1", "1e400", "2", "0", "true",
                                         "phase", "numba,jax", "32,64", "", "=", "../x", "/dev/null/x"]),
                        st.text(max_size=8))),
    st.sampled_from(["all", "list", "spectra", "--help", "x", "=1"]),
)


def _files_under(root: Path) -> set:
    return {p for p in root.rglob("*") if p.is_file()}


def _repo_snapshot() -> dict:
    """mtime of every file under derivations/ and reports/ (where a stray default-out run would write)."""
    root = Path(theory.__file__).resolve().parent.parent
    return {p: p.stat().st_mtime_ns for d in ("derivations", "reports") for p in (root / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}  # numba's own cache: other tests write it


@pytest.fixture(scope="module", autouse=True)
def repo_before():
    return _repo_snapshot()


def _run_refused(main, args, where: Path) -> int:
    """``main([*args, <a key no CLI accepts>])`` run from the empty folder ``where``; returns the exit code."""
    cwd = os.getcwd()
    os.chdir(where)
    try:
        return main([*args, "zz_not_a_key=1"])
    finally:
        os.chdir(cwd)


@FUZZ
@given(args=st.lists(token, max_size=5))
def test_derive_cli_refuses_bad_command_lines_with_exit_2_and_writes_nothing(args, tmp_path_factory, capsys):
    from theory.cli import main
    where = tmp_path_factory.mktemp("derive")
    code = _run_refused(main, args, where)
    capsys.readouterr()
    assert code == 2 or (args and args[0] in ("--help", "list") and len(args) == 1), (args, code)
    assert not _files_under(where), f"derive {args} wrote {_files_under(where)}"


@FUZZ
@given(args=st.lists(token, max_size=5))
def test_verify_cli_refuses_bad_command_lines_with_exit_2_and_writes_nothing(args, tmp_path_factory, capsys):
    from verify.cli import main
    where = tmp_path_factory.mktemp("verify")
    code = _run_refused(main, args, where)
    capsys.readouterr()
    assert code in (0, 2), (args, code)
    assert code == 2 or args[:1] in (["--help"], ["-h"], ["help"]), (args, code)
    assert not _files_under(where), f"verify {args} wrote {_files_under(where)}"


def test_the_fuzzed_command_lines_left_the_checkout_untouched(repo_before):
    """Runs after the CLI fuzz in this module: nothing under derivations/ or reports/ changed."""
    assert _repo_snapshot() == repo_before
