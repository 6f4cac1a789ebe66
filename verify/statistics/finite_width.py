r"""The derived O(1/N) bias of the field variance and the hidden second moment of **untied** single-field
networks (issue 17 item 3: a derived finite-width correction instead of the fixed allowance ``5 scale/N``).

Which networks: the vanilla RNN (``e_t = W_t h_{t-1} + V_t x_t + b_t``, every matrix and bias redrawn at
each step, input ``x_t ~ N(0, R I)`` of width ``N``) and the feed-forward net (``sigma_v = 0``).  For
them the finite-width process is exactly a scalar Markov chain.  Given ``h_{t-1}`` and ``x_t`` the fields
``e_{t,i}`` are i.i.d. ``N(0, v_t)``, with

.. math::  v_{t+1} = \sigma_w^2\,\hat Q_t + \sigma_v^2\,\hat R_{t+1} + \sigma_b^2,\qquad
           \hat Q_t = \tfrac1N\textstyle\sum_i\phi(e_{t,i})^2,\quad \hat R = |x|^2/N .

So ``E[v_{t+1} | v_t] = V(v_t) = sigma_w^2 G(v_t) + sigma_v^2 R + sigma_b^2`` with ``G(v) = E phi(sqrt(v) z)^2``
(the mean-field map, no drift at finite N), and ``Var[v_{t+1} | v_t] = s^2(v_t)/N`` with
``s^2(v) = sigma_w^4 Var_z phi^2(sqrt(v) z) + 2 sigma_v^4 R^2``.  Writing ``v_t = m_t + O(N^{-1/2})``
around the mean-field trajectory ``m_{t+1} = V(m_t)`` and expanding ``V`` to second order, the mean
offset ``delta_t = E v_t - m_t`` and the variance ``s2_t = Var v_t`` obey, to O(1/N),

.. math::  \delta_{t+1} = V'(m_t)\,\delta_t + \tfrac12 V''(m_t)\,s2_t,\qquad
           s2_{t+1} = V'(m_t)^2\,s2_t + s^2(m_t)/N,

from ``delta_1 = 0``, ``s2_1 = 2 sigma_v^4 R^2/N`` (``h_0`` has an exact norm, only ``x_1`` fluctuates).
The simulated observables are ``q_t = mean(e_t^2)`` (``E[q_t | v_t] = v_t``: bias ``delta_t``) and
``Q_t = mean(h_t^2)`` (bias ``G'(m_t) delta_t + G''(m_t) s2_t / 2``).  At a stable fixed point
(``V' < 1``) the stationary bias is ``V'' s^2 / (2 N (1 - V') (1 - V'^2))``.

The derivatives of ``G`` come from the Gaussian weight, not from ``phi'``:
``d/dv E f(sqrt(v) z) = E[f (z^2 - 1)] / (2 v)`` and ``d^2/dv^2 = E[f (z^4 - 6 z^2 + 3)] / (4 v^2)``,
so kinked activations (ReLU, hard-tanh) need no special case.  The expectations use a composite
Gauss-Legendre rule in ``z`` on ``[-Z_MAX, Z_MAX]`` (:data:`Z_PANELS` panels of :data:`Z_NODES` nodes;
the tail beyond ``Z_MAX = 12`` carries < 1e-32 of the mass); at a kink the rule's error is O(h^2) with
panel width ``h = 0.03``, ~1e-4 relative, far below what a 1/N correction needs.

Written here, from the simulator's own activation (``verify.simulators.activations``); the mean-field
trajectory ``m_t`` is an input (the theory's ``q_t``), so nothing of the mean-field theory is re-derived.
Tied networks and gated cells are not covered (their finite-width process is not a scalar chain).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_MAX = 12.0
Z_PANELS = 800
Z_NODES = 8


def _rule():
    t, w = np.polynomial.legendre.leggauss(Z_NODES)
    edges = np.linspace(-Z_MAX, Z_MAX, Z_PANELS + 1)
    half = 0.5 * np.diff(edges)
    z = (edges[:-1, None] + half[:, None] * (1.0 + t[None, :])).ravel()
    wz = (half[:, None] * w[None, :]).ravel() * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return z, wz


_Z, _WZ = _rule()


@dataclass(frozen=True)
class Moments:
    """At field variance ``v``: ``G = E phi^2``, its first two ``v``-derivatives and ``Var phi^2``."""

    G: float
    G1: float
    G2: float
    var_phi2: float


def moments(phi, v: float) -> Moments:
    """:class:`Moments` of ``phi(sqrt(v) z)``, ``z ~ N(0, 1)``; ``phi`` maps a numpy array elementwise."""
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"field variance must be finite and > 0 for the finite-width expansion, got {v!r}")
    f = np.asarray(phi(np.sqrt(v) * _Z), dtype=np.float64) ** 2
    z2 = _Z * _Z
    G = float(np.dot(_WZ, f))
    return Moments(G=G, G1=float(np.dot(_WZ, f * (z2 - 1.0))) / (2.0 * v),
                   G2=float(np.dot(_WZ, f * (z2 * z2 - 6.0 * z2 + 3.0))) / (4.0 * v * v),
                   var_phi2=max(float(np.dot(_WZ, f * f)) - G * G, 0.0))


@dataclass(frozen=True)
class Bias:
    """Per step ``t = 1..T`` (index ``t - 1``): the O(1/N) biases of the ensemble means of ``q_t`` and
    ``Q_t`` and the variance of ``v_t`` (so ``N * q_bias`` is the width-independent coefficient)."""

    q: np.ndarray
    Q: np.ndarray
    var_v: np.ndarray


def untied_bias(phi, m, width: int, sigma_w: float, sigma_v: float = 0.0, R: float = 0.0) -> Bias:
    r""":class:`Bias` along the mean-field field-variance trajectory ``m`` (``m[t-1] = q_t``, e.g.
    ``theory.trajectory(...)["q"]``) for width ``N = width`` (module docstring for the recursion)."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 1 or m.size == 0 or np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("m must be a non-empty 1-D array of finite field variances > 0")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width!r}")
    n = float(width)
    noise_in = 2.0 * sigma_v ** 4 * R ** 2 / n
    q_bias, Q_bias, s2v = np.empty_like(m), np.empty_like(m), np.empty_like(m)
    delta, s2 = 0.0, noise_in
    for t, mt in enumerate(m):
        mo = moments(phi, float(mt))
        q_bias[t], s2v[t] = delta, s2
        Q_bias[t] = mo.G1 * delta + 0.5 * mo.G2 * s2
        dV, d2V = sigma_w ** 2 * mo.G1, sigma_w ** 2 * mo.G2
        delta, s2 = dV * delta + 0.5 * d2V * s2, dV * dV * s2 + (sigma_w ** 4 * mo.var_phi2) / n + noise_in
    return Bias(q=q_bias, Q=Q_bias, var_v=s2v)


__all__ = ["Bias", "Moments", "moments", "untied_bias", "Z_MAX", "Z_PANELS", "Z_NODES"]
