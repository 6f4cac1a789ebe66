"""The kernels' quadrature rule against scipy.integrate.quad over the documented range."""
import math

import numpy as np
import pytest
from scipy import integrate, special

from theory.codegen.quadrature import gauss_hermite_1d, sinh_gauss_legendre_1d

FUNCS = {
    "tanh^2": (lambda x: np.tanh(x) ** 2, ()),
    "sigmoid^2": (lambda x: special.expit(x) ** 2, ()),
    "sigmoid(-x)^2": (lambda x: special.expit(-x) ** 2, ()),
    # sech^4, not (1 - tanh^2)^2: the latter loses ~1e-10 relative to cancellation at |x| ~ 8 in
    # the integrand itself (checked with mpmath), which is not the rule's error
    "tanh'^2": (lambda x: (2 * np.exp(-np.abs(x)) / (1 + np.exp(-2 * np.abs(x)))) ** 4, ()),
    "relu^2": (lambda x: np.maximum(x, 0) ** 2, (0.0,)),
    "hard-tanh^2": (lambda x: np.clip(x, -1, 1) ** 2, (-1.0, 1.0)),
    "1{|x|<1}": (lambda x: (np.abs(x) < 1) * 1.0, (-1.0, 1.0)),
}


def _quad(f, mu, q, kinks):
    g = lambda z: float(f(mu + math.sqrt(q) * z)) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    zs = sorted({(k - mu) / math.sqrt(q) for k in (0.0,) + tuple(kinks)})
    edges = [-40.0] + [z for z in zs if -40 < z < 40] + [40.0]
    return sum(integrate.quad(g, a, b, epsabs=1e-300, epsrel=1e-14, limit=1000)[0] for a, b in zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_sinh_gauss_legendre_rule_has_relative_error_below_1e12_for_q_up_to_1e4(name):
    f, kinks = FUNCS[name]
    for mu in (-2.0, 0.0, 3.0, 8.0):
        for q in (1e-4, 1e-2, 1.0, 16.0, 100.0, 1e4):
            ref = _quad(f, mu, q, kinks)
            if abs(ref) < 1e-30:
                continue
            got = sinh_gauss_legendre_1d(f, mu, q, kinks)
            assert abs(got - ref) <= 1e-12 * abs(ref), (mu, q, got, ref)


def test_plain_gauss_hermite_fails_at_large_q_which_is_why_it_is_not_used():
    f = FUNCS["tanh^2"][0]
    ref = _quad(f, 0.0, 16.0, ())
    assert abs(gauss_hermite_1d(f, 0.0, 16.0, n=128) - ref) > 1e-5
    assert abs(sinh_gauss_legendre_1d(f, 0.0, 16.0) - ref) < 1e-13


FAR_TRANSITION = [(20.0, 4.0), (30.0, 13.0), (40.0, 16.0), (60.0, 50.0)]
"""(mu, q) where the field's zero crossing lies 8-11 standard deviations from the bulk (z0 = -mu/sqrt(q)
inside the window, |z0| > 4) with sqrt(q) > 1: the map is centred on the crossing at scale 1/sqrt(q),
so its panels are 5-7 wide in z across the Gaussian bulk, which 16 nodes do not resolve.  Measured:
relative error 1e-10 .. 4e-8 for *every* integrand (tanh^2 and sigmoid^2 alike: the Gaussian itself is
mis-integrated).  A known defect (found 2026-12-07, not yet fixed): a rule with a second map centred
on the bulk beyond z0/2 is the fix; until then the documented range (mu in {-2, 0, 3, 8}) excludes it."""


@pytest.mark.xfail(strict=True, reason="known defect: the sinh map centred on a far zero crossing "
                                       "under-resolves the Gaussian bulk (FAR_TRANSITION)")
@pytest.mark.parametrize("mu,q", FAR_TRANSITION)
def test_rule_keeps_1e12_when_the_zero_crossing_is_far_from_the_bulk(mu, q):
    f = FUNCS["sigmoid^2"][0]
    ref = _quad(f, mu, q, ())
    assert abs(sinh_gauss_legendre_1d(f, mu, q) - ref) <= 1e-12 * abs(ref)
