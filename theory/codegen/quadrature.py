r"""Quadrature rules for Gaussian expectations that have no closed form.

**Rule used by the generated kernels: sinh-mapped composite Gauss–Legendre.**
In the standardised variable :math:`z` (:math:`e=\mu+\sqrt q\,z`) the integral over
:math:`[-L,L]` is mapped by :math:`z=z_0+a\sinh t` with :math:`z_0=-\mu/\sqrt q` (where the field
crosses 0, the activation's own scale; when that point lies outside the window the map is
centred on the Gaussian bulk instead, :math:`z_0=0`, :math:`a=1`, which also keeps the t-interval well
conditioned) and :math:`a=\min(1,1/\sqrt q)`, split exactly at the
activation's kinks, and each segment is covered by ``PANELS`` equal panels of ``NODES``-point
Gauss–Legendre.  The map puts nodes at the activation's scale near the transition and at the
Gaussian's scale elsewhere, so the rule stays accurate when ``q`` is large (sharp transitions in
``z``).  The 2-D rule uses the Cholesky factor :math:`e_b=\mu_b+\tfrac{q_{ab}}{\sqrt{q_a}}z_1+\sqrt{q_b-q_{ab}^2/q_a}\,z_2`
and the same rule in :math:`z_1` and, conditionally, in :math:`z_2`.

**Why not plain Gauss–Hermite** (measured here, n = 64/128/256 nodes vs ``scipy.integrate.quad``,
:math:`\mathbb E[\tanh^2]` at μ = 0): q = 1: 3e-9 / 1e-13 / 2e-16; q = 16: 1e-2 / 1e-3 / 4e-5;
q = 100: 6e-2 / 3e-2 / 1e-2.  Gauss–Hermite nodes are too sparse near the transition once
:math:`\sqrt q\gg1`, and kinked integrands converge only algebraically.  The rule above, with the
constants below (160 evaluations per segment), measured over μ ∈ {-2, 0, 3, 8},
q ∈ [1e-4, 1e4] for tanh², σ², σ(-x)², (1 - tanh²)², ReLU², hard-tanh², 1{|x|<1}:
relative error ≤ 1e-12 for values above 1e-30 (tested in ``tests/test_quadrature.py``);
the truncation at :math:`|z|=L` adds at most :math:`\sim e^{-L^2/2}\approx 4\cdot10^{-43}` times
the integrand's size.

**Far zero crossings** (generator 0.6.0).  When the crossing is inside the window but far from the bulk
(:math:`|z_0|>` ``FAR`` :math:`=2`), one map centred on it has a density :math:`\approx|z_0|` at the bulk,
so its panels there are 5-7 wide in :math:`z` and the Gaussian itself was mis-integrated, by up to 4e-8
relative (:math:`\mu=60`, :math:`q=50`; 9e-10 at :math:`\mu=30`, :math:`q=13`).  The kink-free rule
therefore has two segments of ``HALF_PANELS`` panels (the same 160 points): the two halves of the map
when the crossing is near, else the crossing's side of :math:`z=z_0/2` mapped around the crossing and
the bulk's side around 0 at scale 1 (:func:`kink_free_segments`).  Measured over
:math:`|\mu|\le60`, :math:`q\in[10^{-2},400]` with :math:`2<|z_0|<L`: relative error ≤ 4e-13
(``tests/test_quadrature.py``); near crossings the nodes are the old ones to rounding.  A *kinked* rule
still uses one map (ReLU² at :math:`\mu=40`, :math:`q=9`: 9e-12, a strict xfail); no built-in kernel
uses a kinked rule with a far crossing.
"""
from __future__ import annotations

import numpy as np

NODES = 16      #: Gauss–Legendre points per panel
PANELS = 10     #: panels per segment of a kinked rule (segments: kinks + 1)
L = 14.0        #: half-width of the standardised integration window
HALF_PANELS = PANELS // 2  #: panels per segment of the kink-free rule (two segments: the same 160 points)
FAR = 2.0       #: |z0| beyond which the kink-free rule maps the crossing's and the bulk's sides apart


def gauss_hermite_1d(f, mu: float, q: float, n: int = 128) -> float:
    r""":math:`\mathbb E[f(e)]\approx\pi^{-1/2}\sum_iw_if(\mu+\sqrt{2q}x_i)` (Gauss–Hermite, n nodes)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return float(np.sum(w * f(mu + np.sqrt(2 * q) * x)) / np.sqrt(np.pi))


def kink_free_segments(c0: float, a: float, half_width: float = L, far: float = FAR) -> list:
    """The kink-free rule's two segments ``(centre, scale, t_lo, t_hi)`` (module docstring): the halves of
    the map around the zero crossing ``c0``, or, for ``|c0| > far``, the crossing's side of ``z = c0 / 2``
    mapped around the crossing and the bulk's side around 0 at scale 1."""
    L_ = half_width
    if abs(c0) <= far:
        t0, t1 = np.arcsinh((-L_ - c0) / a), np.arcsinh((L_ - c0) / a)
        tm = 0.5 * (t0 + t1)
        return [(c0, a, t0, tm), (c0, a, tm, t1)]
    m = 0.5 * c0
    lo, hi = (-L_, m) if c0 < 0 else (m, L_)
    crossing = (c0, a, np.arcsinh((lo - c0) / a), np.arcsinh((hi - c0) / a))
    lo, hi = (m, L_) if c0 < 0 else (-L_, m)
    return [crossing, (0.0, 1.0, np.arcsinh(lo), np.arcsinh(hi))]


def sinh_gauss_legendre_1d(f, mu: float, q: float, kinks=(), nodes: int = NODES, panels: int = PANELS,
                           half_width: float = L) -> float:
    """Reference (numpy) implementation of the kernels' rule, for tests and documentation."""
    t_gl, w_gl = np.polynomial.legendre.leggauss(nodes)
    sq = np.sqrt(q)
    c0 = -mu / sq
    a = min(1.0, 1.0 / sq)
    if abs(c0) > half_width:  # transition outside the window: centre on the Gaussian bulk
        c0, a = 0.0, 1.0
    if kinks:
        t0, t1 = np.arcsinh((-half_width - c0) / a), np.arcsinh((half_width - c0) / a)
        edges = [t0] + [float(np.clip(np.arcsinh(((k - mu) / sq - c0) / a), t0, t1)) for k in kinks] + [t1]
        segments = [(c0, a, A, B, panels) for A, B in zip(edges[:-1], edges[1:])]
    else:
        segments = [(c, s, A, B, panels // 2) for c, s, A, B in kink_free_segments(c0, a, half_width)]
    total = 0.0
    for c, s, A, B, n in segments:
        h = (B - A) / n
        for p in range(n):
            t = A + p * h + 0.5 * h * (1 + t_gl)
            z = c + s * np.sinh(t)
            total += np.sum(0.5 * h * w_gl * s * np.cosh(t) * np.exp(-0.5 * z * z) * f(mu + sq * z))
    return float(total / np.sqrt(2 * np.pi))


# ---------------------------------------------------------------------------------------------
# Scale-mixture nodes (theory.symbolic.mixture; the reset-after GRU)
# ---------------------------------------------------------------------------------------------
#: The one-sequence node EM1 (2-D: reset field s, then the candidate field x given s) uses the core
#: rule above in both variables (160 x 160 points).  The two-sequence node EM2 is 4-D, and the core
#: rule there (160^4 points) takes ~13 s per evaluation; it uses the same sinh-mapped composite
#: Gauss-Legendre rule with fewer panels: MIX_OUTER_PANELS panels for the outer pair (s, t) (the
#: reset fields, which enter only through the smooth scale rho) and MIX_INNER_PANELS for the inner
#: pair (x, y).  The error against the core rule is measured and tested in
#: tests/test_gated_reset_after.py (``test_reduced_4d_rule_matches_the_core_rule``).
MIX_OUTER_PANELS = 3
MIX_INNER_PANELS = 4
