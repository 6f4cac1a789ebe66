r"""PyTorch bridge: the theory's critical initialisation written into ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``
(and their ``*Cell`` forms) in PyTorch's own layout, and the theory's prediction for a module as it
is initialised.  Needs the ``torch`` extra.

Layouts (PyTorch's, per layer): ``weight_ih`` is ``(G H, I)``, ``weight_hh`` is ``(G H, H)``, ``bias_ih``
and ``bias_hh`` are ``(G H,)``, with the G gate blocks stacked along the rows in PyTorch's order —
``nn.LSTM`` ``i, f, g, o``; ``nn.GRU`` ``r, z, n``; ``nn.RNN`` one block.  The cells the theory serves
for them (:data:`MODULES`):

=================== ===================== ================================================================
module              theory cell           update
=================== ===================== ================================================================
``nn.RNN(tanh)``    ``vanilla-tanh``      :math:`h_t=\tanh(W h_{t-1}+V x_t+b)`
``nn.RNN(relu)``    ``vanilla-relu``      :math:`h_t=\mathrm{relu}(W h_{t-1}+V x_t+b)`
``nn.GRU``          ``gru-reset-after``   :math:`n_t=\tanh(U_nx_t+b_{in}+r_t\odot(W_nh_{t-1}+b_{hn}))`,
                                          :math:`h_t=z_t h_{t-1}+(1-z_t)n_t`
``nn.LSTM``         ``lstm``              :math:`c_t=f c_{t-1}+i g`, :math:`h_t=o\tanh c_t`
=================== ===================== ================================================================

Parameters (the theory's convention, :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/H)`): per gate block k,
:math:`\sigma_{w,k}^2=H\,\overline{W_{hh,k}^2}`, :math:`\sigma_{v,k}^2=I\,\overline{W_{ih,k}^2}`; the bias
a gate sees is ``bias_ih + bias_hh`` of its block (mean :math:`\mu_{b,k}`, variance :math:`\sigma_{b,k}^2`),
except the GRU candidate, whose ``bias_hh`` block is :math:`b_{hn}` (scaled by the reset gate:
``sigma_b_hn``).  ``input_variance`` is :math:`R`, the second moment per component of the inputs
the module will see (fresh each step, zero mean).

The theory is for Gaussian weights and biases; PyTorch's default init is uniform.  Weights enter the
fields through sums over H terms and only their variance matters at large width; a bias enters one
unit directly, so :func:`predict` models it as Gaussian with the block's mean and variance (exact for
:func:`critical_init_`'s Gaussian biases, an approximation for uniform ones that is negligible at
PyTorch's default bias scale :math:`\sigma_b^2=2/(3H)`).

Every prediction says which theory it is for: ``tied=True`` (default) is the real network — the same
W at every step, as a module is — by the tied-weight solver (:mod:`theory.tied`, 08); ``tied=False``
is the annealed (untied) theory.  :func:`lyapunov` measures the same growth rate on the module itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

import theory

from . import gates


@dataclass(frozen=True)
class Layout:
    """How a PyTorch module stores a theory cell: ``gates`` in PyTorch's row-block order, the
    ``cell`` per nonlinearity (``nn.RNN``: ``"tanh"``/``"relu"``; gated modules: ``None``), whether
    the module is a multi-step ``nn.RNNBase`` (parameters suffixed ``_l0``) and which gate's recurrent
    bias stays separate (the GRU candidate's :math:`b_{hn}`, scaled by the reset gate)."""

    gates: tuple
    cells: dict
    sequence: bool
    separate_hh_bias: str | None = None


_RNN = dict(gates=("",), cells={"tanh": "vanilla-tanh", "relu": "vanilla-relu"})
_GRU = dict(gates=("r", "z", "n"), cells={None: "gru-reset-after"}, separate_hh_bias="n")
_LSTM = dict(gates=("i", "f", "g", "o"), cells={None: "lstm"})

#: module type -> its layout (a registry: one entry per supported PyTorch class)
MODULES = {
    nn.RNN: Layout(sequence=True, **_RNN), nn.RNNCell: Layout(sequence=False, **_RNN),
    nn.GRU: Layout(sequence=True, **_GRU), nn.GRUCell: Layout(sequence=False, **_GRU),
    nn.LSTM: Layout(sequence=True, **_LSTM), nn.LSTMCell: Layout(sequence=False, **_LSTM),
}

def layout(module) -> Layout:
    """The :class:`Layout` of ``module``; ValueError for an unsupported module or configuration
    (several layers, bidirectional, an LSTM projection)."""
    lay = MODULES.get(type(module))
    if lay is None:
        raise ValueError(f"signalprop.torch serves {sorted(t.__name__ for t in MODULES)}; got {type(module).__name__}")
    if lay.sequence:
        if module.num_layers != 1:
            raise ValueError(f"{type(module).__name__} with num_layers={module.num_layers}: the theory is for one "
                             "recurrent layer; build the stack from single-layer modules and treat each alone")
        if module.bidirectional:
            raise ValueError(f"bidirectional {type(module).__name__}: each direction is its own recurrent network; "
                             "use two unidirectional modules")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"LSTM with proj_size={module.proj_size}: the projected LSTM is not a declared cell")
    return lay


def cell_name(module) -> str:
    """The theory cell of ``module`` (see :data:`MODULES`)."""
    lay = layout(module)
    key = getattr(module, "nonlinearity", None) if "tanh" in lay.cells else None
    return lay.cells[key]


def _tensors(module, lay):
    suffix = "_l0" if lay.sequence else ""
    get = lambda n: getattr(module, n + suffix, None)  # noqa: E731  (bias=False modules have None)
    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")


def parameters(module, *, input_variance: float = 1.0) -> tuple:
    r"""``(cell, params)``: the theory cell of ``module`` and its parameters as the module is initialised
    (:func:`signalprop.gates.read`: per gate block :math:`\sigma_{w,k}^2=H\,\overline{W_{hh,k}^2}`,
    :math:`\sigma_{v,k}^2=I\,\overline{W_{ih,k}^2}`, bias mean and variance, :math:`R` = ``input_variance``).

    Raises ValueError when the module is outside the theory: a weight block with a mean
    :data:`signalprop.gates.MEAN_Z` standard errors from zero, a bias mean on a gate whose declaration
    has none (LSTM ``g``, GRU ``n``, ``nn.RNN``), non-finite entries."""
    lay = layout(module)
    name = cell_name(module)
    wi, wh, bi, bh = _tensors(module, lay)
    H, I = wh.shape[1], wi.shape[1]
    G = len(lay.gates)

    def blocks(t):
        return [None] * G if t is None else list(t.detach().double().cpu().numpy().reshape(G, H, -1))

    wi, wh, bi, bh = blocks(wi), blocks(wh), blocks(bi), blocks(bh)
    bias, rec_bias = {}, {}
    for k, g in enumerate(lay.gates):
        if g == lay.separate_hh_bias:
            bias[g], rec_bias[g] = bi[k], bh[k]
        else:
            bias[g] = None if bi[k] is None else bi[k] + bh[k]
    return name, gates.read(name, dict(zip(lay.gates, wh)), dict(zip(lay.gates, wi)), bias, rec_bias,
                            hidden=H, fan_in=I, input_variance=input_variance, what=type(module).__name__)


def predict(module, quantity: str, *, input_variance: float = 1.0, tied: bool = True, **options):
    """The theory's ``quantity`` (``"lambda_max"``, ``"xi"``, ``"Q_star"``, ``"chi"``, ...) for ``module``
    as it is initialised: :func:`theory.predict` at :func:`parameters` ``(module)``.

    ``tied=True`` (default): the real network (the module's one W at every step; tied solver, a
    Monte-Carlo estimate — ``return_error=True`` gives ``(value, SE)``; ``paths``, ``seed``, ...);
    ``tied=False``: the annealed (untied-weight) theory."""
    name, p = parameters(module, input_variance=input_variance)
    return theory.predict(name, quantity, tied=tied, **p, **options)


def initialize_(module, params: dict, *, generator: torch.Generator | None = None):
    r"""Write the theory parameters ``params`` (a full parameter set of the module's cell, e.g. a
    ``CriticalInit.params``) into ``module`` in place; returns ``module``.

    Per gate block k: ``weight_hh`` :math:`\sim\mathcal N(0,\sigma_{w,k}^2/H)`, ``weight_ih``
    :math:`\sim\mathcal N(0,\sigma_{v,k}^2/I)`, ``bias_ih`` :math:`\sim\mathcal N(\mu_{b,k},\sigma_{b,k}^2)`
    and ``bias_hh`` zero (GRU: its ``n`` block is :math:`b_{hn}\sim\mathcal N(0,\sigma_{b,hn}^2)`).
    ValueError (module untouched) for parameters of another cell, or biases a ``bias=False`` module
    cannot hold."""
    lay = layout(module)
    gate_laws = gates.laws(cell_name(module), params)
    wi, wh, bi, bh = _tensors(module, lay)
    H, I = wh.shape[1], wi.shape[1]
    if bi is None and gates.needs_bias(gate_laws):
        raise ValueError(f"{type(module).__name__}(bias=False) cannot hold the biases {gates.needs_bias(gate_laws)}; "
                         "build it with bias=True or fix the bias parameters to 0")
    with torch.no_grad():
        for k, g in enumerate(lay.gates):
            law, rows = gate_laws[g], slice(k * H, (k + 1) * H)
            wh[rows].normal_(0.0, law.sigma_w / math.sqrt(H), generator=generator)
            wi[rows].normal_(0.0, law.sigma_v / math.sqrt(I), generator=generator)
            if bi is not None:
                bi[rows].normal_(law.mu_b, law.sigma_b, generator=generator)
                bh[rows].zero_()
                if g == lay.separate_hh_bias:
                    bh[rows].normal_(0.0, law.sigma_b_h, generator=generator)
    return module


def critical_init_(module, *, xi: float | None = None, tied: bool = True, input_variance: float = 1.0,
                   solve_for: str | None = None, generator: torch.Generator | None = None, **params):
    r"""Write a critical initialisation into ``module`` in place (as ``torch.nn.init`` does) and return
    it: a :class:`theory.criticality.result.CriticalInit` whose ``params`` are what was written,
    ``theory`` says which theory solved it, ``predicted`` holds λ_max (and its SE) and ξ there.

    ``tied=True`` (default): the real network's critical point, tied :math:`\lambda_{\max}=1` — or
    :math:`\lambda_{\max}=e^{-1/\xi}` for a requested perturbation timescale ``xi`` — solved in
    ``solve_for`` (default: the memory-gate bias mean ``mu_b_f`` / ``mu_b_z`` of a gated cell,
    ``sigma_w`` of ``nn.RNN``; :func:`theory.critical_init` with ``tied=True``).  ``tied=False``: the
    annealed theory (gated cells: :math:`\lambda_{\max}=1` of the untied maps; ``nn.RNN``: χ = 1).
    Other parameters (``sigma_w_f=...``, ``paths=``, ``seed=``) pass through; the rest take the cell's
    defaults.  ``input_variance`` is :math:`R`.

    Written as :func:`initialize_` does; apply the returned ``params`` to more modules of the same
    shape with :func:`initialize_` (the solve costs seconds to minutes, the write nothing).
    Raises ValueError (module untouched) when the criterion cannot be met, or when the module has no
    bias but the solution needs one."""
    lay = layout(module)
    result = gates.solve(cell_name(module), xi=xi, tied=tied, input_variance=input_variance, solve_for=solve_for,
                         **params)
    initialize_(module, result.params, generator=generator)
    return replace(result, details={**result.details, "module": type(module).__name__,
                                    "layout": "".join(lay.gates) or "single block"})


def lyapunov(module, *, steps: int = 300, burn: int = 100, batch: int = 16, input_variance: float = 1.0,
             seed: int = 0) -> tuple:
    r"""Measured per-step growth factor of a perturbation's squared norm in ``module`` itself (Benettin):
    ``batch`` input sequences :math:`x_t\sim\mathcal N(0,R\,I)`, fresh each step, drive the module from
    a zero state; a perturbation of the full state (``(h, c)`` for an LSTM) is carried along each and
    renormalised every step.  Returns ``(lambda_max, se)``: :math:`\exp` of the mean over sequences and
    the last ``steps - burn`` steps of :math:`\ln(|\delta s_t|^2/|\delta s_{t-1}|^2)`, and its standard
    error from the spread over sequences (delta method; sequences through one network, so the error
    of *this* network's rate).  This is what ``predict(module, "lambda_max", tied=True)`` predicts at
    infinite width.

    The module runs as PyTorch runs it, on a float64 copy: the perturbed state is a second batch of
    the same forward call, offset by :data:`PERTURBATION` times the unit tangent (a finite difference
    whose relative error, O(PERTURBATION · curvature), is ~1e-6, far below the sampling error)."""
    import copy
    lay = layout(module)
    name = cell_name(module)
    for nm, v, least in (("steps", steps, 2), ("burn", burn, 1), ("batch", batch, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ValueError(f"{nm} must be an integer >= {least}, got {v!r}")
    if burn >= steps:
        raise ValueError(f"burn must be < steps; got steps={steps}, burn={burn}")
    net = copy.deepcopy(module).double()
    wi, wh, _, _ = _tensors(net, lay)
    H, I = wh.shape[1], wi.shape[1]
    device = wh.device
    gen = torch.Generator(device=device).manual_seed(seed)
    parts = 2 if name == "lstm" else 1
    step = _stepper(net, lay, parts == 2)
    state = torch.zeros(batch, parts * H, dtype=torch.float64, device=device)
    tangent = torch.randn(batch, parts * H, dtype=torch.float64, device=device, generator=gen)
    tangent /= tangent.norm(dim=1, keepdim=True)
    logs = []
    with torch.no_grad():
        for t in range(steps):
            x = torch.randn(batch, I, dtype=torch.float64, device=device, generator=gen) * math.sqrt(input_variance)
            both = step(torch.cat([x, x]), torch.cat([state, state + PERTURBATION * tangent]))
            state, moved = both[:batch], both[batch:]
            grown = (moved - state) / PERTURBATION
            norm = grown.norm(dim=1)
            tangent = grown / norm[:, None]
            if t >= burn:
                logs.append(2.0 * torch.log(norm))
    per_seq = torch.stack(logs).mean(0).cpu().numpy()
    m, se = float(per_seq.mean()), float(per_seq.std(ddof=1) / math.sqrt(batch))
    return math.exp(m), math.exp(m) * se


#: size of the finite-difference perturbation of :func:`lyapunov` (float64 state of O(1) entries)
PERTURBATION = 1e-7


def _stepper(module, lay, lstm):
    """One step ``(x, s) -> s`` of ``module`` on the flat state ``s`` (``[h, c]`` for an LSTM), through
    the module's own forward, so the measurement is of the module as PyTorch runs it."""
    H = module.hidden_size

    def call(x, s):
        h = s[:, :H]
        hx = (h, s[:, H:]) if lstm else h
        if not lay.sequence:
            out = module(x, hx)
            return torch.cat(out, 1) if lstm else out
        hx = (hx[0][None], hx[1][None]) if lstm else hx[None]
        _, new = module(x[:, None] if module.batch_first else x[None], hx)
        return torch.cat([new[0][0], new[1][0]], 1) if lstm else new[0]
    return call


__all__ = ["MODULES", "Layout", "layout", "cell_name", "parameters", "predict", "initialize_", "critical_init_",
           "lyapunov"]
