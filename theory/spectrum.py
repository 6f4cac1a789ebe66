r"""Limiting density of the squared singular values of :math:`J=J_T\cdots J_1` (eigenvalues of
:math:`JJ^\top`), by solving the free-probability equations numerically (03 §3, §6).

**One step** :math:`J_t=D_a+D_bW` (vanilla: :math:`a=0`).  Hermitise,
:math:`\mathcal H=\begin{pmatrix}0&J_t\\J_t^\top&0\end{pmatrix}
=\begin{pmatrix}0&D_a\\D_a&0\end{pmatrix}+\Lambda U\Lambda`, :math:`U=\begin{pmatrix}0&O\\O^\top&0\end{pmatrix}`,
:math:`\Lambda=\sigma_w^{1/2}\mathrm{diag}(D_b,I)`, with :math:`O=W/\sigma_w` free from the
diagonal algebra :math:`\mathcal D`.  Over :math:`M_2(\mathcal D)` the R-transform of ``U`` is
:math:`R_U(\mathrm{diag}(b_1,b_2))=\mathrm{diag}(\tau(b_2)f,\ \tau(b_1)f)` with
:math:`f=f(\tau(b_1)\tau(b_2))=\sum_n\alpha_nx^{n-1}`, the R-diagonal determining series of ``O``:
:math:`f\equiv1` (Gaussian), :math:`xf^2+f-1=0` (Haar orthogonal,
:math:`\alpha_n=(-1)^{n-1}C_{n-1}`).  Subordination at :math:`\zeta^2=w` then gives per unit
(:math:`s=b^2`; unknowns :math:`y_1,y_2`)

.. math::
   \Delta=w(1-\sigma_wfy_2s)(1-\sigma_wfy_1)-a^2,\quad
   y_1=\sigma_wE\Big[\frac{s(1-\sigma_wfy_1)}{\Delta}\Big],\quad
   y_2=\sigma_wE\Big[\frac{1-\sigma_wfy_2s}{\Delta}\Big],\quad f=f(wy_1y_2),

and the one-step transform :math:`G_1(w)=\tau((w-J_tJ_t^\top)^{-1})=E[(1-\sigma_wfy_1)/\Delta]`,
:math:`M_1=wG_1-1`.  (Vanilla, Gaussian, :math:`b\equiv1`: Marchenko–Pastur; checked in the tests.)

**T steps**, free (exact for vanilla/feed-forward, 03 §3; the free-steps approximation for gated
cells, see :mod:`theory.isometry_recursion`): :math:`S_T=S_1^T` and
:math:`M^{-1}(m)=(1+m)/(mS(m))` give, with :math:`m=M_T(\lambda)` and the subordination variable
:math:`w=M_1^{-1}(m)`,

.. math:: w^Tm^{T-1}=\lambda(1+m)^{T-1},\qquad M_1(w)=m .

**Method.**  Newton (analytic complex Jacobian) on :math:`(m,w,y_1,y_2[,f])` at
:math:`z=\lambda+i\varepsilon`: continued downward from above the spectrum's upper edge (where
:math:`m\approx m_1/\lambda`) at a lifted height :math:`0.05\lambda`, where the solution is smooth,
then for each grid point down to :math:`\varepsilon` in 16 geometric steps (edge singularities are
then met at their own scale); failed steps are split through midpoints lifted into the upper half
plane.  Density
:math:`\rho(\lambda)=-\mathrm{Im}\,G(z)/\pi`, :math:`G=(1+m)/z`, minus the atom at 0
(weight :math:`P(a=b=0)`: dead ReLU / saturated hard-tanh units, kept separate).  The per-unit law
is a set of weighted atoms (:mod:`theory.unit_law`), so the result is the spectrum smoothed by a
Lorentzian of half-width :math:`\varepsilon` (``eps_rel`` times the local scale); it converges as
:math:`\varepsilon\to0` with enough atoms.  :math:`T=1` with orthogonal :math:`W` is the pure
push-forward :math:`\sigma_w^2D^2` (nothing to smooth it) and needs a larger ``eps_rel``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .unit_law import UnitLaw, unit_law


@dataclass(frozen=True)
class Spectrum:
    """Predicted law of the eigenvalues of :math:`JJ^\\top`: continuous density on ``lam`` plus an
    atom at 0.  ``m1``, ``variance`` are the moment predictions it must reproduce."""

    cell: str
    T: int
    weights: str
    params: dict
    lam: np.ndarray
    density: np.ndarray
    atom: float
    eps: np.ndarray
    converged: np.ndarray
    m1: float
    variance: float
    notes: tuple = field(default_factory=tuple)
    point_masses: tuple = ()  #: ((location, weight), ...) away from 0 (T = 1, orthogonal, kinked phi)
    cont_cdf: np.ndarray | None = None  #: exact CDF of the continuous part on ``lam`` (push-forward case)
    tail: float | None = None  #: exact continuous mass below ``lam[0]`` when known (else power-law tail)
    quad: np.ndarray | None = None  #: quadrature weights on ``lam`` (Simpson in the grid's parameter), when set

    @property
    def left_tail(self) -> float:
        r"""Mass below the first tabulated point, from the power law :math:`\rho\propto\lambda^{-\beta}`
        through the two lowest points (integrable edge singularities at 0, e.g. Fuss–Catalan)."""
        if self.tail is not None:
            return float(self.tail)
        x, p = self.lam[:2], self.density[:2]
        if not (np.all(p > 0) and x[0] > 0):
            return 0.0
        beta = -math.log(p[1] / p[0]) / math.log(x[1] / x[0])
        return float(x[0] * p[0] / (1 - beta)) if beta < 1 else 0.0

    def grid_moments(self) -> dict:
        """Mass (atom and left tail included), mean and variance of the tabulated law (trapezoid;
        Riemann–Stieltjes on the exact CDF where one is tabulated)."""
        x, p = self.lam, self.density
        pm = self.point_masses
        if self.cont_cdf is not None:
            dF, mid = np.diff(self.cont_cdf), 0.5 * (x[1:] + x[:-1])
            m1 = float(np.sum(mid * dF)) + sum(l * w for l, w in pm)
            m2 = float(np.sum(mid * mid * dF)) + sum(l * l * w for l, w in pm)
            mass = float(self.cont_cdf[-1] - self.cont_cdf[0]) + self.atom + sum(w for _, w in pm)
            return {"mass": mass, "m1": m1, "variance": m2 - m1 * m1}
        if self.quad is not None:
            ints = [float(np.sum(self.quad * x ** k * p)) for k in range(3)]
        elif x[0] > 0:
            # trapezoid in u = ln(lambda) of lambda^(k+1) rho: smooth for the power-law edge at 0
            # (Fuss–Catalan rho ~ lambda^(-T/(T+1))), where the trapezoid in lambda is off by ~2 %
            u = np.log(x)
            ints = [float(np.trapezoid(x ** (k + 1) * p, u)) for k in range(3)]
        else:
            ints = [float(np.trapezoid(x ** k * p, x)) for k in range(3)]
        mass = ints[0] + self.atom + self.left_tail + sum(w for _, w in pm)
        m1 = ints[1] + sum(l * w for l, w in pm)
        m2 = ints[2] + sum(l * l * w for l, w in pm)
        return {"mass": mass, "m1": m1, "variance": m2 - m1 * m1}

    def cdf(self, x) -> np.ndarray:
        """CDF at ``x``: atom at 0, left tail, cumulative trapezoid; normalised to total mass 1."""
        pm = self.point_masses
        cont = 1.0 - self.atom - sum(w for _, w in pm)
        out = self.atom + sum(w * (np.asarray(x) >= l) for l, w in pm)
        if cont <= 1e-14 or self.lam.size < 2:
            return out + 0.0 * np.asarray(x, dtype=float)
        if self.cont_cdf is not None:
            c = self.cont_cdf
        else:
            x_, p_ = self.lam, self.density
            if x_[0] > 0:  # trapezoid in ln(lambda) of lambda rho (power-law edge at 0), as grid_moments
                g = x_ * p_
                c = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(np.log(x_)))])
            else:
                c = np.concatenate([[0.0], np.cumsum(0.5 * (p_[1:] + p_[:-1]) * np.diff(x_))])
            c = c + self.left_tail
        c = c / c[-1] * cont
        return out + np.interp(x, self.lam, c, left=0.0, right=cont)


def _f_series_value(x):
    """Principal solution of x f^2 + f - 1 = 0 near f = 1 (x small)."""
    r = np.sqrt(1 + 4 * x)
    return np.where(np.abs(x) > 1e-8, (r - 1) / (2 * x + (np.abs(x) <= 1e-8)), 1 - x)


class _System:
    """Residuals of the one-step subordination + T-step composition, at z = lam + i eps."""

    def __init__(self, law: UnitLaw, T: int, orthogonal: bool):
        self.a2 = law.a ** 2
        self.s = law.s
        self.w = law.w
        self.sg = law.sigma_w
        self.T = T
        self.orth = orthogonal
        self.n = 5 if orthogonal else 4

    def residual(self, u, z, jacobian=False):
        """Residuals (and, with ``jacobian=True``, their analytic complex Jacobian)."""
        m, w, y1, y2 = u[0], u[1], u[2], u[3]
        f = u[4] if self.orth else 1.0
        sg, s, T = self.sg, self.s, self.T
        A = 1 - sg * f * y1
        Bk = 1 - sg * f * y2 * s
        D = w * Bk * A - self.a2
        inv = self.w / D
        S0, S1, SB = np.sum(inv), np.sum(inv * s), np.sum(inv * Bk)
        P = w ** T * m ** (T - 1) / (z * (1 + m) ** (T - 1)) if T > 1 else w / z
        r = [P - 1, y1 - sg * A * S1, y2 - sg * SB, m - (w * A * S0 - 1)]
        if self.orth:
            r.append(w * y1 * y2 * f * f + f - 1)
        r = np.array(r)
        if not jacobian:
            return r
        n = self.n
        J = np.zeros((n, n), complex)
        # derivatives of D_k and of A, B_k with respect to (w, y1, y2, f)
        dA = {2: -sg * f, 4: -sg * y1}
        dB = {3: -sg * f * s, 4: -sg * y2 * s}
        dD = {1: Bk * A, 2: w * Bk * dA[2], 3: w * A * dB[3], 4: w * (dB[4] * A + Bk * dA[4])}
        J[0, 0] = P * (T - 1) * (1 / m - 1 / (1 + m)) if T > 1 else 0.0
        J[0, 1] = T * P / w
        J[3, 0] = 1.0
        J[1, 2] = 1.0
        J[2, 3] = 1.0
        for j in range(1, n):
            dinv = -inv / D * dD[j]
            J[1, j] += -sg * (dA.get(j, 0.0) * S1 + A * np.sum(dinv * s))
            J[2, j] += -sg * (np.sum(dinv * Bk) + (np.sum(inv * dB[j]) if j in dB else 0.0))
            J[3, j] += -(w * dA.get(j, 0.0) * S0 + w * A * np.sum(dinv)) - (A * S0 if j == 1 else 0.0)
        if self.orth:
            J[4, 1], J[4, 2], J[4, 3] = y1 * y2 * f * f, w * y2 * f * f, w * y1 * f * f
            J[4, 4] = 2 * w * y1 * y2 * f + 1
        return r, J

    def newton(self, u, z, maxit=40):
        """Damped Newton; converged when the residual is at rounding level relative to the unknowns."""
        r, J = self.residual(u, z, jacobian=True)
        scale = 1 + np.linalg.norm(u)
        for _ in range(maxit):
            try:
                step = np.linalg.solve(J, -r)
            except np.linalg.LinAlgError:
                return u, False
            t, nr = 1.0, np.linalg.norm(r)
            for _ in range(30):
                un = u + t * step
                rn, Jn = self.residual(un, z, jacobian=True)
                if np.all(np.isfinite(rn)) and np.linalg.norm(rn) < nr * (1 - 1e-4 * t) + 1e-300:
                    break
                t *= 0.5
            else:
                return u, nr < 1e-9 * scale
            u, r, J = un, rn, Jn
            scale = 1 + np.linalg.norm(u)
            if np.linalg.norm(r) < 1e-13 * scale or np.linalg.norm(t * step) < 1e-15 * scale:
                return u, np.linalg.norm(r) < 1e-9 * scale
        return u, np.linalg.norm(r) < 1e-9 * scale

    def start(self, z, m1):
        """Solution at z far above the spectrum: m ~ m1/z, then fixed-point passes for y1, y2, f."""
        T = self.T
        m = m1 / z
        w = (z * (1 + m) ** (T - 1) / m ** (T - 1)) ** (1.0 / T) if T > 1 else z
        y1 = self.sg * np.sum(self.w * self.s) / w
        y2 = self.sg / w
        f = 1.0
        for _ in range(200):
            if self.orth:
                f = complex(_f_series_value(w * y1 * y2))
            A = 1 - self.sg * f * y1
            Bk = 1 - self.sg * f * y2 * self.s
            inv = self.w / (w * Bk * A - self.a2)
            y1 = self.sg * A * np.sum(inv * self.s)
            y2 = self.sg * np.sum(inv * Bk)
        u = [m, w, y1, y2] + ([f] if self.orth else [])
        return np.array(u, complex)


def solve_density(law: UnitLaw, T: int, weights: str, lam: np.ndarray, eps: np.ndarray, m1: float,
                  lift: float = 0.05, descent: int = 16):
    """G(lam + i eps) on the grid.  Two passes: (1) continue downward from above the spectrum at the
    height ``lift * scale`` (scale: ``lam``, at least ``1e-3 m1``), where the solution is smooth;
    (2) from there descend vertically to ``eps`` in ``descent`` geometric steps per point, so edge
    singularities (square-root / inverse square-root) are approached at their own scale.
    Returns (G values, converged flags)."""
    system = _System(law, T, weights == "orthogonal")
    order = np.argsort(lam)[::-1]
    G = np.full(lam.shape, np.nan, complex)
    ok = np.zeros(lam.shape, bool)
    high = lift * np.maximum(lam, 1e-3 * m1)
    z0 = lam[order[0]] + 1j * high[order[0]]
    u, conv = system.newton(system.start(z0, m1), z0)
    prev_z = z0
    for idx in order:
        zh = lam[idx] + 1j * high[idx]
        u, conv = _continue(system, u, prev_z, zh)
        if not conv:
            break
        prev_z = zh
        v, good = u, True
        heights = high[idx] * (eps[idx] / high[idx]) ** (np.arange(1, descent + 1) / descent)
        zp = zh
        for h in heights:
            v, good = _continue(system, v, zp, lam[idx] + 1j * h, depth=4)
            if not good:
                break
            zp = lam[idx] + 1j * h
        if good:
            G[idx] = (1 + v[0]) / zp
            ok[idx] = True
    return G, ok


def _continue(system, u, z_from, z_to, depth=0):
    """Newton at ``z_to`` from the solution at ``z_from``; on failure go through a midpoint lifted
    into the upper half plane (around singular points), up to 8 levels deep."""
    un, conv = system.newton(u, z_to)
    if conv or depth >= 8:
        return (un, conv) if conv else (u, False)
    mid = 0.5 * (z_from + z_to) + 0.5j * abs(z_to - z_from)
    um, cm = _continue(system, u, z_from, mid, depth + 1)
    if not cm:
        return u, False
    return _continue(system, um, mid, z_to, depth + 1)


def _pushforward(c, pf, law, m1, var, lam):
    r"""T = 1, orthogonal W, vanilla: :math:`JJ^\top=\sigma_w^2D_b^2` exactly, the push-forward of the
    Gaussian field through :math:`\lambda(z)=\sigma_w^2b(e)^2`: :math:`\rho(\lambda)=\sum_{z^*}
    \varphi(z^*)/|\lambda'(z^*)|` over the crossings between consecutive nodes (linear interpolation),
    plus point masses where :math:`b` is constant on an interval (ReLU, hard-tanh)."""
    lz = law.sigma_w ** 2 * law.s
    z = law.z
    same = np.diff(lz) == 0
    run = np.zeros(lz.shape, bool)  # constant pieces: runs of >= 3 equal nodes (not symmetric pairs)
    run[1:-1] = same[:-1] & same[1:]
    flat = run.copy()
    flat[:-1] |= run[1:] & same
    flat[1:] |= run[:-1] & same
    masses: dict = {}
    for k in np.nonzero(flat)[0]:
        masses[float(lz[k])] = masses.get(float(lz[k]), 0.0) + float(law.w[k])
    from scipy.special import ndtr
    dens, F = np.zeros(lam.shape), np.zeros(lam.shape)
    seg = np.nonzero(~(flat[:-1] & flat[1:]))[0]  # neither constant pieces nor jumps between them
    l0, l1, z0, z1 = lz[seg], lz[seg + 1], z[seg], z[seg + 1]
    eq = l1 == l0
    for i, L in enumerate(lam):
        hit = (np.minimum(l0, l1) <= L) & (L < np.maximum(l0, l1)) & ~eq
        t = (L - l0[hit]) / (l1[hit] - l0[hit])
        zs = z0[hit] + t * (z1[hit] - z0[hit])
        slope = np.abs((l1[hit] - l0[hit]) / (z1[hit] - z0[hit]))
        dens[i] = np.sum(np.exp(-0.5 * zs * zs) / math.sqrt(2 * math.pi) / slope)
        # exact CDF: Gaussian mass of the part of each segment where lambda(z) <= L (linear in z)
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = np.where(eq, np.where(l0 <= L, z1, z0), z0 + (L - l0) / (l1 - l0) * (z1 - z0))
        zc = np.clip(zc, z0, z1)
        lo = np.where(eq | (l1 > l0), z0, zc)
        hi = np.where(eq | (l1 > l0), zc, z1)
        F[i] = np.sum(ndtr(hi) - ndtr(lo))
    atom = masses.pop(0.0, 0.0)
    notes = ("T = 1, orthogonal W: exact push-forward sigma_w^2 b(e)^2 of the Gaussian field",)
    return Spectrum(cell=c.name, T=1, weights="orthogonal", params=pf, lam=lam, density=dens, atom=atom,
                    eps=np.zeros(lam.shape), converged=np.ones(lam.shape, bool), m1=m1, variance=var, notes=notes,
                    point_masses=tuple(sorted(masses.items())), cont_cdf=F if seg.size else None)



# ----------------------------------------------------------------------------------------------
# vanilla / feed-forward (a = 0): one complex unknown per lambda, on the real axis
# ----------------------------------------------------------------------------------------------

class _Vanilla:
    r"""Vanilla / feed-forward cells (:math:`a=0`): :math:`J_tJ_t^\top=D_bWW^\top D_b`, so
    :math:`S_1=S_V\,S_{WW^\top/\sigma_w^2}` with :math:`V=\sigma_w^2D_b^2` (law: atoms
    :math:`v_k=\sigma_w^2s_k`) and :math:`S_T=S_1^T`.  With :math:`\psi_V(t)=E[vt/(1-vt)]=m`,
    :math:`S_V(m)=(1+m)t/m`; Gaussian :math:`S_{WW^\top/\sigma_w^2}=1/(1+m)`, orthogonal 1, so

    .. math:: z(t)=(1+m)^{\alpha}\,m^{T-1}\,t^{-T},\qquad m=\psi_V(t),\quad
              \alpha=1\ \text{(Gaussian)},\ 1-T\ \text{(orthogonal)},

    explicit in the single unknown :math:`t`.  :math:`M_T(\lambda+i0)=m` is found by Newton in
    :math:`u=\ln t` on :math:`\ln z(t)=\ln\lambda` (mod :math:`2\pi i`) directly on the real axis
    (no Lorentzian smoothing).  The upper edge is the minimum of :math:`z` on the real segment
    :math:`0<t<1/v_{\max}` (where :math:`z\to\infty` at both ends); below it the root leaves the
    axis as :math:`t_c-i\sqrt{2\ln(\lambda_+/\lambda)/L''}` (sign: :math:`\mathrm{Im}\,m<0`, i.e.
    :math:`\rho>0`), and is continued downward on the grid."""

    def __init__(self, law: UnitLaw, T: int, orthogonal: bool):
        v = law.sigma_w ** 2 * law.s
        keep = law.w > 0
        self.v, self.w = v[keep], law.w[keep]
        self.T = T
        self.alpha = 1 - T if orthogonal else 1
        self.vmax = float(self.v.max())

    def eval(self, u):
        """(log z(t), d log z / du, m, 1 + m) at t = exp(u)."""
        t = np.exp(u)
        q = 1.0 / (1.0 - self.v * t)
        onepm = np.sum(self.w * q)           # 1 + m without cancellation near m = -1
        m = np.sum(self.w * self.v * t * q)
        dm = np.sum(self.w * self.v * q * q) * t  # dm/du
        T, al = self.T, self.alpha
        logz = al * np.log(onepm) + (T - 1) * np.log(m) - T * u
        dlog = dm * (al / onepm + (T - 1) / m) - T
        return logz, dlog, m, onepm

    def newton(self, u, logl, maxit=60):
        """Newton on ln z(e^u) = logl (mod 2 pi i), damped; returns (u, m, 1+m, converged)."""
        def res(u):
            lz, d, m, op = self.eval(u)
            r = lz - logl
            r = r.real + 1j * ((r.imag + np.pi) % (2 * np.pi) - np.pi)
            return r, d, m, op
        r, d, m, op = res(u)
        for _ in range(maxit):
            if not (np.isfinite(r) and np.isfinite(d)) or d == 0:
                return u, m, op, False
            step = -r / d
            if abs(step) > 0.5:
                step *= 0.5 / abs(step)
            nr = abs(r)
            tau = 1.0
            for _ in range(40):
                un = u + tau * step
                rn, dn, mn, opn = res(un)
                if np.isfinite(rn) and abs(rn) < nr * (1 - 1e-4 * tau) + 1e-300:
                    break
                tau *= 0.5
            else:
                return u, m, op, nr < 1e-11
            u, r, d, m, op = un, rn, dn, mn, opn
            if abs(r) < 1e-14 or abs(tau * step) < 1e-15 * (1 + abs(u)):
                break
        return u, m, op, abs(r) < 1e-11

    def upper_edge(self):
        """(lambda_+, u_c, L''(u_c)) with L = ln z(e^u) on 0 < t < 1/v_max."""
        from scipy.optimize import brentq
        top = -math.log(self.vmax)
        D = lambda u: float(self.eval(u)[1].real)
        # derivative -> -1 as t -> 0; +inf at the pole: scan towards the pole
        us = np.concatenate([top + np.log(np.geomspace(1e-12, 0.5, 60)), top + np.log1p(-np.geomspace(0.5, 1e-15, 120))])
        vals = np.array([D(x) for x in us])
        pos = np.nonzero(vals > 0)[0]
        if pos.size == 0 or pos[0] == 0:
            raise FloatingPointError("upper edge not bracketed")
        i = pos[0]
        uc = brentq(D, us[i - 1], us[i], xtol=1e-15, rtol=1e-15, maxiter=200)
        lam_c = float(np.exp(self.eval(uc)[0].real))
        h = 1e-5 * max(1.0, abs(uc))
        L2 = (D(uc + h) - D(uc - h)) / (2 * h)
        return lam_c, uc, L2

    def mass_below(self, lam0, u0, nodes=64):
        r"""Mass of the law in :math:`[0,\lambda_0]` (atom included), exactly: closing the segment
        :math:`[-\lambda_0,\lambda_0]+i0` with the half circle :math:`z=\lambda_0e^{i\theta}`
        (:math:`G` analytic in between), :math:`F(\lambda_0)=\frac1\pi\int_0^\pi
        \mathrm{Re}\,(1+m(\lambda_0e^{i\theta}))\,d\theta`; :math:`m` continued along the arc from
        the real-axis solution ``u0`` at :math:`\lambda_0`, Gauss–Legendre in :math:`\theta` (the
        integrand is analytic on the closed arc: the singularity at 0 is :math:`\lambda_0` away).
        Returns None when the continuation fails."""
        x, wq = np.polynomial.legendre.leggauss(nodes)
        th = 0.5 * math.pi * (1 + x)
        vals = np.zeros(nodes)
        u, prev = u0, 0.0
        l0 = math.log(lam0)

        def go(u, a, b, depth=0):
            un, m, op, conv = self.newton(u, l0 + 1j * b)
            if conv and abs(un - u) < 0.5:
                return un, op
            if depth >= 10:
                return None
            mid = go(u, a, 0.5 * (a + b), depth + 1)
            return None if mid is None else go(mid[0], 0.5 * (a + b), b, depth + 1)

        for i, t in enumerate(th):
            got = go(u, prev, t)
            if got is None:
                return None
            u, op = got
            vals[i], prev = op.real, t
        return float(0.5 * np.sum(wq * vals))

    def solve(self, lam, lam_c, uc, L2, max_depth=12):
        """m = M_T(lam + i0) on ``lam`` (descending continuation from the edge).  Returns
        (density, G, converged)."""
        order = np.argsort(lam)[::-1]
        self.last_u = np.full(lam.shape, np.nan, complex)
        dens = np.zeros(lam.shape)
        G = np.full(lam.shape, np.nan, complex)
        ok = np.zeros(lam.shape, bool)
        hist = []  # (lam, u) of accepted points, for the predictor

        def edge_guess(L):
            return uc - 1j * math.sqrt(2 * max(math.log(lam_c / L), 0.0) / L2)

        def predict(L):
            if len(hist) < 2 or hist[-1][0] >= lam_c * (1 - 1e-12):
                return edge_guess(L)
            (l1, u1), (l0, u0) = hist[-2], hist[-1]
            # linear in sqrt(lam_c - lam) near the edge, in ln(lam) elsewhere
            if lam_c - L < 0.1 * lam_c:
                x1, x0, x = math.sqrt(lam_c - l1), math.sqrt(lam_c - l0), math.sqrt(lam_c - L)
            else:
                x1, x0, x = math.log(l1), math.log(l0), math.log(L)
            return u0 + (u0 - u1) * (x - x0) / (x0 - x1) if x0 != x1 else u0

        def attempt(L):
            u, m, op, conv = self.newton(predict(L), math.log(L))
            if conv and m.imag < 0 and op.imag < 0:
                if hist and abs(u - hist[-1][1]) > 1.0 + 2 * abs(math.log(L / hist[-1][0])):
                    return None  # jumped to another root
                return u, m, op
            return None

        def reach(L, depth):
            got = attempt(L)
            if got is not None or depth >= max_depth or not hist:
                return got
            mid = math.sqrt(L * hist[-1][0]) if lam_c - L > 0.1 * lam_c else lam_c - (
                0.5 * (math.sqrt(lam_c - L) + math.sqrt(lam_c - hist[-1][0]))) ** 2
            sub = reach(mid, depth + 1)
            if sub is None:
                return None
            hist.append((mid, sub[0]))
            return reach(L, depth + 1)

        for idx in order:
            L = float(lam[idx])
            if L >= lam_c:
                ok[idx] = True  # at / above the edge: density 0 (real root)
                continue
            got = reach(L, 0)
            if got is None:
                continue
            u, m, op = got
            hist.append((L, u))
            self.last_u[idx] = u
            G[idx] = op / L
            dens[idx] = max(-op.imag / (math.pi * L), 0.0)
            ok[idx] = True
        return dens, G, ok


def _simpson_weights(k):
    """Composite Simpson weights on k + 1 equispaced nodes (k even), unit spacing."""
    q = np.full(k + 1, 2.0 / 3.0)
    q[1::2] = 4.0 / 3.0
    q[0] = q[-1] = 1.0 / 3.0
    return q


def _vanilla_grid(lam_c, m1, var, T, n):
    r"""Grid for :func:`_vanilla_spectrum` and its quadrature weights.

    The grid is :math:`\lambda(\theta_i)`, :math:`\theta_i=i` uniform, for a map that makes
    :math:`\rho(\lambda(\theta))\lambda'(\theta)` smooth, so composite Simpson in :math:`\theta`
    (weights ``q_i = simpson_i * lambda'(theta_i)``) has an :math:`O(h^4)` error:

    * upper piece :math:`\lambda=\lambda_+-c(1-x)^2`: the square-root edge
      :math:`\rho\sim\sqrt{\lambda_+-\lambda}` becomes :math:`\rho\lambda'\sim(1-x)^2`;
    * broad spectra (``sd/m1 >= 0.3``), lower piece geometric, :math:`\lambda=e^{u}` from
      :math:`\lambda_0=10^{-8}\lambda_+` to :math:`\lambda_b`: the integrand :math:`\lambda^{k+1}\rho`
      is smooth in :math:`u` (near 0 a slowly varying power :math:`\lambda^{1-\beta}`); the mass
      below :math:`\lambda_0` is exact, :meth:`_Vanilla.mass_below` (a contour integral);
      :math:`\lambda_b` is chosen so that :math:`\lambda'(\theta)` is continuous at the junction (a
      panel boundary), hence the Simpson sum is one smooth composite rule per piece;
    * narrow spectra: the upper piece only, from :math:`m_1-12\,\mathrm{sd}`.

    Returns (lam, q)."""
    sd = math.sqrt(max(var, 0.0))
    n = max(int(n), 16)
    if sd / m1 < 0.3:
        k = 4 * (n // 4)
        lo = max(m1 - 12 * sd, 1e-6 * m1)
        x = np.arange(k + 1) / k
        lam = lam_c - (lam_c - lo) * (1 - x) ** 2
        jac = 2 * (lam_c - lo) * (1 - x) / k
        return lam, _simpson_weights(k) * jac
    k1 = 4 * max(int(0.4 * n) // 4, 2)
    k2 = 4 * max((n - k1) // 4, 2)
    lam0 = 1e-8 * lam_c
    lb = 0.25 * lam_c
    for _ in range(60):  # lambda' continuous at the junction: lb * h_u = 2 (lam_c - lb) / k2
        hu = math.log(lb / lam0) / k1
        lb = lam_c * (2 / k2) / (hu + 2 / k2)
    hu = math.log(lb / lam0) / k1
    lam1 = lb * np.exp(-hu * np.arange(k1, -1, -1))
    jac1 = lam1 * hu
    x = np.arange(k2 + 1) / k2
    lam2 = lam_c - (lam_c - lb) * (1 - x) ** 2
    jac2 = 2 * (lam_c - lb) * (1 - x) / k2
    q1, q2 = _simpson_weights(k1) * jac1, _simpson_weights(k2) * jac2
    q = np.concatenate([q1[:-1], [q1[-1] + q2[0]], q2[1:]])
    return np.concatenate([lam1[:-1], lam2]), q


class _FastPathUnfit(Exception):
    """The single-unknown solve does not apply as set up (see :func:`_vanilla_spectrum`)."""


def _vanilla_spectrum(c, pf, law, T, weights, m1, var, atom, n):
    """Density for a = 0 (see :class:`_Vanilla`) on :func:`_vanilla_grid`.  Raises
    :class:`_FastPathUnfit` (the caller falls back to the general solver) when no upper edge is
    bracketed.  Known limits (noted in ``notes``; still more accurate than the general path, which is
    off by 26 % / 100 % in m1 there): an edge at the pole 1/v_max (atom of v at the top: ReLU /
    hard-tanh with orthogonal W, inverse-square-root edge, the grid's quadrature is then ~1e-3),
    and grid points in a spectral gap (Gaussian W, atom of D at 0, T = 1) are dropped (trapezoid)."""
    sys_ = _Vanilla(law, T, weights == "orthogonal")
    try:
        lam_c, uc, L2 = sys_.upper_edge()
    except FloatingPointError as exc:
        raise _FastPathUnfit(str(exc)) from exc
    at_pole = 1 - sys_.vmax * math.exp(uc) < 1e-6
    lam, q = _vanilla_grid(lam_c, m1, var, T, n)
    dens, G, ok = sys_.solve(lam, lam_c, uc, L2)
    tail = None
    if ok[0] and lam[0] < lam_c:
        below = sys_.mass_below(float(lam[0]), sys_.last_u[0])
        tail = None if below is None else max(below - atom, 0.0)
    dropped = int((~ok).sum())
    if dropped:  # e.g. a gap (density 0, real root): Simpson needs every node, trapezoid on the rest
        q = None
    lam, dens = lam[ok], dens[ok]
    notes = ("free steps: T-step law composed from the one-step law (exact for untied vanilla/feed-forward)",
             *(("upper edge at the pole 1/v_max (atom of sigma_w^2 b^2 at its top): quadrature ~1e-3",) if at_pole else ()),
             f"a = 0: single-unknown S-transform solve on the real axis (no smoothing); upper edge {lam_c:.10g}; "
             f"{dropped} grid points not converged (dropped); lowest point {lam[0]:.3g}, mass below it "
             + ("exact (contour integral)" if tail is not None else "from a power-law tail")
             + ("; moments by composite Simpson in the grid parameter" if q is not None else "; trapezoid moments"))
    return Spectrum(cell=c.name, T=T, weights=weights, params=pf, lam=lam, density=dens, atom=atom,
                    eps=np.zeros(lam.size), converged=np.ones(lam.size, bool), m1=m1, variance=var, notes=notes,
                    quad=q, tail=tail)

def spectrum(cell, T: int = 1, weights: str = "orthogonal", n: int = 800, eps_rel: float | None = None,
             panels: int = 64, slow: bool = False, **params) -> Spectrum:
    """Predicted eigenvalue density of :math:`JJ^\\top` over ``T`` steps at the fixed point.

    Grid: linear around the bulk when the predicted relative spread is small (``sd/m1 < 0.3``),
    else logarithmic from ``1e-14 m1`` merged with a linear grid to above the upper edge.
    ``eps_rel``: Lorentzian half-width relative to the grid's scale (range, or ``lam``); default 1e-6,
    3e-3 for ``T = 1`` with orthogonal weights.  See the module docstring for the method."""
    import theory
    from .isometry import weights_variance
    c = theory.cell(cell)
    weights_variance(weights)
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    T = int(T)
    p = theory.api.resolve_params(c, params)
    pf = {k: float(v) for k, v in p.items()}
    q_star = theory.predict(c.name, "q_star", **pf)
    Q_star = theory.predict(c.name, "Q_star", **pf)
    law = unit_law(c, pf, q_star, Q_star, panels=panels)
    m1 = float(theory.predict(c.name, "isometry_mean", T=T, weights=weights, **pf))
    var = float(theory.predict(c.name, "isometry_variance_free", T=T, weights=weights, **pf))
    atom = float(np.sum(law.w[(law.a == 0) & (law.s == 0)]))
    sd = math.sqrt(max(var, 0.0))
    top = max(m1 * math.e * (T + 1) * (1 + var / m1 ** 2), m1 + 12 * sd) * 1.5
    if eps_rel is None:
        eps_rel = 1e-6
    if sd / m1 < 0.3:
        lo, hi = max(m1 - 10 * sd, m1 * 1e-6), m1 + 10 * sd
        lam = np.linspace(lo, hi, n)
        eps = np.full(n, eps_rel * (hi - lo))
        lam_run = np.concatenate([lam, np.geomspace(hi * 1.01, top, 40)])
        eps_run = np.concatenate([eps, np.full(40, eps[0])])
    else:
        lam = np.unique(np.concatenate([np.geomspace(m1 * 1e-14, top, n // 2), np.linspace(0, top, n // 2)[1:]]))
        eps = eps_rel * lam
        lam_run, eps_run = lam, eps
    if T == 1 and weights == "orthogonal" and not np.any(law.a):
        return _pushforward(c, pf, law, m1, var, lam)
    if not np.any(law.a) and not slow:
        try:
            return _vanilla_spectrum(c, pf, law, T, weights, m1, var, atom, n)
        except _FastPathUnfit:
            pass  # edge at an atom of sigma_w^2 D^2 (piecewise-linear phi) or a spectral gap: general path
    G, ok = solve_density(law, T, weights, lam_run, eps_run, m1)
    G, ok = G[:lam.size], ok[:lam.size]
    z = lam + 1j * eps
    dens = np.maximum(-np.imag(G - atom / z) / np.pi, 0.0)
    keep = ok
    if not np.any(keep):
        raise RuntimeError(f"{c.name}: the spectral solver converged at none of the {lam.size} grid points "
                           f"(T={T}, {weights} W; general subordination path) — no density for these parameters")
    lam, dens, eps, dropped = lam[keep], dens[keep], eps[keep], int((~keep).sum())
    notes = ("free steps: T-step law composed from the one-step law (exact for untied vanilla/feed-forward; "
             "gated cells: approximation, variance = isometry_variance_free)",
             f"Lorentzian smoothing eps = {eps_rel:g} x scale; {dropped} grid points not converged (dropped); "
             f"lowest point {lam[0]:.3g}, mass below it from a power-law tail")
    out = Spectrum(cell=c.name, T=T, weights=weights, params=pf, lam=lam, density=dens,
                   atom=atom, eps=eps, converged=np.ones(lam.size, bool), m1=m1, variance=var, notes=notes)
    return _self_check(out)


SELF_CHECK_TOL = 0.02
"""General (subordination) path: the tabulated law must have mass 1 and mean ``m1`` within this
relative tolerance (the fast vanilla path is accurate to ~1e-5 and is tested much tighter).  A miss
is not returned silently: it warns and says so in ``notes`` (e.g. hard-tanh with orthogonal W,
T >= 2, where the edge sits on an atom of the per-unit law and this path fails)."""


def _self_check(out: Spectrum) -> Spectrum:
    import dataclasses
    import warnings
    g = out.grid_moments()
    err_mass, err_m1 = abs(g["mass"] - 1.0), abs(g["m1"] / out.m1 - 1.0)
    if err_mass <= SELF_CHECK_TOL and err_m1 <= SELF_CHECK_TOL:
        return out
    msg = (f"{out.cell}: spectral density (T={out.T}, {out.weights} W) failed its self-check: mass "
           f"{g['mass']:.4g} (should be 1), mean {g['m1']:.4g} vs m1 = {out.m1:.4g}; do not use this "
           "density (known failure of the general solver, see theory/spectrum.py)")
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    return dataclasses.replace(out, notes=out.notes + ("SELF-CHECK FAILED: " + msg,))


class _CallableModule(type(math)):
    """``theory.spectrum`` is this module; calling it calls :func:`spectrum` (the import system binds
    the submodule to the package attribute, so a plain function of that name would be shadowed)."""

    def __call__(self, *args, **kwargs):
        return spectrum(*args, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule
