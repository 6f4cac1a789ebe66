r"""Initialisers for gated cells in the ``jax.nn.initializers`` convention: ``init(key, shape, dtype)``.

Layout as flax ``Dense`` (``y = x @ W + b``): a kernel has shape ``(fan_in, fan_out)``, entries
:math:`\mathcal N(0,\sigma^2/\mathrm{fan\_in})` -- the theory's ``sigma_w``/``sigma_v`` convention
(:math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)`); a bias has shape ``(fan_out,)``, entries
:math:`\mathcal N(\mu_b,\sigma_b^2)`.

:func:`initializers` returns, for parameters such as those of ``cell.critical_init(...)["params"]``:

* per gate ``g``: ``"recurrent_kernel_<g>"`` (σ_w,g), ``"kernel_<g>"`` (σ_v,g), ``"bias_<g>"`` (μ_b,g, σ_b,g);
* stacked along the output axis in the cell's gate order (GRU ``r, z, n``; LSTM ``i, f, g, o``):
  ``"recurrent_kernel"``, ``"kernel"`` (shape ``(fan_in, G * units)``) and ``"bias"`` (``(G * units,)``);
  ``shape[-1]`` must be divisible by the number of gates.  They are for a fused kernel that is called
  **once** with the whole ``(fan_in, G * units)`` shape (a hand-written cell, Keras-style layouts).  They
  are **not** for Flax's ``LSTMCell``/``GRUCell``, which call one initialiser per gate with shape
  ``(fan_in, units)`` (every gate would get the same mixture), nor for PyTorch/Equinox, whose weights are
  ``(G * units, fan_in)``: use :mod:`signalprop.flax`, :mod:`signalprop.torch`, :mod:`signalprop.equinox`,
  which write each gate's law into the framework's own parameters.

``gru`` resets before the recurrent matrix (Cho 2014); ``gru-reset-after`` is the PyTorch/Flax/cuDNN
form.  Its candidate gate also has a recurrent-side bias :math:`b_{hn}` (scaled by the reset gate):
``"recurrent_bias_n"`` (:math:`\mathcal N(0,\sigma_{b,hn}^2)`) and the stacked ``"recurrent_bias"``
(``(G * units,)``: zeros for ``r`` and ``z``, whose recurrent biases are folded into ``bias_r``/``bias_z``,
then ``b_hn``), PyTorch's ``bias_hh`` / Flax's ``hn`` bias.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .initializers import bias, gaussian


def _stacked(parts):
    def init(key, shape, dtype=jnp.float32):
        g = len(parts)
        if shape[-1] % g:
            raise ValueError(f"last axis {shape[-1]} not divisible by the {g} gates")
        keys = jax.random.split(key, g)
        sub = tuple(shape[:-1]) + (shape[-1] // g,)
        return jnp.concatenate([f(k, sub, dtype) for f, k in zip(parts, keys)], axis=-1)
    return init


def initializers(cell, **params) -> dict:
    """Initialisers for every weight of ``cell`` at ``params`` (defaults: the cell's)."""
    from .. import api

    from ..declare.gated import GatedCell
    c = api.cell(cell)
    if not isinstance(c, GatedCell):
        raise ValueError(f"gated_init.initializers builds per-gate initialisers for gated cells (gru, lstm, ...); "
                         f"{c.name} is not one: use theory.critical_init({c.name!r}, ...).initializers()")
    p = api.resolve_params(c, params)
    out, rec, inp, biases = {}, [], [], []
    for g in c.gates:
        n = g.name
        rec.append(gaussian(float(p[f"sigma_w_{n}"])))
        inp.append(gaussian(float(p[f"sigma_v_{n}"])))
        biases.append(bias(float(p.get(f"mu_b_{n}", 0.0)), float(p[f"sigma_b_{n}"])))
        out[f"recurrent_kernel_{n}"], out[f"kernel_{n}"], out[f"bias_{n}"] = rec[-1], inp[-1], biases[-1]
    out["recurrent_kernel"], out["kernel"], out["bias"] = _stacked(rec), _stacked(inp), _stacked(biases)
    if any(g.scale is not None for g in c.gates):
        rb = []
        for g in c.gates:
            std = float(p[f"sigma_b_h{g.name}"]) if g.scale is not None else 0.0
            rb.append(bias(0.0, std))
            if g.scale is not None:
                out[f"recurrent_bias_{g.name}"] = rb[-1]
        out["recurrent_bias"] = _stacked(rb)
    return out


__all__ = ["initializers"]
