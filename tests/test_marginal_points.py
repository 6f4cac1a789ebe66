"""Marginal and degenerate points get their exact answer or a clear error, the same in both backends.

At He initialisation (ReLU, sigma_w^2 = 2, no bias or input) the variance map is the identity,
V(Q) = sigma_w^2 Q / 2 = Q: every Q is a fixed point, so Q* is the input's and has no value of its
own; the Jacobian's law does not depend on Q (phi' is a 0/1 step), so chi = sigma_w^2 / 2 = 1,
the correlation map (Cho & Saul) fixes c = 1 with slope chi = 1 (c* = 1, xi = inf), and xi_q = inf.
For the linear activation at sigma_w = 1 the covariance map is the identity too (c* is the inputs').
Reference values are these closed forms, not the kernels.
"""
import math

import numpy as np
import pytest

import theory
from theory.api import FixedPointError

HE = math.sqrt(2.0)
BACKENDS = ("numba", "jax")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell,params", [("feedforward-relu", dict(sigma_w=HE, sigma_b=0.0)),
                                         ("vanilla-relu", dict(sigma_w=HE, sigma_b=0.0, sigma_v=0.0))])
def test_he_initialised_relu_has_chi_one_correlation_one_and_infinite_depth_scales(cell, params, backend):
    chi = float(theory.predict(cell, "chi", backend=backend, **params))
    assert chi == pytest.approx(params["sigma_w"] ** 2 / 2, rel=1e-15)  # = 1 to the rounding of sqrt(2)^2
    assert float(theory.predict(cell, "c_star", backend=backend, **params)) == pytest.approx(1.0, abs=1e-15)
    assert float(theory.predict(cell, "c_h_star", backend=backend, **params)) == pytest.approx(1.0, abs=1e-15)
    assert float(theory.predict(cell, "xi", backend=backend, **params)) == math.inf
    assert float(theory.predict(cell, "xi_q", backend=backend, **params)) == math.inf


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_he_initialisation_q_star_is_refused_with_the_reason(backend):
    with pytest.raises(FixedPointError, match="marginal.*every Q is a fixed point"):
        theory.predict("feedforward-relu", "Q_star", backend=backend, sigma_w=HE, sigma_b=0.0)
    with pytest.raises(FixedPointError, match="marginal"):
        theory.predict("feedforward-relu", "q_star", backend=backend, sigma_w=HE, sigma_b=0.0)
    assert int(theory.status("feedforward-relu", sigma_w=HE, sigma_b=0.0)) == 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_at_sigma_w_one_keeps_every_correlation(backend):
    p = dict(sigma_w=1.0, sigma_b=0.0)
    assert float(theory.predict("feedforward-linear", "chi", backend=backend, **p)) == pytest.approx(1.0, rel=1e-15)
    assert float(theory.predict("feedforward-linear", "xi", backend=backend, **p)) == math.inf
    for q in ("c_star", "Q_star"):
        with pytest.raises(FixedPointError, match="marginal"):
            theory.predict("feedforward-linear", q, backend=backend, **p)
    assert int(theory.status("feedforward-linear", correlation=True, **p)) == 7


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bias_or_an_input_makes_he_initialisation_an_ordinary_point(backend):
    """With sigma_b > 0 at sigma_w^2 = 2 the map V(Q) = Q + sigma_b^2/2 has no fixed point: diverges."""
    with pytest.raises(FixedPointError, match="diverges"):
        theory.predict("feedforward-relu", "chi", backend=backend, sigma_w=HE, sigma_b=0.1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("factor", [1 - 1e-6, 1.0])
def test_isometry_moments_at_and_just_below_he_initialisation(factor, backend):
    """Bias-free ReLU, orthogonal W: the one-layer JJ^T = sigma_w^2 D W W^T D = sigma_w^2 D, D a 0/1
    diagonal with P(1) = 1/2 whatever Q is (also at Q* = 0 just below He init, and at He init where Q is
    undetermined): mean chi = sigma_w^2/2, relative variance (1 - p)/p = 1, and over T free layers
    m1 = chi^T, variance = chi^(2T) T."""
    sw, T = HE * factor, 10
    chi = sw ** 2 / 2
    m1 = float(theory.predict("feedforward-relu", "isometry_mean", T=T, backend=backend, sigma_w=sw, sigma_b=0.0))
    assert m1 == pytest.approx(chi ** T, rel=1e-13)
    var = float(theory.predict("feedforward-relu", "isometry_variance", T=T, weights="orthogonal", backend=backend,
                               sigma_w=sw, sigma_b=0.0))
    assert var == pytest.approx(chi ** (2 * T) * T * 1.0, rel=1e-12)


@pytest.mark.parametrize("factor", [1 - 1e-6, 1.0])
def test_spectrum_at_and_just_below_he_initialisation(factor):
    """The predicted density exists at and just below He initialisation (no ZeroDivisionError at Q* = 0)
    and its moments are the exact chi^T and chi^(2T) T of the test above (the spectrum self-checks its
    density against them)."""
    sw, T = HE * factor, 10
    s = theory.spectrum("feedforward-relu", T=T, weights="orthogonal", sigma_w=sw, sigma_b=0.0)
    chi = sw ** 2 / 2
    assert s.m1 == pytest.approx(chi ** T, rel=1e-12)
    assert s.variance == pytest.approx(chi ** (2 * T) * T, rel=1e-12)
    assert not any("MISS" in n.upper() for n in s.notes), s.notes


def test_spectrum_with_zero_weights_is_a_point_mass_at_zero():
    s = theory.spectrum("feedforward-relu", T=3, sigma_w=0.0, sigma_b=0.0)
    assert s.atom == 1.0 and s.m1 == 0.0 and s.variance == 0.0


@pytest.mark.parametrize("cell,params,T", [("vanilla-tanh", dict(sigma_w=1.2, sigma_b=0.3), 1000),
                                           ("feedforward-relu", dict(sigma_w=1e-300, sigma_b=0.0), 3)])
def test_spectrum_whose_scale_leaves_float64_says_so(cell, params, T):
    with pytest.raises(ValueError, match="use a smaller T"):
        theory.spectrum(cell, T=T, **params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tanh_at_the_critical_point_without_bias_has_q_star_zero_and_undefined_correlations(backend):
    p = dict(sigma_w=1.0, sigma_b=0.0)
    assert float(theory.predict("feedforward-tanh", "Q_star", backend=backend, **p)) == 0.0
    assert float(theory.predict("feedforward-tanh", "chi", backend=backend, **p)) == pytest.approx(1.0, rel=1e-14)
    with pytest.raises(FixedPointError, match="degenerate"):
        theory.predict("feedforward-tanh", "c_star", backend=backend, **p)


EDGE_SIGMA_W = [0.0, 1e-300, 0.5, 1.0, HE * (1 - 1e-6), HE, HE * (1 + 1e-6), 2.0, 1e300]
EDGE_SIGMA_B = [0.0, 1e-300, 0.3, 1e150]
QUANTITIES = ("Q_star", "q_star", "chi", "xi_q", "c_star", "c_h_star", "xi")


@pytest.mark.parametrize("cell", ["feedforward-relu", "feedforward-tanh", "feedforward-linear", "feedforward-erf",
                                  # hard-tanh is left out (open): at sigma_b = 1e150 the kinks at |h| = 1 sit
                                  # 1e-150 field-SDs from 0, neither backend's quadrature resolves them (xi_q
                                  # 0.00262 vs 0.00261, closed form 0.00289) and the array xi call runs > 10 min
                                  "vanilla-relu", "vanilla-erf", "vanilla-tanh", "vanilla-linear", "minimalrnn"])
def test_both_backends_give_the_same_value_or_the_same_error_at_edge_points(cell):
    """Over a grid of edge points (sigma_w from 0 to 1e300 through He initialisation, sigma_b from 0 to
    1e150), every served value agrees to 1e-10 relative (inf with inf; correlations also to 1e-14
    absolute), and where one backend has no value (NaN: the scalar API raises with the status's
    reason, which is shared) neither has."""
    import warnings
    sw, sb = np.meshgrid(EDGE_SIGMA_W, EDGE_SIGMA_B, indexing="ij")
    bad = []
    for q in QUANTITIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            a = np.asarray(theory.predict(cell, q, backend="numba", sigma_w=sw, sigma_b=sb), dtype=float)
            b = np.asarray(theory.predict(cell, q, backend="jax", sigma_w=sw, sigma_b=sb), dtype=float)
        # correlations are O(1): an absolute floor of 1e-14 covers a root c* = 0 found to rounding
        floor = 1e-14 if q in ("c_star", "c_h_star") else 0.0
        with np.errstate(invalid="ignore"):
            same = (np.isnan(a) & np.isnan(b)) | (a == b) | (
                np.isfinite(a) & (np.abs(a - b) <= 1e-10 * np.maximum(np.abs(a), np.abs(b)) + floor))
        bad += [(sw[i], sb[i], q, a[i], b[i]) for i in zip(*np.nonzero(~same))]
    assert not bad, "\n".join(map(str, bad[:20])) + f"\n({len(bad)} disagreements)"
