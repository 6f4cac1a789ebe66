"""Every closed form the engine lowers an expectation to equals scipy quadrature of its integrand."""
import math
import zlib

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

import theory
from theory.symbolic.derive import derive
from theory.symbolic.gaussian import E1, E2
from conftest import CELLS


def _quad1(f, mu, q):
    g = lambda z: f(mu + math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    pts = [-1.0, 0.0, 1.0]
    edges = [-40.0] + sorted({(p - mu) / math.sqrt(q) for p in pts if abs((p - mu) / math.sqrt(q)) < 40}) + [40.0]
    return sum(integrate.quad(g, a, b, epsabs=1e-15, epsrel=1e-13, limit=400)[0] for a, b in zip(edges[:-1], edges[1:]))


def _quad2(F, qa, qb, qab, kx=(), ky=()):
    """Nested scipy quad in the Cholesky variables, split at the kinks kx (of x) and ky (of y)."""
    sa = math.sqrt(qa)
    l21, l22 = qab / sa, math.sqrt(max(qb - qab ** 2 / qa, 0))

    def split(points, lo=-12.0, hi=12.0):
        return [lo] + sorted(p for p in points if lo < p < hi) + [hi]

    def inner(z1):
        edges = split([(k - l21 * z1) / l22 for k in ky]) if l22 > 0 else [-12.0, 12.0]
        return sum(integrate.quad(lambda z2: F(sa * z1, l21 * z1 + l22 * z2) * math.exp(-z2 * z2 / 2), a, b,
                                  epsabs=1e-14, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))
    edges = split([k / sa for k in kx] + ([k / l21 for k in ky] if l21 else []))
    return sum(integrate.quad(lambda z1: inner(z1) * math.exp(-z1 * z1 / 2), a, b, epsabs=1e-14, epsrel=1e-13,
                              limit=200)[0] for a, b in zip(edges[:-1], edges[1:])) / (2 * math.pi)


def _notes():
    seen = {}
    for cell in CELLS:
        for node, cf in derive(theory.cell(cell)).closed_form_notes:
            seen.setdefault(sp.srepr(node.args[0]) + type(node).__name__, (cell, node, cf))
    return sorted(seen.values(), key=lambda t: (t[0], sp.srepr(t[1])))


NOTES = _notes()


def test_closed_forms_are_found_for_relu_erf_linear_hard_tanh_and_not_for_tanh():
    lowered = {cell for cell in CELLS if derive(theory.cell(cell)).closed_form_notes}
    assert {"vanilla-relu", "vanilla-erf", "vanilla-linear", "vanilla-hard-tanh"} <= lowered
    assert "vanilla-tanh" not in lowered  # tanh: no closed forms, quadrature throughout
    relu = derive(theory.cell("vanilla-relu"))
    assert not relu.covariance_map.atoms(E1, E2)  # arc-cosine kernel, no quadrature left


@pytest.mark.parametrize("cell,node,cf", NOTES, ids=[f"{c}:{type(n).__name__}:{i}" for i, (c, n, _) in enumerate(NOTES)])
def test_closed_form_equals_quadrature(cell, node, cf):
    c = theory.cell(cell)
    # zlib.crc32, not hash(): str hashes change per process (PYTHONHASHSEED), so would the draws
    rng = np.random.default_rng(zlib.crc32(sp.srepr(node).encode()))
    free = sorted(node.free_symbols | cf.free_symbols, key=lambda s: s.name)
    for _ in range(3):
        vals = {}
        for s in free:
            vals[s] = rng.uniform(0.2, 1.5) if s.name != "Sigma" else rng.uniform(-0.9, 0.9)
        Csym, Qsym = sp.Symbol("C", real=True), sp.Symbol("Q", nonnegative=True)
        if Csym in vals:  # a valid covariance: |C| < Q
            vals[Csym] = rng.uniform(-0.9, 0.9) * vals[Qsym]
        args = [float(sp.sympify(a).subs(vals)) for a in node.args[1:]]
        want = float(cf.subs(vals).evalf(30))
        lam = node.args[0]
        if isinstance(node, E1):
            f = sp.lambdify(lam.variables, lam.expr, "math")
            got = _quad1(f, *args)
        else:
            F = sp.lambdify(lam.variables, lam.expr, "math")
            mua, mub, qa, qb, qab = args
            kinks = (-1.0, 0.0, 1.0)
            got = _quad2(lambda x, y: F(x + mua, y + mub), qa, qb, qab,
                         [k - mua for k in kinks], [k - mub for k in kinks])
        assert want == pytest.approx(got, rel=1e-10, abs=1e-12), (cell, node)
