"""The ``verify`` command line: strict key=value parsing, --help, exit status 2 on bad input."""

import json

import pytest

from verify.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cell=vanilla-tanh", "bogus=1"], "unknown key 'bogus' for vanilla-tanh; valid keys:"),
        (["cell=lstm-ish"], "unknown cell 'lstm-ish'; valid cells: feedforward-erf"),
        (["cell=vanilla-tanh", "sigma_w=abc"], "sigma_w must be a number, got 'abc'"),
        (["cell=vanilla-tanh", "sigma_b=-0.1"], "sigma_b must be >= 0"),
        (["cell=vanilla-tanh", "R=-1"], "R must be >= 0"),
        (["cell=vanilla-tanh", "width=ten"], "width must be an integer"),
        (["cell=vanilla-tanh", "ensemble=1"], "ensemble must be >= 2"),
        (["cell=vanilla-tanh", "tied=maybe"], "tied must be one of true, false, both"),
        (["cell=feedforward-tanh", "tied=true"], "tied must be false"),
        (["cell=vanilla-tanh", "sigma_w"], "expected key=value"),
        (["cell=vanilla-tanh", "sigma_w=1", "sigma_w=2"], "given twice"),
        (["width=64"], "missing cell=NAME; valid cells:"),
        (["cell=vanilla-tanh", "dtype=float16"], "dtype must be one of float64, float32"),
        (["cell=vanilla-tanh", "untied_engine=sparse"], "untied_engine must be one of projected, dense"),
        (["all", "width=abc"], "width must be an integer"),
        (["all", "cells=vanilla-tanh,nope"], "unknown cell 'nope'"),
        (["all", "sigma_w=1"], "unknown key 'sigma_w' for verify all; valid keys:"),
        (["spectra", "law=exact"], "law must be one of auto, free-steps, operator-valued; got 'exact'"),
    ],
)
def test_bad_input_exits_2_with_one_line_error_naming_valid_choices(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("verify: error: ") and message in err
    assert "\n" not in err


def test_memory_refusal_exits_2_naming_the_bytes_needed(capsys):
    assert main(["cell=minimalrnn", "width=400000", "ensemble=2", "steps=4", "quiet=true"]) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and "XLA memory analysis" in err


def test_a_width_ladder_too_large_at_its_top_is_refused_before_anything_runs(capsys, monkeypatch):
    from verify.judge import compare

    def never(*a, **k):
        raise AssertionError("a simulation ran before the memory check")
    monkeypatch.setattr(compare, "verify_point", never)
    assert main(["cell=minimalrnn", "widths=32,64,400000", "ensemble=2", "steps=4", "quiet=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "400000" in err[0] and "XLA memory analysis" in err[0]


@pytest.mark.parametrize("where,reason", [("file", "not a folder"), ("file/sub", "cannot write")])
def test_a_bad_out_folder_is_refused_before_anything_runs(tmp_path, capsys, where, reason):
    (tmp_path / "file").write_text("x")
    assert main(["cell=vanilla-tanh", "width=16", "ensemble=2", "steps=4", "quiet=true",
                 f"out={tmp_path / where}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0]


def test_help_exits_0_and_lists_keys_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("cell=NAME", "ensemble=E", "tied=true|false|both", "exit status", "verify all"):
        assert word in out


def test_small_run_against_the_correct_theory_agrees_writes_report_and_exits_0(tmp_path, capsys):
    """The exit-0 path (the exit-1 path is the wrong-theory test below): the correct theory at an ordered
    point (sigma_w = 1.2, seed 0, deterministic) must agree.  Measured 2026-12-05: every check "agree"
    (1/xi_q "not checked"), the largest |estimate - prediction| 0.43 of its allowance k SE + B_N."""
    out = tmp_path / "r"
    # the agreement tests' shape (N = 128, E = 32, T = 40): no extra compile in a full run
    code = main(["cell=vanilla-tanh", "width=128", "ensemble=32", "steps=40", "tied=true",
                 "sigma_w=1.2", f"out={out}", "quiet=true"])
    doc = json.loads((out / "report.json").read_text())
    point = doc["points"][0]
    assert code == 0
    assert point["verdict"] == "agree"
    assert {c["verdict"] for c in point["checks"]} <= {"agree", "not checked"}
    assert any(c["quantity"] == "q_star" and c["kind"] == "fixed point" and c["verdict"] == "agree"
               for c in point["checks"])
    assert point["config"]["params"]["sigma_w"] == 1.2
    assert doc["environment"]["jax_config"]["jax_default_matmul_precision"] == "highest"
    assert doc["environment"]["jax_config"]["jax_enable_x64"] is True
    for c in point["checks"]:
        for key in ("prediction", "estimate", "se", "n", "k", "allowance", "verdict"):
            assert key in c
    assert any(f.endswith(".png") for f in doc["figures"])
    assert all((out / f).exists() for f in doc["figures"])
    table = capsys.readouterr().out
    assert "q_star" in table and "verdict" in table


def test_run_against_a_wrong_theory_disagrees_and_exits_1(tmp_path, monkeypatch, capsys):
    """The exit-1 path: the same run as above (same shape: no extra compile), but the theory verify reads is
    made wrong for one quantity only (q* and the q_t trajectory scaled by 1.5, annealed and tied
    theory alike, consistently, so the
    convergence gate still opens the fixed-point check).  A 50 % error is far outside k SE + B_N at
    N = 128, E = 32, so the run must exit 1 with verdict "disagree", and only the perturbed quantity may
    disagree."""
    import theory

    predict, trajectory = theory.predict, theory.trajectory
    factor = 1.5

    def wrong_predict(cell, quantity, *a, **kw):
        v = predict(cell, quantity, *a, **kw)
        return v * factor if quantity == "q_star" else v

    def wrong_trajectory(*a, **kw):
        out = trajectory(*a, **kw)
        if kw.get("return_error"):  # the tied trajectory: (means, SEs)
            mean, se = dict(out[0]), out[1]
            mean["q"] = mean["q"] * factor
            return mean, se
        out = dict(out)
        out["q"] = out["q"] * factor
        return out

    # tied runs are judged against the tied theory (theory.tied.api.solve): make it wrong the same way
    import dataclasses
    import theory.tied.api as tied_api

    solve = tied_api.solve

    def wrong_solve(*a, **kw):
        sol = solve(*a, **kw)
        return dataclasses.replace(sol, mean={**sol.mean, "q_star": sol.mean["q_star"] * factor})

    monkeypatch.setattr(theory, "predict", wrong_predict)
    monkeypatch.setattr(theory, "trajectory", wrong_trajectory)
    monkeypatch.setattr(tied_api, "solve", wrong_solve)
    import verify.judge.compare as compare  # the run above cached the right tied theory for this point
    monkeypatch.setattr(compare, "_TIED_CACHE", {})
    monkeypatch.setattr(compare, "_TIED_TRAJ_CACHE", {})
    out = tmp_path / "r"
    code = main(["cell=vanilla-tanh", "width=128", "ensemble=32", "steps=40", "tied=true",
                 "sigma_w=1.2", f"out={out}", "quiet=true"])
    point = json.loads((out / "report.json").read_text())["points"][0]
    assert code == 1
    assert point["verdict"] == "disagree"
    bad = [c for c in point["checks"] if c["verdict"] == "disagree"]
    assert any(c["quantity"] == "q_star" and c["kind"] == "fixed point" for c in bad)
    assert {c["quantity"] for c in bad} <= {"q_star", "q"}
    assert "disagree" in capsys.readouterr().out


def test_compilation_cache_follows_the_environment_and_can_be_turned_off(monkeypatch, tmp_path):
    import jax

    from verify.cli import enable_compilation_cache

    before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    try:
        monkeypatch.setenv("SIGNALPROP_JAX_CACHE", "off")
        assert enable_compilation_cache() is None
        assert jax.config.jax_compilation_cache_dir == before[0]
        monkeypatch.setenv("SIGNALPROP_JAX_CACHE", str(tmp_path / "jc"))
        assert enable_compilation_cache() == str(tmp_path / "jc")
        assert (tmp_path / "jc").is_dir() and jax.config.jax_compilation_cache_dir == str(tmp_path / "jc")
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])


def test_suite_width_sweep_has_three_distinct_widths_of_at_least_16_at_every_accepted_width():
    # verify all accepts width >= 16; width=16 used to give {16, 32} and crash the sweep (< 3 widths)
    from verify.commands.suite import sweep_widths
    for w in (16, 17, 31, 32, 33, 64, 8192):
        ws = sweep_widths(w)
        assert len(set(ws)) == 3 and min(ws) >= 16 and w in ws, (w, ws)
