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

    @property
    def left_tail(self) -> float:
        r"""Mass below the first tabulated point, from the power law :math:`\rho\propto\lambda^{-\beta}`
        through the two lowest points (integrable edge singularities at 0, e.g. Fuss–Catalan)."""
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
        mass = float(np.trapezoid(p, x)) + self.atom + self.left_tail + sum(w for _, w in pm)
        m1 = float(np.trapezoid(x * p, x)) + sum(l * w for l, w in pm)
        m2 = float(np.trapezoid(x * x * p, x)) + sum(l * l * w for l, w in pm)
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
            c = np.concatenate([[0.0], np.cumsum(0.5 * (self.density[1:] + self.density[:-1]) * np.diff(self.lam))])
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


def spectrum(cell, T: int = 1, weights: str = "orthogonal", n: int = 800, eps_rel: float | None = None,
             panels: int = 64, **params) -> Spectrum:
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
    G, ok = solve_density(law, T, weights, lam_run, eps_run, m1)
    G, ok = G[:lam.size], ok[:lam.size]
    z = lam + 1j * eps
    dens = np.maximum(-np.imag(G - atom / z) / np.pi, 0.0)
    keep = ok
    lam, dens, eps, dropped = lam[keep], dens[keep], eps[keep], int((~keep).sum())
    notes = ("free steps: T-step law composed from the one-step law (exact for untied vanilla/feed-forward; "
             "gated cells: approximation, variance = isometry_variance_free)",
             f"Lorentzian smoothing eps = {eps_rel:g} x scale; {dropped} grid points not converged (dropped); "
             f"lowest point {lam[0]:.3g}, mass below it from a power-law tail")
    return Spectrum(cell=c.name, T=T, weights=weights, params=pf, lam=lam, density=dens,
                    atom=atom, eps=eps, converged=np.ones(lam.size, bool), m1=m1, variance=var, notes=notes)
