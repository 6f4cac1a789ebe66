r"""Initialisers for gated cells in the ``jax.nn.initializers`` convention: ``init(key, shape, dtype)``.

Layout as flax ``Dense`` (``y = x @ W + b``): a kernel has shape ``(fan_in, fan_out)``, entries
:math:`\mathcal N(0,\sigma^2/\mathrm{fan\_in})` -- the theory's ``sigma_w``/``sigma_v`` convention
(:math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)`); a bias has shape ``(fan_out,)``, entries
:math:`\mathcal N(\mu_b,\sigma_b^2)`.

:func:`initializers` returns, for parameters such as those of ``cell.critical_init(...)["params"]``:

* per gate ``g``: ``"recurrent_kernel_<g>"`` (σ_w,g), ``"kernel_<g>"`` (σ_v,g), ``"bias_<g>"`` (μ_b,g, σ_b,g);
* stacked along the output axis in the cell's gate order (PyTorch/Flax: GRU ``r, z, n``; LSTM
  ``i, f, g, o``): ``"recurrent_kernel"``, ``"kernel"`` (shape ``(fan_in, G * units)``) and ``"bias"``
  (``(G * units,)``); ``shape[-1]`` must be divisible by the number of gates.

``gru`` resets before the recurrent matrix (Cho 2014); ``gru-reset-after`` is the PyTorch/Flax/cuDNN
form.  Its candidate gate also has a recurrent-side bias :math:`b_{hn}` (scaled by the reset gate):
``"recurrent_bias_n"`` (:math:`\mathcal N(0,\sigma_{b,hn}^2)`) and the stacked ``"recurrent_bias"``
(``(G * units,)``: zeros for ``r`` and ``z``, whose recurrent biases are folded into ``bias_r``/``bias_z``,
then ``b_hn``), PyTorch's ``bias_hh`` / Flax's ``hn`` bias.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def normal_kernel(std: float):
    """``N(0, std^2 / fan_in)`` kernels of shape ``(..., fan_in, fan_out)``."""
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"std must be finite and >= 0, got {std!r}")

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(f"a kernel needs shape (..., fan_in, fan_out), got {tuple(shape)}")
        return (std / math.sqrt(shape[-2])) * jax.random.normal(key, shape, dtype)
    return init


def normal_bias(mean: float, std: float):
    """``N(mean, std^2)`` biases."""
    def init(key, shape, dtype=jnp.float32):
        return mean + std * jax.random.normal(key, shape, dtype)
    return init


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
    out, rec, inp, bias = {}, [], [], []
    for g in c.gates:
        n = g.name
        rec.append(normal_kernel(float(p[f"sigma_w_{n}"])))
        inp.append(normal_kernel(float(p[f"sigma_v_{n}"])))
        bias.append(normal_bias(float(p.get(f"mu_b_{n}", 0.0)), float(p[f"sigma_b_{n}"])))
        out[f"recurrent_kernel_{n}"], out[f"kernel_{n}"], out[f"bias_{n}"] = rec[-1], inp[-1], bias[-1]
    out["recurrent_kernel"], out["kernel"], out["bias"] = _stacked(rec), _stacked(inp), _stacked(bias)
    if any(g.scale is not None for g in c.gates):
        rb = []
        for g in c.gates:
            std = float(p[f"sigma_b_h{g.name}"]) if g.scale is not None else 0.0
            rb.append(normal_bias(0.0, std))
            if g.scale is not None:
                out[f"recurrent_bias_{g.name}"] = rb[-1]
        out["recurrent_bias"] = _stacked(rb)
    return out


__all__ = ["initializers", "normal_kernel", "normal_bias"]
