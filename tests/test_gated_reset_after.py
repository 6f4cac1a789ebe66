"""The reset-after GRU (PyTorch nn.GRU / Flax GRUCell / cuDNN): generated kernels vs an independent
scipy nested-quadrature reference, eigenvalues vs finite differences of the generated maps, the
two-sequence (4-D) map vs an independent high-order Gauss-Hermite reference, jax = numba.

The reference is written from the definitions and imports nothing from ``theory``'s derivation:
a_n = u + r m with u ~ N(0, v_u), v_u = s_vn^2 R + s_bn^2, m ~ N(0, v_m), v_m = s_wn^2 Q + s_bhn^2,
r = sig(a_r); so a_n | a_r ~ N(0, v_u + r^2 v_m).
    Q' = E[z^2] Q + E[(1-z)^2] E_r[E tanh^2(a_n)],   q_n = v_u + E[r^2] v_m,
    chi = E[z^2] + s_wz^2 E[z'^2] (Q + E[n^2]) + E[(1-z)^2] (s_wn^2 E_r[r^2 E tanh'^2]
          + s_wr^2 E_r[r'^2 E[tanh'^2(a_n) m^2]]),
with E[g(a_n) m^2 | r] = E[g(a_n) (v_m - r^2 v_m^2/v + r^2 v_m^2 a_n^2/v^2)], v = v_u + r^2 v_m (the
conditional law of m given a_n): a tangent perturbation dh moves a_z, a_r and m independently.
"""
import math

import numpy as np
import pytest
from scipy import integrate, optimize

import theory
from test_gated_theory import E, E2, _fd_jacobian, dsig, gate_q, mu, params, sig

CELL = "gru-reset-after"
REL = 1e-8


def Ein(f, v):
    """E[f(x)], x ~ N(0, v) (inner variance of the candidate field: O(1), no sharp features)."""
    if v == 0:
        return f(0.0)
    s = math.sqrt(v)
    return integrate.quad(lambda z: f(s * z) * math.exp(-0.5 * z * z), -13, 13, points=[0.0], epsabs=1e-15,
                          epsrel=1e-13, limit=200)[0] / math.sqrt(2 * math.pi)


def dtanh2(x):
    return (1 - math.tanh(x) ** 2) ** 2


def one_step_maps(p):
    """(F, chi_of): the one-step variance map Q -> Q' and the one-step tangent gain chi(Q) (the formulas
    above with the step's input variance Q; at Q = Q* chi(Q*) is chi)."""
    vu = p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2

    def vm(Q):
        return p["sigma_w_n"] ** 2 * Q + p["sigma_b_hn"] ** 2

    def K1(Q):
        qr = gate_q(p, "r", Q)
        return E(lambda s: Ein(lambda x: math.tanh(x) ** 2, vu + sig(s) ** 2 * vm(Q)), mu(p, "r"), qr)

    def F(Q):
        qz = gate_q(p, "z", Q)
        return E(lambda x: sig(x) ** 2, mu(p, "z"), qz) * Q + E(lambda x: sig(-x) ** 2, mu(p, "z"), qz) * K1(Q)

    def chi_of(Q):
        qz, qr, Vm = gate_q(p, "z", Q), gate_q(p, "r", Q), vm(Q)

        def m2(s):  # E[tanh'^2(a_n) m^2 | a_r = s]
            r2 = sig(s) ** 2
            v = vu + r2 * Vm
            return Ein(lambda a: dtanh2(a) * (Vm - r2 * Vm ** 2 / v + r2 * Vm ** 2 * a * a / v ** 2), v)

        Et2 = K1(Q)
        return (E(lambda x: sig(x) ** 2, mu(p, "z"), qz)
                + p["sigma_w_z"] ** 2 * E(lambda x: dsig(x) ** 2, mu(p, "z"), qz) * (Q + Et2)
                + E(lambda x: sig(-x) ** 2, mu(p, "z"), qz) * (
                    p["sigma_w_n"] ** 2 * E(lambda s: sig(s) ** 2 * Ein(dtanh2, vu + sig(s) ** 2 * Vm), mu(p, "r"), qr)
                    + p["sigma_w_r"] ** 2 * E(lambda s: dsig(s) ** 2 * m2(s), mu(p, "r"), qr)))

    return F, chi_of


def reference(p):
    F, chi_of = one_step_maps(p)
    vu = p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2
    Q = optimize.brentq(lambda Q: F(Q) - Q, 1e-9, 1.0, xtol=1e-15, rtol=1e-13)
    qz, qr, Vm = gate_q(p, "z", Q), gate_q(p, "r", Q), p["sigma_w_n"] ** 2 * Q + p["sigma_b_hn"] ** 2
    qn = vu + E(lambda s: sig(s) ** 2, mu(p, "r"), qr) * Vm
    chi = chi_of(Q)
    return {"Q_star": Q, "q_star": qz, "q_star_z": qz, "q_star_r": qr, "q_star_n": qn, "chi": chi, "lambda_max": chi}


POINTS = [params(CELL), params(CELL, sigma_w_r=1.5, sigma_w_z=1.2, sigma_w_n=2.0, sigma_v_z=0.8, sigma_v_n=0.7,
                                sigma_b_r=0.3, sigma_b_z=0.2, sigma_b_n=0.4, sigma_b_hn=0.5, mu_b_r=0.5, R=0.8)]


def _args(p):
    return [p[n] for n in theory.cell(CELL).param_names]


# ------------------------------------------------------------------------------ single sequence
@pytest.mark.parametrize("p", POINTS, ids=["defaults", "mixed"])
def test_fixed_point_gate_variances_and_chi_match_nested_scipy_quadrature_to_1e8(p):
    ref = reference(p)
    for q, want in ref.items():
        assert theory.predict(CELL, q, **p) == pytest.approx(want, rel=REL), q


def test_one_step_maps_at_the_documented_check_point():
    """At README_gated.md's simulation check point (input variance Q = 0.6) the generated one-step maps equal
    the nested scipy quadrature written above (Q' and the tangent gain chi(Q), to REL); the README's one-off
    simulation (N = 1000, 200 draws: Q' = 0.37970 +- 0.00130, chi = 0.6596 +- 0.0025) lies within K = 3 of its
    stated standard errors of that reference (the finite-width bias at N = 1000 is O(1/N) ~ 1e-3 relative,
    below one SE)."""
    p = params(CELL, sigma_w_r=1.5, sigma_w_z=1.2, sigma_w_n=2.0, sigma_v_z=0.8, sigma_v_n=0.7, sigma_b_r=0.3,
               sigma_b_z=0.2, sigma_b_n=0.4, sigma_b_hn=0.5, mu_b_r=0.5)
    F, chi_of = one_step_maps(p)
    Q, K = 0.6, 3.0
    want_Q, want_chi = F(Q), chi_of(Q)
    mod = theory.kernels(CELL, "numba")
    assert mod.variance_map_h(Q, *_args(p)) == pytest.approx(want_Q, rel=REL)
    assert mod.perturbation_map_00(Q, *_args(p)) == pytest.approx(want_chi, rel=REL)
    assert abs(0.37970 - want_Q) <= K * 0.00130
    assert abs(0.6596 - want_chi) <= K * 0.0025


def test_constant_reset_gate_reduces_to_the_reset_before_gru():
    """With r = sigma(mu_r) fixed (no spread) and b_hn = 0, r (W h) = W (r h): both GRU forms coincide."""
    p = params(CELL, sigma_w_r=0.0, sigma_v_r=0.0, sigma_b_r=0.0, mu_b_r=0.7, sigma_w_n=1.8, sigma_b_n=0.3)
    q = {k: v for k, v in p.items() if k != "sigma_b_hn"}
    for name in ("Q_star", "q_star_n", "chi", "xi_q"):
        assert theory.predict(CELL, name, **p) == pytest.approx(theory.predict("gru", name, **q), rel=1e-10), name


def test_eigenvalues_match_finite_differences_of_the_generated_maps():
    p = POINTS[1]
    mod = theory.kernels(CELL, "numba")
    args = _args(p)
    Qs = theory.predict(CELL, "Q_star", **p)
    F = lambda Q: np.array([mod.variance_map_h(Q[0], *args)])  # noqa: E731
    assert F([Qs])[0] == pytest.approx(Qs, rel=1e-11)
    nu = abs(_fd_jacobian(F, np.array([Qs]), 1e-5)[0, 0])
    assert math.exp(-1 / theory.predict(CELL, "xi_q", **p)) == pytest.approx(nu, rel=1e-7)
    # M = dG/dC at C = Q from C = Q - h, Q - 2h, Q - 3h (2nd order; C = Q itself is the degenerate branch
    # of the 4-D rule, whose rounding-level offset would be amplified by 1/h)
    h = 1e-4 * Qs
    g = [mod.covariance_map_h(Qs - k * h, Qs, *args) for k in (1, 2, 3)]  # 4-D integrals
    M = (2.5 * g[0] - 4.0 * g[1] + 1.5 * g[2]) / h
    assert theory.predict(CELL, "lambda_max", **p) == pytest.approx(M, rel=1e-6)
    assert theory.predict(CELL, "chi", **p) == pytest.approx(M, rel=1e-6)


# ------------------------------------------------------------------------------ two sequences (4-D)
def K_gauss_hermite(p, C, Q, no, ni):
    """E[tanh(a_n,a) tanh(a_n,b)] by tensor Gauss-Hermite: (no x no) over the reset pair, (ni x ni) inside."""
    vu = p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2
    vuab = p["sigma_v_n"] ** 2 * p["Sigma"] * p["R"] + p["sigma_b_n"] ** 2
    vm, vmab = p["sigma_w_n"] ** 2 * Q + p["sigma_b_hn"] ** 2, p["sigma_w_n"] ** 2 * C + p["sigma_b_hn"] ** 2
    q = gate_q(p, "r", Q)
    qab = p["sigma_w_r"] ** 2 * C + p["sigma_v_r"] ** 2 * p["Sigma"] * p["R"] + p["sigma_b_r"] ** 2
    zo, wo = np.polynomial.hermite_e.hermegauss(no)
    zi, wi = np.polynomial.hermite_e.hermegauss(ni)
    wo, wi = wo / math.sqrt(2 * math.pi), wi / math.sqrt(2 * math.pi)
    sa = math.sqrt(q)
    l21 = qab / sa
    l22 = math.sqrt(max(q - l21 ** 2, 0.0))
    rsig = lambda x: 0.5 * (1 + np.tanh(0.5 * x))  # noqa: E731
    total = 0.0
    for i in range(no):
        s = mu(p, "r") + sa * zo[i]
        t = mu(p, "r") + l21 * zo[i] + l22 * zo
        rs, rt = rsig(s), rsig(t)[:, None, None]
        va, vb, c = vu + rs ** 2 * vm, vu + rt ** 2 * vm, vuab + rs * rt * vmab
        x = math.sqrt(va) * zi[None, :, None]
        y = c / math.sqrt(va) * zi[None, :, None] + np.sqrt(np.maximum(vb - c ** 2 / va, 0.0)) * zi[None, None, :]
        inner = np.sum(wi[None, :, None] * wi[None, None, :] * np.tanh(x) * np.tanh(y), axis=(1, 2))
        total += wo[i] * np.sum(wo * inner)
    return total


@pytest.mark.parametrize("point,C,Q", [(1, 0.15, 0.4), (0, 0.05, 0.2)], ids=["mixed", "defaults"])
def test_covariance_map_matches_a_high_order_4d_reference(point, C, Q):
    """One step of the two-sequence map, Sigma = 0.3, against tensor Gauss-Hermite (64^2 x 128^2 nodes; its
    own change from 48^2 x 96^2 bounds its error).  The kernels' reduced 4-D rule (theory.codegen.quadrature
    MIX_OUTER_PANELS, MIX_INNER_PANELS) is within 1e-8 of it (measured 0.5-1.5e-9, also at C = 0.9999 Q)."""
    p = {**POINTS[point], "Sigma": 0.3}
    cov = lambda g, Cr: p[f"sigma_w_{g}"] ** 2 * Cr + p[f"sigma_v_{g}"] ** 2 * p["Sigma"] * p["R"] + p[f"sigma_b_{g}"] ** 2  # noqa: E731
    qz = gate_q(p, "z", Q)
    K_hi = K_gauss_hermite(p, C, Q, 64, 128)
    K_lo = K_gauss_hermite(p, C, Q, 48, 96)
    assert abs(K_hi - K_lo) < 5e-9 * abs(K_hi)
    want = (E2(lambda x, y: sig(x) * sig(y), mu(p, "z"), qz, cov("z", C)) * C
            + E2(lambda x, y: sig(-x) * sig(-y), mu(p, "z"), qz, cov("z", C)) * K_hi)
    mod = theory.kernels(CELL, "numba")
    assert mod.covariance_map_h(C, Q, *_args(p)) == pytest.approx(want, rel=REL)
    qn_ab = cov("n", 0.0) + E2(lambda x, y: sig(x) * sig(y), mu(p, "r"), gate_q(p, "r", Q), cov("r", C)) * (
        p["sigma_w_n"] ** 2 * C + p["sigma_b_hn"] ** 2)
    assert mod.gate_covariance_n(C, Q, *_args(p)) == pytest.approx(qn_ab, rel=REL)


@pytest.mark.slow
def test_correlation_fixed_point_and_xi_match_the_generated_covariance_map():
    """Differing inputs (Sigma = 0.5): C* is a fixed point of the generated 4-D map and exp(-1/xi) its slope
    there (each correlation quantity takes ~30 s on 2 cores: ~50 evaluations of the 4-D integral)."""
    p = {**POINTS[0], "Sigma": 0.5}
    mod = theory.kernels(CELL, "numba")
    args = _args(p)
    Qs = theory.predict(CELL, "Q_star", **p)
    Cs = theory.predict(CELL, "c_h_star", **p) * Qs
    G = lambda C: np.array([mod.covariance_map_h(C[0], Qs, *args)])  # noqa: E731
    assert G([Cs])[0] == pytest.approx(Cs, rel=1e-10)
    slope = abs(_fd_jacobian(G, np.array([Cs]), 1e-5)[0, 0])
    assert math.exp(-1 / theory.predict(CELL, "xi", **p)) == pytest.approx(slope, rel=1e-6)
    # identical inputs in the ordered phase: C* = Q*, xi = -1/ln lambda_max, no 4-D integral needed
    q1 = {**p, "Sigma": 1.0}
    assert theory.predict(CELL, "c_h_star", **q1) == 1.0
    assert theory.predict(CELL, "xi", **q1) == pytest.approx(-1 / math.log(theory.predict(CELL, "lambda_max", **q1)), rel=1e-12)


# ------------------------------------------------------------------------------ jax
def test_jax_kernels_compose_with_jit_vmap_and_grad():
    import jax
    import jax.numpy as jnp

    p = POINTS[1]
    names = theory.cell(CELL).param_names
    mod = theory.kernels(CELL, "jax")
    a = [jnp.float64(p[n]) for n in names]
    i = names.index("mu_b_z")
    g = jax.grad(mod.lambda_max, argnums=i)(*a)
    h = 1e-5
    fd = (theory.predict(CELL, "lambda_max", **{**p, "mu_b_z": p["mu_b_z"] + h})
          - theory.predict(CELL, "lambda_max", **{**p, "mu_b_z": p["mu_b_z"] - h})) / (2 * h)
    assert float(g) == pytest.approx(fd, rel=1e-6)
    mus = jnp.array([0.0, 1.0, 2.0])
    axes = tuple(0 if n == "mu_b_z" else None for n in names)
    v = jax.jit(jax.vmap(mod.Q_star, in_axes=axes))(*[mus if n == "mu_b_z" else x for n, x in zip(names, a)])
    for m, got in zip([0.0, 1.0, 2.0], v):
        assert float(got) == pytest.approx(theory.predict(CELL, "Q_star", **{**p, "mu_b_z": m}), rel=1e-10)


# ------------------------------------------------------------------------------ declaration
def test_scaled_gate_declarations_are_validated():
    import sympy as sp

    from theory.declare.activations import sigmoid
    from theory.declare.gated import Gate, GatedCell, field, old
    h = old("h")
    upd = (("h", sigmoid(field("z")) * h + sigmoid(-field("z")) * sp.tanh(field("n"))),)
    ok = dict(name="toy-ra", state=("h",), memory_gate="z", update=upd)
    c = GatedCell(gates=(Gate("r"), Gate("z"), Gate("n", "tanh", bias_mean=False, scale=sigmoid(field("r")))), **ok)
    assert "sigma_b_hn" in c.param_names and "sigma_b_hn" not in theory.cell("gru").param_names
    with pytest.raises(ValueError, match="earlier"):  # the scaling gate must come first
        GatedCell(gates=(Gate("z"), Gate("n", "tanh", bias_mean=False, scale=sigmoid(field("r"))), Gate("r")), **ok)
    with pytest.raises(ValueError, match="bias mean 0"):
        GatedCell(gates=(Gate("r"), Gate("z"), Gate("n", "tanh", scale=sigmoid(field("r")))), **ok)
    assert theory.parameters(CELL) == {**theory.parameters("gru"), "sigma_b_hn": 0.0}


def test_regeneration_is_byte_identical_and_independent_of_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONHASHSEED="4242", NUMBA_DISABLE_JIT="1")
    r = subprocess.run([sys.executable, "-c", f"import theory; theory.generate({CELL!r}, {str(tmp_path)!r})"], env=env,
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    for f in ("__init__.py", "numba_kernels.py", "jax_kernels.py", "derivation.md"):
        assert (tmp_path / f).read_bytes() == (root / "derivations" / "gru_reset_after" / f).read_bytes(), f


def test_population_closure_serves_the_scaled_gate():
    # was refused ("scaled gates"); the agreement with the closure is tests/test_population.py
    q = theory.predict(CELL, "Q_star", closure="population")
    assert q == pytest.approx(float(theory.predict(CELL, "Q_star")), rel=0.01)
