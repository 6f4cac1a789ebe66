"""GRU and LSTM mean field: generated kernels vs an independent scipy reference, eigenvalues vs
finite differences of the generated maps, numba = jax, regeneration, declaration checks.

The reference below is written from the definitions (06 §2-3) with ``scipy.integrate.quad`` over
each gate field and ``scipy.optimize.brentq``; it imports nothing from ``theory``'s derivation.
GRU:  Q = E[z^2] Q + E[(1-z)^2] E[tanh^2 a_n],  q_n = s_n^2 E[r^2] Q + v_n^2 R + b_n^2,
      chi = E[z^2] + s_z^2 E[z'^2] (Q + E[tanh^2]) + s_n^2 E[(1-z)^2] E[tanh'^2] (E[r^2] + s_r^2 E[r'^2] Q).
LSTM: Q_c = E[i^2] E[g^2] / (1 - E[f^2]),  Q_h = E[o^2] E_{N(0,Q_c)}[tanh^2],
      M = [[a, b], [k a, k b + d]] with a = E[f^2], b = s_f^2 E[f'^2] Q_c + s_i^2 E[i'^2] E[g^2] + s_g^2 E[i^2] E[g'^2],
      k = E[o^2] E[tanh'^2 c], d = s_o^2 E[o'^2] E[tanh^2 c];  chi = (sum of M) / 2;
      m4 = (6 E[f^2] E[i^2] E[g^2] Q_c + E[i^4] E[g^4]) / (1 - E[f^4]).
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize

import theory
from conftest import GATED

ROOT = Path(__file__).resolve().parents[1]
REL = 1e-8


# ------------------------------------------------------------------------------ reference
def sig(x):
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def dsig(x):
    s = sig(x)
    return s * (1.0 - s)


def E(f, mu, q):
    """E[f(a)], a ~ N(mu, q): quad over the standard normal, split at 0 and around the point where
    a crosses 0 on the activation's own scale (narrow when q is large)."""
    if q == 0:
        return f(mu)
    s = math.sqrt(q)
    z0 = -mu / s  # where the field crosses 0 (the activations' transition, width ~1/s in z)
    pts = {0.0} | {z0 + k / s for k in (-30, -5, -1, 0, 1, 5, 30)} | {z0 - 3, z0 + 3}
    edges = [-math.inf] + sorted(p for p in pts if abs(p) < 40) + [math.inf]
    g = lambda z: f(mu + s * z) * math.exp(-0.5 * z * z)  # noqa: E731
    return sum(integrate.quad(g, a, b, epsabs=1e-15, epsrel=1e-13, limit=400)[0] for a, b in zip(edges[:-1], edges[1:])) / math.sqrt(2 * math.pi)


def E2(f, mu, q, qab):
    """E[f(a_a, a_b)] for a bivariate normal pair with equal means/variances (nested quad)."""
    s = math.sqrt(q)
    l21 = qab / s
    l22 = math.sqrt(max(q - l21 * l21, 0.0))
    inner = lambda z1: integrate.quad(lambda z2: f(mu + s * z1, mu + l21 * z1 + l22 * z2) * math.exp(-0.5 * z2 * z2),  # noqa: E731
                                      -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200, points=[0.0])[0]
    return integrate.quad(lambda z1: inner(z1) * math.exp(-0.5 * z1 * z1), -12, 12, epsabs=1e-14, epsrel=1e-12,
                          limit=200, points=[0.0])[0] / (2 * math.pi)


def gate_q(p, g, Q):
    return p[f"sigma_w_{g}"] ** 2 * Q + p[f"sigma_v_{g}"] ** 2 * p["R"] + p[f"sigma_b_{g}"] ** 2


def mu(p, g):
    return p.get(f"mu_b_{g}", 0.0)


def gru_reference(p):
    def parts(Q):
        qz, qr = gate_q(p, "z", Q), gate_q(p, "r", Q)
        Er2 = E(lambda x: sig(x) ** 2, mu(p, "r"), qr)
        qn = p["sigma_w_n"] ** 2 * Er2 * Q + p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2
        return qz, qr, qn, Er2

    def F(Q):
        qz, qr, qn, _ = parts(Q)
        return E(lambda x: sig(x) ** 2, mu(p, "z"), qz) * Q + E(lambda x: sig(-x) ** 2, mu(p, "z"), qz) * E(lambda x: math.tanh(x) ** 2, 0, qn)

    Q = optimize.brentq(lambda Q: F(Q) - Q, 1e-9, 1.0, xtol=1e-16, rtol=1e-15)
    qz, qr, qn, Er2 = parts(Q)
    Ez2 = E(lambda x: sig(x) ** 2, mu(p, "z"), qz)
    Edz2 = E(lambda x: dsig(x) ** 2, mu(p, "z"), qz)
    Eomz2 = E(lambda x: sig(-x) ** 2, mu(p, "z"), qz)
    Et2 = E(lambda x: math.tanh(x) ** 2, 0, qn)
    Edt2 = E(lambda x: (1 - math.tanh(x) ** 2) ** 2, 0, qn)
    Edr2 = E(lambda x: dsig(x) ** 2, mu(p, "r"), qr)
    chi = Ez2 + p["sigma_w_z"] ** 2 * Edz2 * (Q + Et2) + p["sigma_w_n"] ** 2 * Eomz2 * Edt2 * (Er2 + p["sigma_w_r"] ** 2 * Edr2 * Q)
    return {"Q_star": Q, "q_star": qz, "q_star_z": qz, "q_star_r": qr, "q_star_n": qn, "chi": chi, "lambda_max": chi}


def lstm_reference(p):
    def at(Qh):
        q = {g: gate_q(p, g, Qh) for g in "ifgo"}
        Ef2 = E(lambda x: sig(x) ** 2, mu(p, "f"), q["f"])
        one_minus = E(lambda x: sig(-x) * (1 + sig(x)), mu(p, "f"), q["f"])  # 1 - E[f^2], written stably
        Ei2 = E(lambda x: sig(x) ** 2, mu(p, "i"), q["i"])
        Eg2 = E(lambda x: math.tanh(x) ** 2, 0, q["g"])
        Qc = Ei2 * Eg2 / one_minus
        Eo2 = E(lambda x: sig(x) ** 2, mu(p, "o"), q["o"])
        return q, Ef2, Ei2, Eg2, Qc, Eo2

    def r(Qh):
        q, Ef2, Ei2, Eg2, Qc, Eo2 = at(Qh)
        return Eo2 * E(lambda x: math.tanh(x) ** 2, 0, Qc) - Qh

    Qh = optimize.brentq(r, 1e-9, 1.0, xtol=1e-16, rtol=1e-15)
    q, Ef2, Ei2, Eg2, Qc, Eo2 = at(Qh)
    a = Ef2
    b = (p["sigma_w_f"] ** 2 * E(lambda x: dsig(x) ** 2, mu(p, "f"), q["f"]) * Qc
         + p["sigma_w_i"] ** 2 * E(lambda x: dsig(x) ** 2, mu(p, "i"), q["i"]) * Eg2
         + p["sigma_w_g"] ** 2 * Ei2 * E(lambda x: (1 - math.tanh(x) ** 2) ** 2, 0, q["g"]))
    k = Eo2 * E(lambda x: (1 - math.tanh(x) ** 2) ** 2, 0, Qc)
    d = p["sigma_w_o"] ** 2 * E(lambda x: dsig(x) ** 2, mu(p, "o"), q["o"]) * E(lambda x: math.tanh(x) ** 2, 0, Qc)
    M = np.array([[a, b], [k * a, k * b + d]])
    ev = sorted(np.abs(np.linalg.eigvals(M)), reverse=True)
    m4 = (6 * Ef2 * Ei2 * Eg2 * Qc + E(lambda x: sig(x) ** 4, mu(p, "i"), q["i"]) * E(lambda x: math.tanh(x) ** 4, 0, q["g"])) / (
        1 - E(lambda x: sig(x) ** 4, mu(p, "f"), q["f"]))
    out = {"Q_star": Qh, "Q_c_star": Qc, "q_star": q["f"], "chi": M.sum() / 2, "lambda_max": ev[0], "lambda_2": ev[1],
           "kurtosis_c": m4 / Qc ** 2}
    out.update({f"q_star_{g}": q[g] for g in "ifgo"})
    return out


def params(cell, **over):
    return {**theory.parameters(cell), **over}


GRU_POINTS = [params("gru"), params("gru", sigma_w_r=2.0, sigma_w_z=0.5, sigma_w_n=2.5, mu_b_z=-1.0, mu_b_r=1.0,
                                    sigma_b_z=0.3, sigma_v_n=0.5, R=0.7)]
LSTM_POINTS = [params("lstm"), params("lstm", sigma_w_i=2.0, sigma_w_f=0.7, sigma_w_g=3.0, sigma_w_o=2.5, mu_b_i=-0.5,
                                      mu_b_o=1.0, sigma_b_f=0.2, R=0.5),
               params("lstm", mu_b_f=12.0, sigma_w_f=0.3, sigma_v_f=0.2)]  # shut forget leak: 1 - E[f^2] ~ 1e-5, Q_c ~ 1e4


# ------------------------------------------------------------------------------ kernels vs reference
@pytest.mark.parametrize("p", GRU_POINTS, ids=["defaults", "mixed"])
def test_gru_fixed_point_gate_variances_and_chi_match_scipy_quadrature_to_1e8(p):
    ref = gru_reference(p)
    for q, want in ref.items():
        assert theory.predict("gru", q, **p) == pytest.approx(want, rel=REL), q


@pytest.mark.parametrize("p", LSTM_POINTS, ids=["defaults", "mixed", "saturated-forget"])
def test_lstm_fixed_point_perturbation_map_and_kurtosis_match_scipy_quadrature_to_1e8(p):
    ref = lstm_reference(p)
    for q, want in ref.items():
        assert theory.predict("lstm", q, **p) == pytest.approx(want, rel=REL), q


def test_covariance_maps_match_bivariate_scipy_quadrature_to_1e8():
    """One step of the two-sequence maps at a given (C, Q), Sigma = 0.3 (nested quad per gate pair)."""
    p = params("gru", Sigma=0.3, mu_b_z=0.5)
    Q, C = 0.4, 0.15
    cov = lambda g, Cr: p[f"sigma_w_{g}"] ** 2 * Cr + p[f"sigma_v_{g}"] ** 2 * p["Sigma"] * p["R"] + p[f"sigma_b_{g}"] ** 2  # noqa: E731
    qz, qr = gate_q(p, "z", Q), gate_q(p, "r", Q)
    qn = p["sigma_w_n"] ** 2 * E(lambda x: sig(x) ** 2, mu(p, "r"), qr) * Q + p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2
    qn_ab = p["sigma_w_n"] ** 2 * E2(lambda x, y: sig(x) * sig(y), mu(p, "r"), qr, cov("r", C)) * C + cov("n", 0.0)
    want = (E2(lambda x, y: sig(x) * sig(y), mu(p, "z"), qz, cov("z", C)) * C
            + E2(lambda x, y: sig(-x) * sig(-y), mu(p, "z"), qz, cov("z", C)) * E2(lambda x, y: math.tanh(x) * math.tanh(y), 0, qn, qn_ab))
    mod = theory.kernels("gru", "numba")
    args = [p[n] for n in theory.cell("gru").param_names]
    assert mod.covariance_map_h(C, Q, *args) == pytest.approx(want, rel=REL)
    assert mod.gate_covariance_n(C, Q, *args) == pytest.approx(qn_ab, rel=REL)


# ------------------------------------------------------------------------------ eigenvalues vs finite differences
def _fd_jacobian(f, x, h, one_sided=False):
    n = len(x)
    J = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h * max(abs(x[j]), 1e-3)
        if one_sided:  # C <= Q: second-order backward difference
            J[:, j] = (3 * f(x) - 4 * f(x - e) + f(x - 2 * e)) / (2 * e[j])
        else:
            J[:, j] = (f(x + e) - f(x - e)) / (2 * e[j])
    return J


@pytest.mark.parametrize("cell,p", [("gru", GRU_POINTS[1]), ("lstm", LSTM_POINTS[1]),
                                    ("lstm", params("lstm", sigma_w_i=4.0, sigma_w_f=4.0, sigma_w_g=4.0, sigma_w_o=4.0))],
                         ids=["gru", "lstm-ordered", "lstm-chaotic"])
def test_eigenvalues_of_the_linearised_maps_match_finite_differences_of_the_generated_maps(cell, p):
    c = theory.cell(cell)
    mod = theory.kernels(cell, "numba")
    args = [p[n] for n in c.param_names]
    comps = c.state
    Qs = np.array([theory.predict(cell, "Q_star" if k == c.read else f"Q_{k}_star", **p) for k in comps])
    F = lambda Q: np.array([getattr(mod, f"variance_map_{k}")(*Q, *args) for k in comps])  # noqa: E731
    np.testing.assert_allclose(F(Qs), Qs, rtol=1e-11)  # it is a fixed point of the generated map
    Jq = _fd_jacobian(F, Qs, 1e-5)
    nu = sorted(np.abs(np.linalg.eigvals(Jq)), reverse=True)
    assert math.exp(-1 / theory.predict(cell, "xi_q", **p)) == pytest.approx(nu[0], rel=1e-7)
    G = lambda C: np.array([getattr(mod, f"covariance_map_{k}")(*C, *Qs, *args) for k in comps])  # noqa: E731
    M = _fd_jacobian(G, Qs, 1e-5, one_sided=True)  # the perturbation map: dG/dC at C = Q, Sigma = 1
    lam = sorted(np.abs(np.linalg.eigvals(M)), reverse=True)
    assert theory.predict(cell, "lambda_max", **p) == pytest.approx(lam[0], rel=1e-6)
    assert theory.predict(cell, "chi", **p) == pytest.approx(M.sum() / len(comps), rel=1e-6)
    if len(comps) == 2:
        assert theory.predict(cell, "lambda_2", **p) == pytest.approx(lam[1], rel=1e-5, abs=1e-9)
        assert math.exp(-1 / theory.predict(cell, "xi_q_2", **p)) == pytest.approx(nu[1], rel=1e-6, abs=1e-9)
    # differing inputs: the correlation fixed point and the slope of the covariance map there
    pd = {**p, "Sigma": 0.5}
    argsd = [pd[n] for n in c.param_names]
    Cs = np.array([theory.predict(cell, "c_h_star" if k == c.read else f"c_{k}_star", **pd) for k in comps]) * Qs
    Gd = lambda C: np.array([getattr(mod, f"covariance_map_{k}")(*C, *Qs, *argsd) for k in comps])  # noqa: E731
    np.testing.assert_allclose(Gd(Cs), Cs, rtol=1e-10, atol=1e-13)
    mu = sorted(np.abs(np.linalg.eigvals(_fd_jacobian(Gd, Cs, 1e-5))), reverse=True)
    assert math.exp(-1 / theory.predict(cell, "xi", **pd)) == pytest.approx(mu[0], rel=1e-6)


def test_chaotic_lstm_has_a_correlation_fixed_point_below_one_and_lambda_max_above_one():
    p = params("lstm", sigma_w_i=4.0, sigma_w_f=4.0, sigma_w_g=4.0, sigma_w_o=4.0)
    assert theory.predict("lstm", "lambda_max", **p) > 1.0
    ch = theory.predict("lstm", "c_h_star", **p)
    assert 0.0 < ch < 1.0 - 1e-4
    mod = theory.kernels("lstm", "numba")
    args = [p[n] for n in theory.cell("lstm").param_names]
    Qs = [theory.predict("lstm", "Q_c_star", **p), theory.predict("lstm", "Q_star", **p)]
    Cs = [theory.predict("lstm", "c_c_star", **p) * Qs[0], ch * Qs[1]]
    assert mod.covariance_map_h(*Cs, *Qs, *args) == pytest.approx(Cs[1], rel=1e-10)


# ------------------------------------------------------------------------------ backends, registry
@pytest.mark.parametrize("cell", GATED)
def test_numba_and_jax_kernels_agree_to_1e10(cell):
    import jax
    import jax.numpy as jnp

    pts = {"gru": GRU_POINTS, "lstm": LSTM_POINTS[:2]}.get(cell, [params(cell)])
    mod = theory.kernels(cell, "jax")
    names = theory.cell(cell).param_names
    f = jax.jit(mod.fixed_point_quantities)
    for p in pts:
        out = f(*[jnp.float64(p[n]) for n in names])
        for q, v in out.items():
            assert v.dtype == jnp.float64
            assert float(v) == pytest.approx(theory.predict(cell, q, **p), rel=1e-10, abs=1e-13), (q, p)


def test_jax_gradient_of_lambda_max_through_the_fixed_point_matches_finite_differences():
    import jax
    import jax.numpy as jnp

    p = params("gru")
    names = theory.cell("gru").param_names
    mod = theory.kernels("gru", "jax")
    i = names.index("mu_b_z")
    g = jax.grad(mod.lambda_max, argnums=i)(*[jnp.float64(p[n]) for n in names])
    h = 1e-5
    fd = (theory.predict("gru", "lambda_max", **{**p, "mu_b_z": p["mu_b_z"] + h})
          - theory.predict("gru", "lambda_max", **{**p, "mu_b_z": p["mu_b_z"] - h})) / (2 * h)
    assert float(g) == pytest.approx(fd, rel=1e-6)


def test_predict_serves_gated_quantities_and_rejects_them_for_other_cells():
    assert "lambda_max" in theory.quantities() and "Q_c_star" in theory.quantities()
    arr = theory.predict("lstm", "lambda_max", mu_b_f=np.array([0.0, 2.0, 4.0]))
    assert arr.shape == (3,) and np.all(np.diff(arr) > 0)  # a larger forget bias keeps more of the perturbation
    with pytest.raises(ValueError, match="gated"):
        theory.predict("vanilla-tanh", "lambda_max")
    with pytest.raises(ValueError, match="closure"):
        theory.predict("lstm", "Q_c_star", closure="exact")
    with pytest.raises(ValueError, match="unknown parameter"):
        theory.predict("gru", "chi", sigma_w=1.0)  # per-gate names only


def test_gru_trajectory_through_the_core_api_converges_to_its_fixed_point():
    out = theory.trajectory("gru", 80, Q0=0.9, C0=0.2)
    assert out["Q"][-1] == pytest.approx(theory.predict("gru", "Q_star"), rel=1e-10)
    assert out["q"][-1] == pytest.approx(theory.predict("gru", "q_star"), rel=1e-10)


# ------------------------------------------------------------------------------ declaration and regeneration
@pytest.mark.parametrize("cell", GATED)
def test_checked_in_gated_derivation_is_byte_identical_to_regeneration(cell):
    from theory.codegen.render import render_package
    c = theory.cell(cell)
    for name, text in render_package(c).items():
        path = ROOT / "derivations" / c.package / name
        assert path.read_text() == text, f"{path} differs: run `derive cell={cell}`"
        if name != "derivation.md":
            assert text.startswith("# generated by signalprop — do not edit")
            assert c.declaration_hash() in text[:400] and "generator version" in text[:400]


def test_gated_regeneration_is_independent_of_the_hash_seed(tmp_path):
    env = dict(os.environ, PYTHONHASHSEED="12345", NUMBA_DISABLE_JIT="1")
    out = tmp_path / "gru"
    r = subprocess.run([sys.executable, "-c", f"import theory; theory.generate('gru', {str(out)!r})"], env=env,
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    for f in ("__init__.py", "numba_kernels.py", "jax_kernels.py", "derivation.md"):
        assert (out / f).read_bytes() == (ROOT / "derivations" / "gru" / f).read_bytes(), f


def test_gated_declarations_are_validated_on_construction():
    from theory.declare.activations import sigmoid
    from theory.declare.gated import Gate, GatedCell, field, old
    h, c = old("h"), old("c")
    gates = (Gate("z"), Gate("n", activation="tanh", bias_mean=False))
    ok = dict(name="toy", gates=gates, state=("h",), memory_gate="z")
    GatedCell(update=(("h", sigmoid(field("z")) * h + sp.tanh(field("n"))),), **ok)
    with pytest.raises(ValueError, match="odd"):  # an additive term with a non-zero mean
        GatedCell(update=(("h", sigmoid(field("z")) * h + sigmoid(field("z"))),), **ok)
    with pytest.raises(ValueError, match="degree"):
        GatedCell(update=(("h", sigmoid(field("z")) * h * h),), **ok)
    with pytest.raises(ValueError, match="undeclared"):
        GatedCell(update=(("h", sigmoid(field("q")) * h),), **ok)
    with pytest.raises(ValueError, match="own old value"):
        GatedCell(name="toy2", gates=gates, state=("c", "h"), memory_gate="z",
                  update=(("c", sigmoid(field("z")) * h), ("h", sp.tanh(field("n")) + sigmoid(field("z")) * h)))

