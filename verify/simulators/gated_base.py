"""The protocol of gated simulators: several gates and a multi-component state (GRU, LSTM).

The generic engine of :mod:`verify.engine.simulate` carries one state vector per network; a gated cell
with a carried cell state (LSTM: ``(c, h)``) needs a tuple of them, so gated simulators follow
this small protocol and are driven by :mod:`verify.judge.gated`.  As for every simulator, the code is
hand-written (shares nothing with ``theory/``), parameter names are the theory's, and values
always arrive fully specified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax

from .base import standard_normals
from .projected import draw_projected, orthonormal_basis


@dataclass(frozen=True)
class GatedSimulator:
    """A real gated network.

    Attributes:
        cell: theory cell name (``"gru"``, ``"lstm"``).
        param_names: the theory's parameter names, in its order.
        components: state components in the theory's order (``("c", "h")``); the last one the
            gates read is ``read``.
        gates: gate names; ``memory_gate`` is the one whose field variance is ``q_star``.
        draw_weights: ``(key, N, params, dtype, reads=None) -> {gate: (W, U, b)}``.
        step: ``(weights, state tuple, x, params) -> (new state tuple, {gate: pre-activation})``.
        recurrent_field: ``(weights, state tuple) -> W_memory h`` (tied-weight mechanism check).
        projectable: ``draw_weights`` accepts ``reads=(states, inputs)`` -- rows ``h_a, h_b`` (the read
            component of the two states), then the tangents at ``h_a`` the step is differentiated in,
            and rows ``x_a, x_b`` -- and returns matrices exact on every vector the step multiplies
            them by (:mod:`verify.simulators.projected`): LSTM and the reset-after GRU read only those;
            the Cho GRU draws W_n in a second stage, on ``r ⊙ h`` and its tangents.
    """

    cell: str
    param_names: tuple
    components: tuple
    read: str
    gates: tuple
    memory_gate: str
    draw_weights: Callable
    step: Callable
    recurrent_field: Callable
    gated: bool = True
    recurrent: bool = True
    projectable: bool = False

    def check_params(self, params: dict) -> None:
        missing = [p for p in self.param_names if p not in params]
        extra = [p for p in params if p not in self.param_names]
        if missing or extra:
            raise ValueError(f"{self.cell}: parameters must be exactly {list(self.param_names)}; "
                             f"missing {missing}, unknown {extra}")
        for p in self.param_names:
            if p.startswith(("sigma_", "R")) and not float(params[p]) >= 0.0:
                raise ValueError(f"{self.cell}: {p} must be >= 0, got {params[p]}")
        if not -1.0 <= float(params["Sigma"]) <= 1.0:
            raise ValueError(f"{self.cell}: Sigma is a correlation, must lie in [-1, 1]")

    def bias_mean(self, params: dict, gate: str):
        return params.get(f"mu_b_{gate}", 0.0)


def gate_weights(key, n: int, p: dict, gates, dtype, reads=None) -> dict:
    """Per gate ``W ~ N(0, sigma_w^2/N)``, ``U ~ N(0, sigma_v^2/N)`` (N x N) and
    ``b ~ N(mu_b, sigma_b^2)`` (mean 0 for a gate without ``mu_b_<g>``), from one draw.

    ``reads = (states (k, N), inputs (m, N))``: each gate's ``W`` and ``U`` as a
    :class:`~verify.simulators.projected.ProjectedGaussian` on the span of what it multiplies (the
    same law; ``O(N k)`` normals per gate instead of ``2 N²``)."""
    if reads is not None:
        states, inputs = reads
        on_states, on_inputs = orthonormal_basis(states), orthonormal_basis(inputs)  # shared by the gates
        out = {}
        for name, k in zip(gates, jax.random.split(key, len(gates))):
            kw, ku, kb = jax.random.split(k, 3)
            b = jax.random.normal(kb, (n,), dtype).astype(states.dtype)
            out[name] = (draw_projected(kw, states, p[f"sigma_w_{name}"], dtype, basis=on_states),
                         draw_projected(ku, inputs, p[f"sigma_v_{name}"], dtype, basis=on_inputs),
                         p.get(f"mu_b_{name}", 0.0) + p[f"sigma_b_{name}"] * b)
        return out
    shapes = []
    for _ in gates:
        shapes += [(n, n), (n, n), (n,)]
    g = standard_normals(key, shapes, dtype)
    s = 1.0 / math.sqrt(n)
    out = {}
    for i, name in enumerate(gates):
        W, U, b = g[3 * i], g[3 * i + 1], g[3 * i + 2]
        out[name] = (p[f"sigma_w_{name}"] * s * W, p[f"sigma_v_{name}"] * s * U,
                     p.get(f"mu_b_{name}", 0.0) + p[f"sigma_b_{name}"] * b)
    return out
