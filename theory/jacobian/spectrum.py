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
cells, see :mod:`theory.jacobian.isometry_recursion`): :math:`S_T=S_1^T` and
:math:`M^{-1}(m)=(1+m)/(mS(m))` give, with :math:`m=M_T(\lambda)` and the subordination variable
:math:`w=M_1^{-1}(m)` (so :math:`S_1(m)=(1+m)/(mw)`),

.. math:: \lambda=z(w)=\frac{w^Tm^{T-1}}{(1+m)^{T-1}},\qquad m=M_1(w) .

For the gated cells "free steps" is a model: the law of :math:`J_TU_T\cdots U_2J_1` with independent
Haar :math:`U_t` between the steps (fresh per-unit diagonals every step).  Without the :math:`U_t`
the gate diagonals :math:`D_a` of consecutive steps commute and are not free, and the exact annealed
variance (``isometry_variance``) exceeds the free one (``isometry_variance_free``, the variance of
this law) from :math:`T=2` on; ``tests/test_spectrum.py`` simulates both products.

**Paths** (first that applies; each result is self-checked, :func:`self_check`):

1. :math:`T=1`, orthogonal :math:`W`, :math:`a=0`: the push-forward :math:`\sigma_w^2D_b^2`
   (:func:`_pushforward`).
2. :math:`a\ne0`, :math:`T\ge2` (:class:`_Gated`): the single unknown :math:`u=\ln w` on the real
   :math:`\lambda`-axis; :math:`m=M_1(w)` and :math:`dm/dw` from the one-step equations above, solved
   by Newton in :math:`(y_1,y_2[,f])` at each complex :math:`w` (implicit-function theorem for the
   derivative).  Upper edge :math:`\lambda_+`: the minimum of :math:`z` on the real :math:`w`-axis
   above the one-step spectrum; below it :math:`w=w_c+i\sqrt{2\ln(\lambda_+/\lambda)/L''}+\dots`
   (:math:`\mathrm{Im}\,w>0`: :math:`w(\lambda+i0)` is the subordination function) and it is
   continued downwards on the grid, accepting only the physical branch (:math:`\mathrm{Im}\,m<0`).
3. :math:`a=0`, orthogonal :math:`W`, :math:`V=\sigma_w^2D_b^2\in\{0,v\}` (ReLU, hard-tanh;
   :class:`_TwoPoint`): :math:`M_1(w)=pv/(w-v)`, so :math:`z(w)=w^T(pv)^{T-1}/(w-(1-p)v)^{T-1}` is
   explicit and analytic at the atom :math:`w=v`; edge :math:`w_c=T(1-p)v`; atoms :math:`1-p` at 0
   and :math:`\max(0,1-T(1-p))` at :math:`v^T` (``point_masses``).  :math:`T=2` is the law of two
   free projections (checked against its closed form in the tests).
4. :math:`a=0` otherwise (:class:`_Vanilla`): the same on the real axis in :math:`t` with
   :math:`\psi_V(t)=m` (explicit).
5. Otherwise (:math:`T=1` gated; a path above that found no edge; ``slow=True``): the general
   smoothed solve below.

Real-axis paths 2–4 (no smoothing): Newton to :math:`|\Delta\ln z|<10^{-11}` (one-step residual
:math:`10^{-13}` relative); grid :func:`vanilla_grid`: :math:`\lambda=\lambda_+-c(1-x)^k` near the
upper edge (:math:`k=2`; :math:`k=4` at or near an inverse-square-root edge, :class:`_TwoPoint`)
joined to a geometric piece from :math:`10^{-8}\lambda_+` (gated laws with more than 2 % of their
mass below that: from :math:`10^{-16}\lambda_+`, :data:`GATED_TAIL_EXTEND`); moments by composite
Simpson in the grid parameter (:math:`O(h^4)`); the mass below the grid exactly, by a contour
integral (:meth:`_RealAxis.mass_below`).  Measured errors of mass, mean and variance at ``n = 150``
(the grid of ``verify spectra``): vanilla and two-point laws :math:`\le10^{-5}`; minimalRNN
(near-critical point of ``verify/judge/spectra_report.py``) :math:`\le3\times10^{-4}` at
:math:`T=8,16`, :math:`\le10^{-3}` at :math:`T=2,4` (other points tried, :math:`\mu_b\in[-1,4]`:
:math:`\le5\times10^{-3}` at :math:`T=2`, where the edge :math:`w_c` is close to the one-step edge),
falling as :math:`n^{-4}` (:math:`T=8`: :math:`2\times10^{-5}` at ``n = 300``).  The density values
themselves are Newton-exact (two-projection law: :math:`\le10^{-10}` relative).  A further,
model-level error of the gated laws is the per-unit law's discretisation (:mod:`theory.jacobian.unit_law`:
the stored state by a 6-point Gauss rule, 3 values of :math:`(h-z)^2`): at :math:`T=8,16` a
free-steps simulation at :math:`N=1000` that draws :math:`h` from its exact stationary law sits up to
0.006 above the predicted CDF in the lower half (its median 0.507 at the predicted median), and within
0.002 of the prediction from a 10-point rule (measured; ``tests/test_spectrum.py`` allows 0.008).

**General smoothed solve** (path 5).  Newton (analytic complex Jacobian) on
:math:`(m,w,y_1,y_2[,f])` with :math:`w^Tm^{T-1}=\lambda(1+m)^{T-1}`, :math:`M_1(w)=m` at
:math:`z=\lambda+i\varepsilon`: continued downward from above the spectrum's upper edge (where
:math:`m\approx m_1/\lambda`) at a lifted height :math:`0.05\lambda`, where the solution is smooth,
then for each grid point down to :math:`\varepsilon` in 16 geometric steps (edge singularities are
then met at their own scale); failed steps are split through midpoints lifted into the upper half
plane.  Density
:math:`\rho(\lambda)=-\mathrm{Im}\,G(z)/\pi`, :math:`G=(1+m)/z`, minus the atom at 0
(weight :math:`P(a=b=0)`: dead ReLU / saturated hard-tanh units, kept separate).  The per-unit law
is a set of weighted atoms (:mod:`theory.jacobian.unit_law`), so the result is the spectrum smoothed by a
Lorentzian of half-width :math:`\varepsilon` (``eps_rel`` times the local scale); it converges as
:math:`\varepsilon\to0` with enough atoms (~1e-2 in mass and mean).  Known failures, which the
self-check flags: an upper edge on an atom of :math:`\sigma_w^2D^2` (hard-tanh, orthogonal,
:math:`T\ge2`: path 3 now), and broad gated laws at :math:`T\ge8` (path 2 now).
"""
from __future__ import annotations

import math

import numpy as np

from .spectrum_law import (SELF_CHECK_TOL, SELF_CHECK_VAR_TOL, Spectrum, self_check,  # noqa: F401  (re-exported)
                           simpson_weights, vanilla_grid)
from .unit_law import UnitLaw, unit_law
from ..float64 import float64


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

class _RealAxis:
    r"""One complex unknown :math:`u` per :math:`\lambda`, solved on the real axis (no smoothing):
    subclasses give ``eval(u) = (ln z(u), d ln z/du, m, 1 + m)`` with :math:`z(u)` the inverse of
    :math:`M_T` in a parametrisation where it is explicit (or cheap), and ``upper_edge()``.
    ``branch``: sign of :math:`\mathrm{Im}\,u` just below the upper edge on the physical branch
    (:math:`\mathrm{Im}\,m<0`, i.e. :math:`\rho>0`)."""

    branch = -1

    def eval(self, u):  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self):
        """Inner state that ``eval`` warm-starts from (none here; see :class:`_Gated`)."""
        return None

    def set_state(self, s):
        pass

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
            st = self.state()
            un, m, op, conv = self.newton(u, l0 + 1j * b)
            if conv and abs(un - u) < 0.5:
                return un, op
            self.set_state(st)
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
        self.last_state = [None] * lam.size
        dens = np.zeros(lam.shape)
        G = np.full(lam.shape, np.nan, complex)
        ok = np.zeros(lam.shape, bool)
        hist = []  # (lam, u) of accepted points, for the predictor

        edge_state = self.state()

        def edge_guess(L):
            return uc + self.branch * 1j * math.sqrt(2 * max(math.log(lam_c / L), 0.0) / L2)

        def predict(L):
            self.set_state(hist[-1][2] if hist else edge_state)  # inner unknowns (gated) at the start point
            if len(hist) < 2 or hist[-1][0] >= lam_c * (1 - 1e-12):
                return edge_guess(L)
            (l1, u1, _), (l0, u0, _) = hist[-2], hist[-1]
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
                return u, m, op, self.state()
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
            hist.append((mid, sub[0], sub[3]))
            return reach(L, depth + 1)

        for idx in order:
            L = float(lam[idx])
            if L >= lam_c:
                ok[idx] = True  # at / above the edge: density 0 (real root)
                continue
            got = reach(L, 0)
            if got is None:
                continue
            u, m, op, st = got
            hist.append((L, u, st))
            self.last_u[idx], self.last_state[idx] = u, st
            G[idx] = op / L
            dens[idx] = max(-op.imag / (math.pi * L), 0.0)
            ok[idx] = True
        return dens, G, ok



class _Vanilla(_RealAxis):
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


class _TwoPoint(_RealAxis):
    r"""Orthogonal :math:`W`, vanilla, :math:`V=\sigma_w^2D_b^2\in\{0,v\}` with :math:`P(V=v)=p`
    (ReLU, hard-tanh: :math:`\phi'\in\{0,1\}`): :math:`JJ^\top/v^T` is a product of free projections.
    In the one-step subordination variable :math:`w` (:math:`M_1(w)=m=pv/(w-v)`, see
    :class:`_Gated`), :math:`u=\ln w`,

    .. math:: z(w)=\frac{w^Tm^{T-1}}{(1+m)^{T-1}}=\frac{w^T(pv)^{T-1}}{(w-c)^{T-1}},\qquad c=(1-p)v,

    explicit, and analytic at the pole :math:`w=v` of :math:`m` (the atom of :math:`V` at its top,
    where :class:`_Vanilla`'s parametrisation breaks down).  Upper edge of the continuous part:
    :math:`w_c=Tc`, :math:`\lambda_+=v^TT^T(1-p)p^{T-1}/(T-1)^{T-1}` (:math:`T=2`: :math:`4p(1-p)v^2`,
    the two-projection law).  Atoms: :math:`1-p` at 0 (kernel of :math:`D_T`) and
    :math:`\max(0,1-T(1-p))` at :math:`v^T` (the common range of the :math:`T` projections, which
    :math:`z(w)\to v^T` as :math:`w\to v` expresses; when it is positive, :math:`w_c<v` and the
    continuous part sits below a gap).  :math:`T(1-p)=1` (ReLU, :math:`T=2`): :math:`w_c=v`, an
    inverse-square-root edge (arcsine law at :math:`p=1/2`)."""

    branch = 1

    def __init__(self, v: float, p: float, T: int):
        self.v, self.p, self.T, self.c = float(v), float(p), int(T), (1.0 - p) * float(v)

    @property
    def top_atom(self) -> float:
        a = 1.0 - self.T * (1.0 - self.p)
        return a if a > 1e-12 else 0.0

    def eval(self, u):
        w = np.exp(u)
        T, v, p, c = self.T, self.v, self.p, self.c
        logz = T * u + (T - 1) * (math.log(p * v) - np.log(w - c))
        dlog = T - (T - 1) * w / (w - c)
        return logz, dlog, p * v / (w - v), (w - c) / (w - v)

    def upper_edge(self):
        T, v, p, c = self.T, self.v, self.p, self.c
        wc = T * c
        lam_c = float(np.exp(T * math.log(wc) + (T - 1) * (math.log(p * v) - math.log(wc - c))))
        return lam_c, math.log(wc), (T - 1) * wc * c / (wc - c) ** 2


class _Gated(_RealAxis):
    r"""General one step :math:`J_t=D_a+D_bW` (gated cells, :math:`a\ne0`), free steps.  The
    unknown is the one-step subordination variable :math:`w`, :math:`u=\ln w`: with
    :math:`m=M_1(w)` (the one-step transform of the module docstring, solved at fixed :math:`w`
    by Newton on :math:`(y_1,y_2[,f])`, warm-started from the last solution; :math:`dm/dw` by
    the implicit-function theorem),

    .. math:: \ln z(u)=Tu+(T-1)\,[\ln m-\ln(1+m)],\qquad
              \frac{d\ln z}{du}=T+(T-1)\,\frac{w\,m'(w)}{m(1+m)} .

    :math:`w(\lambda+i0)` is the subordination function of :math:`\mu_1^{\boxtimes T}` (it maps
    the upper half plane into itself), so below the upper edge :math:`\mathrm{Im}\,w>0`
    (``branch = +1``), and only the physical one-step branch (:math:`\mathrm{Im}\,m<0` there) is
    accepted.  Upper edge: the minimum of :math:`z` on the real :math:`w`-axis above the
    one-step spectrum (scanned down from :math:`4\,(\max|a|+g\,\sigma_w\max|b|)^2`, :math:`g=1`
    orthogonal, 2 Gaussian, an upper bound of :math:`\|J_t\|^2`; at large :math:`w`,
    :math:`d\ln z/du\to1`; for :math:`T\ge2` it turns negative before the one-step edge, where
    :math:`m'\to-\infty`).  :math:`T=1` has no such minimum: not handled here."""

    branch = 1

    def __init__(self, law: UnitLaw, T: int, orthogonal: bool):
        self.sys = _System(law, 1, orthogonal)  # start values (fixed-point passes) and the general path
        self.T = int(T)
        self.orth = orthogonal
        keep = law.w > 0
        self.a2, self.s, self.wt = law.a[keep] ** 2, law.s[keep], law.w[keep]
        self.powers = np.stack([np.ones_like(self.s), self.s, self.s * self.s])  # s^0, s^1, s^2
        self.sg = float(law.sigma_w)
        self.y = None
        bmax = math.sqrt(float(np.max(law.s)))
        self.w_bound = (float(np.max(np.abs(law.a))) + (1.0 if orthogonal else 2.0) * law.sigma_w * bmax) ** 2

    def state(self):
        return None if self.y is None else self.y.copy()

    def set_state(self, s):
        self.y = None if s is None else np.array(s, complex)

    def inner(self, w, y):
        r"""Residuals of the one-step equations at ``w`` (module docstring), their Jacobian in
        :math:`y=(y_1,y_2[,f])`, their derivative in :math:`w`, and :math:`m=wAE[1/\Delta]-1` with
        its gradient in :math:`(w,y)`.  Five weighted sums over the atoms,
        :math:`S_j=E[s^j/\Delta]` (:math:`j=0,1`), :math:`R_j=E[s^j/\Delta^2]` (:math:`j\le2`):
        with :math:`g=\sigma_wfy_2`, :math:`B=1-gs`, :math:`d\Delta=B\,c_1-wA\sigma_wsc_2`,
        :math:`c_1=A\,dw+w\,dA`, :math:`c_2=f\,dy_2+y_2\,df`."""
        sg, orth = self.sg, self.orth
        y1, y2 = y[0], y[1]
        f = y[2] if orth else 1.0
        A = 1 - sg * f * y1
        g = sg * f * y2
        D = w * A * (1 - g * self.s) - self.a2
        inv = self.wt / D
        S0, S1, _ = self.powers @ inv
        R0, R1, R2 = self.powers @ (inv / D)
        SB = S0 - g * S1
        rB0, rB1 = R0 - g * R1, R1 - g * R2  # E[B/Delta^2], E[B s/Delta^2]
        n = 3 if orth else 2
        # variables: 0 w, 1 y1, 2 y2, 3 f
        dA = np.array([0.0, -sg * f, 0.0, -sg * y1], complex)
        c1 = w * dA
        c1[0] += A
        c2 = np.array([0.0, 0.0, f, y2], complex)
        dS0 = -c1 * rB0 + w * A * sg * c2 * R1
        dS1 = -c1 * rB1 + w * A * sg * c2 * R2
        dSB = dS0 - g * dS1 - sg * c2 * S1
        r = [y1 - sg * A * S1, y2 - sg * SB]
        J = [-sg * (dA * S1 + A * dS1), -sg * dSB]
        J[0][1] += 1.0
        J[1][2] += 1.0
        if orth:
            r.append(w * y1 * y2 * f * f + f - 1)
            J.append(np.array([y1 * y2 * f * f, w * y2 * f * f, w * y1 * f * f, 2 * w * y1 * y2 * f + 1]))
        J = np.array(J)[:, : n + 1]
        m = w * A * S0 - 1
        dm = w * (dA * S0 + A * dS0)
        dm[0] += A * S0
        return np.array(r), J[:, 1:], J[:, 0], m, dm[1 : n + 1], dm[0]

    def one_step(self, w, y, maxit=40):
        """(y, m, dm/dw) at the one-step variable ``w`` (Newton from ``y``), or None."""
        w = complex(w)
        y = np.array(y, complex)
        for _ in range(maxit):
            rr, Jy, rw, m, my, mw = self.inner(w, y)
            ny = np.linalg.norm(y)
            if not (np.all(np.isfinite(rr)) and np.all(np.isfinite(Jy))):
                return None
            done = np.linalg.norm(rr) <= 1e-13 * ny
            try:
                step = np.linalg.solve(Jy, -rr)
            except np.linalg.LinAlgError:
                return None
            sn = np.linalg.norm(step)
            if done or (sn <= 1e-15 * ny and np.linalg.norm(rr) <= 1e-10 * ny):
                return y, m, mw + my @ np.linalg.solve(Jy, -rw)
            if sn > 0.25 * ny:  # damped: stay on the warm start's branch
                step *= 0.25 * ny / sn
            y = y + step
        return None

    def eval(self, u):
        nan = complex(np.nan, np.nan)
        w = complex(np.exp(u))
        got = None if self.y is None else self.one_step(w, self.y)
        if got is None:
            return nan, nan, nan, nan
        y, m, dm = got
        if w.imag > 0 and m.imag > 1e-10 * abs(m):  # unphysical one-step branch
            return nan, nan, nan, nan
        self.y = y
        T = self.T
        logz = T * np.log(w) + (T - 1) * (np.log(m) - np.log(1 + m))
        dlog = T + (T - 1) * w * dm / (m * (1 + m))
        return logz, dlog, m, 1 + m

    def upper_edge(self, ratio=0.01):
        from scipy.optimize import brentq
        if self.T < 2:
            raise FloatingPointError("T = 1: no minimum of z on the real axis")
        w0 = 4.0 * self.w_bound
        self.y = self.sys.start(w0, 1.0)[2:]

        def D(u):
            d = self.eval(u)[1]
            return float(d.real) if np.isfinite(d) else math.nan

        u, d = math.log(w0), D(math.log(w0))
        if not d > 0:
            raise FloatingPointError("one-step solve failed above the spectrum")
        while True:
            un = u - ratio
            dn = D(un)
            if not math.isfinite(dn):
                raise FloatingPointError(f"one-step solve failed at w = {math.exp(un):.6g} before the upper edge")
            if dn <= 0:
                break
            if un < math.log(w0) - 60:
                raise FloatingPointError("upper edge not bracketed")
            u = un
        uc = brentq(D, un, u, xtol=1e-14, rtol=1e-15, maxiter=200)
        h = 1e-5 * max(1.0, abs(uc))
        L2 = (D(uc + h) - D(uc - h)) / (2 * h)
        lam_c = float(np.exp(self.eval(uc)[0].real))  # leaves the inner state at the edge
        return lam_c, uc, L2


class _FastPathUnfit(Exception):
    """The single-unknown solve does not apply as set up (see :func:`_vanilla_spectrum`)."""


def _vanilla_spectrum(c, pf, law, T, weights, m1, var, atom, n):
    """Density for a = 0 (see :class:`_Vanilla`) on :func:`vanilla_grid`.  Raises
    :class:`_FastPathUnfit` (the caller falls back to the general solver) when no upper edge is
    bracketed (an atom of :math:`V` at its top with orthogonal :math:`W`: ReLU / hard-tanh, which
    :func:`spectrum` sends to :class:`_TwoPoint` first).  Known limits (noted in ``notes``): an
    edge at the pole 1/v_max (inverse-square-root edge, the grid's quadrature is then ~1e-3), and
    grid points in a spectral gap (Gaussian W, atom of D at 0, T = 1) are dropped (trapezoid)."""
    sys_ = _Vanilla(law, T, weights == "orthogonal")
    try:
        lam_c, uc, L2 = sys_.upper_edge()
    except FloatingPointError as exc:
        raise _FastPathUnfit(str(exc)) from exc
    at_pole = 1 - sys_.vmax * math.exp(uc) < 1e-6
    extra = ("upper edge at the pole 1/v_max (atom of sigma_w^2 b^2 at its top): quadrature ~1e-3",) if at_pole else ()
    return _axis_spectrum(c, pf, sys_, (lam_c, uc, L2), T, weights, m1, var, atom, n,
                          "a = 0: single-unknown S-transform solve on the real axis (no smoothing)", extra)


def _axis_spectrum(c, pf, sys_, edge, T, weights, m1, var, atom, n, method, extra_notes=(), point_masses=(),
                   broad=None, edge_power=2, gated=False, lam0_rel=1e-8):
    """Shared driver of the real-axis solvers: grid, solve, exact mass below the grid, notes."""
    lam_c, uc, L2 = edge
    lam, q = vanilla_grid(lam_c, m1, var, T, n, broad=broad, edge_power=edge_power, lam0_rel=lam0_rel)
    dens, G, ok = sys_.solve(lam, lam_c, uc, L2)
    tail = None
    if ok[0] and lam[0] < lam_c:
        sys_.set_state(sys_.last_state[0])
        below = sys_.mass_below(float(lam[0]), sys_.last_u[0])
        tail = None if below is None else max(below - atom, 0.0)
    dropped = int((~ok).sum())
    if dropped:  # e.g. a gap (density 0, real root): Simpson needs every node, trapezoid on the rest
        q = None
    lam, dens = lam[ok], dens[ok]
    if lam.size == 0:
        raise _FastPathUnfit("no grid point converged")
    first = ("free steps: T-step law composed from the one-step law (gated cells: the free-steps "
             "approximation, variance = isometry_variance_free)" if gated else
             "free steps: T-step law composed from the one-step law (exact for untied vanilla/feed-forward)")
    notes = (first, *extra_notes,
             f"{method}; upper edge {lam_c:.10g}; "
             f"{dropped} grid points not converged (dropped); lowest point {lam[0]:.3g}, mass below it "
             + ("exact (contour integral)" if tail is not None else "from a power-law tail")
             + ("; moments by composite Simpson in the grid parameter" if q is not None else "; trapezoid moments"))
    return Spectrum(cell=c.name, T=T, weights=weights, params=pf, lam=lam, density=dens, atom=atom,
                    eps=np.zeros(lam.size), converged=np.ones(lam.size, bool), m1=m1, variance=var, notes=notes,
                    quad=q, tail=tail, point_masses=tuple(point_masses))


def _two_point(law):
    """(v, p) when sigma_w^2 b^2 takes one nonzero value v (probability p) besides 0, else None."""
    v = law.sigma_w ** 2 * law.s
    pos = (law.w > 0) & (v > 0)
    if not np.any(pos) or np.ptp(v[pos]) > 1e-12 * v[pos].max():
        return None
    return float(v[pos].max()), float(np.sum(law.w[pos]))


def _two_point_spectrum(c, pf, v, p, T, m1, var, atom, n):
    """Orthogonal W, V in {0, v}, T >= 2 (:class:`_TwoPoint`)."""
    sys_ = _TwoPoint(v, p, T)
    top = sys_.top_atom
    masses = ((v ** T, top),) if top > 0 else ()
    if p >= 1 - 1e-14:  # linear: J J^T = v^T I
        lam = v ** T * np.array([0.5, 1.0, 1.5])
        return Spectrum(cell=c.name, T=T, weights="orthogonal", params=pf, lam=lam, density=np.zeros(3), atom=atom,
                        eps=np.zeros(3), converged=np.ones(3, bool), m1=m1, variance=var,
                        notes=("sigma_w^2 D^2 constant: J J^T = v^T I (point mass)",), point_masses=((v ** T, 1.0),))
    near_pole = abs(1 - T * (1 - p)) < 0.1  # edge w_c = T (1 - p) v at / near the pole w = v of m
    extra = (f"V = sigma_w^2 D^2 in {{0, {v:.6g}}}, P(V > 0) = {p:.6g}: product of free projections; atom "
             f"{top:.6g} at v^T = {v ** T:.6g}" + ("; edge at / near an inverse-square-root edge: grid "
                                                    "lambda_+ - c (1 - x)^4" if near_pole else ""),)
    return _axis_spectrum(c, pf, sys_, sys_.upper_edge(), T, "orthogonal", m1, var, atom, n,
                          "two-point law of V: explicit single-unknown solve in w on the real axis (no smoothing)",
                          extra, point_masses=masses, broad=True, edge_power=4 if near_pole else 2)


GATED_TAIL_EXTEND = (0.02, 1e-16)
r"""Gated cells: when more than ``GATED_TAIL_EXTEND[0]`` of the mass lies below the grid's lowest
point :math:`10^{-8}\lambda_+` (broad laws at T >= 8, where a few units per step have gates near
0), the log piece is re-solved down to ``GATED_TAIL_EXTEND[1]`` :math:`\lambda_+` so the CDF is
tabulated over most of the law."""


def _gated_spectrum(c, pf, law, T, weights, m1, var, atom, n):
    """a != 0, T >= 2 (:class:`_Gated`).  Raises :class:`_FastPathUnfit` when no edge is found."""
    sys_ = _Gated(law, T, weights == "orthogonal")
    try:
        edge = sys_.upper_edge()
    except (FloatingPointError, ValueError) as exc:
        raise _FastPathUnfit(str(exc)) from exc
    state = sys_.state()
    run = lambda rel: _axis_spectrum(c, pf, sys_, edge, T, weights, m1, var, atom, n,
                                     "a != 0: one-step subordination solved at each w, single-unknown solve in w "
                                     "on the real axis (no smoothing)", gated=True, lam0_rel=rel)
    out = run(1e-8)
    if out.tail is not None and out.tail > GATED_TAIL_EXTEND[0]:
        sys_.set_state(state)
        out = run(GATED_TAIL_EXTEND[1])
    return out


METHODS = ("auto", "free-steps", "operator-valued")
"""``spectrum(method=...)``: ``"free-steps"`` composes the one-step law over free steps (exact for
vanilla and feed-forward cells; a model for gated cells, whose steps are not free); ``"operator-valued"``
(:mod:`theory.jacobian.spectrum_ov`, gated cells only) keeps each neuron's path across the steps: the exact
untied large-N law, checked against real networks (reports/spectra_ov, reports/spectra_gpu_h100),
slower (seconds to tens of seconds a call).  ``"auto"`` (default): the exact law for each cell, i.e.
operator-valued for a cell with a gate diagonal at ``T >= 2``, free steps otherwise."""


#: m1 = chi^T must lie in this range: the variance scales like m1^2 and must stay a normal float64
SCALE_RANGE = (1e-150, 1e150)


@float64
def spectrum(cell, T: int = 1, weights: str = "orthogonal", n: int = 800, eps_rel: float | None = None,
             panels: int = 64, slow: bool = False, method: str = "auto", **params) -> Spectrum:
    """Predicted eigenvalue density of :math:`JJ^\\top` over ``T`` steps at the fixed point.

    ``n``: grid points (real-axis paths: :func:`vanilla_grid`; the general path: linear around the
    bulk when ``sd/m1 < 0.3``, else logarithmic from ``1e-14 m1`` merged with a linear grid).
    ``panels``: Gauss-Legendre panels of the per-unit law (:func:`theory.jacobian.unit_law.unit_law`).
    ``eps_rel``: Lorentzian half-width of the general path relative to the grid's scale (range, or
    ``lam``); default 1e-6.  ``slow=True`` forces the general path.  The result is self-checked (mass,
    mean, variance; a miss warns and is marked in ``notes``).  See the module docstring for the
    paths and their errors.  ``method`` (:data:`METHODS`): ``"operator-valued"`` (and ``"auto"`` for
    a cell with a gate diagonal) returns :func:`theory.jacobian.spectrum_ov.spectrum_ov` (its own grid; ``n``,
    ``eps_rel``, ``panels``, ``slow`` unused) at ``T >= 2``; at ``T = 1`` the free-steps law is
    already exact (one step: nothing to correlate) and is returned.  ``"free-steps"`` for a gated
    cell at ``T >= 2`` is the free-steps *model* (its variance is ``isometry_variance_free``, below
    the exact ``isometry_variance``)."""
    from .. import api
    from .isometry import has_isometry, weights_variance
    from ..validate import count
    c = api.cell(cell)
    if c.noise:
        raise ValueError(f"spectrum: the Jacobian spectrum of a cell with hidden-state noise ({c.name}) is not "
                         f"derived; chi (its mean squared singular value) is served by predict")
    if not has_isometry(c):
        raise ValueError(f"spectrum: the Jacobian spectrum is derived for single-field cells (vanilla, minimalRNN, "
                         f"feed-forward); not for the gated cell {c.name}, whose m_1 is served "
                         f"(predict(..., 'isometry_mean', T=..., block=..., tied=...)) and whose spread is "
                         f"measured by `verify study=jacobian-moments` (reports/jacobian_moments_cpu)")
    weights_variance(weights)
    T = count("T", T)
    n = count("n", n, low=2)
    panels = count("panels", panels)
    if eps_rel is not None and not (isinstance(eps_rel, (int, float)) and not isinstance(eps_rel, bool)
                                    and 0 < eps_rel < 1):
        raise ValueError(f"eps_rel must be a number in (0, 1), got {eps_rel!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    gated = getattr(c, "carries_state", False)  # a gate diagonal D_a (minimalRNN): steps are not free
    if method == "auto":
        method = "operator-valued" if gated else "free-steps"
    if method == "operator-valued":
        if not gated:
            raise ValueError(f"{c.name}: method='operator-valued' is for cells with a gate diagonal; the "
                             "free-steps law is already exact here")
        if T >= 2:
            from .spectrum_ov import spectrum_ov
            return spectrum_ov(c.name, T=T, weights=weights, **params)  # self-checked there
    p = api.resolve_params(c, params)
    pf = {k: float(v) for k, v in p.items()}
    # Q*, or Q = 1 at a marginal point (He-initialised ReLU: every Q is a fixed point and the Jacobian's
    # law does not depend on Q); failures raise FixedPointError with the solver's reason
    core = api.kernels(c, "numba")
    args = [pf[k] for k in c.param_names]
    Q_star = float(core.Q_served(*args))
    api.check_defined(c, "Q_star", np.asarray(Q_star), pf)
    q_star = float(core.field_variance(Q_star, *args))
    law = unit_law(c, pf, q_star, Q_star, panels=panels)
    m1 = float(api.predict(c.name, "isometry_mean", T=T, weights=weights, **pf))
    var = float(api.predict(c.name, "isometry_variance_free", T=T, weights=weights, **pf))
    atom = float(np.sum(law.w[(law.a == 0) & (law.s == 0)]))
    if not (SCALE_RANGE[0] < m1 < SCALE_RANGE[1] and math.isfinite(var)):
        if law.sigma_w == 0.0 and not np.any(law.a):
            # sigma_w = 0 (and no gate diagonal): J = 0 exactly, every eigenvalue of JJ^T is 0
            return Spectrum(cell=c.name, T=T, weights=weights, params=pf, lam=np.zeros(1), density=np.zeros(1),
                            atom=1.0, eps=np.zeros(1), converged=np.ones(1, bool), m1=0.0, variance=0.0,
                            notes=("J = 0 exactly (sigma_w = 0): all eigenvalues of JJ^T are 0",))
        chi1 = float(api.predict(c.name, "isometry_mean", T=1, weights=weights, **pf))
        raise ValueError(f"{c.name}: m1 = chi^T = 10^{T * math.log10(chi1) if chi1 > 0 else -math.inf:.1f} at T = {T} "
                         f"(chi = {chi1:.6g}) is outside {SCALE_RANGE[0]:g}..{SCALE_RANGE[1]:g}, where the density "
                         "and its variance (~ m1^2) are representable in float64; use a smaller T")
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
    if not slow:
        try:
            if np.any(law.a):
                if T >= 2:
                    return self_check(_gated_spectrum(c, pf, law, T, weights, m1, var, atom, n))
            elif weights == "orthogonal" and _two_point(law) is not None:
                return self_check(_two_point_spectrum(c, pf, *_two_point(law), T, m1, var, atom, n))
            else:
                return self_check(_vanilla_spectrum(c, pf, law, T, weights, m1, var, atom, n))
        except _FastPathUnfit:
            pass  # no upper edge found / nothing converged: general path (self-checked)
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
    return self_check(out)
