r"""Free multiplicative convolution by S-transform series, symbolically (03 §3-4).

For a positive operator :math:`X` with moments :math:`m_k=\tau(X^k)` the moment series is
:math:`\psi_X(z)=\sum_{k\ge1}m_kz^k` and the S-transform

.. math:: S_X(z)=\frac{1+z}{z}\,\psi_X^{-1}(z),

with :math:`\psi_X^{-1}` the functional inverse.  If :math:`A` and :math:`B` are asymptotically
free, :math:`S_{AB}=S_AS_B`.  Everything here is a truncated power series in :math:`z`, handled as
a list of SymPy coefficients ``[c_0, c_1, ..., c_{K-1}]``:

* :func:`s_series` — moments -> S-series (series reversion),
* :func:`moments_from_s` — S-series -> moments (the inverse route),
* :func:`s_power` — :math:`S^T` for a *symbolic* number of factors ``T`` (binomial series),
* :func:`s_product` — product of truncated series.

The expansion :math:`m_1S_X(z)=1+(1-m_2/m_1^2)z+(2m_2^2/m_1^4-m_2/m_1^2-m_3/m_1^3)z^2+O(z^3)` of
03 §3 is what :func:`s_series` returns for ``order=3`` (``tests/test_isometry.py`` rederives it).
"""
from __future__ import annotations

import sympy as sp

Z = sp.Symbol("z")


def _poly(coeffs, z=Z):
    return sum((c * z ** k for k, c in enumerate(coeffs)), sp.Integer(0))


def _truncate(expr, order, z=Z):
    """Coefficients ``[c_0 .. c_{order-1}]`` of a polynomial/series expression in ``z``."""
    expr = sp.expand(expr)
    return [sp.expand(expr.coeff(z, k)) for k in range(order)]


def revert(coeffs, order):
    r"""Series reversion: for :math:`f(z)=\sum_{k\ge1}a_kz^k` (``coeffs[0] = 0``, ``a_1 \ne 0``)
    return the coefficients of :math:`g` with :math:`f(g(w))=w` up to :math:`w^{order-1}`.

    Fixed-point iteration :math:`g\leftarrow(w-\sum_{k\ge2}a_kg^k)/a_1`, each pass fixing one more order."""
    if coeffs[0] != 0:
        raise ValueError("reversion needs f(0) = 0")
    a1 = coeffs[1]
    g = [sp.Integer(0), 1 / a1] + [sp.Integer(0)] * (order - 2)
    for _ in range(order):
        gz = _poly(g)
        higher = sum((coeffs[k] * gz ** k for k in range(2, min(len(coeffs), order))), sp.Integer(0))
        g = _truncate((Z - higher) / a1, order)
    return g


def s_series(moments, order=None):
    r"""S-transform coefficients ``[s_0, ..., s_{K-1}]`` from moments ``[m_1, ..., m_K]``.

    :math:`\psi^{-1}(z)=\sum_{k\ge1}r_kz^k` by reversion, then :math:`S(z)=(1+z)\sum_{k\ge1}r_kz^{k-1}`."""
    K = len(moments) if order is None else order
    psi = [sp.Integer(0)] + list(moments[:K])
    inv = revert(psi, K + 1)
    inner = _poly(inv[1:])  # psi^{-1}(z) / z
    return [sp.simplify(c) for c in _truncate((1 + Z) * inner, K)]


def moments_from_s(s_coeffs):
    r"""Moments ``[m_1, ..., m_K]`` from S-coefficients ``[s_0, ..., s_{K-1}]``.

    :math:`\psi^{-1}(z)=zS(z)/(1+z)`, reverted: :math:`\psi(z)=\sum m_kz^k`."""
    K = len(s_coeffs)
    inv_over_z = _truncate(_poly(s_coeffs) * sum(((-Z) ** k for k in range(K)), sp.Integer(0)), K)
    inv = [sp.Integer(0)] + inv_over_z
    psi = revert(inv, K + 1)
    return [sp.simplify(c) for c in psi[1:]]


def s_product(*series):
    """Coefficients of the product of truncated series (all of the same length)."""
    K = min(len(s) for s in series)
    out = sp.Integer(1)
    for s in series:
        out = out * _poly(s[:K])
    return _truncate(out, K)


def s_power(s_coeffs, T):
    r""":math:`S(z)^T` for a symbolic (or integer) ``T``:
    :math:`s_0^T\,(1+x)^T=s_0^T\sum_j\binom Tj x^j` with :math:`x=\sum_{k\ge1}(s_k/s_0)z^k`."""
    K = len(s_coeffs)
    s0 = s_coeffs[0]
    x = _poly([sp.Integer(0)] + [c / s0 for c in s_coeffs[1:]])
    total = sum((sp.binomial(T, j) * x ** j for j in range(K)), sp.Integer(0))
    return [sp.simplify(sp.expand_func(c) * s0 ** T) for c in _truncate(total, K)]


def weight_s_series(v_w, sigma_w, order=2):
    r"""S-series of :math:`WW^\top` to first order: :math:`\sigma_w^{-2}(1-v_Wz)`, with
    :math:`v_W=m_2/m_1^2-1` its normalised variance (Gaussian 1 — Marchenko–Pastur; scaled
    orthogonal 0).  Exact to all orders for orthogonal; Gaussian: :math:`\sigma_w^{-2}/(1+z)`."""
    if order > 2:
        raise ValueError("weight_s_series gives the first two coefficients; use the closed forms for more")
    return [sigma_w ** -2, -v_w * sigma_w ** -2][:order]
