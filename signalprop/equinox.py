r"""Equinox recurrent cells: the theory's parameters read from, and written into, ``equinox.nn.LSTMCell``
and ``equinox.nn.GRUCell``.  Needs ``equinox``.

Equinox stores ``weight_ih`` ``(G H, I)``, ``weight_hh`` ``(G H, H)`` and one ``bias`` ``(G H,)`` with the
gate blocks stacked along the rows (LSTM ``i, f, g, o``; GRU ``r, z, n``, whose candidate's recurrent-side
bias is the separate ``bias_n``, :math:`b_{hn}`).  Modules are immutable: :func:`initialize` returns a
new one.  Predictions are for the tied network unless ``tied=False``.
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import theory

from . import gates

#: Equinox cell type -> theory cell (a registry)
CELLS = {eqx.nn.LSTMCell: "lstm", eqx.nn.GRUCell: "gru-reset-after"}


def cell_name(module) -> str:
    """The theory cell of an Equinox ``module`` (ValueError for an unsupported one)."""
    name = CELLS.get(type(module))
    if name is None:
        raise ValueError(f"signalprop.equinox serves {sorted(t.__name__ for t in CELLS)}; got {type(module).__name__}")
    return name


def parameters(module, *, input_variance: float = 1.0) -> tuple:
    """``(theory cell, parameters)`` realised by ``module``'s arrays (:func:`signalprop.gates.read`)."""
    name = cell_name(module)
    gs = gates.GATES[name]
    H, I = module.hidden_size, module.input_size
    blocks = lambda a: None if a is None else np.asarray(a, dtype=np.float64).reshape(len(gs), H, -1)  # noqa: E731
    wi, wh, b = blocks(module.weight_ih), blocks(module.weight_hh), blocks(module.bias)
    sep = gates.SEPARATE_RECURRENT_BIAS.get(name)
    rec_bias = {sep: getattr(module, "bias_n", None)} if sep else {}
    return name, gates.read(name, dict(zip(gs, wh)), dict(zip(gs, wi)),
                            {g: None if b is None else b[k] for k, g in enumerate(gs)}, rec_bias,
                            hidden=H, fan_in=I, input_variance=input_variance, what=type(module).__name__)


def initialize(module, theory_params: dict, key):
    """A new ``module`` with its arrays drawn from ``theory_params`` (a full parameter set, e.g. a
    ``CriticalInit.params``): per gate block ``weight_hh`` :math:`\\mathcal N(0,\\sigma_w^2/H)`, ``weight_ih``
    :math:`\\mathcal N(0,\\sigma_v^2/I)`, ``bias`` :math:`\\mathcal N(\\mu_b,\\sigma_b^2)`, GRU ``bias_n``
    :math:`\\mathcal N(0,\\sigma_{b,hn}^2)`; dtypes kept.  ValueError for a ``use_bias=False`` module when
    the parameters need a bias."""
    name = cell_name(module)
    laws = gates.laws(name, theory_params)
    gs = gates.GATES[name]
    H, I = module.hidden_size, module.input_size
    if module.bias is None and gates.needs_bias(laws):
        raise ValueError(f"{type(module).__name__}(use_bias=False) cannot hold the biases {gates.needs_bias(laws)}")
    k1, k2, k3, k4 = jax.random.split(key, 4)

    def stacked(k, leaf, mean, std, fan):
        z = jax.random.normal(k, (len(gs), H) + leaf.shape[1:], jnp.float32)
        m = jnp.asarray([mean(laws[g]) for g in gs], jnp.float32).reshape((len(gs), 1) + (1,) * (leaf.ndim - 1))
        s = jnp.asarray([std(laws[g]) / math.sqrt(fan) for g in gs], jnp.float32).reshape(m.shape)
        return (m + s * z).reshape(leaf.shape).astype(leaf.dtype)

    new = {"weight_hh": stacked(k1, module.weight_hh, lambda law: 0.0, lambda law: law.sigma_w, H),
           "weight_ih": stacked(k2, module.weight_ih, lambda law: 0.0, lambda law: law.sigma_v, I)}
    if module.bias is not None:
        new["bias"] = stacked(k3, module.bias, lambda law: law.mu_b, lambda law: law.sigma_b, 1)
    sep = gates.SEPARATE_RECURRENT_BIAS.get(name)
    if sep and getattr(module, "bias_n", None) is not None:
        new["bias_n"] = (laws[sep].sigma_b_h * jax.random.normal(k4, module.bias_n.shape, jnp.float32)
                         ).astype(module.bias_n.dtype)
    names = list(new)
    return eqx.tree_at(lambda m: [getattr(m, n) for n in names], module, [new[n] for n in names])


def critical_init(module, key, *, xi: float | None = None, tied: bool = True, input_variance: float = 1.0,
                  solve_for: str | None = None, **options) -> tuple:
    """``(new module, CriticalInit)``: the critical initialisation (tied λ_max = 1 or exp(-1/ξ); annealed
    with ``tied=False``; :func:`signalprop.gates.solve`) written by :func:`initialize`."""
    result = gates.solve(cell_name(module), xi=xi, tied=tied, input_variance=input_variance, solve_for=solve_for,
                         **options)
    return initialize(module, result.params, key), result


def predict(module, quantity: str, *, input_variance: float = 1.0, tied: bool = True, **options):
    """The theory's ``quantity`` for ``module`` as initialised (tied by default; :func:`theory.predict`)."""
    name, p = parameters(module, input_variance=input_variance)
    return theory.predict(name, quantity, tied=tied, **p, **options)


def lyapunov(module, *, steps: int = 300, burn: int = 100, batch: int = 16, input_variance: float = 1.0,
             seed: int = 0) -> tuple:
    """``(lambda_max, se)`` measured on ``module`` itself (its own ``__call__`` vmapped over a batch of
    sequences, a float64 copy, zero state, fresh N(0, R) inputs): :func:`signalprop.benettin.lyapunov`."""
    from .benettin import lyapunov as measure
    name = cell_name(module)
    H, I = module.hidden_size, module.input_size
    with jax.enable_x64(True):
        m64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64) if eqx.is_array(a) else a, module)
        zeros = jnp.zeros((batch, H), jnp.float64)
        carry0 = (zeros, zeros) if name == "lstm" else zeros
        step = jax.vmap(lambda carry, x: m64(x, carry))
        return measure(step, carry0, input_dim=I, steps=steps, burn=burn, input_variance=input_variance, seed=seed)


__all__ = ["CELLS", "cell_name", "parameters", "initialize", "critical_init", "predict", "lyapunov"]
