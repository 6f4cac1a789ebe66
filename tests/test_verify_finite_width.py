"""The "finite-width" verdict: a tied check that fails only because some tied networks never
became stationary (spectral edge above 1 at small N) is labelled, not hidden and not a failure."""
import math

import numpy as np
import pytest

from verify.judge.compare import (NONSTATIONARY_GROWTH, Check, PointConfig, PointReport, assign_verdicts,
                            nonstationary_networks)


def _stats(series):
    s = np.asarray(series, dtype=float)
    return {"Q_a": s, "Q_b": s}


def test_nonstationary_networks_counts_only_growing_draws():
    T = 40
    t = np.arange(1, T + 1)
    rng = np.random.default_rng(0)
    flat = 10.0 * (1 + 0.1 * rng.standard_normal((3, T)))      # stationary, 10% noise
    growing = np.exp(0.05 * t)[None, :] * np.ones((2, 1))      # late-window ratio e^{0.05*10} ~ 1.6
    fast = np.exp(0.2 * t)[None, :]                             # ratio e^{2} ~ 7.4 > 2
    blown = np.full((1, T), np.inf)
    window = (21, 41)
    assert nonstationary_networks(_stats(flat), window) == 0
    assert nonstationary_networks(_stats(growing), window) == 0     # below the declared factor
    assert nonstationary_networks(_stats(np.vstack([flat, fast, blown])), window) == 2
    assert NONSTATIONARY_GROWTH == 2.0


def _pair(tied_est, untied_est, nonstationary, se=0.01):
    mk = lambda regime, e, n: Check("1/xi_q", "timescale", regime, "approach", 0.1, e, se, 32, 0.0,
                                    verdict="", nonstationary=n)
    return [mk("untied", untied_est, 0), mk("tied", tied_est, nonstationary)]


@pytest.mark.parametrize("gated", [False, True])
def test_tied_failure_with_nonstationary_networks_is_finite_width_not_disagree(gated):
    checks = _pair(tied_est=0.0, untied_est=0.1, nonstationary=5)
    assign_verdicts(checks, gated=gated)
    untied, tied = checks
    assert untied.verdict == "agree"
    # 1/xi_q has no tied prediction (tied xi_q is not served): judged against the annealed theory
    assert tied.theory == "annealed"
    assert tied.verdict == ("closure-limited" if gated else "finite-width")
    if not gated:
        assert "5 of 32" in tied.note


def test_tied_judged_gated_failure_is_not_relabelled_closure_limited():
    """closure-limited only where no tied prediction exists: a tied check judged against the tied
    theory (theory="tied") that fails stays "disagree" even when its untied twin agrees."""
    checks = _pair(tied_est=0.0, untied_est=0.1, nonstationary=0)
    checks[1].theory, checks[1].theory_se = "tied", 0.001
    assign_verdicts(checks, gated=True)
    assert [c.verdict for c in checks] == ["agree", "disagree"]


def test_tied_theory_se_enters_in_quadrature():
    """|pred - est| <= k sqrt(SE^2 + SE_theory^2) + B_N: with k = 5 (set), SE = 0.01, B_N = 0 a gap
    of 0.06 fails on the simulation SE alone (tolerance 0.05) and passes with SE_theory = 0.01
    (tolerance 5 * 0.01414 = 0.0707); SE_theory = 0.003 gives 0.0522 and still fails."""
    mk = lambda tse: Check("Q_star", "fixed point", "tied", "approach", 1.0, 1.06, 0.01, 32, 0.0, k=5.0,
                           theory="tied", theory_se=tse)
    assert not mk(0.0).passes()
    assert mk(0.01).passes()
    assert not mk(0.003).passes()


def test_tied_failure_without_nonstationary_networks_still_disagrees():
    checks = _pair(tied_est=0.0, untied_est=0.1, nonstationary=0)
    assign_verdicts(checks, gated=False)
    assert checks[1].verdict == "disagree"


def test_finite_width_needs_the_untied_twin_to_pass():
    checks = _pair(tied_est=0.0, untied_est=0.0, nonstationary=5)
    assign_verdicts(checks, gated=False)
    assert [c.verdict for c in checks] == ["disagree", "disagree"]


def test_finite_width_does_not_fail_a_point_but_disagree_does():
    ok = _pair(tied_est=0.0, untied_est=0.1, nonstationary=5)
    bad = _pair(tied_est=0.0, untied_est=0.1, nonstationary=0)
    for cs in (ok, bad):
        assign_verdicts(cs, gated=False)
    rep = lambda cs: PointReport(PointConfig("vanilla-linear", {}), {}, {}, [], cs)
    assert rep(ok).verdict() == "finite-width"
    assert rep(bad).verdict() == "disagree"
    assert not math.isnan(ok[1].k)
