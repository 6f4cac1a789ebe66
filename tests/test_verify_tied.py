"""Tied runs judged against the tied theory (08; issue 16 item 4).

A tied minimalRNN at its default parameters: the tied theory's Q* (~0.32) lies ~11 % below the
annealed Q* (0.3586), a gap the simulation resolves.  Sizes fixed in advance: N = 512, E = 32 networks,
T = 40 steps (late window: steps 21..40), seed 3; tied theory with 4096 paths and 100 steps (SE of Q*
~0.002, about that of the simulation, ~0.0019 at this size; the rule combines the two in quadrature).
Rule: ``|pred - est| <= k sqrt(SE^2 + SE_theory^2) + B_N``, ``k`` Bonferroni over the report's point
checks at ``conftest_verify.TEST_ALPHA``, ``B_N = 5 Q*/N`` (~0.003).  Pilot (seed 3): est 0.3203 ± 0.0019,
tied 0.3226 ± 0.0021; tolerance ~0.017 with k ~ 4.5, against a 10 % move of ~0.032.
"""
import math
from dataclasses import replace
from functools import lru_cache

import pytest

import verify  # noqa: F401  (x64, matmul precision)
from verify.judge import compare
from verify.judge.compare import PointConfig, assign_verdicts, evaluate_point, predictions, simulate_point

from conftest_verify import TEST_ALPHA

theory = pytest.importorskip("theory")

CELL, WIDTH, ENSEMBLE, STEPS, SEED = "minimalrnn", 512, 32, 40, 3
TIED_PATHS, TIED_STEPS = 4096, 100


def config():
    return PointConfig(CELL, dict(theory.parameters(CELL)), width=WIDTH, ensemble=ENSEMBLE, steps=STEPS,
                       regimes=("tied",), seed=SEED, tied_paths=TIED_PATHS, tied_steps=TIED_STEPS)


@lru_cache(maxsize=None)
def simulated():
    cfg = config()
    preds, _ = predictions(CELL, cfg.params)
    return cfg, simulate_point(cfg, preds)


def judged_q_star():
    cfg, runs = simulated()
    rep = evaluate_point(cfg, runs, cfg.params)
    assign_verdicts(rep.checks, True, alpha=TEST_ALPHA)
    (q,) = [c for c in rep.checks if c.quantity == "Q_star" and c.regime == "tied"]
    return q


def _describe(c):
    return (f"{c.theory} pred {c.prediction:.6g} ± {c.theory_se:.2g} (annealed {c.annealed:.6g}) est "
            f"{c.estimate:.6g} ± {c.se:.2g} k {c.k:.2f} B {c.allowance:.2g}: {c.verdict} {c.note}")


def test_tied_minimalrnn_q_star_is_judged_against_the_tied_theory_and_agrees():
    c = judged_q_star()
    sol, why = compare.tied_solution(CELL, config().params, TIED_PATHS, TIED_STEPS)
    assert why is None
    assert c.theory == "tied", _describe(c)
    assert (c.prediction, c.theory_se) == (sol.mean["Q_star"], sol.se["Q_star"])
    assert c.annealed == pytest.approx(float(theory.predict(CELL, "Q_star")), rel=1e-12)
    assert c.verdict == "agree", _describe(c)
    # the tied theory is what makes it agree: the annealed Q* fails the same rule (its own B_N)
    b_annealed = 5.0 * abs(c.annealed) / WIDTH
    assert abs(c.annealed - c.estimate) > c.k * c.se + b_annealed, _describe(c)


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_tied_prediction_moved_by_10_percent_disagrees(monkeypatch, factor):
    sol, why = compare.tied_solution(CELL, config().params, TIED_PATHS, TIED_STEPS)
    assert why is None
    moved = replace(sol, mean={**sol.mean, "Q_star": factor * sol.mean["Q_star"]})
    monkeypatch.setattr(compare, "tied_solution", lambda *a, **k: (moved, None))
    c = judged_q_star()
    assert c.theory == "tied" and c.prediction == pytest.approx(factor * sol.mean["Q_star"])
    assert c.verdict == "disagree", _describe(c)
    assert math.isfinite(c.k)


def judged_point():
    cfg, runs = simulated()
    rep = evaluate_point(cfg, runs, cfg.params)
    assign_verdicts(rep.checks, True, alpha=TEST_ALPHA)
    return rep


def test_tied_per_step_checks_are_judged_against_the_tied_trajectory():
    """Every per-step check of the tied runs is judged against ``trajectory(..., tied=True)`` (its SE in
    quadrature) and agrees; over the late window (t > STEPS/2, Q near its fixed point) the annealed
    trajectory fails the same rule at a majority of the steps (the ~11 % gap of the module docstring
    against a per-step tolerance k SE + B_N of about 2/3 of it; pilot, seed 3: 13 of 20 steps)."""
    rep = judged_point()
    steps = [c for c in rep.checks if c.regime == "tied" and c.kind == "trajectory"]
    assert steps and all(c.theory == "tied" and c.theory_se > 0 for c in steps)
    assert all(c.verdict == "agree" for c in steps), [_describe(c) for c in steps if c.verdict != "agree"][:3]
    late = [c for c in steps if c.quantity == "Q" and c.run == "approach" and c.t > STEPS // 2]
    b = [5.0 * abs(c.annealed) / WIDTH for c in late]
    fails = sum(abs(c.annealed - c.estimate) > c.k * c.se + bi for c, bi in zip(late, b))
    assert fails > 0.5 * len(late), (fails, len(late))


def test_tied_timescales_and_field_variance_are_judged_against_the_tied_theory():
    rep = judged_point()
    for name in ("q_star", "1/xi", "1/xi_q"):
        (c,) = [c for c in rep.checks if c.quantity == name and c.regime == "tied"]
        assert c.theory == "tied" and c.theory_se > 0, _describe(c)
        assert c.verdict in ("agree", "not checked"), _describe(c)
