"""Independent reference implementation of the mean-field signal-propagation maps.

Purpose
-------
Ground truth against which the generated kernels of ``signalprop`` (``theory`` /
``derivations``) are tested.  It deliberately uses *only* numpy + scipy
(``scipy.integrate.quad``, ``scipy.optimize.brentq``, ``scipy.special``) and plain
Python integrands written from the definitions; it never imports ``theory`` or
``derivations`` and contains no closed-form kernel (arc-cosine, arcsine, ...).  Closed
forms are used only in ``tests/test_reference_selfcheck.py`` to validate the integrator.

Cells
-----
``feedforward-<act>``  params sigma_w, sigma_b            (sigma_v = 0, R = 0, Sigma = 1)
``vanilla-<act>``      params sigma_w, sigma_v, sigma_b, R, Sigma
``minimalrnn``         params sigma_w, sigma_v, sigma_b, mu_b, R, Sigma

with ``<act>`` in {tanh, erf, relu, hard-tanh, linear}.  Feed-forward and vanilla cells
also accept an optional ``mu_b`` (field mean, default 0.0 as in the brief).
Defaults (used when a param is omitted): feedforward sigma_w=1.0, sigma_b=0.1;
vanilla sigma_w=1.0, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0; linear cells (both
feedforward-linear and vanilla-linear) sigma_w=0.9; minimalrnn sigma_w=2.0,
sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0, Sigma=1.0.  Unknown params raise TypeError.

Definitions
-----------
Field e ~ N(mu, q), q(Q) = sigma_w^2 Q + sigma_v^2 R + sigma_b^2.  Two sequences:
(e_a, e_b) bivariate normal, means mu, variances q(Q_a), q(Q_b), covariance
q_ab(C) = sigma_w^2 C + sigma_v^2 Sigma R + sigma_b^2.

* vanilla / feedforward:  F(Q) = E[phi(e)^2],  G(C; Q) = E[phi(e_a) phi(e_b)].
* minimalrnn (u = logistic(e)):  F(Q) = E[u^2] Q + E[(1-u)^2] R,
  G(C; Q) = E[u_a u_b] C + E[(1-u_a)(1-u_b)] Sigma R.

Quantities (``reference(cell, quantity, **params)``):
``Q_star, q_star, c_star (= q_ab(C*)/q*), c_h_star (= C*/Q*), chi, slope_Q, xi_q,
slope_C, xi``.

Numerics
--------
1-D:  E[f(e)] = int f(mu + sqrt(q) z) N(z) dz over the whole real line, split at z = 0 and
at the z-images of the kinks of f (relu: e=0; hard-tanh: e=+-1; every activation also
gets a split at e=0, its centre) and, for speed, at z = +-7.  Each piece is a QUADPACK
``quad`` call (the infinite end pieces use QAGI, so the tails are integrated, not cut) with
epsabs = epsrel = 1e-13, limit = 200.  At q = 0 the q -> 0+ limit is returned: f(mu), or
the mean of the one-sided values when f has a kink/jump at mu (relu chi at Q* = 0 is
sigma_w^2/2).

2-D:  Cholesky, e_a = mu + sqrt(q_a) z1, e_b = mu + (q_ab/sqrt(q_a)) z1 + b z2 with
b^2 = (q_a q_b - q_ab^2)/q_a (computed as (q-q_ab)(q+q_ab)/q with the gap q-q_ab formed
from (Q-C) directly when q_a = q_b, to avoid cancellation near c -> 1).  Nested quad: the
inner integral over z2 (split at z2 = 0 and at the z2-location of every kink/centre of the
second factor, which depends on z1), the outer over z1 (split at z1 = 0, at the kinks of
the first factor, and at z1_k = (k - mu)/a where the second factor's kinks k sit; when
b/|a| < 1/4 also at z1_k +- (b/|a|) 4^j/2 up to distance 1, since the inner integral turns
such a kink into a feature of width b/|a| that quad's first Kronrod pass would miss).  When
b <= 1e-12 sqrt(q_b) (c -> 1) it falls back to the 1-D integral of h(e, e').  When
q_a = 0 (deterministic field) it reduces to a 1-D integral over e_b.

Fixed point Q*:  the smallest positive root of F(Q) = Q where F - Q goes from + to -,
bracketed by a sequential scan of a log grid (20 points/decade) and refined with brentq
(xtol 1e-300, rtol 1e-15).  Bounded maps (tanh, erf, hard-tanh: sup phi^2 = 1; minimalrnn:
(0, R]) scan [1e-12 sup, sup]; relu / linear (increasing, unbounded F) scan
[F(0), 1e12 F(0)] and raise ValueError when no finite fixed point exists.  Q* = 0 when
F(0) = 0 and dF/dQ(0) <= 1.  A pair of roots closer than one grid step (ratio 1.12) could
be missed by the scan.

Correlation fixed point C*:  if Sigma == 1 and chi <= 1, C* = Q* (then c_star = c_h_star =
1 exactly, slope_C = chi).  Otherwise h(C) = G(C; Q*) - C.  For Sigma >= 0, h is convex on
[0, Q*] (G is a power series in the correlation with non-negative coefficients, Hermite
argument; for the minimalrnn also (C + Sigma R) >= 0), h(0) >= 0 and h(Q*) <= 0, so the
root in [0, Q*) is unique: for Sigma < 1 brentq on [0, Q*]; for Sigma == 1 (chi > 1) the
trivial root at Q* is excluded by probing C = Q*(1 - eps), eps = 0.5, 0.1, 1e-2, ..., 1e-12
until h < 0, then brentq.  If |h(0)| <= 1e-14 Q* (e.g. odd phi, no bias: C* = 0) C* = 0.
If h(0) < 0 (only possible with Sigma < 0) the root is sought in [-Q*, 0].

Slopes
------
slope_Q = dF/dQ at Q*, from Stein/Price-derived integrals (NOT finite differences):
* smooth phi (tanh, erf, linear): dF/dQ = sigma_w^2 E[phi'^2 + phi phi''];
* kinked phi (relu, hard-tanh): first-order Stein,
  dF/dQ = sigma_w^2 E[phi(e) phi'(e) z] / sqrt(q)   (needs phi^2 only absolutely
  continuous; at q = 0 the limit is taken by evaluating with sqrt(q) = 1e-150);
* minimalrnn: dF/dQ = E[u^2] + sigma_w^2 (Q E[u'^2 + u u''] + R E[u'^2 - (1-u) u'']),
  u' = u(1-u), u'' = u'(1-2u).
xi_q = -1/ln|slope_Q|.
chi: vanilla/feedforward sigma_w^2 E[phi'^2]; minimalrnn E[u^2] + sigma_w^2 E[u'^2](Q*+R).
slope_C: chi when C* = Q*; otherwise vanilla sigma_w^2 E[phi'(e_a) phi'(e_b)], minimalrnn
E[u_a u_b] + sigma_w^2 E[u'_a u'_b] (C* + Sigma R).  xi = -1/ln(slope_C) (inf when the
log is 0).

Measured accuracy (this machine; checks in tests/test_reference_selfcheck.py)
---------------------------------------------------------------------------
* 1-D, q in [1e-4, 100], mu = 0: relu E[phi^2] = q/2, E[phi'^2] = 1/2; erf E[phi^2] =
  (2/pi) arcsin(2q/(1+2q)), E[phi'^2] = 4/(pi sqrt(1+4q)); hard-tanh E[phi^2], E[phi'^2]
  against their erf/erfc forms: max relative error 1.8e-15.
* 2-D, (q_a, q_b) in {(1,1), (.2,.2), (5,5), (.5,2), (30,.1)}, c in [-0.99, 1 - 1e-15] and
  c = 1: relu arc-cosine kernel and its derivative kernel (pi - arccos c)/(2 pi), erf arcsine
  kernel and its derivative kernel: max relative error 3.3e-15, except the relu kernel at
  c = -0.99 (2.7e-13 relative on a value ~1e-4; absolute <= 6.4e-15 sqrt(q_a q_b), limited
  by cancellation in the closed form itself).  Before the near-kink break points were
  added, the relu derivative kernel at c = 1 - 1e-9 was off by 1.4e-5: they matter.
* Fixed points: |F(Q*) - Q*| <= 1e-15 (typically exactly 0); |G(C*) - C*| ~ 0.
  relu q* = sigma_b_eff^2/(1 - sigma_w^2/2), relu chi = sigma_w^2/2, erf chi =
  4 sigma_w^2/(pi sqrt(1+4q*)) to <= 1e-15 relative.  The minimalrnn closed-form critical
  family (02 sec. 3; mu_b = 0, q* = 16, R = 0.46) is reproduced (Q*, q*, chi = 1) to 1e-11.
* Slopes: slope_Q (Stein) vs a Richardson central finite difference of F, and dG/dC
  (Price) vs a Richardson FD of G, for tanh, hard-tanh, erf, relu and minimalrnn cells:
  agreement 6e-13 relative or better (FD-limited).
Overall: quantities are accurate to ~1e-13 relative (1e-13 quad tolerances, brentq rtol
1e-15), except near criticality where an O(1e-16) error of the maps is amplified by
1/|1 - slope| in Q* and C*.  No scipy IntegrationWarning was raised in any check
(``integration_warning_count()`` counts swallowed ones).

Timing (2 shared CPU cores): one 1-D expectation ~0.2 ms; one 2-D expectation 15-60 ms.
Q_star / q_star / chi / slope_Q / xi_q: 3-120 ms (including the grid scan).  c_star /
c_h_star / slope_C / xi with a nontrivial C* (Sigma < 1, or chi > 1): 0.3-1.6 s (about 15
2-D integrals); trivial C* = Q*: as cheap as chi.  Results are cached per (cell, params).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import integrate, optimize

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "QUANTITIES",
    "reference",
    "variance_map",
    "covariance_map",
    "variance_map_slope",
    "covariance_map_slope",
    "integration_warning_count",
    "expect1",
    "expect2",
    "fixed_point_Q",
    "fixed_point_C",
    "all_quantities",
    "normalize_params",
]

# ----------------------------------------------------------------------------------
# Numerical settings
# ----------------------------------------------------------------------------------
EPSABS = 1e-13
EPSREL = 1e-13
LIMIT = 200
INNER_EPSABS = 1e-14
INNER_EPSREL = 1e-13
ZMAX = 40.0  # standard-normal density underflows beyond |z| ~ 38.6
ZSPLIT = 7.0  # every line integral is also split at z = +-ZSPLIT (speed; tails still integrated)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRTPI = 2.0 / math.sqrt(math.pi)


def _pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / _SQRT2PI


# ----------------------------------------------------------------------------------
# Activations: phi, phi', phi'' (None where not defined), kinks, sup of phi^2
# ----------------------------------------------------------------------------------
def _tanh(x):
    return math.tanh(x)


def _dtanh(x):
    t = math.tanh(x)
    return 1.0 - t * t


def _d2tanh(x):
    t = math.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _erf(x):
    return math.erf(x)


def _derf(x):
    return _TWO_OVER_SQRTPI * math.exp(-x * x)


def _d2erf(x):
    return -2.0 * x * _TWO_OVER_SQRTPI * math.exp(-x * x)


def _relu(x):
    return x if x > 0.0 else 0.0


def _drelu(x):
    return 1.0 if x > 0.0 else 0.0


def _htanh(x):
    return -1.0 if x < -1.0 else (1.0 if x > 1.0 else x)


def _dhtanh(x):
    return 1.0 if -1.0 < x < 1.0 else 0.0


def _lin(x):
    return x


def _dlin(x):
    return 1.0


def _d2lin(x):
    return 0.0


class _Act:
    def __init__(self, name, f, df, d2f, kinks, sup2):
        self.name = name
        self.f = f
        self.df = df
        self.d2f = d2f  # None for kinked activations
        self.kinks = tuple(kinks)
        self.sup2 = sup2  # sup of phi^2 (inf if unbounded)


ACTIVATIONS = {
    "tanh": _Act("tanh", _tanh, _dtanh, _d2tanh, (), 1.0),
    "erf": _Act("erf", _erf, _derf, _d2erf, (), 1.0),
    "relu": _Act("relu", _relu, _drelu, None, (0.0,), math.inf),
    "hard-tanh": _Act("hard-tanh", _htanh, _dhtanh, None, (-1.0, 1.0), 1.0),
    "linear": _Act("linear", _lin, _dlin, _d2lin, (), math.inf),
}


# logistic gate, computed stably; 1-u = logistic(-e)
def _sig(e):
    if e >= 0.0:
        return 1.0 / (1.0 + math.exp(-e))
    x = math.exp(e)
    return x / (1.0 + x)


def _sigc(e):  # 1 - sigma(e)
    return _sig(-e)


CELLS = tuple(
    [f"feedforward-{a}" for a in ACTIVATIONS]
    + [f"vanilla-{a}" for a in ACTIVATIONS]
    + ["minimalrnn"]
)

QUANTITIES = (
    "Q_star",
    "q_star",
    "c_star",
    "c_h_star",
    "chi",
    "slope_Q",
    "xi_q",
    "slope_C",
    "xi",
)

# ----------------------------------------------------------------------------------
# Gaussian expectations
# ----------------------------------------------------------------------------------
_warn_count = [0]


def _quad(fun, a, b, epsabs, epsrel):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always", integrate.IntegrationWarning)
        val, _err = integrate.quad(fun, a, b, epsabs=epsabs, epsrel=epsrel, limit=LIMIT)
    if w:
        _warn_count[0] += len(w)
    return val


def _line(fun, points, epsabs=EPSABS, epsrel=EPSREL):
    """Integral of fun(z) over the real line, split at the given (finite) points."""
    pts = sorted(
        {float(p) for p in points if math.isfinite(p) and abs(p) <= ZMAX} | {-ZSPLIT, ZSPLIT}
    )
    edges = [-math.inf] + pts + [math.inf]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        if a == b:
            continue
        total += _quad(fun, a, b, epsabs, epsrel)
    return total


def expect1(f, mu, q, kinks=()):
    """E[f(e)], e ~ N(mu, q).  ``kinks``: values of e where f is not smooth."""
    if q < 0:
        raise ValueError(f"negative variance q={q}")
    if q == 0.0:
        # limit q -> 0+: mean of the one-sided values if f has a kink/jump at mu
        if mu in kinks:
            return 0.5 * (f(math.nextafter(mu, math.inf)) + f(math.nextafter(mu, -math.inf)))
        return f(mu)
    s = math.sqrt(q)
    pts = [0.0, (0.0 - mu) / s] + [(k - mu) / s for k in kinks]
    return _line(lambda z: f(mu + s * z) * _pdf(z), pts)


def expect2(h, mu, qa, qb, qab, kinks_a=(), kinks_b=(), gap=None, product=None):
    """E[h(e_a, e_b)] for (e_a, e_b) bivariate normal, means mu, variances qa, qb,
    covariance qab.  ``kinks_a``/``kinks_b``: values of e_a/e_b where h is not smooth.
    ``gap`` (optional, only used when qa == qb): qa - qab computed without cancellation.
    ``product`` (optional): a pair (f, g) with h(e_a, e_b) = f(e_a) g(e_b); then f is
    factored out of the inner integral (h is still used on the degenerate paths).
    """
    if qa < 0 or qb < 0:
        raise ValueError("negative variance")
    if qa == 0.0:
        return expect1(lambda eb: h(mu, eb), mu, qb, kinks_b)
    sa = math.sqrt(qa)
    a = qab / sa
    if gap is not None and qa == qb:
        b2 = gap * (qa + qab) / qa
    else:
        b2 = (qa * qb - qab * qab) / qa
    b = math.sqrt(b2) if b2 > 0.0 else 0.0
    kb = (0.0,) + tuple(kinks_b)
    ka = (0.0,) + tuple(kinks_a)
    if b <= 1e-12 * math.sqrt(qb):
        # c -> +-1: e_b is a deterministic function of z1
        pts = [0.0] + [(k - mu) / sa for k in ka]
        if a != 0.0:
            pts += [(k - mu) / a for k in kb]
        return _line(lambda z: h(mu + sa * z, mu + a * z) * _pdf(z), pts)

    if product is not None:
        fa, gb = product

        def outer(z1):
            pdf1 = _pdf(z1)
            if pdf1 == 0.0:
                return 0.0
            fv = fa(mu + sa * z1)
            if fv == 0.0:
                return 0.0
            base = mu + a * z1
            pts2 = [0.0] + [(k - base) / b for k in kb]
            inner = _line(
                lambda z2: gb(base + b * z2) * _pdf(z2),
                pts2,
                epsabs=INNER_EPSABS,
                epsrel=INNER_EPSREL,
            )
            return fv * inner * pdf1

    else:

        def outer(z1):
            pdf1 = _pdf(z1)
            if pdf1 == 0.0:
                return 0.0
            ea = mu + sa * z1
            base = mu + a * z1
            pts2 = [0.0] + [(k - base) / b for k in kb]
            inner = _line(
                lambda z2: h(ea, base + b * z2) * _pdf(z2),
                pts2,
                epsabs=INNER_EPSABS,
                epsrel=INNER_EPSREL,
            )
            return inner * pdf1

    pts1 = [0.0] + [(k - mu) / sa for k in ka]
    if a != 0.0:
        pts1 += [(k - mu) / a for k in kb]
        # Near c -> 1 the inner integral smooths a kink of the second factor into a sharp
        # (width b/|a|) feature of the outer integrand at z1 = (k - mu)/a: resolve it with
        # geometrically spaced break points (quad's first Kronrod pass would miss it).
        w = b / abs(a)
        if w < 0.25:
            for k in kinks_b:
                zk = (k - mu) / a
                m = 0.5 * w
                while m < 1.0:
                    pts1 += [zk - m, zk + m]
                    m *= 4.0
    return _line(outer, pts1)


# ----------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------
_DEFAULTS = {
    "feedforward": dict(sigma_w=1.0, sigma_b=0.1, mu_b=0.0),
    "vanilla": dict(sigma_w=1.0, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0, mu_b=0.0),
    "minimalrnn": dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0, Sigma=1.0),
}


def _parse_cell(cell):
    if cell == "minimalrnn":
        return "minimalrnn", None
    for kind in ("feedforward", "vanilla"):
        if cell.startswith(kind + "-"):
            act = cell[len(kind) + 1:]
            if act not in ACTIVATIONS:
                raise ValueError(f"unknown activation {act!r} in cell {cell!r}")
            return kind, act
    raise ValueError(f"unknown cell {cell!r}; known: {CELLS}")


def normalize_params(cell, **params):
    """Return (kind, act, P) with P a tuple (sigma_w, sigma_v, sigma_b, mu, R, Sigma)."""
    kind, act = _parse_cell(cell)
    d = dict(_DEFAULTS[kind])
    if act == "linear":
        d["sigma_w"] = 0.9
    unknown = set(params) - set(d)
    if unknown:
        raise TypeError(f"unexpected params for {cell}: {sorted(unknown)}")
    d.update(params)
    if kind == "feedforward":
        sv, R, Sig = 0.0, 0.0, 1.0
    else:
        sv, R, Sig = float(d["sigma_v"]), float(d["R"]), float(d["Sigma"])
    P = (float(d["sigma_w"]), sv, float(d["sigma_b"]), float(d["mu_b"]), R, Sig)
    return kind, act, P


def _q_of(P, Q):
    sw, sv, sb, mu, R, Sig = P
    return sw * sw * Q + sv * sv * R + sb * sb


def _qab_of(P, C):
    sw, sv, sb, mu, R, Sig = P
    return sw * sw * C + sv * sv * Sig * R + sb * sb


# ----------------------------------------------------------------------------------
# Maps
# ----------------------------------------------------------------------------------
def _F(kind, act, P, Q):
    sw, sv, sb, mu, R, Sig = P
    q = _q_of(P, Q)
    if kind == "minimalrnn":
        def f(e):
            u = _sig(e)
            v = _sigc(e)
            return u * u * Q + v * v * R
        return expect1(f, mu, q)
    A = ACTIVATIONS[act]
    phi = A.f
    return expect1(lambda e: phi(e) ** 2, mu, q, A.kinks)


def _dFdQ(kind, act, P, Q):
    """Stein/Price-derived slope of the Q-map (no finite differences)."""
    sw, sv, sb, mu, R, Sig = P
    q = _q_of(P, Q)
    sw2 = sw * sw
    if kind == "minimalrnn":
        def f(e):
            u = _sig(e)
            v = _sigc(e)
            up = u * v
            upp = up * (v - u)
            return u * u + sw2 * (Q * (up * up + u * upp) + R * (up * up - v * upp))
        return expect1(f, mu, q)
    A = ACTIVATIONS[act]
    phi, dphi, d2phi = A.f, A.df, A.d2f
    if d2phi is not None:
        return sw2 * expect1(lambda e: dphi(e) ** 2 + phi(e) * d2phi(e), mu, q, A.kinks)
    # kinked: d/dq E[psi(mu+sqrt(q) z)] = E[psi'(e) z]/(2 sqrt q), psi = phi^2
    s = math.sqrt(q) if q > 0.0 else 1e-150
    pts = [0.0, -mu / s] + [(k - mu) / s for k in A.kinks]

    def g(z):
        e = mu + s * z
        return phi(e) / s * dphi(e) * z * _pdf(z)

    return sw2 * _line(g, pts)


def _G(kind, act, P, C, Q):
    sw, sv, sb, mu, R, Sig = P
    q = _q_of(P, Q)
    qab = _qab_of(P, C)
    gap = sw * sw * (Q - C) + sv * sv * R * (1.0 - Sig)
    if kind == "minimalrnn":
        SR = Sig * R

        def h(ea, eb):
            return _sig(ea) * _sig(eb) * C + _sigc(ea) * _sigc(eb) * SR

        return expect2(h, mu, q, q, qab, gap=gap)
    A = ACTIVATIONS[act]
    phi = A.f
    return expect2(
        lambda ea, eb: phi(ea) * phi(eb), mu, q, q, qab, A.kinks, A.kinks, gap=gap,
        product=(phi, phi),
    )


def _chi(kind, act, P, Q):
    sw, sv, sb, mu, R, Sig = P
    q = _q_of(P, Q)
    if kind == "minimalrnn":
        def f(e):
            up = _sig(e) * _sigc(e)
            u = _sig(e)
            return u * u + sw * sw * up * up * (Q + R)
        return expect1(f, mu, q)
    A = ACTIVATIONS[act]
    dphi = A.df
    return sw * sw * expect1(lambda e: dphi(e) ** 2, mu, q, A.kinks)


def _dGdC(kind, act, P, C, Q):
    sw, sv, sb, mu, R, Sig = P
    q = _q_of(P, Q)
    qab = _qab_of(P, C)
    gap = sw * sw * (Q - C) + sv * sv * R * (1.0 - Sig)
    if kind == "minimalrnn":
        w = sw * sw * (C + Sig * R)

        def h(ea, eb):
            ua, ub = _sig(ea), _sig(eb)
            va, vb = _sigc(ea), _sigc(eb)
            return ua * ub + w * (ua * va) * (ub * vb)

        return expect2(h, mu, q, q, qab, gap=gap)
    A = ACTIVATIONS[act]
    dphi = A.df
    return sw * sw * expect2(
        lambda ea, eb: dphi(ea) * dphi(eb), mu, q, q, qab, A.kinks, A.kinks, gap=gap,
        product=(dphi, dphi),
    )


# ----------------------------------------------------------------------------------
# Fixed points (cached)
# ----------------------------------------------------------------------------------
def _brent(fun, a, b):
    return optimize.brentq(fun, a, b, xtol=1e-300, rtol=1e-15, maxiter=500)


@functools.lru_cache(maxsize=4096)
def _solve_Q(kind, act, P):
    sw, sv, sb, mu, R, Sig = P

    def hQ(Q):
        return _F(kind, act, P, Q) - Q

    F0 = _F(kind, act, P, 0.0)
    if kind == "minimalrnn":
        sup = R
        bounded = True
    else:
        sup = ACTIVATIONS[act].sup2
        bounded = math.isfinite(sup)
    if F0 == 0.0:
        slope0 = _dFdQ(kind, act, P, 0.0)
        if slope0 <= 1.0:
            return 0.0
        if not bounded:
            raise ValueError(
                f"{kind}-{act}: F(0)=0 with slope {slope0} > 1 and unbounded map: "
                "no finite nonzero fixed point"
            )
    if bounded:
        if sup <= 0.0:
            return 0.0
        grid = np.geomspace(1e-12 * sup, sup, 12 * 20 + 1)
        prev_Q, prev_h = (0.0, F0) if F0 > 0.0 else (None, None)
    else:
        grid = np.geomspace(F0, 1e12 * F0, 12 * 20 + 1)
        prev_Q, prev_h = 0.0, F0
    for Q in grid:
        Q = float(Q)
        hv = hQ(Q)
        if hv == 0.0 and prev_h is not None and prev_h > 0.0:
            return Q
        if prev_h is not None and prev_h > 0.0 and hv < 0.0:
            return _brent(hQ, prev_Q, Q)
        prev_Q, prev_h = Q, hv
    raise ValueError(f"{kind}-{act} params {P}: no stable fixed point of the Q-map found")


@functools.lru_cache(maxsize=4096)
def _solve_C(kind, act, P):
    """Return (C*, trivial) where trivial means C* = Q* by the Sigma==1, chi<=1 rule."""
    sw, sv, sb, mu, R, Sig = P
    Qs = _solve_Q(kind, act, P)
    chi = _chi(kind, act, P, Qs)
    if Sig == 1.0 and chi <= 1.0:
        return Qs, True
    if Qs == 0.0:
        # F(0) = 0 requires q(0) = 0 (vanilla) or R = 0 (minimalrnn): Sigma is irrelevant
        return 0.0, True

    def hC(C):
        return _G(kind, act, P, C, Qs) - C

    h0 = hC(0.0)
    tol = 1e-14 * Qs
    if abs(h0) <= tol:
        return 0.0, False
    if h0 < 0.0:  # only with Sigma < 0: search [-Q*, 0]
        return _brent(hC, -Qs, 0.0), False
    if Sig != 1.0:
        hQ = hC(Qs)
        if hQ >= 0.0:
            raise ValueError(f"no correlation fixed point below Q* (h(Q*)={hQ})")
        return _brent(hC, 0.0, Qs), False
    lo = 0.0
    for eps in (0.5, 0.1) + tuple(10.0 ** -k for k in range(2, 13)):
        C = Qs * (1.0 - eps)
        hv = hC(C)
        if hv < 0.0:
            return _brent(hC, lo, C), False
        if hv == 0.0:
            return C, False
        lo = C
    raise ValueError("chi > 1 but no nontrivial correlation fixed point resolved (C* ~ Q*)")


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------
def variance_map(cell, Q, **params):
    """F(Q): vanilla/feedforward E[phi(e)^2]; minimalrnn E[u^2] Q + E[(1-u)^2] R."""
    kind, act, P = normalize_params(cell, **params)
    return _F(kind, act, P, float(Q))


def variance_map_slope(cell, Q, **params):
    """dF/dQ at Q from Stein/Price-derived integrals (see module docstring)."""
    kind, act, P = normalize_params(cell, **params)
    return _dFdQ(kind, act, P, float(Q))


def covariance_map(cell, C, Q, **params):
    """G(C; Q) with q_a = q_b = q(Q): vanilla E[phi(e_a) phi(e_b)];
    minimalrnn E[u_a u_b] C + E[(1-u_a)(1-u_b)] Sigma R."""
    kind, act, P = normalize_params(cell, **params)
    return _G(kind, act, P, float(C), float(Q))


def covariance_map_slope(cell, C, Q, **params):
    """dG/dC at (C, Q) by Price's theorem (2-D integral)."""
    kind, act, P = normalize_params(cell, **params)
    return _dGdC(kind, act, P, float(C), float(Q))


def fixed_point_Q(cell, **params):
    kind, act, P = normalize_params(cell, **params)
    return _solve_Q(kind, act, P)


def fixed_point_C(cell, **params):
    kind, act, P = normalize_params(cell, **params)
    return _solve_C(kind, act, P)[0]


def _neg_inv_log(x):
    lx = math.log(x)
    if lx == 0.0:
        return math.inf
    return -1.0 / lx


def _quantity(kind, act, P, quantity):
    sw, sv, sb, mu, R, Sig = P
    if quantity == "Q_star":
        return _solve_Q(kind, act, P)
    if quantity == "q_star":
        return _q_of(P, _solve_Q(kind, act, P))
    if quantity == "chi":
        return _chi(kind, act, P, _solve_Q(kind, act, P))
    if quantity == "slope_Q":
        return _dFdQ(kind, act, P, _solve_Q(kind, act, P))
    if quantity == "xi_q":
        return _neg_inv_log(abs(_quantity(kind, act, P, "slope_Q")))
    Qs = _solve_Q(kind, act, P)
    Cs, trivial = _solve_C(kind, act, P)
    if quantity == "c_star":
        if trivial:
            return 1.0
        return _qab_of(P, Cs) / _q_of(P, Qs)
    if quantity == "c_h_star":
        if trivial:
            return 1.0
        return Cs / Qs
    if quantity == "slope_C":
        if trivial:
            return _chi(kind, act, P, Qs)
        return _dGdC(kind, act, P, Cs, Qs)
    if quantity == "xi":
        return _neg_inv_log(_quantity(kind, act, P, "slope_C"))
    raise ValueError(f"unknown quantity {quantity!r}; known: {QUANTITIES}")


_quantity_cached = functools.lru_cache(maxsize=8192)(_quantity)


def reference(cell, quantity, **params):
    """Reference value of ``quantity`` for ``cell`` (see module docstring)."""
    kind, act, P = normalize_params(cell, **params)
    return _quantity_cached(kind, act, P, quantity)


def all_quantities(cell, **params):
    """Dict of every quantity in QUANTITIES."""
    return {k: reference(cell, k, **params) for k in QUANTITIES}


def integration_warning_count():
    """Number of scipy IntegrationWarnings swallowed so far (should stay 0)."""
    return _warn_count[0]
