r"""Per-gate weight statistics <-> a theory cell's parameters, for any framework's layout.

A framework bridge (:mod:`signalprop.torch`, :mod:`signalprop.flax`, :mod:`signalprop.equinox`) cuts
its module's arrays into gate blocks and hands them here as numpy arrays; what a block means is the
theory's convention, :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/\mathrm{fan\_in})`:

* :func:`read` — per gate k, :math:`\sigma_{w,k}^2=H\,\overline{W_{k}^2}`, :math:`\sigma_{v,k}^2=I\,\overline{U_{k}^2}`,
  the bias's mean :math:`\mu_{b,k}` and variance :math:`\sigma_{b,k}^2` (the GRU candidate's recurrent-side
  bias :math:`b_{hn}` apart, as ``sigma_b_hn``), refusing what the theory does not describe;
* :func:`laws` — the reverse: per gate, the Gaussian laws a framework draws its blocks from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import theory

#: theory cell -> its gates in the order every supported framework stores them ("" = the one block of a
#: single-field cell, whose parameters have no gate suffix)
GATES = {"lstm": ("i", "f", "g", "o"), "gru-reset-after": ("r", "z", "n"),
         "vanilla-tanh": ("",), "vanilla-relu": ("",)}
#: the gate whose recurrent-side bias is scaled by another gate (and so is a parameter of its own)
SEPARATE_RECURRENT_BIAS = {"gru-reset-after": "n"}

#: a weight block whose mean is further than this many standard errors from 0 is refused: the theory
#: is for zero-mean weights (a mean adds a field coherent across units that it does not have)
MEAN_Z = 6.0


def param(stem: str, gate: str) -> str:
    """The theory's parameter name: ``sigma_w_f`` for gate ``f``, ``sigma_w`` for a single-field cell."""
    return f"{stem}_{gate}" if gate else stem


@dataclass(frozen=True)
class GateLaw:
    """Gaussian laws of one gate's blocks: recurrent weights N(0, sigma_w^2/H), input weights
    N(0, sigma_v^2/I), bias N(mu_b, sigma_b^2), recurrent-side bias N(0, sigma_b_h^2) (GRU candidate)."""

    sigma_w: float
    sigma_v: float
    mu_b: float
    sigma_b: float
    sigma_b_h: float = 0.0


def laws(cell: str, params: dict) -> dict:
    """{gate: :class:`GateLaw`} for a full parameter set of ``cell`` (e.g. a ``CriticalInit.params``);
    ValueError for missing or unknown parameters."""
    c = theory.cell(cell)
    missing = sorted(set(c.param_names) - set(params) - {"R", "Sigma"})
    if missing:
        raise ValueError(f"{cell}: parameters {missing} missing (give a full set, e.g. a CriticalInit's .params)")
    p = theory.api.resolve_params(c, dict(params))
    sep = SEPARATE_RECURRENT_BIAS.get(cell)
    return {g: GateLaw(float(p[param("sigma_w", g)]), float(p[param("sigma_v", g)]),
                       float(p.get(param("mu_b", g), 0.0)), float(p[param("sigma_b", g)]),
                       float(p[f"sigma_b_h{g}"]) if g == sep else 0.0)
            for g in GATES[cell]}


def needs_bias(gate_laws: dict) -> dict:
    """The nonzero bias laws of ``gate_laws`` ({parameter-ish name: value}); empty when no bias is needed."""
    return {f"{k}_{g or 0}": v for g, law in gate_laws.items()
            for k, v in (("mu_b", law.mu_b), ("sigma_b", law.sigma_b), ("sigma_b_h", law.sigma_b_h)) if v}


def read(cell: str, recurrent: dict, inputs: dict, bias: dict, recurrent_bias: dict | None = None, *,
         hidden: int, fan_in: int, input_variance: float = 1.0, what: str = "module") -> dict:
    r"""The parameters of ``cell`` realised by per-gate arrays: ``recurrent[g]`` (any orientation, fan-in
    ``hidden``), ``inputs[g]`` (fan-in ``fan_in``), ``bias[g]`` (the total bias the gate's field sees; None:
    no bias), ``recurrent_bias[g]`` (the GRU candidate's :math:`b_{hn}`).  ``R`` is ``input_variance``.

    ValueError (``what`` names the module) for non-finite entries, a weight block with a mean
    :data:`MEAN_Z` SE from zero, or a bias mean on a gate the declaration keeps mean-free."""
    c = theory.cell(cell)
    if not (isinstance(input_variance, (int, float)) and not isinstance(input_variance, bool)
            and math.isfinite(input_variance) and input_variance >= 0):
        raise ValueError(f"input_variance must be a finite number >= 0, got {input_variance!r}")
    p = {"R": float(input_variance)}
    for g in GATES[cell]:
        for stem, w, fan, label in (("sigma_w", recurrent[g], hidden, "recurrent"),
                                    ("sigma_v", inputs[g], fan_in, "input")):
            w = np.asarray(w, dtype=np.float64)
            _finite_zero_mean(w, f"{what}: the {label} weights of gate {g or 0}")
            p[param(stem, g)] = math.sqrt(fan * float(np.mean(w ** 2)))
        b = np.zeros(hidden) if bias.get(g) is None else np.asarray(bias[g], dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(b)):
            raise ValueError(f"{what}: non-finite bias of gate {g or 0}")
        mean, var = float(b.mean()), float(b.var())
        if param("mu_b", g) in c.param_names:
            p[param("mu_b", g)] = mean
        elif abs(mean) > MEAN_Z * math.sqrt(var / b.size) + 1e-12:
            raise ValueError(f"{what}: the bias of gate {g or 0} has mean {mean:.4g} "
                             f"({abs(mean) / math.sqrt(max(var, 1e-300) / b.size):.1f} SE from 0); the theory's "
                             f"{cell} has a zero-mean bias there")
        else:
            var = float(np.mean(b ** 2))  # zero mean by declaration: the second moment is its variance
        p[param("sigma_b", g)] = math.sqrt(var)
        if g and g == SEPARATE_RECURRENT_BIAS.get(cell):
            hb = (recurrent_bias or {}).get(g)
            hb = np.zeros(hidden) if hb is None else np.asarray(hb, dtype=np.float64).reshape(-1)
            _finite_zero_mean(hb, f"{what}: the recurrent-side bias of gate {g}")
            p[f"sigma_b_h{g}"] = math.sqrt(float(np.mean(hb ** 2)))
    return p


def solve(cell: str, *, xi=None, tied: bool = True, input_variance: float = 1.0, solve_for=None, **params):
    """The critical initialisation a framework bridge writes: :func:`theory.critical_init` of ``cell``
    with ``R = input_variance`` (``tied=True``: the tied λ_max = 1 or exp(-1/ξ); ``tied=False``: the
    annealed criterion, Gaussian weights).  ValueError when it is infeasible, or for ``R=`` / ``xi=`` with
    ``tied=False``."""
    if "R" in params:
        raise ValueError("give the inputs' second moment as input_variance=, not R=")
    if xi is not None and not tied:
        raise ValueError("xi= selects the tied criterion lambda_max = exp(-1/xi); with tied=False the annealed "
                         "critical point (lambda_max or chi = 1) is solved")
    if xi is not None:
        params["xi"] = xi
    if solve_for is not None:
        params["solve_for"] = solve_for
    if not tied and len(GATES[cell]) == 1:
        params.setdefault("weights", "gaussian")  # what the bridges write: i.i.d. Gaussian W
    result = theory.critical_init(cell, tied=tied, R=float(input_variance), **params)
    if not result.feasible:
        raise ValueError(f"{cell}: no critical initialisation: {result.message}")
    return result


def _finite_zero_mean(w, what):
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what}: non-finite entries")
    n, sd, mean = w.size, float(w.std()), float(w.mean())
    if n > 1 and abs(mean) > MEAN_Z * sd / math.sqrt(n) + 1e-300:
        raise ValueError(f"{what} have mean {mean:.4g} ({abs(mean) * math.sqrt(n) / max(sd, 1e-300):.1f} SE from 0): "
                         "the theory is for zero-mean weights")


__all__ = ["GATES", "SEPARATE_RECURRENT_BIAS", "MEAN_Z", "GateLaw", "param", "laws", "needs_bias", "read", "solve"]
