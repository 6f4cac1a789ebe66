"""Issue 17 item 3: the derived O(1/N) finite-width bias of untied single-field networks
(:mod:`verify.statistics.finite_width`) against closed forms and against an independent simulation.

* the Gaussian moments it uses (G = E phi^2, dG/dv, d^2G/dv^2, Var phi^2) equal closed forms: erf
  (G = (2/pi) arcsin(2v/(1+2v))), ReLU (G = v/2, Var phi^2 = 5v^2/4), linear (G = v, Var = 2v^2);
* the bias predicts what finite untied networks do: a plain numpy simulation written here (not the
  verify simulator) of untied vanilla-tanh networks at N = 8, 16, 32, late-window means of q_t and Q_t
  minus the mean-field value, fitted as a/N + b/N^2 (weighted least squares, SEs from the networks): the
  fitted 1/N coefficient a equals the derived N * bias within K SE, and for Q it is K SE away from 0
  (the zero-bias model -- what the fixed allowance assumed -- is rejected);
* verify uses it: an untied vanilla-tanh point's q/Q checks carry the bias, with an allowance far below
  the old 5 scale/N, and agree.
"""
import math

import numpy as np
import pytest
import sympy as sp

import theory
from verify.simulators.activations import ACTIVATIONS
from verify.statistics.finite_width import moments, untied_bias

K = 4.0  # SEs: a 1-in-15,000 two-sided false alarm per comparison under normal errors


@pytest.mark.parametrize("v", [0.05, 0.7, 3.0])
def test_gaussian_moments_equal_closed_forms(v):
    s = sp.Symbol("v", positive=True)
    G_erf = 2 / sp.pi * sp.asin(2 * s / (1 + 2 * s))
    m = moments(ACTIVATIONS["erf"].phi, v)
    for got, expr in ((m.G, G_erf), (m.G1, sp.diff(G_erf, s)), (m.G2, sp.diff(G_erf, s, 2))):
        want = float(expr.subs(s, v))
        assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (got, want)
    relu = moments(ACTIVATIONS["relu"].phi, v)
    assert abs(relu.G - v / 2) < 1e-10 * v and abs(relu.G1 - 0.5) < 1e-8 and abs(relu.G2) < 1e-6 / v
    assert abs(relu.var_phi2 - 1.25 * v * v) < 1e-9 * v * v
    lin = moments(ACTIVATIONS["linear"].phi, v)
    assert abs(lin.G - v) < 1e-10 * v and abs(lin.var_phi2 - 2 * v * v) < 1e-9 * v * v


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="> 0"):
        moments(np.tanh, 0.0)
    with pytest.raises(ValueError, match="1-D"):
        untied_bias(np.tanh, [1.0, np.nan], 16, 1.0)


def _simulate(rng, N, E, T, sigma_w, sigma_v, sigma_b, R, Q0):
    """Untied vanilla-tanh: W, V, b and x redrawn every step; h_0 with |h_0|^2 = N Q0 exactly."""
    h = rng.standard_normal((E, N))
    h *= np.sqrt(Q0 * N) / np.linalg.norm(h, axis=1, keepdims=True)
    q, Q = np.empty((T, E)), np.empty((T, E))
    for t in range(T):
        W = rng.standard_normal((E, N, N)) * (sigma_w / math.sqrt(N))
        V = rng.standard_normal((E, N, N)) * (sigma_v / math.sqrt(N))
        x = rng.standard_normal((E, N)) * math.sqrt(R)
        e = np.einsum("eij,ej->ei", W, h) + np.einsum("eij,ej->ei", V, x) + sigma_b * rng.standard_normal((E, N))
        h = np.tanh(e)
        q[t], Q[t] = (e * e).mean(1), (h * h).mean(1)
    return q, Q


@pytest.mark.parametrize("sigma_w", [0.8, 2.5])
def test_derived_bias_is_the_one_over_n_coefficient_of_simulated_untied_networks(sigma_w):
    p = dict(sigma_w=sigma_w, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0)
    T, Q0, late = 24, 1.0, slice(12, 24)
    tr = theory.trajectory("vanilla-tanh", T, Q0, **p)
    rng = np.random.default_rng(20261207)
    widths = np.array([8, 16, 32])
    ensembles = {8: 24000, 16: 12000, 32: 4000}
    offsets = {"q": [], "Q": []}
    for N in widths:
        q, Q = _simulate(rng, int(N), ensembles[int(N)], T, **{k: p[k] for k in ("sigma_w", "sigma_v", "sigma_b", "R")}, Q0=Q0)
        for name, series in (("q", q), ("Q", Q)):
            per_net = series[late].mean(0)
            offsets[name].append((per_net.mean() - tr[name][late].mean(), per_net.std(ddof=1) / math.sqrt(per_net.size)))
    for name in ("q", "Q"):
        derived = untied_bias(np.tanh, tr["q"], 1, sigma_w, 1.0, 1.0)  # width 1: the coefficient a = N * bias
        a_derived = float(np.mean(getattr(derived, name)[late]))
        y = np.array([o for o, _ in offsets[name]])
        se = np.array([s for _, s in offsets[name]])
        X = np.stack([1.0 / widths, 1.0 / widths ** 2], axis=1) / se[:, None]
        cov = np.linalg.inv(X.T @ X)
        a, a_se = (cov @ X.T @ (y / se))[0], math.sqrt(cov[0, 0])
        assert abs(a - a_derived) <= K * a_se, (name, a, a_se, a_derived)
        if name == "Q":
            assert abs(a) > K * a_se, (a, a_se)  # the data resolve the bias: a zero-bias model is rejected


def test_verify_adds_the_derived_bias_to_untied_q_and_Q_checks():
    from verify.judge.compare import PointConfig, assign_verdicts, evaluate_point, predictions, simulate_point
    from verify.statistics.stats import allowance
    params = {**theory.parameters("vanilla-tanh"), "sigma_w": 0.8}
    cfg = PointConfig(cell="vanilla-tanh", params=params, width=32, ensemble=64, steps=30, regimes=("untied",),
                      seed=7, probes=1)
    preds = predictions("vanilla-tanh", params)
    rep = evaluate_point(cfg, simulate_point(cfg, preds[0]), params, predicted=preds)
    assign_verdicts(rep.checks, False)
    qq = [c for c in rep.checks if c.quantity in ("q", "Q", "q_star", "Q_star") and c.verdict != "not checked"]
    # tanh: concave G, so finite untied networks have q, Q below the mean field (q_1 has no bias yet: x_1 only)
    assert qq and all(c.finite_width <= 0 for c in qq) and all(c.finite_width < 0 for c in qq if c.t != 1)
    for c in qq:
        assert c.allowance == pytest.approx(abs(c.finite_width))
        assert c.allowance < 0.2 * float(allowance(c.quantity, c.prediction, cfg.width))  # B_N was 5 scale/N
    assert {c.verdict for c in qq} <= {"agree", "inconclusive"}, [(c.label, c.verdict, c.note) for c in qq
                                                                   if c.verdict == "disagree"]
