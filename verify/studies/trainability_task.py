r"""The memory task of the trainability study (issue 19) and its training loop.

**Task.** ``K`` fixed random patterns :math:`p_k\sim\mathcal N(0,R\,I_N)` (one set per seed).  An
example of class ``k`` feeds :math:`x_0=p_k`, then ``T`` steps of fresh noise :math:`x_t\sim\mathcal
N(0,R\,I_N)`, independent across examples; a linear readout of the hidden state after those ``T``
steps must name ``k``.  Two examples therefore differ in their first input and see independent inputs
afterwards: in the mean-field picture their overlap relaxes to :math:`C^*` at rate :math:`1/\xi` with
input correlation :math:`\Sigma=0` — the class signal is the part of the overlap that has not relaxed
yet, :math:`\propto e^{-T/\xi}`.  Chance accuracy is :math:`1/K`.

**Network.** The cell's hand-written simulator step (:mod:`verify.simulators`: the same code that the
agreement checks run, shared with nothing in ``theory/``), tied weights (one draw used at every step,
as a real ``nn.RNN``/``nn.LSTM``), initialised at the theory's parameters; state starts at 0.  All
weights and the readout are trained.

**Training.** Adam (``optax.adam``) on the cross-entropy of fresh batches for a fixed number of
steps; accuracy on ``eval_size`` fresh examples.  The whole grid row of one ``T`` — every
initialisation value and seed — is one ``jax.vmap`` over the networks, compiled once per ``T``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..simulators import GATED_SIMULATORS, get, get_gated


@dataclass(frozen=True)
class Training:
    """The budget and task size shared by every run of a study."""

    width: int = 48
    classes: int = 4
    steps: int = 300
    batch: int = 64
    learning_rate: float = 3e-3
    eval_size: int = 512


def network(cell: str):
    """``(draw, step, zero_state, read)`` of ``cell``'s simulator: ``draw(key, N, params)`` -> weights,
    ``step(weights, state, x, params)`` -> state, ``zero_state(N)``, ``read(state)`` -> h."""
    if cell in GATED_SIMULATORS:
        sim = get_gated(cell)
        k = sim.components.index(sim.read)
        return (lambda key, n, p: sim.draw_weights(key, n, p, jnp.float32),
                lambda w, s, x, p: sim.step(w, s, x, p)[0],
                lambda n: tuple(jnp.zeros(n, jnp.float32) for _ in sim.components),
                lambda s: s[k])
    sim = get(cell)
    if not sim.recurrent:
        raise ValueError(f"{cell} is a feed-forward net: the memory task needs a recurrent cell")
    return (lambda key, n, p: sim.draw_weights(key, n, p, jnp.float32),
            lambda w, h, x, p: sim.step(w, h, x, p).h,
            lambda n: jnp.zeros(n, jnp.float32),
            lambda s: s)


#: initialisation schemes that replace the theory's Gaussian draw (issue 19 item 3), with what each does
SCHEMES = {
    "theory": "the theory's Gaussian draw at the row's parameters (W ~ N(0, sigma_w^2/N), b ~ N(mu_b, sigma_b^2))",
    "pytorch": "torch.nn.RNN/GRU/LSTM reset_parameters: every matrix U(-1/sqrt(N), 1/sqrt(N)); every bias is "
               "b_ih + b_hh, two such uniforms",
    "glorot": "every matrix Glorot-uniform U(-sqrt(6/(2N)), sqrt(6/(2N))) (variance 1/N); biases 0",
    "orthogonal": "every matrix Haar-orthogonal (gain 1); biases 0",
}


def reinit(weights, scheme: str, key, n: int):
    """``weights`` with every matrix and bias replaced by ``scheme`` (:data:`SCHEMES`), same structure.
    The cells' weights are N x N matrices (recurrent and input, input width N) and length-N biases."""
    if scheme == "theory":
        return weights
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; choose one of {list(SCHEMES)}")
    leaves, tree = jax.tree_util.tree_flatten(weights)
    keys = jax.random.split(key, len(leaves))
    out = []
    for k, leaf in zip(keys, leaves):
        k1, k2 = jax.random.split(k)
        if leaf.ndim == 2:
            if scheme == "pytorch":
                bound = 1.0 / np.sqrt(n)
            elif scheme == "glorot":
                bound = np.sqrt(6.0 / (2 * n))
            if scheme == "orthogonal":
                q, r = jnp.linalg.qr(jax.random.normal(k1, leaf.shape, jnp.float32))
                new = q * jnp.sign(jnp.diagonal(r))[None, :]  # sign fix: Haar, not QR-biased
            else:
                new = jax.random.uniform(k1, leaf.shape, jnp.float32, -bound, bound)
        elif scheme == "pytorch":
            bound = 1.0 / np.sqrt(n)
            new = (jax.random.uniform(k1, leaf.shape, jnp.float32, -bound, bound)
                   + jax.random.uniform(k2, leaf.shape, jnp.float32, -bound, bound))
        else:
            new = jnp.zeros(leaf.shape, jnp.float32)
        out.append(new.astype(leaf.dtype))
    return jax.tree_util.tree_unflatten(tree, out)


def equivalent_params(cell_params: dict, scheme: str, n: int) -> dict:
    """The Gaussian parameters with the same first two moments per entry as ``scheme`` (what the
    mean-field theory sees at large N: ξ of a scheme is the theory's ξ at these); ``cell_params`` for
    ``"theory"``.  Orthogonal matrices enter as σ = 1 (unit row norms) — exact for the annealed
    forward moments, an approximation for tied networks (Haar and Gaussian tied DMFT may differ)."""
    if scheme == "theory":
        return dict(cell_params)
    std = {"pytorch": 1.0 / np.sqrt(3.0), "glorot": 1.0, "orthogonal": 1.0}[scheme]
    bias = float(np.sqrt(2.0 / (3.0 * n))) if scheme == "pytorch" else 0.0
    out = dict(cell_params)
    for k in cell_params:
        if k.startswith(("sigma_w", "sigma_v")):
            out[k] = float(std)
        elif k.startswith("sigma_b"):
            out[k] = bias
        elif k.startswith("mu_b"):
            out[k] = 0.0
    return out


def _batch(key, patterns, n_examples, T, R):
    """Labels (n,) and inputs (T + 1, n, N): the class pattern first, then noise."""
    k1, k2 = jax.random.split(key)
    y = jax.random.randint(k1, (n_examples,), 0, patterns.shape[0])
    noise = jnp.sqrt(R) * jax.random.normal(k2, (T, n_examples, patterns.shape[1]), jnp.float32)
    return y, jnp.concatenate([patterns[y][None], noise], axis=0)


def make_trainer(cell: str, T: int, cfg: Training):
    """``train(key, weights, params) -> correct answers``: one network's whole training run on the task
    at horizon ``T`` (pure; vmap it over networks).  ``params``: the theory's parameters (arrays under
    vmap); the input variance ``R`` sets the task's inputs."""
    import optax

    _, step, zero_state, read = network(cell)
    n, K = cfg.width, cfg.classes
    opt = optax.adam(cfg.learning_rate)

    def logits(theta, xs, params):
        def one(x_seq):
            def body(s, x):
                return step(theta["cell"], s, x, params), None
            s, _ = jax.lax.scan(body, zero_state(n), x_seq)
            return theta["A"] @ read(s) + theta["a"]
        return jax.vmap(one, in_axes=1)(xs)

    def loss(theta, y, xs, params):
        lg = logits(theta, xs, params)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(lg, y))

    def train(key, weights, params):
        R = params["R"]
        kp, ka, kt, ke = jax.random.split(key, 4)
        patterns = jnp.sqrt(R) * jax.random.normal(kp, (K, n), jnp.float32)
        theta = {"cell": weights, "A": jax.random.normal(ka, (K, n), jnp.float32) / jnp.sqrt(n),
                 "a": jnp.zeros(K, jnp.float32)}
        state = opt.init(theta)

        def update(carry, k):
            theta, state = carry
            y, xs = _batch(k, patterns, cfg.batch, T, R)
            g = jax.grad(loss)(theta, y, xs, params)
            upd, state = opt.update(g, state, theta)
            return (optax.apply_updates(theta, upd), state), None

        (theta, _), _ = jax.lax.scan(update, (theta, state), jax.random.split(kt, cfg.steps))
        y, xs = _batch(ke, patterns, cfg.eval_size, T, R)
        return jnp.sum(jnp.argmax(logits(theta, xs, params), axis=-1) == y)

    return train


def run_horizon(cell: str, T: int, cfg: Training, param_sets: list, seeds: list, schemes=None) -> np.ndarray:
    """Correct answers (out of ``cfg.eval_size``) for every parameter set x seed at horizon ``T``:
    an integer array of shape (len(param_sets), len(seeds)).  Network ``(i, s)`` is drawn from
    ``PRNGKey(seed)`` at parameters ``param_sets[i]`` (common random numbers along a grid row), then
    re-initialised by ``schemes[i]`` (default ``"theory"``: kept)."""
    draw = network(cell)[0]
    schemes = list(schemes or ["theory"] * len(param_sets))
    nets, keys = [], []
    for p, scheme in zip(param_sets, schemes):
        for s in seeds:
            kd, kt = jax.random.split(jax.random.PRNGKey(int(s)))
            nets.append(reinit(draw(kd, cfg.width, p), scheme, jax.random.fold_in(kd, 1), cfg.width))
            keys.append(kt)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *nets)
    ps = {k: jnp.asarray([float(p[k]) for p in param_sets for _ in seeds], jnp.float32) for k in param_sets[0]}
    train = jax.jit(jax.vmap(make_trainer(cell, T, cfg)))  # one compilation per T for the whole grid column
    correct = np.asarray(train(jnp.stack(keys), stacked, ps))
    return correct.reshape(len(param_sets), len(seeds))


__all__ = ["Training", "SCHEMES", "network", "reinit", "equivalent_params", "make_trainer", "run_horizon"]
