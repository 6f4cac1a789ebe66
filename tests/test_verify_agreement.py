"""Theory vs simulation for every simulated cell (07 §2-5), on CPU at small width.

Sizes, fixed in advance: width N = 128, E = 32 networks, T = 40 steps, late window = last 20
steps; pass rule |pred - est| <= k SE + B_N with k the Bonferroni t-quantile over the checks of
one point at the per-test false-alarm rate of ``conftest_verify.TEST_ALPHA`` and
B_N = FINITE_WIDTH_COEF * scale / N (``verify.statistics.stats``). Points: ``ordered`` / ``chaotic``
``sigma_w`` from ``verify.commands.suite`` (other parameters at the theory defaults).
"""

from functools import lru_cache

import pytest

import verify  # noqa: F401
from verify.judge.compare import (
    PointConfig,
    assign_verdicts,
    evaluate_point,
    not_simulated_cells,
    predictions,
    simulate_point,
)
from verify.simulators import SIMULATORS, get
from verify.statistics.stats import ALPHA
from verify.commands.suite import CHAOTIC_SIGMA_W, ORDERED_SIGMA_W, _family_key

from conftest_verify import TEST_ALPHA

theory = pytest.importorskip("theory")

WIDTH, ENSEMBLE, STEPS = 128, 32, 40
CELLS = sorted(SIMULATORS)
SIGMA_W = {"ordered": ORDERED_SIGMA_W, "chaotic": CHAOTIC_SIGMA_W}


def config(cell, label, **over):
    params = {**theory.parameters(cell), "sigma_w": SIGMA_W[label][_family_key(cell)], **over}
    regimes = ("untied", "tied") if get(cell).recurrent else ("untied",)
    return PointConfig(cell=cell, params=params, width=WIDTH, ensemble=ENSEMBLE, steps=STEPS,
                       regimes=regimes, seed=2024, label=label)


@lru_cache(maxsize=None)
def simulated(cell, label):
    cfg = config(cell, label)
    preds, _ = predictions(cell, cfg.params)
    return cfg, simulate_point(cfg, preds)


def judged(cell, label, predict_params=None, alpha=TEST_ALPHA):
    cfg, runs = simulated(cell, label)
    rep = evaluate_point(cfg, runs, predict_params or cfg.params)
    assign_verdicts(rep.checks, get(cell).gated, alpha=alpha)
    return rep


def _describe(checks):
    return "\n".join(f"{c.regime} {c.run} {c.label}: pred {c.prediction:.6g} est {c.estimate:.6g}"
                     f" ± {c.se:.2g} (k {c.k:.2f}, B {c.allowance:.2g}) {c.verdict} {c.note}"
                     for c in checks)


def test_theory_cells_are_simulated_with_the_same_parameter_names_or_reported_not_simulated():
    from verify.simulators import GATED_SIMULATORS  # GRU/LSTM: tests/test_verify_gated.py

    theory_cells = set(theory.cells())
    assert set(CELLS) <= theory_cells  # every simulator answers to a theory cell
    assert set(not_simulated_cells()) == theory_cells - set(CELLS) - set(GATED_SIMULATORS)
    for cell in CELLS:
        assert tuple(theory.parameters(cell)) == get(cell).param_names, cell


@pytest.mark.parametrize("label", ["ordered", "chaotic"])
@pytest.mark.parametrize("cell", CELLS)
def test_simulated_cell_matches_theory_untied_and_tied(cell, label):
    rep = judged(cell, label)
    bad = [c for c in rep.checks if c.verdict == "disagree"]
    assert not bad, _describe(bad)
    made = [c for c in rep.checks if c.verdict in ("agree", "closure-limited")]
    assert len(made) >= 5 * STEPS  # the per-step trajectory checks at least were made
    vague = [c for c in rep.checks if c.kind == "fixed point" and c.verdict == "inconclusive"]
    assert not vague, _describe(vague)
    if not get(cell).gated:
        assert not [c for c in rep.checks if c.verdict == "closure-limited"]


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_vanilla_tied_fixed_point_matches_theory(act):
    """Tied vanilla RNNs: the same-time closure is exact at large width (01 §5)."""
    rep = judged(f"vanilla-{act}", "ordered")
    fixed = [c for c in rep.checks if c.regime == "tied" and c.kind == "fixed point"]
    assert {c.quantity for c in fixed} >= {"q_star", "Q_star", "chi"}
    assert all(c.verdict in ("agree", "not checked") for c in fixed), _describe(fixed)
    assert sum(c.verdict == "agree" for c in fixed) >= 3
    # judged against the tied theory; control: for vanilla cells it equals the annealed theory (01 §5),
    # |tied - annealed| <= k SE_theory with the check's k (both numbers are in the report)
    tied = [c for c in fixed if c.theory == "tied"]
    assert {c.quantity.split(" ")[0] for c in tied} >= {"Q_star", "chi"}, _describe(fixed)
    for c in tied:
        assert abs(c.prediction - c.annealed) <= c.k * c.theory_se, _describe([c]) + f" annealed {c.annealed}"


# At the ordered minimalRNN point (sigma_w = 1) the recurrent share of the gate variance is small
# (sigma_w^2 Q* / q* = 0.22), so 5% in sigma_w moves q* by 2.5%, Q* by 0.9% and chi by 0.7%
# (theory: 1.2836 -> 1.3154, 0.2836 -> 0.2861, 0.5606 -> 0.5648), all inside
# B_N = 5/128 = 3.9%: the verifier cannot see it at N = 128. Kept as a strict xfail so the limit
# stays visible (it must start failing loudly if it ever passes).
POWER_BLIND = {("minimalrnn", "ordered"): "q*, chi move < B_N for 5% sigma_w at sigma_w = 1"}


@pytest.mark.parametrize("label", ["ordered", "chaotic"])
@pytest.mark.parametrize("cell", CELLS)
def test_prediction_with_sigma_w_off_by_5_percent_is_rejected(cell, label, request):
    """Power: the same simulation, judged exactly as ``verify`` judges a report (alpha = 0.01)
    but against the theory at 1.05 sigma_w, must fail somewhere in the untied regime."""
    if (cell, label) in POWER_BLIND:
        request.applymarker(pytest.mark.xfail(strict=True, reason=POWER_BLIND[(cell, label)]))
    cfg, _ = simulated(cell, label)
    wrong = dict(cfg.params, sigma_w=1.05 * cfg.params["sigma_w"])
    rep = judged(cell, label, predict_params=wrong, alpha=ALPHA)
    rejected = [c for c in rep.checks if c.regime == "untied" and c.verdict == "disagree"]
    assert rejected, _describe([c for c in rep.checks if c.kind != "trajectory"])


def test_untied_minimalrnn_error_shrinks_with_width_and_tied_networks_extrapolate_to_the_tied_theory():
    """02 §5 at a slow-gate point (sigma_w = 3.5, mu_b = 1: E[u] ~ 0.7, recurrent share ~ 0.9):
    untied fixed points extrapolate (X_N = X_inf + a/N) to the closure and the single-network RMS
    error falls like N^-1/2; tied Q* extrapolates to the tied theory (08), judged with both standard
    errors, while its gap to the annealed closure does not shrink with width (not a finite-width effect).
    Widths 32, 64, 128; E = 32; T = 40 (xi_q ~ 2; fixed points over steps 21..40)."""
    from verify.judge.sweep import width_sweep

    params = {**theory.parameters("minimalrnn"), "sigma_w": 3.5}
    rep = width_sweep("minimalrnn", params, [32, 64, 128], ensemble=ENSEMBLE, steps=STEPS, seed=77,
                      Q0=0.5, C0=0.0, quantities=("q_star", "Q_star"))
    by = {(q.regime, q.quantity): q for q in rep.quantities}
    for q in ("q_star", "Q_star"):
        u = by[("untied", q)]
        assert u.verdict == "agree", u
    tied_q = by[("tied", "Q_star")]
    assert tied_q.theory == "tied" and tied_q.verdict == "agree", tied_q
    # the annealed closure is rejected by the same extrapolation, and the gap to it does not shrink
    assert abs(tied_q.x_inf - tied_q.annealed) > tied_q.k * tied_q.x_inf_se
    gaps = [abs(m - tied_q.annealed) for m in tied_q.means]
    assert gaps[-1] > 0.5 * gaps[0]
