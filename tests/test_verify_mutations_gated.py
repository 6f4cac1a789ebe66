"""Issue 17.4 for a gated cell: the λ_max check must see a 2 % error in the theory.

An untied LSTM at its default parameters (nn.LSTM-style, forget bias 1), width N = 1024, E = 32
networks, T = 40 steps, late window = last 20 steps, judged as ``verify cell=lstm`` judges it (Bonferroni
k over the point's checks at alpha = ALPHA).  Width 1024 was GPU-sized for a gated cell on dense
draws; on the projected untied engine the run takes seconds on a CPU.  The size is fixed in advance:
the first test asserts the check's power (``Check.detectable``) is below 2 % before any mutation is tried.
"""
from functools import lru_cache

import theory
from verify.judge.compare import assign_verdicts
from verify.judge.gated import GatedPoint, predictions, verify_point
from verify.statistics.stats import ALPHA

CELL, WIDTH, ENSEMBLE, STEPS = "lstm", 1024, 32, 40
MUTATION = 1.02


@lru_cache(maxsize=None)
def simulated():
    params = dict(theory.parameters(CELL))
    preds = predictions(CELL, params)
    q0 = {"c": preds["Q_c_star"], "h": preds["Q_star"]}
    cfg = GatedPoint(CELL, params, width=WIDTH, ensemble=ENSEMBLE, steps=STEPS, regimes=("untied",), seed=17,
                     Q0=q0, C0=0.0, label="default")
    rep = verify_point(cfg, preds=preds, fixed_points_only=True)
    return cfg, preds, rep.stats


def judged(preds):
    cfg, _, stats = simulated()
    rep = verify_point(cfg, preds=preds, sims=stats, fixed_points_only=True, finalize=False)
    assign_verdicts(rep.checks, True, alpha=ALPHA)
    return {c.label: c for c in rep.checks if c.kind == "fixed point"}


def test_the_unmutated_lstm_agrees_and_its_lambda_max_check_can_see_less_than_2_percent():
    _, preds, _ = simulated()
    c = judged(preds)["lambda_max"]
    assert c.verdict == "agree", c
    assert c.detectable < MUTATION - 1, f"detects only >= {100 * c.detectable:.2g} % at this size"


def test_a_lambda_max_off_by_2_percent_is_rejected():
    _, preds, _ = simulated()
    for factor in (MUTATION, 1 / MUTATION):
        c = judged({**preds, "lambda_max": preds["lambda_max"] * factor})["lambda_max"]
        assert c.verdict == "disagree", (factor, c)
