"""The tabulated spectral law and what every spectrum path shares: :class:`Spectrum`, the
edge-adapted real-axis grid :func:`vanilla_grid` (with Simpson weights) and the self-check
:func:`self_check` (mass, mean, variance).  Used by :mod:`theory.jacobian.spectrum` and
:mod:`theory.jacobian.spectrum_ov`; imports neither (numpy only)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


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


def simpson_weights(k):
    """Composite Simpson weights on k + 1 equispaced nodes (k even), unit spacing."""
    q = np.full(k + 1, 2.0 / 3.0)
    q[1::2] = 4.0 / 3.0
    q[0] = q[-1] = 1.0 / 3.0
    return q


def vanilla_grid(lam_c, m1, var, T, n, broad=None, edge_power=2, lam0_rel=1e-8):
    r"""Grid for :func:`theory.jacobian.spectrum._vanilla_spectrum` and its quadrature weights.

    The grid is :math:`\lambda(\theta_i)`, :math:`\theta_i=i` uniform, for a map that makes
    :math:`\rho(\lambda(\theta))\lambda'(\theta)` smooth, so composite Simpson in :math:`\theta`
    (weights ``q_i = simpson_i * lambda'(theta_i)``) has an :math:`O(h^4)` error:

    * upper piece :math:`\lambda=\lambda_+-c(1-x)^2`: the square-root edge
      :math:`\rho\sim\sqrt{\lambda_+-\lambda}` becomes :math:`\rho\lambda'\sim(1-x)^2`;
    * broad spectra (``sd/m1 >= 0.3``), lower piece geometric, :math:`\lambda=e^{u}` from
      :math:`\lambda_0=10^{-8}\lambda_+` to :math:`\lambda_b`: the integrand :math:`\lambda^{k+1}\rho`
      is smooth in :math:`u` (near 0 a slowly varying power :math:`\lambda^{1-\beta}`); the mass
      below :math:`\lambda_0` is exact, :meth:`theory.jacobian.spectrum._Vanilla.mass_below` (a contour integral);
      :math:`\lambda_b` is chosen so that :math:`\lambda'(\theta)` is continuous at the junction (a
      panel boundary), hence the Simpson sum is one smooth composite rule per piece;
    * narrow spectra: the upper piece only, from :math:`m_1-12\,\mathrm{sd}`.

    ``broad`` overrides the ``sd/m1`` rule; ``edge_power`` :math:`k` replaces the square in the
    upper piece, :math:`\lambda=\lambda_+-c(1-x)^k` (:math:`k=4` for an inverse-square-root
    edge, :math:`\rho\lambda'\sim(1-x)`, or one close to it).

    Returns (lam, q)."""
    sd = math.sqrt(max(var, 0.0))
    n = max(int(n), 16)
    kp = edge_power
    if (sd / m1 < 0.3) if broad is None else not broad:
        k = 4 * (n // 4)
        lo = max(m1 - 12 * sd, 1e-6 * m1)
        x = np.arange(k + 1) / k
        lam = lam_c - (lam_c - lo) * (1 - x) ** kp
        jac = kp * (lam_c - lo) * (1 - x) ** (kp - 1) / k
        return lam, simpson_weights(k) * jac
    k1 = 4 * max(int(0.4 * n) // 4, 2)
    k2 = 4 * max((n - k1) // 4, 2)
    lam0 = lam0_rel * lam_c
    lb = 0.25 * lam_c
    for _ in range(60):  # lambda' continuous at the junction: lb * h_u = k (lam_c - lb) / k2
        hu = math.log(lb / lam0) / k1
        lb = lam_c * (kp / k2) / (hu + kp / k2)
    hu = math.log(lb / lam0) / k1
    lam1 = lb * np.exp(-hu * np.arange(k1, -1, -1))
    jac1 = lam1 * hu
    x = np.arange(k2 + 1) / k2
    lam2 = lam_c - (lam_c - lb) * (1 - x) ** kp
    jac2 = kp * (lam_c - lb) * (1 - x) ** (kp - 1) / k2
    q1, q2 = simpson_weights(k1) * jac1, simpson_weights(k2) * jac2
    q = np.concatenate([q1[:-1], [q1[-1] + q2[0]], q2[1:]])
    return np.concatenate([lam1[:-1], lam2]), q


SELF_CHECK_TOL = 0.02
"""Every returned density: the tabulated law (atoms and the mass below the grid included) must have
mass 1 and mean ``m1`` (``isometry_mean``) within this relative tolerance.  The real-axis paths
are accurate to ~1e-4 and better (``tests/test_spectrum.py`` holds them much tighter); the general
(smoothed subordination) path to ~1e-2.  A miss is not returned silently: it warns and says so in
``notes``."""

SELF_CHECK_VAR_TOL = 0.05
"""Relative tolerance of the self-check on the variance against ``Spectrum.variance``
(``isometry_variance_free``: the exact variance of the free-steps law; for vanilla cells it equals
``isometry_variance``).  Looser than :data:`SELF_CHECK_TOL`: the variance of these broad laws is
carried by the upper tail, where the general path's Lorentzian smoothing is felt most."""


def self_check(out: Spectrum) -> Spectrum:
    import dataclasses
    import warnings
    g = out.grid_moments()
    err_mass, err_m1 = abs(g["mass"] - 1.0), abs(g["m1"] / out.m1 - 1.0)
    err_var = abs(g["variance"] / out.variance - 1.0) if out.variance > 0 else abs(g["variance"])
    if err_mass <= SELF_CHECK_TOL and err_m1 <= SELF_CHECK_TOL and err_var <= SELF_CHECK_VAR_TOL:
        return out
    msg = (f"{out.cell}: spectral density (T={out.T}, {out.weights} W) failed its self-check: mass "
           f"{g['mass']:.4g} (should be 1), mean {g['m1']:.4g} vs m1 = {out.m1:.4g}, variance "
           f"{g['variance']:.4g} vs {out.variance:.4g}; do not use this density (see theory/jacobian/spectrum.py)")
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    return dataclasses.replace(out, notes=out.notes + ("SELF-CHECK FAILED: " + msg,))


__all__ = ["Spectrum", "vanilla_grid", "simpson_weights", "self_check", "SELF_CHECK_TOL", "SELF_CHECK_VAR_TOL"]
