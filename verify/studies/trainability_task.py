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


def run_horizon(cell: str, T: int, cfg: Training, param_sets: list, seeds: list) -> np.ndarray:
    """Correct answers (out of ``cfg.eval_size``) for every parameter set x seed at horizon ``T``:
    an integer array of shape (len(param_sets), len(seeds)).  Network ``(i, s)`` is drawn from
    ``PRNGKey(seed)`` at parameters ``param_sets[i]`` (common random numbers along a grid row)."""
    draw = network(cell)[0]
    nets, keys = [], []
    for p in param_sets:
        for s in seeds:
            kd, kt = jax.random.split(jax.random.PRNGKey(int(s)))
            nets.append(draw(kd, cfg.width, p))
            keys.append(kt)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *nets)
    ps = {k: jnp.asarray([float(p[k]) for p in param_sets for _ in seeds], jnp.float32) for k in param_sets[0]}
    train = jax.jit(jax.vmap(make_trainer(cell, T, cfg)))  # one compilation per T for the whole grid column
    correct = np.asarray(train(jnp.stack(keys), stacked, ps))
    return correct.reshape(len(param_sets), len(seeds))


__all__ = ["Training", "network", "make_trainer", "run_horizon"]
