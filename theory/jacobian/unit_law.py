r"""The per-unit law of the one-step Jacobian's diagonals, as weighted atoms (for :mod:`theory.jacobian.spectrum`).

At the fixed point a unit sees the field :math:`e\sim\mathcal N(\mu_b,q^*)`, and (gated cells) its
stored state :math:`h` and fresh input :math:`z`, independent of :math:`e` at large width.  The
diagonals of :math:`J_t=D_a+D_bW` are :math:`a=\partial_hF(e)` and
:math:`b=\partial_eF=b_0(e)+b_1(e)h+b_2(e)z` (SymPy derivatives of the declaration, lambdified).

Discretisation (deterministic, no sampling):

* :math:`e`: composite Gauss–Legendre in :math:`z_e=(e-\mu_b)/\sqrt{q^*}` on :math:`[-L,L]`, split at
  the kinks of :math:`a`, :math:`b` (ReLU, hard-tanh), weights :math:`\varphi(z_e)\,dz_e`;
* :math:`z\sim\mathcal N(0,R)`: Gauss–Hermite;
* :math:`h` (not Gaussian; gated cells only): its exact even moments :math:`E[h^{2k}]`,
  :math:`k\le K`, from the stationary closure :math:`h'=c_1(e)h+c_2(e)z`:
  :math:`E[h^n]\,E[1-c_1^n]=\sum_{j<n}\binom nj E[c_1^jc_2^{n-j}]E[h^j]E[z^{n-j}]` (``h``, ``z``
  symmetric); then a ``K``-point Gauss rule (Golub–Welsch: Cholesky of the Hankel moment matrix)
  for :math:`y=h-z` when :math:`b=b_1(e)(h-z)` (minimalRNN; a symmetric rule folds to ``K/2``
  values of :math:`y^2`), else for :math:`h` times Gauss–Hermite in :math:`z`.  The rule reproduces
  :math:`E[y^2]=Q^*+R` and :math:`E[y^4]=Q_4+6Q^*R+3R^2`, so the spectrum's :math:`m_1`, :math:`m_2`
  are exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..declare.cell import E, H, Z, Cell
from ..symbolic.gaussian import breakpoints
from ..codegen.render import TINY_Q

HALF_WIDTH = 9.0      #: |z_e| window (mass outside ~ 2e-19)
H_POINTS = 6          #: Gauss points for the stored state's law
Z_POINTS = 10         #: Gauss–Hermite points for the input


@dataclass(frozen=True)
class UnitLaw:
    """Atoms ``(a_k, s_k = b_k^2)`` with probabilities ``w_k`` (sum 1), and ``sigma_w``."""

    a: np.ndarray
    s: np.ndarray
    w: np.ndarray
    sigma_w: float
    z: np.ndarray | None = None  #: standardised field nodes (ordered), when the law is a function of e only

    def moment(self, f) -> float:
        return float(np.sum(self.w * f(self.a, self.s)))


def _numeric(expr):
    from scipy import special
    mods = [{"sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)), "erf": special.erf}, "numpy"]
    return sp.lambdify(E, expr, modules=mods)


def _e_nodes(kinks_z, panels: int):
    """Gauss–Legendre nodes/weights for a standard normal variable on [-L, L], split at kinks."""
    t, wt = np.polynomial.legendre.leggauss(16)
    edges = [-HALF_WIDTH] + sorted(k for k in kinks_z if -HALF_WIDTH < k < HALF_WIDTH) + [HALF_WIDTH]
    xs, ws = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        h = (hi - lo) / panels
        for p in range(panels):
            a = lo + p * h
            xs.append(a + 0.5 * h * (1 + t))
            ws.append(0.5 * h * wt)
    x, w = np.concatenate(xs), np.concatenate(ws)
    return x, w * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def gauss_rule_from_moments(even_moments):
    """Nodes and weights of the symmetric law with moments ``E[x^0], E[x^2], ..., E[x^{2K}]``
    (odd moments 0): a ``K``-point Gauss rule, exact for polynomials of degree ``2K - 1``."""
    K = (len(even_moments) - 1)
    mom = np.zeros(2 * K + 1)
    mom[0::2] = even_moments
    Hk = np.array([[mom[i + j] for j in range(K + 1)] for i in range(K + 1)])
    Rc = np.linalg.cholesky(Hk).T
    alpha = np.array([Rc[j, j + 1] / Rc[j, j] - (Rc[j - 1, j] / Rc[j - 1, j - 1] if j else 0.0) for j in range(K)])
    beta = np.array([Rc[j + 1, j + 1] / Rc[j, j] for j in range(K - 1)])
    Jm = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    nodes, vecs = np.linalg.eigh(Jm)
    return nodes, mom[0] * vecs[0] ** 2


def unit_law(cell: Cell, params: dict, q_star: float, Q_star: float, panels: int = 32) -> UnitLaw:
    """Atoms of the per-unit law of ``(a, b^2)`` at the fixed point (``params``: resolved, scalars;
    ``q_star``, ``Q_star`` from the core kernels; the state rule is scaled so that E[h^2] = Q_star)."""
    f = cell.field
    from ..declare.params import symbol
    subs = {symbol(n): v for n, v in params.items()}
    mu = float(sp.sympify(f.mean).subs(subs))
    sw = float(sp.sympify(f.recurrent).subs(subs))
    F = cell.update
    a_expr, b_expr = sp.diff(F, H), sp.diff(F, E)
    bpoly = sp.Poly(sp.expand(b_expr), H, Z)
    b0, b1, b2 = (bpoly.coeff_monomial(m) for m in (1, H, Z))
    if sp.expand(b_expr - b0 - b1 * H - b2 * Z) != 0 or a_expr.has(H, Z):
        raise NotImplementedError(f"{cell.name}: b must be affine in (h, z) and a a function of e")
    kinks = set()
    for ex in (a_expr, b0, b1, b2):
        try:
            kinks |= {float(k) for k in breakpoints(ex, E)}
        except ValueError:
            pass
    # q* = 0 (ordered, no bias or input): the law of e is the limit q -> 0+ (exact for positively
    # homogeneous activations, whose derivative law does not depend on the scale; continuous otherwise)
    sq = math.sqrt(q_star) if q_star > 0 else math.sqrt(TINY_Q)
    ze, we = _e_nodes([(k - mu) / sq for k in kinks], panels)
    e = mu + sq * ze
    ev = lambda ex: np.broadcast_to(np.asarray(_numeric(ex)(e), dtype=float), e.shape)
    a = ev(a_expr)
    B0, B1, B2 = ev(b0), ev(b1), ev(b2)
    if b1 == 0 and b2 == 0:
        return UnitLaw(a=a, s=B0 ** 2, w=we / we.sum(), sigma_w=sw, z=ze)
    R = float(params.get("R", 0.0))
    hm = _state_moments(cell, e, we, R) if b1 != 0 else [1.0] + [0.0] * (2 * H_POINTS)
    hm = [m * (Q_star / hm[2]) ** (k // 2) if hm[2] > 0 else m for k, m in enumerate(hm)]  # E[h^2] = Q* exactly
    zm = _gauss_moments(R, 2 * H_POINTS)
    if b0 == 0 and sp.simplify(b1 + b2) == 0:
        # b = b1(e) (h - z): only the law of y = h - z enters; its even moments are exact from those of
        # h and z, and a Gauss rule for y (symmetric) collapses to H_POINTS // 2 values of y^2.
        ym = [sum(math.comb(n, j) * hm[j] * zm[n - j] for j in range(0, n + 1, 2)) for n in range(0, 2 * H_POINTS + 1, 2)]
        sc = math.sqrt(ym[1])
        yn, yw = gauss_rule_from_moments([m / sc ** (2 * k) for k, m in enumerate(ym)])
        y2, y2w = _fold(yn * sc, yw)
        ss = (B1[:, None] ** 2) * y2[None, :]
        ww = we[:, None] * y2w[None, :]
        aa = np.broadcast_to(a[:, None], ss.shape)
        return UnitLaw(a=aa.ravel().copy(), s=ss.ravel(), w=ww.ravel() / ww.sum(), sigma_w=sw)
    xh, wh = (_rule(hm) if b1 != 0 else (np.zeros(1), np.ones(1)))
    xz, wz = np.polynomial.hermite_e.hermegauss(Z_POINTS)
    xz, wz = math.sqrt(R) * xz, wz / wz.sum()
    bb = B0[:, None, None] + B1[:, None, None] * xh[None, :, None] + B2[:, None, None] * xz[None, None, :]
    ww = we[:, None, None] * wh[None, :, None] * wz[None, None, :]
    aa = np.broadcast_to(a[:, None, None], bb.shape)
    return UnitLaw(a=aa.ravel().copy(), s=(bb ** 2).ravel(), w=ww.ravel() / ww.sum(), sigma_w=sw)


def _gauss_moments(R, nmax):
    """E[z^n], z ~ N(0, R), n = 0..nmax."""
    return [math.prod(range(n - 1, 0, -2)) * R ** (n // 2) if n % 2 == 0 else 0.0 for n in range(nmax + 1)]


def _fold(nodes, weights):
    """Symmetric rule in y -> distinct values of y^2 with summed weights."""
    y2 = np.round(nodes ** 2, 14)
    vals = np.unique(y2)
    return vals, np.array([weights[y2 == v].sum() for v in vals])


def _rule(hm):
    """Gauss rule of the symmetric law with moments hm[0..2K] (scaled for conditioning)."""
    sc = math.sqrt(hm[2])
    nodes, weights = gauss_rule_from_moments([hm[2 * k] / sc ** (2 * k) for k in range(len(hm) // 2 + 1)])
    return nodes * sc, weights / weights.sum()


def _state_moments(cell, e, we, R):
    """E[h^n], n = 0..2K, of the stationary law of h' = c1(e) h + c2(e) z (symmetric z ~ N(0, R))."""
    poly = sp.Poly(sp.expand(cell.update), H, Z)
    if poly.coeff_monomial(1) != 0:
        raise NotImplementedError(f"{cell.name}: the stored state's law needs F = c1(e) h + c2(e) z")
    c1 = np.broadcast_to(np.asarray(_numeric(poly.coeff_monomial(H))(e), dtype=float), e.shape)
    c2 = np.broadcast_to(np.asarray(_numeric(poly.coeff_monomial(Z))(e), dtype=float), e.shape)
    wn = we / we.sum()
    K = H_POINTS
    zmom = _gauss_moments(R, 2 * K)
    hm = [1.0] + [0.0] * (2 * K)
    with np.errstate(divide="ignore"):
        logc1 = np.log(np.abs(c1))
    for n in range(2, 2 * K + 1, 2):
        rhs = sum(math.comb(n, j) * float(np.sum(wn * c1 ** j * c2 ** (n - j))) * hm[j] * zmom[n - j]
                  for j in range(0, n, 2))
        hm[n] = rhs / float(np.sum(wn * -np.expm1(n * logc1)))
    return hm
