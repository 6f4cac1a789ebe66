"""The reset-after GRU's generated one-step maps against a direct Monte-Carlo of the cell's one-step map.

Independent of both the generated kernels and the nested-quadrature reference of test_gated_reset_after
(which uses the conditional law of m given a_n for chi): here the cell's step is sampled as written,
    h' = z h + (1 - z) n,  z = sig(a_z),  r = sig(a_r),  n = tanh(u + r m),
with, per unit, the mean-field (N -> infinity, untied) law of the pre-activations at input second moment Q:
h ~ N(0, Q); a_g ~ N(mu_b_g, s_wg^2 Q + s_vg^2 R + s_bg^2) (g = z, r), m = W_n h + b_hn ~ N(0, s_wn^2 Q + s_bhn^2),
u = V_n x + b_n ~ N(0, s_vn^2 R + s_bn^2), all independent (distinct weight matrices; a unit's own h_i enters its
pre-activations at O(1/N)).  Tangent: a random direction dh with unit second moment per unit (independent of h)
moves da_g = W_g dh ~ N(0, s_wg^2) and dm = W_n dh ~ N(0, s_wn^2), independent of the forward pre-activations
(h and dh are orthogonal at large N), and
    dh' = z dh + (h - n) z' da_z + (1 - z) tanh'(u + r m) (r dm + m r' da_r);
chi(Q) = E[dh'^2] (E[dh^2] = 1), Q' = E[h'^2].  Sample means with their standard errors from the sample
(M = 2^20 draws, seed fixed); the kernels must lie within K = 5 SE.  The SE is ~1.4e-3 relative, so any error
of the kernels' one-step maps above ~0.7 % fails.  Measured 2026-12-05 (kernel - MC in SE): README point (Q = 0.6)
Q' +0.93, chi +0.67; defaults (Q = 0.3) Q' -0.29, chi -0.53.  Runtime ~0.2 s a point once the gated numba module
is loaded (its first load/compile is shared with test_gated_reset_after)."""
import numpy as np
import pytest

import theory

CELL = "gru-reset-after"
K = 5.0
M = 2 ** 20


def _sig(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _mc(p, Q, seed):
    rng = np.random.default_rng(seed)
    g = lambda var, mean=0.0: mean + np.sqrt(var) * rng.standard_normal(M)  # noqa: E731

    def pre(gate):
        return g(p[f"sigma_w_{gate}"] ** 2 * Q + p[f"sigma_v_{gate}"] ** 2 * p["R"] + p[f"sigma_b_{gate}"] ** 2,
                 p[f"mu_b_{gate}"])

    h, a_z, a_r = g(Q), pre("z"), pre("r")
    m = g(p["sigma_w_n"] ** 2 * Q + p["sigma_b_hn"] ** 2)
    u = g(p["sigma_v_n"] ** 2 * p["R"] + p["sigma_b_n"] ** 2)
    dh, da_z, da_r, dm = g(1.0), g(p["sigma_w_z"] ** 2), g(p["sigma_w_r"] ** 2), g(p["sigma_w_n"] ** 2)
    z, r = _sig(a_z), _sig(a_r)
    n = np.tanh(u + r * m)
    h1 = z * h + (1 - z) * n
    dh1 = z * dh + (h - n) * z * (1 - z) * da_z + (1 - z) * (1 - n ** 2) * (r * dm + m * r * (1 - r) * da_r)
    out = {}
    for name, x in (("Q", h1 ** 2), ("chi", dh1 ** 2)):
        out[name] = (x.mean(), x.std(ddof=1) / np.sqrt(M))
    return out


CHECK_POINT = dict(sigma_w_r=1.5, sigma_w_z=1.2, sigma_w_n=2.0, sigma_v_z=0.8, sigma_v_n=0.7, sigma_b_r=0.3,
                   sigma_b_z=0.2, sigma_b_n=0.4, sigma_b_hn=0.5, mu_b_r=0.5)  # README_gated's check point


@pytest.mark.parametrize("over,Q,seed", [(CHECK_POINT, 0.6, 1), ({}, 0.3, 2)], ids=["readme-point", "defaults"])
def test_one_step_maps_match_a_direct_monte_carlo_of_the_cell(over, Q, seed):
    p = {**theory.parameters(CELL), **over}
    args = [p[n] for n in theory.cell(CELL).param_names]
    mod = theory.kernels(CELL, "numba")
    mc = _mc(p, Q, seed)
    for name, got in (("Q", mod.variance_map_h(Q, *args)), ("chi", mod.perturbation_map_00(Q, *args))):
        est, se = mc[name]
        assert se < 2e-3 * abs(est), (name, est, se)  # the comparison has power
        assert abs(got - est) <= K * se, (name, got, est, se)
