r"""End-to-end Jacobian spectra of real random networks (03 §8), independent of ``theory``.

For one network of width ``N`` (the hand-written simulators of :mod:`verify.simulators`; nothing
here imports ``theory`` or the generated ``derivations``):

1. start from a random state with ``|h|^2/N = Q0`` exactly (the caller passes the theory's ``Q*``)
   and burn in ``burn_in`` steps with the weight regime of the run;
2. for ``t = 1..T`` take the *actual* step Jacobian :math:`J_t=\partial h_t/\partial h_{t-1}` by
   ``jax.jacfwd`` of the real step (no assumption about its structure: vanilla gives
   :math:`D_tW`, minimalRNN :math:`D_a+D_bW`) and accumulate :math:`P_t=J_tP_{t-1}` in float64;
3. at the checkpoints ``Ts`` record the squared singular values of :math:`P_t` (``svd`` of the
   product), i.e. the eigenvalues of :math:`P_tP_t^\top`.

Accuracy of step 3: LAPACK's SVD has an *absolute* error of order :math:`\epsilon\,N\,\|P\|`, so
eigenvalues below :math:`\lambda_{\rm floor}=(N\epsilon)^2\lambda_{\max}` (:func:`float_floor`) are
not resolved (they come out as rounding noise of that size).  Only heavy-tailed Gaussian-weight
products at the largest ``T`` have any eigenvalues there; the report states the fraction below the
floor, which bounds the effect on any CDF comparison (the eigenvalues are still *below* any
threshold above the floor, so the CDF above it is unaffected).

Weights: ``gaussian`` (the simulators' own draw, :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)`) or
``orthogonal`` (:math:`\sigma_w` times Haar: QR of a Gaussian matrix with the signs of
:math:`\mathrm{diag}\,R` fixed); ``tied`` reuses one draw at every step (the real RNN), untied
redraws ``W, V, b`` every step (feed-forward layers are always untied).  Keys:
``fold_in(key(seed), network)`` split into (weights, inputs, init); step ``t`` (counted from the
start of the burn-in) folds ``t`` into the weights and inputs keys.

Per network: :math:`\hat m_1=\frac1N\sum\lambda_i`, :math:`\hat\sigma^2=\frac1N\sum\lambda_i^2-\hat m_1^2`,
and the fraction of eigenvalues :math:`\le x` (per-network CDF); ensemble means and SEs over the
``E`` networks (the sample size is ``E``: eigenvalues of one matrix are not independent).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import COMPILER_OPTIONS
from ..simulators import get as get_simulator
from ..simulators.base import initial_pair
from ..statistics.stats import Estimate, ensemble_estimate

WEIGHT_LAWS = ("gaussian", "orthogonal")
EPS64 = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class SpectraRun:
    """Configuration of one spectral run (static: it fixes the compiled function)."""

    cell: str
    width: int
    ensemble: int
    steps: tuple  #: checkpoints T, increasing
    weights: str = "orthogonal"
    tied: bool = False
    burn_in: int = 40
    seed: int = 0
    chunk: int = 8  #: networks per vmap batch (memory: ~6 N^2 float64 per network)

    def __post_init__(self):
        if self.weights not in WEIGHT_LAWS:
            raise ValueError(f"weights must be one of {WEIGHT_LAWS}, got {self.weights!r}")
        steps = tuple(int(s) for s in self.steps)
        if not steps or list(steps) != sorted(set(steps)) or steps[0] < 1:
            raise ValueError(f"steps must be increasing positive integers, got {self.steps}")
        if self.width < 2 or self.ensemble < 2 or self.burn_in < 0 or self.chunk < 1:
            raise ValueError(f"need width >= 2, ensemble >= 2, burn_in >= 0, chunk >= 1: {self}")
        object.__setattr__(self, "steps", steps)


def haar_orthogonal(key, n: int, dtype):
    """Haar-distributed orthogonal matrix: QR of a Gaussian matrix, columns signed by diag(R)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n), dtype))
    return q * jnp.sign(jnp.diagonal(r))[None, :]


def _weights(sim, key, n, p, law, dtype):
    w = sim.draw_weights(key, n, p, dtype)
    if law == "orthogonal":
        w = w._replace(W=p["sigma_w"] * haar_orthogonal(jax.random.fold_in(key, 7), n, dtype))
    return w


class _Network:
    """Weights, inputs and initial state of network ``index`` of a run (pure functions of the keys)."""

    def __init__(self, run: SpectraRun, params: dict, Q0, index):
        self.sim = sim = get_simulator(run.cell)
        if run.tied and not sim.recurrent:
            raise ValueError(f"{run.cell} draws fresh weights per layer; tied is meaningless")
        self.run, self.dt, self.n = run, jnp.float64, run.width
        self.p = {k: jnp.asarray(v, self.dt) for k, v in params.items()}
        k = jax.random.fold_in(jax.random.PRNGKey(run.seed), index)
        self.kw, self.kx, k0 = jax.random.split(k, 3)
        self.h0, _ = initial_pair(k0, self.n, jnp.asarray(Q0, self.dt), jnp.asarray(0.0, self.dt), self.dt)
        self.tied_w = _weights(sim, self.kw, self.n, self.p, run.weights, self.dt) if run.tied else None

    def weights_at(self, t):
        if self.run.tied:
            return self.tied_w
        return _weights(self.sim, jax.random.fold_in(self.kw, t), self.n, self.p, self.run.weights, self.dt)

    def inputs_at(self, t):
        if self.sim.draw_inputs is None:
            return None
        return self.sim.draw_inputs(jax.random.fold_in(self.kx, t), self.n, self.p, self.dt)[0]

    def step(self, h, t):
        return self.sim.step(self.weights_at(t), h, self.inputs_at(t), self.p).h

    def jacobian(self, h, t):
        """The real step Jacobian dh_t/dh_{t-1} at ``h`` (``jax.jacfwd`` of the simulator's step)."""
        w, x = self.weights_at(t), self.inputs_at(t)
        return jax.jacfwd(lambda hh: self.sim.step(w, hh, x, self.p).h)(h)

    def burn(self):
        h, _ = jax.lax.scan(lambda h, t: (self.step(h, t), None), self.h0, jnp.arange(self.run.burn_in))
        return h


def network_products(run: SpectraRun, params: dict, Q0: float, index):
    """End-to-end Jacobians :math:`P_T=J_T\\cdots J_1` at each checkpoint for network ``index``:
    array ``(len(steps), N, N)`` (after the burn-in; step ``t`` of the product is global step
    ``burn_in + t - 1``)."""
    net = _Network(run, params, Q0, index)
    h = net.burn()

    def body(carry, t):
        h, P = carry
        J = net.jacobian(h, t)
        return (net.step(h, t), jnp.matmul(J, P, precision=jax.lax.Precision.HIGHEST)), None

    out, P, t0 = [], jnp.eye(run.width, dtype=net.dt), 0
    for Tk in run.steps:  # static checkpoints: scan between them
        (h, P), _ = jax.lax.scan(body, (h, P), run.burn_in + jnp.arange(t0, Tk))
        out.append(P)
        t0 = Tk
    return jnp.stack(out)


def network_trace(run: SpectraRun, params: dict, Q0: float, index, T: int):
    """For tests at tiny ``N``: the states ``h_{burn_in-1..burn_in+T-1}`` (T+1, N), and per step the
    weights ``W_t, V_t, b_t`` and input ``x_t`` used by :func:`network_products` (not for large N)."""
    net = _Network(run, params, Q0, index)
    h = net.burn()
    hs, Ws, Vs, bs, xs = [h], [], [], [], []
    for t in range(run.burn_in, run.burn_in + T):
        w = net.weights_at(t)
        Ws.append(w.W), Vs.append(w.V), bs.append(w.b), xs.append(net.inputs_at(t))
        h = net.step(h, t)
        hs.append(h)
    return {"h": np.asarray(jnp.stack(hs)), "W": np.asarray(jnp.stack(Ws)),
            "V": None if Vs[0] is None else np.asarray(jnp.stack(Vs)), "b": np.asarray(jnp.stack(bs)),
            "x": None if xs[0] is None else np.asarray(jnp.stack(xs))}


def network_spectra(run: SpectraRun, params: dict, Q0: float, index):
    """Eigenvalues of :math:`P_TP_T^\\top` at each checkpoint for network ``index``: (len(Ts), N)."""
    P = np.asarray(network_products(run, params, Q0, index), dtype=np.float64)
    return np.linalg.svd(P, compute_uv=False) ** 2


@partial(jax.jit, static_argnums=(0,), compiler_options=COMPILER_OPTIONS)
def _chunk(run: SpectraRun, params, Q0, idx):
    # lax.map, not vmap: a vmapped (batched) LAPACK call (QR of the Haar draw) runs jaxlib's
    # ParallelBatchMap on the intra-op pool, which deadlocked inside this scan on CPU (jaxlib of
    # this project, seen twice: all threads waiting, 0 % CPU).  One network at a time avoids it.
    return jax.lax.map(lambda i: network_products(run, params, Q0, i), idx)


def simulate_spectra(run: SpectraRun, params: dict, Q0: float, progress=None) -> np.ndarray:
    """Eigenvalues of :math:`JJ^\\top`, shape ``(E, len(steps), N)`` (float64), in chunks of
    ``run.chunk`` networks (the samples do not depend on the chunking: network ``k`` is keyed by ``k``)."""
    sim = get_simulator(run.cell)
    sim.check_params(params)
    p = {k: float(v) for k, v in params.items()}
    out = []
    for start in range(0, run.ensemble, run.chunk):
        idx = jnp.arange(start, min(start + run.chunk, run.ensemble))
        if idx.size < run.chunk:  # same compiled shape: pad with the next indices, drop them after
            pad = jnp.arange(run.ensemble, run.ensemble + run.chunk - idx.size)
            P = _chunk(run, p, float(Q0), jnp.concatenate([idx, pad]))[: idx.size]
        else:
            P = _chunk(run, p, float(Q0), idx)
        # singular values in numpy (LAPACK gesdd, float64), outside the compiled program (see _chunk)
        out.append(np.linalg.svd(np.asarray(P, dtype=np.float64), compute_uv=False) ** 2)
        if progress:
            progress(f"  networks {start + idx.size}/{run.ensemble}")
    return np.concatenate(out)


def float_floor(lam: np.ndarray, width: int) -> np.ndarray:
    """Per network and checkpoint, :math:`(N\\epsilon)^2\\lambda_{\\max}`: below it eigenvalues of the
    SVD of the explicit product are rounding noise. ``lam``: (E, len(steps), N) -> (E, len(steps))."""
    return (width * EPS64) ** 2 * lam.max(axis=-1)


def floor_to_zero(lam: np.ndarray, width: int) -> np.ndarray:
    """Eigenvalues at or below :func:`float_floor` set to exactly 0 (they are unresolved rounding
    noise: an exact zero — dead ReLU / saturated hard-tanh units — comes out of the SVD at that size)."""
    return np.where(lam <= float_floor(lam, width)[..., None], 0.0, lam)


@dataclass(frozen=True)
class SpectralMoments:
    """Ensemble estimates (mean over networks, SE) of m1 and the variance at each checkpoint."""

    steps: tuple
    m1: list
    variance: list


def moments(lam: np.ndarray, steps) -> SpectralMoments:
    """Per-network :math:`\\hat m_1`, :math:`\\hat\\sigma^2`; ensemble :class:`Estimate` per checkpoint."""
    m1 = lam.mean(axis=2)
    var = lam.var(axis=2)
    return SpectralMoments(tuple(steps), [ensemble_estimate(m1[:, i]) for i in range(len(steps))],
                           [ensemble_estimate(var[:, i]) for i in range(len(steps))])


def cdf_estimate(lam_T: np.ndarray, x) -> Estimate:
    """Per-network fraction of eigenvalues ``<= x`` (``lam_T``: (E, N)), ensemble mean and SE per ``x``."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    frac = (lam_T[:, :, None] <= x[None, None, :]).mean(axis=1)
    return ensemble_estimate(frac)


def ks_distance(samples: np.ndarray, cdf) -> float:
    r"""Kolmogorov–Smirnov distance :math:`\sup_x|F_n(x)-F(x)|` of pooled ``samples`` to a continuous
    ``cdf`` (ties handled: at each distinct value both :math:`F_n(u)` and :math:`F_n(u^-)`)."""
    x = np.sort(np.ravel(samples))
    u = np.unique(x)
    F = np.asarray(cdf(u), dtype=float)
    hi = np.searchsorted(x, u, "right") / x.size
    lo = np.searchsorted(x, u, "left") / x.size
    return float(max(np.max(np.abs(hi - F)), np.max(np.abs(F - lo))))


def ks_between(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS distance of pooled samples (used by the width pilot, no theory)."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    x = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, x, "right") / a.size - np.searchsorted(b, x, "right") / b.size)))


__all__ = ["SpectraRun", "simulate_spectra", "network_products", "network_spectra", "network_trace", "moments",
           "cdf_estimate", "ks_distance", "ks_between", "float_floor", "floor_to_zero", "haar_orthogonal", "SpectralMoments",
           "Estimate", "WEIGHT_LAWS"]
