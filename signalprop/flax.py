r"""Flax (``flax.linen``) recurrent cells: the theory's parameters read from, and written into, a cell's
params tree.  Needs ``flax``.

Flax builds each gate from its own ``Dense`` layers and calls one ``bias_init`` for all of them, so a
per-gate law (the LSTM's forget-gate bias mean) cannot be passed to the constructor: the stacked
initialisers of :mod:`theory.criticality.gated_init` would give every gate the same share.  Here the
params of an initialised cell are rewritten instead, gate by gate, under Flax's own names
(:data:`CELLS`); kernels are ``(fan_in, H)`` and drawn :math:`\mathcal N(0,\sigma^2/\mathrm{fan\_in})`:

====================================== ===================== ==========================================
cell                                   theory cell           input kernel / recurrent kernel / bias
====================================== ===================== ==========================================
``LSTMCell``, ``OptimizedLSTMCell``    ``lstm``              ``i<g>`` / ``h<g>`` / ``h<g>.bias``
``GRUCell``                            ``gru-reset-after``   ``i<g>`` / ``h<g>`` / ``i<g>.bias``;
                                                             b_hn = ``hn.bias``
``SimpleCell`` (tanh, relu)            ``vanilla-<act>``     ``i`` / ``h`` / ``i.bias``
====================================== ===================== ==========================================

Predictions are for the tied network (one W at every step, as a Flax cell scanned over time is)
unless ``tied=False``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import theory

from . import gates


@dataclass(frozen=True)
class FlaxLayout:
    """Where a Flax cell keeps gate ``g``'s arrays: ``params[input_name(g)]["kernel"]`` (input),
    ``params[recurrent_name(g)]["kernel"]`` (recurrent), the bias in ``params[bias_in(g)]["bias"]`` and,
    for the GRU candidate, the recurrent-side bias in ``params["h" + g]["bias"]``."""

    gates: tuple
    bias_on_recurrent: bool
    names: str = "prefixed"  # "prefixed": i<g>/h<g>; "single": i/h (one-block cells)

    def input_name(self, g):
        return "i" + g if self.names == "prefixed" else "i"

    def recurrent_name(self, g):
        return "h" + g if self.names == "prefixed" else "h"

    def bias_in(self, g):
        return self.recurrent_name(g) if self.bias_on_recurrent else self.input_name(g)


_LSTM = FlaxLayout(gates=gates.GATES["lstm"], bias_on_recurrent=True)
#: Flax cell type -> its layout (a registry: one entry per supported class)
CELLS = {nn.LSTMCell: _LSTM, nn.OptimizedLSTMCell: _LSTM,
         nn.GRUCell: FlaxLayout(gates=gates.GATES["gru-reset-after"], bias_on_recurrent=False),
         nn.SimpleCell: FlaxLayout(gates=("",), bias_on_recurrent=False, names="single")}
_ACTIVATIONS = {nn.tanh: "tanh", jax.nn.relu: "relu", nn.relu: "relu"}


def cell_name(cell) -> str:
    """The theory cell of a Flax ``cell`` (ValueError for an unsupported class or configuration)."""
    lay = CELLS.get(type(cell))
    if lay is None:
        raise ValueError(f"signalprop.flax serves {sorted(t.__name__ for t in CELLS)}; got {type(cell).__name__}")
    if type(cell) is nn.SimpleCell:
        if cell.residual:
            raise ValueError("SimpleCell(residual=True) adds h_(t-1) outside the activation: not a declared cell")
        act = _ACTIVATIONS.get(cell.activation_fn)
        if act is None:
            raise ValueError(f"SimpleCell with activation {cell.activation_fn!r}: served are tanh and relu")
        return f"vanilla-{act}"
    if cell.gate_fn is not nn.sigmoid or cell.activation_fn is not nn.tanh:
        raise ValueError(f"{type(cell).__name__} with gate_fn={cell.gate_fn!r}, activation_fn={cell.activation_fn!r}: "
                         "the declared cells use sigmoid gates and tanh")
    return "lstm" if lay is _LSTM else "gru-reset-after"


def _inner(params):
    """The params dict of a cell: ``variables["params"]`` or the params themselves."""
    return params["params"] if "params" in params and isinstance(params["params"], dict) else params


def parameters(cell, params, *, input_variance: float = 1.0) -> tuple:
    """``(theory cell, parameters)`` realised by the Flax ``cell``'s ``params`` (or ``variables``), per
    gate as :func:`signalprop.gates.read` defines them; ValueError outside the theory."""
    name, lay = cell_name(cell), CELLS[type(cell)]
    p = _inner(params)
    arr = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    rec = {g: arr(p[lay.recurrent_name(g)]["kernel"]) for g in lay.gates}
    inp = {g: arr(p[lay.input_name(g)]["kernel"]) for g in lay.gates}
    bias = {g: arr(p[lay.bias_in(g)]["bias"]) for g in lay.gates}
    sep = gates.SEPARATE_RECURRENT_BIAS.get(name)
    rec_bias = {sep: arr(p[lay.recurrent_name(sep)]["bias"])} if sep else {}
    H, I = next(iter(rec.values())).shape[1], next(iter(inp.values())).shape[0]
    return name, gates.read(name, rec, inp, bias, rec_bias, hidden=H, fan_in=I, input_variance=input_variance,
                            what=type(cell).__name__)


def initialize(cell, params, theory_params: dict, key):
    """A copy of ``params`` (or ``variables``, same structure back) with every gate's arrays drawn from
    ``theory_params`` (a full parameter set, e.g. a ``CriticalInit.params``): kernels
    :math:`\\mathcal N(0,\\sigma^2/\\mathrm{fan\\_in})`, biases :math:`\\mathcal N(\\mu_b,\\sigma_b^2)`, each
    leaf keeping its dtype.  Pure: ``params`` is not changed."""
    name, lay = cell_name(cell), CELLS[type(cell)]
    laws = gates.laws(name, theory_params)
    p = {k: dict(v) for k, v in _inner(params).items()}  # new dicts over the same (immutable) leaves
    sep = gates.SEPARATE_RECURRENT_BIAS.get(name)
    keys = iter(jax.random.split(key, 4 * len(lay.gates)))

    def normal(leaf, mean, std):
        return (mean + std * jax.random.normal(next(keys), leaf.shape, jnp.float32)).astype(leaf.dtype)

    for g in lay.gates:
        law = laws[g]
        ri, rr, rb = lay.input_name(g), lay.recurrent_name(g), lay.bias_in(g)
        p[rr]["kernel"] = normal(p[rr]["kernel"], 0.0, law.sigma_w / math.sqrt(p[rr]["kernel"].shape[0]))
        p[ri]["kernel"] = normal(p[ri]["kernel"], 0.0, law.sigma_v / math.sqrt(p[ri]["kernel"].shape[0]))
        p[rb]["bias"] = normal(p[rb]["bias"], law.mu_b, law.sigma_b)
        if g == sep:
            p[rr]["bias"] = normal(p[rr]["bias"], 0.0, law.sigma_b_h)
    if "params" in params and isinstance(params["params"], dict):
        return {**params, "params": p}
    return p


def critical_init(cell, params, key, *, xi: float | None = None, tied: bool = True, input_variance: float = 1.0,
                  solve_for: str | None = None, **options) -> tuple:
    """``(new params, CriticalInit)``: the tied critical initialisation (λ_max = 1, or exp(-1/ξ) for
    ``xi``; ``tied=False``: annealed) solved as :func:`signalprop.gates.solve` does and written by
    :func:`initialize`."""
    result = gates.solve(cell_name(cell), xi=xi, tied=tied, input_variance=input_variance, solve_for=solve_for,
                         **options)
    return initialize(cell, params, result.params, key), result


def predict(cell, params, quantity: str, *, input_variance: float = 1.0, tied: bool = True, **options):
    """The theory's ``quantity`` for the Flax ``cell`` at ``params`` (tied by default; :func:`theory.predict`)."""
    name, p = parameters(cell, params, input_variance=input_variance)
    return theory.predict(name, quantity, tied=tied, **p, **options)


def lyapunov(cell, variables, *, steps: int = 300, burn: int = 100, batch: int = 16, input_variance: float = 1.0,
             seed: int = 0) -> tuple:
    """``(lambda_max, se)`` measured on the Flax ``cell`` itself at ``variables`` (its own ``apply``, a
    float64 copy, a zero carry, fresh N(0, R) inputs): :func:`signalprop.benettin.lyapunov`.  What
    ``predict(cell, variables, "lambda_max")`` predicts at infinite width."""
    from .benettin import lyapunov as measure
    cell_name(cell)  # refuses what is not served
    lay = CELLS[type(cell)]
    I = int(_inner(variables)[lay.input_name(lay.gates[0])]["kernel"].shape[0])
    with jax.enable_x64(True):
        v64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), variables)
        c64 = cell.clone(param_dtype=jnp.float64, dtype=jnp.float64)
        carry0 = c64.initialize_carry(jax.random.PRNGKey(0), (batch, I))

        def step(carry, x):
            return c64.apply(v64, carry, x)[0]

        return measure(step, carry0, input_dim=I, steps=steps, burn=burn, input_variance=input_variance, seed=seed)


__all__ = ["CELLS", "FlaxLayout", "cell_name", "parameters", "initialize", "critical_init", "predict", "lyapunov"]
