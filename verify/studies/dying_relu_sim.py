r"""Real random ReLU networks for the dying-ReLU study (05-dying-relu.md §6, 07 §7).

Written independently of the theory: plain matrix products, weights from the initialisers of
:mod:`theory.criticality.initializers` (the objects users call; their moments are tested separately), nothing
from the SymPy declarations or generated kernels.  Layout ``h = x @ W + b``, ``W`` (fan_in, fan_out).

Keys: network ``k`` uses ``fold_in(key(seed), k)``, split into (weights, inputs); layer/step ``l`` folds
in ``l``.  Samples therefore do not depend on chunking or the number of devices.

**Death is decided from signs**: a layer is dead on a set of inputs when every pre-activation is
``<= 0`` there.  Bias-free nets are rescaled per layer and per input (positive homogeneity keeps
every sign), so float underflow never masquerades as death; the log of the squared-norm ratio is
accumulated on the side.

Simulators (each ``(index) -> dict of per-network arrays``, to be ``vmap``-ed and sharded):

* :func:`points_network` — the same net applied to ``M`` inputs: first layer dead on all of them,
  per-layer fraction of units inactive on all of them, log squared-norm ratio of input 0;
* :func:`tracked_network` — ``d = 1``: exact breakpoint tracking of the piecewise-linear net on an
  interval (first layer dead on the whole interval), biases allowed;
* :func:`rnn_network` — the ReLU RNN ``h_t = relu(h_{t-1} W + x_t U)``, tied or untied.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from theory.criticality.initializers import he_normal, orthogonal, rai_dense

from .. import COMPILER_OPTIONS

INITS = ("he", "orthogonal", "rademacher", "rai")
#: inits with zero biases whose law satisfies A3 (05 §2): the point law 1-(1-2^-N)^L is exact
A3_INITS = ("he", "orthogonal")
BIAS_FREE = ("he", "orthogonal", "rademacher")
AXIS = "ens"


def draw_layer(init: str, key, fan_in: int, fan_out: int, dtype):
    """``(W, b)`` of one layer: He normal, orthogonal (gain sqrt 2), Rademacher +-sqrt(2/fan_in)
    (atoms: the negative control for A3), or RAI (one Beta(2,1) entry per neuron among its weights
    and bias)."""
    if init == "he":
        return he_normal()(key, (fan_in, fan_out), dtype), jnp.zeros((fan_out,), dtype)
    if init == "orthogonal":
        return orthogonal(math.sqrt(2.0))(key, (fan_in, fan_out), dtype), jnp.zeros((fan_out,), dtype)
    if init == "rademacher":
        s = jax.random.rademacher(key, (fan_in, fan_out), dtype)
        return s * math.sqrt(2.0 / fan_in), jnp.zeros((fan_out,), dtype)
    if init == "rai":
        return rai_dense(key, fan_in, fan_out, dtype)
    raise ValueError(f"unknown init {init!r}; choose one of {INITS}")


def _keys(master, index):
    k = jax.random.fold_in(master, index)
    return jax.random.split(k, 2)


@dataclass(frozen=True)
class NetShape:
    """Static description: width, hidden layers, input dimension, init, dtype."""

    width: int
    depth: int
    d: int
    init: str
    dtype: str = "float64"

    def __post_init__(self):
        if self.width < 1 or self.depth < 1 or self.d < 1:
            raise ValueError(f"width, depth, d must be >= 1, got {self}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose one of {INITS}")


def _layer_stack(shape: NetShape, kw, dtype):
    """Layer ``l`` (1-based) draws from ``fold_in(kw, l)``; layer 1 has fan-in ``d`` and is embedded in
    a (width, width) matrix whose rows beyond ``d`` are zero (inputs are padded with zeros), so the
    scan over layers carries one shape."""
    n = shape.width
    W1, b1 = draw_layer(shape.init, jax.random.fold_in(kw, 1), shape.d, n, dtype)
    W1 = jnp.zeros((n, n), dtype).at[: shape.d].set(W1)

    def hidden(l):
        return draw_layer(shape.init, jax.random.fold_in(kw, l), n, n, dtype)

    return (W1, b1), hidden


def points_network(shape: NetShape, master, index, inputs, sub=None):
    """One network applied to ``inputs`` (M, d); input 0 is "the point".

    Returns, with layers counted from 1 and ``depth + 1`` meaning "never":

    * ``first_dead_point``: first layer dead at input 0; ``first_dead``: first layer dead at all M;
    * ``dead_frac_point`` (depth,): fraction of units with ``h <= 0`` at input 0;
      ``dead_frac`` (depth,): fraction of units with ``h <= 0`` at every input;
    * ``log_ratio`` (depth,): ``log(Q_l/Q_0)`` at input 0 with ``Q = |x|^2/dim`` (``dim`` = d for the
      input, width for hidden layers; the mean-field second moment), -inf once dead there;
    * with ``sub`` (indices into ``inputs``): ``first_dead_sub``, the first layer dead on that subset."""
    dtype = jnp.dtype(shape.dtype)
    kw, _ = _keys(master, index)
    bias_free = shape.init in BIAS_FREE
    (W1, b1), hidden = _layer_stack(shape, kw, dtype)
    x0 = jnp.asarray(inputs, dtype)
    x = jnp.zeros((x0.shape[0], shape.width), dtype).at[:, : shape.d].set(x0)
    norm0 = jnp.sum(x[0] * x[0])
    if bias_free:
        x = x / jnp.sqrt(norm0)
    never = jnp.asarray(shape.depth + 1, jnp.int32)

    sub_idx = jnp.asarray(np.arange(x0.shape[0]) if sub is None else np.asarray(sub), jnp.int32)

    def layer(carry, l, W, b):
        x, first_pt, first, first_sub, logn = carry
        h = x @ W + b
        dead_pt, dead_units = h[0] <= 0, jnp.all(h <= 0, axis=0)
        first_pt = jnp.where((first_pt == never) & jnp.all(dead_pt), l, first_pt)
        first = jnp.where((first == never) & jnp.all(dead_units), l, first)
        first_sub = jnp.where((first_sub == never) & jnp.all(h[sub_idx] <= 0), l, first_sub)
        y = jnp.maximum(h, 0)
        n2 = jnp.sum(y * y, axis=1, keepdims=True)
        if bias_free:   # rescale every input to unit norm: signs unchanged, no underflow
            prev = jnp.sum(x[0] * x[0])
            alive0 = (n2[0, 0] > 0) & (prev > 0)
            logn = logn + jnp.where(alive0, jnp.log(jnp.where(alive0, n2[0, 0] / prev, 1.0)), -jnp.inf)
            y = jnp.where(n2 > 0, y / jnp.sqrt(jnp.where(n2 > 0, n2, 1)), 0)
        else:           # biases fix the scale: no rescaling
            logn = jnp.where(n2[0, 0] > 0, jnp.log(jnp.where(n2[0, 0] > 0, n2[0, 0], 1.0) / norm0)
                             + math.log(shape.d / shape.width), -jnp.inf)
        return (y, first_pt, first, first_sub, logn), (jnp.mean(dead_pt), jnp.mean(dead_units), logn)

    carry = (x, never, never, never, jnp.asarray(math.log(shape.d / shape.width), dtype))
    carry, first_out = layer(carry, jnp.asarray(1, jnp.int32), W1, b1)
    carry, rest = jax.lax.scan(lambda c, l: layer(c, l, *hidden(l)), carry,
                               jnp.arange(2, shape.depth + 1, dtype=jnp.int32))
    fp, fa, lr = (jnp.concatenate([a[None], b]) for a, b in zip(first_out, rest))
    out = {"first_dead_point": carry[1], "first_dead": carry[2], "dead_frac_point": fp,
           "dead_frac": fa, "log_ratio": lr}
    if sub is not None:
        out["first_dead_sub"] = carry[3]
    return out


def tracked_network(shape: NetShape, master, index, interval=(-1.0, 1.0), capacity: int = 256):
    """Exact born-dead test on an interval for ``d = 1`` by breakpoint tracking.

    Invariant: ``x^{l-1}`` is affine between consecutive tracked points.  Then ``h^l`` is affine
    there, so layer ``l`` is dead on the interval iff ``h^l <= 0`` at every tracked point; each sign
    change of a unit between neighbours adds the crossing point (``h`` interpolated, that unit set to
    exactly 0), which restores the invariant for ``x^l = relu(h^l)``.  Returns ``first_dead``,
    ``overflow`` (more than ``capacity`` points were needed: the result is then undetermined),
    ``points`` (the final count) and, for checks, the final ``positions`` and ``values`` (x^depth at
    the tracked points; rows beyond ``points`` are padding).  Same weights as :func:`points_network`
    for the same ``(shape, master, index)``."""
    if shape.d != 1:
        raise ValueError("breakpoint tracking is exact for d = 1 only")
    dtype = jnp.dtype(shape.dtype)
    kw, _ = _keys(master, index)
    n, C = shape.width, capacity
    (W1, b1), hidden = _layer_stack(shape, kw, dtype)
    a, b_ = interval
    pos = jnp.full((C,), jnp.inf, dtype).at[0].set(a).at[1].set(b_)
    X = jnp.zeros((C, n), dtype).at[0, 0].set(a).at[1, 0].set(b_)

    def layer(carry, l, W, bias):
        pos, X, cnt, first, over = carry
        H = X @ W + bias
        valid = jnp.arange(C) < cnt
        dead = jnp.all(jnp.where(valid[:, None], H <= 0, True))
        first = jnp.where((first > shape.depth) & dead, l, first)
        H0, H1 = H[:-1], H[1:]
        pair = (jnp.arange(C - 1) < cnt - 1)[:, None]
        cross = pair & (H0 * H1 < 0)
        s = jnp.where(cross, H0 / jnp.where(cross, H0 - H1, 1), 0)
        t = pos[:-1, None] + s * (pos[1:, None] - pos[:-1, None])
        Hn = H0[:, None, :] + s[:, :, None] * (H1 - H0)[:, None, :]
        Hn = jnp.where(jnp.eye(n, dtype=bool)[None], 0, Hn)
        all_pos = jnp.concatenate([jnp.where(valid, pos, jnp.inf), jnp.where(cross, t, jnp.inf).reshape(-1)])
        all_H = jnp.concatenate([H, Hn.reshape(-1, n)])
        total = jnp.sum(valid) + jnp.sum(cross)
        order = jnp.argsort(all_pos, stable=True)[:C]
        return (all_pos[order], jnp.maximum(all_H[order], 0), jnp.minimum(total, C).astype(jnp.int32),
                first, over | (total > C)), None

    carry = (pos, X, jnp.asarray(2, jnp.int32), jnp.asarray(shape.depth + 1, jnp.int32), jnp.asarray(False))
    carry, _ = layer(carry, jnp.asarray(1, jnp.int32), W1, b1)
    carry, _ = jax.lax.scan(lambda c, l: layer(c, l, *hidden(l)), carry,
                            jnp.arange(2, shape.depth + 1, dtype=jnp.int32))
    pos, X, cnt, first, over = carry
    return {"first_dead": first, "overflow": over, "points": cnt, "positions": pos, "values": X}


@dataclass(frozen=True)
class RnnShape:
    """ReLU RNN ``h_t = relu(h_{t-1} W + x_t U)``, ``W ~ N(0, sigma_w^2/N)``, ``U ~ N(0, sigma_v^2/d_in)``,
    ``x_t ~ N(0, I)``, ``h_0 = 0``, no bias; ``input_steps``: steps with input (``steps`` = always)."""

    width: int
    steps: int
    tied: bool
    sigma_w: float = math.sqrt(2.0)
    sigma_v: float = 1.0
    d_in: int = 1
    input_steps: Optional[int] = None
    dtype: str = "float64"


def rnn_network(shape: RnnShape, master, index):
    """Per step ``t``: ``log_Q`` (log |h_t|^2/N), ``inactive`` (fraction of units with pre-activation
    <= 0), ``never_active`` (fraction of units inactive at every step so far) and ``zero`` (1 if
    every unit is inactive: h_t = 0)."""
    dtype = jnp.dtype(shape.dtype)
    kw, kx = _keys(master, index)
    k_w, k_u, k_steps = jax.random.split(kw, 3)
    n = shape.width
    gw = jax.random.normal(k_w, (n, n), dtype)
    gu = jax.random.normal(k_u, (shape.d_in, n), dtype)
    t_in = shape.steps if shape.input_steps is None else shape.input_steps

    def step(carry, t):
        h, never, logs = carry
        if shape.tied:
            W, U = gw, gu
        else:
            kt_w, kt_u = jax.random.split(jax.random.fold_in(k_steps, t))
            W = jax.random.normal(kt_w, (n, n), dtype)
            U = jax.random.normal(kt_u, (shape.d_in, n), dtype)
        x = jax.random.normal(jax.random.fold_in(kx, t), (shape.d_in,), dtype) * (t <= t_in)
        e = (shape.sigma_w / math.sqrt(n)) * (h @ W) + (shape.sigma_v / math.sqrt(shape.d_in)) * (x @ U)
        act = e > 0
        y = jnp.maximum(e, 0)
        q = jnp.sum(y * y)
        # renormalise the carried state (the map is positively homogeneous once input stops; with
        # input the scale matters, so only rescale in the input-free phase)
        logq = jnp.log(q) - math.log(n) + logs
        free = t >= t_in
        scale = jnp.where(free & (q > 0), jnp.sqrt(jnp.where(q > 0, q, 1.0)), 1.0)
        logs = logs + jnp.where(free & (q > 0), jnp.log(scale * scale), 0.0)
        never = never & ~act
        out = {"log_Q": logq, "inactive": jnp.mean(~act), "never_active": jnp.mean(never),
               "zero": jnp.all(~act).astype(dtype)}
        return (y / scale, never, logs), out

    init = (jnp.zeros((n,), dtype), jnp.ones((n,), bool), jnp.asarray(0.0, dtype))
    _, out = jax.lax.scan(step, init, jnp.arange(1, shape.steps + 1, dtype=jnp.int32))
    return out


# ----------------------------------------------------------------------------------------------
# ensembles: vmap over network indices, shard the ensemble axis over a Mesh (like verify.engine.sharding)
# ----------------------------------------------------------------------------------------------

def run_ensemble(fn: Callable, ensemble: int, chunk: int = 8192, devices: Optional[Sequence] = None,
                 reduce: Optional[Callable] = None, progress: Optional[Callable[[str], None]] = None):
    """Evaluate ``fn(index) -> dict`` for ``index = 0 .. ensemble-1``.

    ``jit(shard_map(vmap(fn)))`` over ``Mesh(devices, ("ens",))``; chunks of ``chunk`` networks
    (rounded to a multiple of the device count).  Without ``reduce`` the per-network outputs are
    concatenated; with it, ``reduce(acc, chunk_out, n_valid)`` folds each chunk on the host."""
    devices = tuple(devices or jax.devices())
    mesh = Mesh(np.array(devices), (AXIS,))
    nd = len(devices)
    chunk = max(nd, (min(chunk, ensemble + nd - 1) // nd) * nd)
    sharded = jax.jit(jax.shard_map(jax.vmap(fn), mesh=mesh, in_specs=P(AXIS), out_specs=P(AXIS),
                                    check_vma=False), compiler_options=COMPILER_OPTIONS)
    sharding = NamedSharding(mesh, P(AXIS))
    acc, parts = None, []
    for start in range(0, ensemble, chunk):
        idx = jax.device_put(np.arange(start, start + chunk, dtype=np.int32), sharding)
        out = jax.device_get(sharded(idx))
        n_valid = min(chunk, ensemble - start)
        out = {k: np.asarray(v)[:n_valid] for k, v in out.items()}
        if reduce is None:
            parts.append(out)
        else:
            acc = reduce(acc, out, n_valid)
        if progress is not None:
            progress(f"    {min(start + chunk, ensemble)}/{ensemble} networks")
    if reduce is not None:
        return acc
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
