r"""The frozen declaration of a cell.

A cell is written once, per neuron, in SymPy:

* one Gaussian pre-activation **field** ``e`` with variance
  :math:`q=\sigma_w^2Q+\sigma_v^2R+\sigma_b^2` about its mean :math:`\mu_b` (``Field``);
* the **update** :math:`h_t=F(e_t,h_{t-1},z_t)`, polynomial of degree <= 1 in the carried state
  ``h`` and in the input ``z`` that enters the update directly (coefficients: any functions of ``e``);
* its **parameters**, by name from :mod:`theory.declare.params`, with defaults;
* optionally, **hidden-state noise**: the update may read the standard normals ``eps`` (ε) and ``eta``
  (η), drawn fresh every step and unit, to degree <= 1 each -- e.g. ``F*(1 + sigma_m*eta) + sigma_eps*eps``
  (:func:`theory.declare.noise.with_noise`).  ``noise_shared``: the two input sequences of the
  correlation map see the same draws (default: independent, so noise decorrelates two copies, c* < 1).

Everything else (maps, fixed points, χ, ξ, critical line, kernels, LaTeX) is derived by
:mod:`theory.symbolic.derive`.  Validation happens on construction: undeclared symbols, non-polynomial
dependence on ``h``/``z``, unknown parameter names or invalid defaults raise ``ValueError``; an
expression given as a string (or any non-SymPy, non-number object) raises
:class:`theory.declare.declared.DeclarationTypeError` (a ``TypeError``) before SymPy sees it.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field as dc_field

import sympy as sp

from . import params as P
from .declared import check_expression

#: Symbols every declaration uses: the field, the carried state and the directly-fed input.
E = sp.Symbol("e", real=True)
H = sp.Symbol("h", real=True)
Z = sp.Symbol("z", real=True)
#: Hidden-state noise: standard normals, fresh every step and unit, independent of everything else.
EPS = sp.Symbol("eps", real=True)
ETA = sp.Symbol("eta", real=True)
NOISE = (EPS, ETA)

GENERATOR_VERSION = "0.6.0"


@dataclass(frozen=True)
class Field:
    r"""Gaussian pre-activation :math:`e=\sum_jW_{ij}h_j+\sum_jV_{ij}x_j+b_i`.

    ``recurrent``, ``input`` and ``bias`` are the standard deviations (σ_w, σ_v, σ_b) as SymPy
    expressions of declared parameters, ``mean`` the bias mean μ_b (0 if the cell has none).
    """

    recurrent: sp.Expr
    input: sp.Expr = sp.Integer(0)
    bias: sp.Expr = sp.Integer(0)
    mean: sp.Expr = sp.Integer(0)

    def __post_init__(self):
        for k in ("recurrent", "input", "bias", "mean"):
            check_expression(getattr(self, k), f"Field({k}=...)")

    def variance(self, Q, R):
        """q = σ_w² Q + σ_v² R + σ_b² (Q: second moment of the state the field reads)."""
        return self.recurrent ** 2 * Q + self.input ** 2 * R + self.bias ** 2

    def covariance(self, C, R_ab):
        """q_ab = σ_w² C + σ_v² R_ab + σ_b² for two sequences with state overlap C, input overlap R_ab."""
        return self.recurrent ** 2 * C + self.input ** 2 * R_ab + self.bias ** 2


@dataclass(frozen=True)
class Cell:
    """A declared cell.  ``params``: ((name, default), ...) in kernel argument order."""

    name: str
    update: sp.Expr
    field: Field
    params: tuple
    critical_pair: tuple = ("sigma_w", "sigma_b")
    recurrent: bool = True
    description: str = ""
    reference: str = ""
    assumptions: tuple = dc_field(default_factory=tuple)
    noise_shared: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"Cell(name=...) must be a str, got {type(self.name).__name__}")
        if not isinstance(self.field, Field):
            raise TypeError(f"{self.name}: Cell(field=...) must be a theory.declare.cell.Field, got {type(self.field).__name__}")
        check_expression(self.update, f"{self.name}: Cell(update=...)", numbers_ok=False)
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.name):
            raise ValueError(f"cell name {self.name!r} must be lower-case words joined by hyphens")
        names = [n for n, _ in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate parameter names {names}")
        for n, default in self.params:
            msg = P.spec(n).check(default)
            if msg:
                raise ValueError(f"{self.name}: invalid default: {msg}")
        declared = {P.symbol(n) for n in names}
        for label, expr in (("recurrent", self.field.recurrent), ("input", self.field.input),
                            ("bias", self.field.bias), ("mean", self.field.mean)):
            extra = sp.sympify(expr).free_symbols - declared
            if extra:
                raise ValueError(f"{self.name}: field {label} uses undeclared symbols {sorted(map(str, extra))}")
        # declared parameters may appear as coefficients (a leak rate): constants of every expectation
        extra = self.update.free_symbols - {E, H, Z, *NOISE} - declared
        if extra:
            raise ValueError(f"{self.name}: update may only use e, h, z, the noise draws eps, eta and declared "
                             f"parameters; found {sorted(map(str, extra))}")
        for n in NOISE:
            # the closure takes E[n] = 0, E[n^2] = 1: a square or higher power would need more moments
            if self.update.has(n) and sp.Poly(self.update, n).degree() > 1:
                raise ValueError(f"{self.name}: the noise draw {n} may enter the update only linearly")
        if not isinstance(self.noise_shared, bool):
            raise TypeError(f"{self.name}: Cell(noise_shared=...) must be a bool")
        if not self.update.has(E):
            raise ValueError(f"{self.name}: update does not depend on the field e")
        poly = sp.Poly(self.update.subs({n: 0 for n in NOISE}), H, Z)
        if poly.total_degree() > 1 or any(sp.Poly(sp.diff(self.update, n), H, Z).total_degree() > 1
                                          for n in NOISE):
            raise ValueError(f"{self.name}: update must be of degree <= 1 in (h, z) for the second-moment closure")
        if self.field.input != 0 and "R" not in names:
            raise ValueError(f"{self.name}: a field with input weights needs the parameter R")
        for n in self.critical_pair:
            if n not in names:
                raise ValueError(f"{self.name}: critical_pair names undeclared parameter {n!r}")

    # --- derived facts, never typed in -------------------------------------------------------
    @property
    def package(self) -> str:
        """Python package name of the generated kernels (hyphens -> underscores)."""
        return self.name.replace("-", "_")

    @property
    def param_names(self) -> tuple:
        return tuple(n for n, _ in self.params)

    @property
    def defaults(self) -> dict:
        return dict(self.params)

    @property
    def symbols(self) -> tuple:
        return tuple(P.symbol(n) for n in self.param_names)

    @property
    def has_input(self) -> bool:
        return "R" in self.param_names

    @property
    def carries_state(self) -> bool:
        """True if the update reads h_{t-1} directly (gated cells), not only through the field."""
        return self.update.has(H)

    @property
    def noise(self) -> tuple:
        """The noise draws (``eps``, ``eta``) the update reads; () for a noiseless cell."""
        return tuple(n for n in NOISE if self.update.has(n))

    def noise_amplitudes(self) -> tuple:
        """Per noise draw the parameters any of which, at 0, silence it: ((name, ...), ...).  The two
        replicas of the correlation map coincide (identical inputs, Σ = 1) only where every
        independent draw is silenced; a draw with no such parameter never is (an empty tuple)."""
        out = []
        for n in self.noise:
            coeff = sp.diff(self.update, n)
            out.append(tuple(p for p, s in zip(self.param_names, self.symbols)
                             if coeff.has(s) and sp.simplify(coeff.subs(s, 0)) == 0))
        return tuple(out)

    def identical_copies(self, params: dict) -> bool:
        """True where the two sequences of the correlation map are copies of one run at ``params``:
        identical inputs (Σ = 1) and every independent noise draw silenced (then C* = Q* when ordered)."""
        if self.has_input and float(params.get("Sigma", 1.0)) != 1.0:
            return False
        if self.noise_shared:
            return True
        return all(any(float(params[n]) == 0.0 for n in names) for names in self.noise_amplitudes())

    def declaration_hash(self) -> str:
        """sha256 of the declaration (srepr of every expression) and the generator version."""
        parts = [GENERATOR_VERSION, self.name, sp.srepr(self.update), repr(self.params), repr(self.critical_pair),
                 repr(self.recurrent)] + [sp.srepr(sp.sympify(getattr(self.field, k)))
                                         for k in ("recurrent", "input", "bias", "mean")]
        if self.noise:  # (noiseless cells keep their hash)
            parts.append(f"noise_shared={self.noise_shared}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
