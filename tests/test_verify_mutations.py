"""Issue 17.4: mutation tests — the agreement checks must see a 2 % error in the theory or in the simulator.

Size, fixed in advance from the power it buys (``Check.detectable``, the relative error flagged with
>= 90 % probability): vanilla-tanh at the ordered suite point, untied networks of width N = 1024,
E = 32 networks, T = 40 steps, late window = last 20 steps, judged exactly as ``verify`` judges
(Bonferroni k over the point's checks at alpha = ALPHA).  At N = 128 (the other agreement tests) the
finite-width allowance B_N = 5 scale/N is 3.9 % and no 2 % error can be seen; at N = 1024 it is
0.5 %, and the measured power is ~1 % (Q*) to ~1.6 % (q*, chi): below 2 %, which the first test asserts
(if the power is lost, it fails before the mutations are even tried).

* theory mutated: one fixed point (Q*, q*, chi) x 1.02, consistently in the prediction and in the
  theory trajectory the check uses to decide convergence -> that check says "disagree";
* simulator mutated: its recurrent weight scale sigma_w x 1.02 (equivalently, the simulation at
  sigma_w judged against the theory at sigma_w / 1.02) -> Q* and q* checks say "disagree".

c* (= 1 exactly at identical inputs) is mutated too: 1.02 is outside [-1, 1] and must be rejected.
lambda_max (gated cells): tests/test_verify_mutations_gated.py (an untied width-1024 LSTM, affordable on a
CPU since the projected untied engine).
"""
from functools import lru_cache

import numpy as np
import pytest

import theory
import verify.judge.compare as vc
from verify.judge.compare import PointConfig, assign_verdicts, evaluate_point, predictions, simulate_point
from verify.statistics.stats import ALPHA
from verify.commands.suite import ORDERED_SIGMA_W, _family_key

CELL, WIDTH, ENSEMBLE, STEPS = "vanilla-tanh", 1024, 32, 40
MUTATION = 1.02
KEY = ("Q_star", "q_star", "chi")


@lru_cache(maxsize=None)
def simulated():
    params = {**theory.parameters(CELL), "sigma_w": ORDERED_SIGMA_W[_family_key(CELL)]}
    cfg = PointConfig(cell=CELL, params=params, width=WIDTH, ensemble=ENSEMBLE, steps=STEPS, regimes=("untied",),
                      seed=2031, label="ordered")
    preds, _ = predictions(CELL, params)
    return cfg, simulate_point(cfg, preds)


def judged(predict_params=None, predicted=None):
    cfg, runs = simulated()
    rep = evaluate_point(cfg, runs, predict_params or cfg.params, predicted=predicted)
    assign_verdicts(rep.checks, False, alpha=ALPHA)
    return {c.label: c for c in rep.checks if c.kind == "fixed point" and c.run == "approach"}


def test_the_unmutated_theory_agrees_and_each_key_check_can_see_less_than_2_percent():
    checks = judged()
    for q in KEY:
        c = checks[q]
        assert c.verdict == "agree", (q, c)
        assert c.detectable < MUTATION - 1, f"{q}: detects only >= {100 * c.detectable:.2g} % at this size"


def test_a_fixed_point_solve_off_by_2_percent_is_judged_not_skipped():
    """Only the fixed-point value is wrong (the theory's maps, and so its trajectory, are right): the
    check must not hide behind "horizon too short" -- the trajectory has settled, so it is judged."""
    cfg, _ = simulated()
    preds, errs = predictions(CELL, cfg.params)
    c = judged(predicted=({**preds, "Q_star": preds["Q_star"] * MUTATION}, errs))["Q_star"]
    assert c.verdict == "disagree" and "inconsistent" in c.note, c


@pytest.mark.parametrize("quantity", KEY + ("c_star",))
def test_a_prediction_off_by_2_percent_is_rejected(quantity, monkeypatch):
    cfg, _ = simulated()
    preds, errs = predictions(CELL, cfg.params)
    preds = {**preds, quantity: preds[quantity] * MUTATION}
    series = vc.FIXED_POINTS[quantity] if vc.CONVERGENCE_PROXY[quantity] == quantity else None
    if series is not None:  # the same theory, mutated everywhere it is used
        real = vc.theory_trajectory

        def mutated(*args, **kwargs):
            out = dict(real(*args, **kwargs))
            out[series] = out[series] * MUTATION
            return out
        monkeypatch.setattr(vc, "theory_trajectory", mutated)
    c = judged(predicted=(preds, errs))[quantity]
    assert c.verdict == "disagree", c


def test_a_simulator_with_its_weight_scale_off_by_2_percent_is_rejected():
    """chi ~ sigma_w^2 moves by ~4 % and must be rejected (both estimators).  Q* and q* move by only
    ~0.4 % at this ordered point (measured: 0.4411 -> 0.4394), below their ~1 % power: they are
    not required to see it, and the test says so rather than pretending."""
    cfg, _ = simulated()
    theory_params = dict(cfg.params, sigma_w=cfg.params["sigma_w"] / MUTATION)
    checks = judged(predict_params=theory_params)
    for q in ("chi", "chi (exact |J|_F)"):
        assert checks[q].verdict == "disagree", checks[q]
    shift = abs(theory.predict(CELL, "Q_star", **cfg.params) / theory.predict(CELL, "Q_star", **theory_params) - 1)
    assert shift < checks["Q_star"].detectable  # the stated reason Q* is not required to reject


def test_power_of_a_check_is_the_error_it_flags_90_percent_of_the_time():
    """``Check.detectable`` against sampling: estimates ~ N(truth, SE), prediction off by exactly the
    stated detectable error -> the pass rule rejects in 90 % of draws (binomial SE 0.3 % at 10^4)."""
    rng = np.random.default_rng(5)
    c = vc.Check("Q_star", "fixed point", "untied", "approach", prediction=1.0, estimate=1.0, se=0.01, n=32,
                 allowance=0.005, k=3.2)
    off = c.detectable * vc.scale_of(c)
    truth = c.prediction + off
    draws = truth + c.se * rng.standard_normal(10_000)
    rejected = np.mean([not vc.Check("Q_star", "fixed point", "untied", "approach", c.prediction, float(x), c.se,
                                     c.n, c.allowance, k=c.k).passes() for x in draws])
    assert rejected == pytest.approx(0.90, abs=0.012)
