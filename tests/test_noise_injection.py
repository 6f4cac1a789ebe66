"""Issue 20 item 1 (noise injection): hidden-state noise as a declaration option of any one-field cell.

    h_t = F(e_t, h_{t-1}, z_t) (1 + sigma_m eta_t) + sigma_eps eps_t,   eps_t, eta_t ~ N(0, 1) fresh per step and unit

Claims:
* ``with_noise`` returns an ordinary Cell; a negative noise std is refused by name, a noise draw entering
  the update squared is refused, a gated cell is refused (no noise option for gated cells yet);
* at sigma_eps = sigma_m = 0 it is the noiseless cell (same values to 1e-12);
* the annealed Q*, chi and c* equal an independent scipy route (tests/reference.py quadrature):
  Q* = (1 + sigma_m^2) E tanh^2(e) + sigma_eps^2,  chi = sigma_w^2 (1 + sigma_m^2) E sech^4(e),
  C* = E[tanh(e_a) tanh(e_b)] with field covariance sigma_w^2 C* + sigma_v^2 Sigma R + sigma_b^2 (independent draws
  add nothing to the covariance), so two copies of one input decorrelate: c* < 1 even in the ordered phase;
  shared draws keep c* = 1 there;
* real (tied) vanilla networks with noise follow it (a vanilla update reads h only through the field, so
  tied = annealed for equal-time statistics): a numpy simulation written here, N = 256 and 1024 extrapolated
  in 1/N, agrees with Q* and C*/Q* within K combined SEs;
* for a leaky cell (memory: tied != annealed) the tied solver's noise path predicts real noisy networks and
  the annealed value is rejected.
"""
import math

import numpy as np
import pytest
import sympy as sp

import theory
from theory.cells.vanilla import vanilla
from theory.declare.cell import EPS, E, H, Cell, Field
from theory.declare.noise import with_noise
from theory.declare.params import symbol

from reference import expect1, expect2
from tied_networks import extrapolate, leaky_tanh_Q

K = 4.0
P = dict(sigma_w=1.5, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0)
NOISE = dict(sigma_eps=0.3, sigma_m=0.4)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # generated kernels into a temporary cache, not the user's
        mp.setenv("SIGNALPROP_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def noisy(cache):
    return theory.register(with_noise(vanilla("tanh"), multiplicative=True, name="vanilla-tanh-noise-test"))


@pytest.fixture(scope="module")
def shared(cache):
    return theory.register(with_noise(vanilla("tanh"), shared=True, name="vanilla-tanh-shared-noise-test"))


def test_a_negative_noise_std_is_refused_by_name(noisy):
    with pytest.raises(ValueError, match="sigma_eps must be >= 0"):
        theory.predict(noisy, "Q_star", sigma_eps=-0.1)


def test_a_squared_noise_draw_and_a_gated_cell_are_refused():
    with pytest.raises(ValueError, match="only linearly"):
        Cell(name="bad-noise", update=sp.tanh(E) + symbol("sigma_eps") * EPS ** 2,
             field=Field(recurrent=symbol("sigma_w")), params=(("sigma_w", 1.0), ("sigma_eps", 0.1)))
    with pytest.raises(TypeError, match="gated"):
        with_noise(theory.cell("lstm"))


def test_without_noise_it_is_the_noiseless_cell(noisy):
    for q in ("Q_star", "chi", "xi", "c_star"):
        a = theory.predict(noisy, q, sigma_eps=0.0, sigma_m=0.0, **P)
        b = theory.predict("vanilla-tanh", q, **P)
        assert abs(a - b) <= 1e-12 * abs(b), (q, a, b)


def _reference(sigma_eps, sigma_m, sigma_w, sigma_v, sigma_b, R, Sigma, shared=False):
    """(Q*, chi, C*) of the noisy vanilla-tanh by scipy quadrature and Brent (tests/reference.py)."""
    from scipy import optimize
    q_of = lambda Q: sigma_w ** 2 * Q + sigma_v ** 2 * R + sigma_b ** 2
    gap = lambda Q: (1 + sigma_m ** 2) * expect1(lambda x: math.tanh(x) ** 2, 0.0, q_of(Q)) + sigma_eps ** 2 - Q
    Q = optimize.brentq(gap, 1e-9, 10.0, xtol=1e-15, rtol=1e-14)
    q = q_of(Q)
    chi = sigma_w ** 2 * (1 + sigma_m ** 2) * expect1(lambda x: (1 - math.tanh(x) ** 2) ** 2, 0.0, q)
    extra = sigma_eps ** 2 if shared else 0.0
    scale = (1 + sigma_m ** 2) if shared else 1.0

    def cgap(C):
        qab = sigma_w ** 2 * C + sigma_v ** 2 * Sigma * R + sigma_b ** 2
        return scale * expect2(lambda x, y: math.tanh(x) * math.tanh(y), 0.0, q, q, qab) + extra - C
    C = optimize.brentq(cgap, 0.0, Q * (1 - 1e-12), xtol=1e-14, rtol=1e-13) if cgap(Q * (1 - 1e-12)) < 0 else Q
    return Q, chi, C


def test_annealed_fixed_point_chi_and_correlation_equal_the_scipy_route(noisy):
    Q, chi, C = _reference(**NOISE, **P)
    assert abs(theory.predict(noisy, "Q_star", **NOISE, **P) - Q) <= 1e-10 * Q
    assert abs(theory.predict(noisy, "chi", **NOISE, **P) - chi) <= 1e-10 * chi
    assert abs(theory.predict(noisy, "c_h_star", **NOISE, **P) - C / Q) <= 1e-8
    assert C / Q < 0.9 and chi < 1.0  # ordered (chi < 1), yet two copies of one input decorrelate


def test_shared_noise_keeps_identical_copies_identical(shared):
    p = dict(P, sigma_eps=0.3)
    assert theory.predict(shared, "c_h_star", **p) == 1.0
    Q, _, C = _reference(0.3, 0.0, **{**P, "Sigma": 0.5}, shared=True)
    assert abs(theory.predict(shared, "c_h_star", **{**p, "Sigma": 0.5}) - C / Q) <= 1e-8


def _vanilla_networks(N, nets, steps, late, seed, sigma_eps, sigma_m):
    """Tied noisy vanilla-tanh networks (one W, V, b per network), two copies fed the same inputs with
    independent noise: per-network late-window means of |h_a|^2/N and h_a.h_b/|h_a|^2; (mean, SE) of each."""
    rng = np.random.default_rng(seed)
    Qs, cs = np.empty(nets), np.empty(nets)
    for k in range(nets):
        W = rng.standard_normal((N, N)) * (P["sigma_w"] / math.sqrt(N))
        V = rng.standard_normal((N, N)) * (P["sigma_v"] / math.sqrt(N))
        b = rng.standard_normal(N) * P["sigma_b"]
        h = rng.standard_normal((N, 2))
        qa, cab = [], []
        for t in range(steps):
            x = rng.standard_normal(N) * math.sqrt(P["R"])
            f = np.tanh(W @ h + (V @ x + b)[:, None])
            h = f * (1 + sigma_m * rng.standard_normal((N, 2))) + sigma_eps * rng.standard_normal((N, 2))
            if t >= steps - late:
                qa.append(h[:, 0] @ h[:, 0] / N)
                cab.append(h[:, 0] @ h[:, 1] / N)
        Qs[k], cs[k] = np.mean(qa), np.mean(cab) / np.mean(qa)
    return [(x.mean(), x.std(ddof=1) / math.sqrt(nets)) for x in (Qs, cs)]


def test_real_noisy_vanilla_networks_follow_the_theory(noisy):
    small = _vanilla_networks(256, 12, 120, 80, 1, **NOISE)
    large = _vanilla_networks(1024, 4, 120, 80, 2, **NOISE)
    for i, name in enumerate(("Q_star", "c_h_star")):
        x, se = extrapolate(small[i], large[i], 256, 1024)
        pred = theory.predict(noisy, name, **NOISE, **P)
        assert abs(x - pred) <= K * se, (name, x, se, pred)


LEAKY = dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0, leak=0.5, sigma_eps=0.3)


def test_noisy_leaky_networks_follow_the_tied_theory_not_the_annealed_one(cache):
    s = {n: symbol(n) for n in ("sigma_w", "sigma_v", "sigma_b", "leak")}
    a = s["leak"]
    leaky = theory.register(with_noise(Cell(
        name="leaky-tanh-noise-test", update=(1 - a) * H + a * sp.tanh(E),
        field=Field(recurrent=s["sigma_w"], input=s["sigma_v"], bias=s["sigma_b"]),
        params=(("sigma_w", 1.0), ("sigma_v", 1.0), ("sigma_b", 0.1), ("R", 1.0), ("Sigma", 1.0), ("leak", 0.5)))))
    tied, tied_se = theory.predict(leaky, "Q_star", tied=True, return_error=True, paths=8192, **LEAKY)
    annealed = theory.predict(leaky, "Q_star", **LEAKY)
    small = leaky_tanh_Q(256, 16, 300, 200, LEAKY["leak"], LEAKY, 3, LEAKY["sigma_eps"])
    large = leaky_tanh_Q(1024, 6, 300, 200, LEAKY["leak"], LEAKY, 4, LEAKY["sigma_eps"])
    q_inf, se_inf = extrapolate(small, large, 256, 1024)
    se = math.hypot(se_inf, tied_se)
    assert abs(q_inf - tied) <= K * se, (q_inf, se_inf, tied, tied_se)
    assert abs(q_inf - annealed) > K * se, (q_inf, annealed, se)


def test_on_the_chi_one_line_noise_caps_the_correlation_depth_as_one_over_sigma_eps(noisy):
    """At chi = 1 the C-map near C = Q* is f(Q* - d) = Q* - sigma_eps^2 - d + f'' d^2 / 2 (slope chi = 1), so
    d* = sigma_eps sqrt(2 / f''), the slope at C* is 1 - sigma_eps sqrt(2 f'') and
    sigma_eps xi -> 1 / sqrt(2 f''), f'' = sigma_w^4 E[phi''(e)^2] (scipy quadrature), with a relative error
    O(sigma_eps): the error falls ~3x from sigma_eps = 0.003 to 0.001."""
    c = noisy  # at sigma_m = 0: additive noise only
    d2 = lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)
    err = {}
    for eps in (0.003, 0.001):
        p = theory.critical_init(c, sigma_eps=eps, sigma_m=0.0, sigma_b=0.5).params
        assert abs(theory.predict(c, "chi", **p) - 1) < 1e-9
        limit = 1 / math.sqrt(2 * p["sigma_w"] ** 4 * expect1(lambda x: d2(x) ** 2, 0.0, theory.predict(c, "q_star", **p)))
        err[eps] = eps * theory.predict(c, "xi", **p) / limit - 1
    assert 0 < err[0.001] < 0.005 and 2 < err[0.003] / err[0.001] < 4, err


def test_jax_kernels_agree_with_numba_and_differentiate_in_the_noise_amplitude(noisy):
    import jax
    p = dict(P, **NOISE)
    for q in ("Q_star", "c_h_star", "chi"):
        a, b = float(theory.predict(noisy, q, backend="jax", **p)), theory.predict(noisy, q, **p)
        assert abs(a - b) <= 1e-10 * abs(b), (q, a, b)
    h = 1e-5
    fd = (theory.predict(noisy, "Q_star", **{**p, "sigma_eps": 0.3 + h})
          - theory.predict(noisy, "Q_star", **{**p, "sigma_eps": 0.3 - h})) / (2 * h)
    with jax.enable_x64(True):
        g = jax.grad(lambda s: theory.predict(noisy, "Q_star", backend="jax", **{**p, "sigma_eps": s}))(0.3)
    assert abs(float(g) - fd) <= 1e-6 * abs(fd), (float(g), fd)
