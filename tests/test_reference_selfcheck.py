"""Quick self-checks of tests/reference.py against textbook closed forms.

Closed forms appear ONLY here (never in reference.py): they validate the quadrature.
"""

import math

import pytest
from scipy.special import erf, erfc

import reference as ref

RELU_K = (0.0,)
HT_K = (-1.0, 1.0)


def _relu(x):
    return x if x > 0 else 0.0


def _drelu(x):
    return 1.0 if x > 0 else 0.0


def _derf(x):
    return 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


def _ht(x):
    return min(max(x, -1.0), 1.0)


def _dht(x):
    return 1.0 if -1.0 < x < 1.0 else 0.0


def _close(a, b, rtol, atol=0.0):
    assert abs(a - b) <= rtol * abs(b) + atol, (a, b, abs(a - b) / max(abs(b), 1e-300))


# ------------------------------------------------------------------ 1-D closed forms
@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 7.5, 100.0])
def test_1d_closed_forms(q):
    _close(ref.expect1(lambda e: _relu(e) ** 2, 0.0, q, RELU_K), q / 2, 1e-12)
    _close(ref.expect1(lambda e: _drelu(e) ** 2, 0.0, q, RELU_K), 0.5, 1e-12)
    _close(
        ref.expect1(lambda e: math.erf(e) ** 2, 0.0, q),
        2 / math.pi * math.asin(2 * q / (1 + 2 * q)),
        1e-12,
    )
    _close(ref.expect1(lambda e: _derf(e) ** 2, 0.0, q), 4 / (math.pi * math.sqrt(1 + 4 * q)), 1e-12)
    a = 1 / math.sqrt(q)
    rho = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    ht2 = q * (erf(a / math.sqrt(2)) - 2 * a * rho) + erfc(a / math.sqrt(2))
    _close(ref.expect1(lambda e: _ht(e) ** 2, 0.0, q, HT_K), ht2, 1e-12)
    _close(ref.expect1(lambda e: _dht(e) ** 2, 0.0, q, HT_K), erf(1 / math.sqrt(2 * q)), 1e-12)


# ------------------------------------------------------------------ 2-D closed forms
def _arccos_k(qa, qb, qab):
    c = max(-1.0, min(1.0, qab / math.sqrt(qa * qb)))
    return math.sqrt(qa * qb) / (2 * math.pi) * (
        math.sqrt(max(0.0, 1 - c * c)) + (math.pi - math.acos(c)) * c
    )


def _arcsin_k(qa, qb, qab):
    return 2 / math.pi * math.asin(2 * qab / math.sqrt((1 + 2 * qa) * (1 + 2 * qb)))


def _arcsin_dk(qa, qb, qab):
    return 4 / (math.pi * math.sqrt((1 + 2 * qa) * (1 + 2 * qb) - 4 * qab * qab))


CASES_2D = [
    (1.0, 1.0, 0.5),
    (2.0, 0.5, 0.9),
    (0.7, 0.7, 0.999999),
    (0.5, 2.0, 1 - 1e-9),
    (1.3, 1.3, 1.0),
    (0.3, 3.0, -0.6),
]


@pytest.mark.parametrize("qa,qb,c", CASES_2D)
def test_2d_relu_arccos(qa, qb, c):
    qab = c * math.sqrt(qa * qb)
    v = ref.expect2(lambda x, y: _relu(x) * _relu(y), 0.0, qa, qb, qab, RELU_K, RELU_K)
    _close(v, _arccos_k(qa, qb, qab), 1e-11, 1e-15)
    d = ref.expect2(lambda x, y: _drelu(x) * _drelu(y), 0.0, qa, qb, qab, RELU_K, RELU_K)
    _close(d, (math.pi - math.acos(max(-1.0, min(1.0, c)))) / (2 * math.pi), 1e-11, 1e-15)


@pytest.mark.parametrize("qa,qb,c", CASES_2D)
def test_2d_erf_arcsin(qa, qb, c):
    qab = c * math.sqrt(qa * qb)
    v = ref.expect2(lambda x, y: math.erf(x) * math.erf(y), 0.0, qa, qb, qab)
    _close(v, _arcsin_k(qa, qb, qab), 1e-11, 1e-15)
    d = ref.expect2(lambda x, y: _derf(x) * _derf(y), 0.0, qa, qb, qab)
    _close(d, _arcsin_dk(qa, qb, qab), 1e-11)


def test_c_to_one_fallback_matches_1d():
    q = 0.8
    one = ref.expect1(lambda e: _ht(e) ** 2, 0.0, q, HT_K)
    two = ref.expect2(lambda x, y: _ht(x) * _ht(y), 0.0, q, q, q, HT_K, HT_K)
    near = ref.expect2(lambda x, y: _ht(x) * _ht(y), 0.0, q, q, q * (1 - 1e-12), HT_K, HT_K)
    _close(two, one, 1e-14)
    _close(near, one, 1e-11)


def test_price_theorem_hard_tanh_2d():
    # dG/dC (Price, 2-D integral of phi'phi') vs a Richardson finite difference of G
    p = dict(sigma_w=2.0, sigma_v=0.5, sigma_b=0.1, R=1.0, Sigma=1.0)
    Q, C, h = 0.7, 0.3, 1e-2

    def D(hh):
        return (ref.covariance_map("vanilla-hard-tanh", C + hh, Q, **p)
                - ref.covariance_map("vanilla-hard-tanh", C - hh, Q, **p)) / (2 * hh)

    fd = (4 * D(h / 2) - D(h)) / 3
    _close(ref.covariance_map_slope("vanilla-hard-tanh", C, Q, **p), fd, 1e-8)


# ------------------------------------------------------------------ fixed points
FP_CASES = [
    ("feedforward-tanh", dict(sigma_w=1.5, sigma_b=0.3)),
    ("feedforward-erf", dict(sigma_w=2.0, sigma_b=0.2)),
    ("feedforward-hard-tanh", dict(sigma_w=1.8, sigma_b=0.2)),
    ("vanilla-tanh", dict(sigma_w=1.0, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=0.5)),
    ("vanilla-relu", dict(sigma_w=1.0, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=0.5)),
    ("vanilla-linear", dict(sigma_w=0.9, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=0.5)),
    ("minimalrnn", dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0, Sigma=0.5)),
    ("minimalrnn", dict(sigma_w=3.0, sigma_v=1.0, sigma_b=0.3, mu_b=5.5, R=1.0, Sigma=0.5)),
]


@pytest.mark.parametrize("cell,p", FP_CASES)
def test_fixed_points_are_fixed(cell, p):
    Q = ref.reference(cell, "Q_star", **p)
    assert Q > 0
    _close(ref.variance_map(cell, Q, **p), Q, 1e-13)
    assert ref.reference(cell, "slope_Q", **p) < 1.0
    C = ref.fixed_point_C(cell, **p)
    if C != Q:
        assert 0.0 <= C < Q
        _close(ref.covariance_map(cell, C, Q, **p), C, 1e-12, 1e-15)
        assert ref.reference(cell, "slope_C", **p) < 1.0


@pytest.mark.parametrize("cell,p", [FP_CASES[0], FP_CASES[2], FP_CASES[6]])
def test_slope_Q_matches_finite_difference(cell, p):
    Q = ref.reference(cell, "Q_star", **p)
    h = 1e-3 * Q

    def D(hh):
        return (ref.variance_map(cell, Q + hh, **p) - ref.variance_map(cell, Q - hh, **p)) / (2 * hh)

    _close(ref.reference(cell, "slope_Q", **p), (4 * D(h / 2) - D(h)) / 3, 1e-9)


def test_tanh_stein_forms_agree():
    # second-order Stein (used for smooth phi) vs first-order Stein (used for kinked phi)
    q = 0.63
    second = ref.expect1(lambda e: (1 - math.tanh(e) ** 2) ** 2
                         - 2 * math.tanh(e) ** 2 * (1 - math.tanh(e) ** 2), 0.0, q)
    s = math.sqrt(q)
    first = ref.expect1(lambda e: math.tanh(e) * (1 - math.tanh(e) ** 2) * (e / s) / s, 0.0, q)
    _close(first, second, 1e-12)


@pytest.mark.parametrize("kind", ["feedforward", "vanilla"])
@pytest.mark.parametrize("sw,sb", [(1.0, 0.1), (1.3, 0.5)])
def test_relu_q_star_closed_form(kind, sw, sb):
    if kind == "feedforward":
        p, beff2 = dict(sigma_w=sw, sigma_b=sb), sb * sb
    else:
        p = dict(sigma_w=sw, sigma_v=0.7, sigma_b=sb, R=1.2, Sigma=1.0)
        beff2 = 0.49 * 1.2 + sb * sb
    _close(ref.reference(f"{kind}-relu", "q_star", **p), beff2 / (1 - sw * sw / 2), 1e-12)
    _close(ref.reference(f"{kind}-relu", "chi", **p), sw * sw / 2, 1e-12)
    _close(ref.reference(f"{kind}-relu", "slope_Q", **p), sw * sw / 2, 1e-12)


def test_erf_chi_and_chaotic_tanh():
    p = dict(sigma_w=2.0, sigma_b=0.2)
    qs = ref.reference("feedforward-erf", "q_star", **p)
    _close(ref.reference("feedforward-erf", "chi", **p), 4 * 4.0 / (math.pi * math.sqrt(1 + 4 * qs)), 1e-12)
    # odd phi, no bias, chaotic: c* = 0
    assert ref.reference("feedforward-tanh", "c_star", sigma_w=2.5, sigma_b=0.0) == 0.0
    # ordered, no bias: Q* = 0, chi = sigma_w^2 phi'(0)^2 (relu: sigma_w^2/2)
    assert ref.reference("feedforward-tanh", "Q_star", sigma_w=0.8, sigma_b=0.0) == 0.0
    _close(ref.reference("feedforward-tanh", "chi", sigma_w=0.8, sigma_b=0.0), 0.64, 1e-15)
    _close(ref.reference("feedforward-relu", "chi", sigma_w=1.2, sigma_b=0.0), 0.72, 1e-15)


def test_minimalrnn_critical_family():
    # closed-form critical family (02 §3): chosen (mu_b, q*, R, sigma_b) -> (sigma_w, sigma_v)
    mu, qs, R, sb = 0.0, 16.0, 0.46, 0.0

    def E(f):
        return ref.expect1(f, mu, qs)

    sig = ref._sig
    Eu2 = E(lambda e: sig(e) ** 2)
    Ev2 = E(lambda e: sig(-e) ** 2)
    Eup2 = E(lambda e: (sig(e) * sig(-e)) ** 2)
    Qs = R * Ev2 / (1 - Eu2)
    sw2 = (1 - Eu2) / (Eup2 * (Qs + R))
    sv2 = (qs - sw2 * Qs - sb * sb) / R
    assert sv2 > 0
    p = dict(sigma_w=math.sqrt(sw2), sigma_v=math.sqrt(sv2), sigma_b=sb, mu_b=mu, R=R, Sigma=1.0)
    _close(ref.reference("minimalrnn", "Q_star", **p), Qs, 1e-11)
    _close(ref.reference("minimalrnn", "q_star", **p), qs, 1e-11)
    _close(ref.reference("minimalrnn", "chi", **p), 1.0, 1e-11)


def test_api_errors():
    with pytest.raises(TypeError):
        ref.reference("feedforward-tanh", "q_star", sigma_v=1.0)
    with pytest.raises(ValueError):
        ref.reference("feedforward-relu", "q_star", sigma_w=1.5, sigma_b=0.1)  # no fixed point
    with pytest.raises(ValueError):
        ref.reference("vanilla-tanh", "nonsense")
    assert ref.integration_warning_count() == 0
