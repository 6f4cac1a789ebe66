r"""The frozen declaration of a **gated cell** with several gate fields and state components.

A :class:`GatedCell` is written once, per unit, in SymPy:

* **gates** (:class:`Gate`): independent Gaussian pre-activations
  :math:`a^k=W_k s^k_{t-1}+U_kx_t+b_k` with :math:`W_k\sim\mathcal N(0,\sigma_{w,k}^2/N)`,
  :math:`U_k\sim\mathcal N(0,\sigma_{v,k}^2/N)`, :math:`b_k\sim\mathcal N(\mu_{b,k},\sigma_{b,k}^2)`.
  ``reads`` is the vector the recurrent matrix multiplies, :math:`s^k` (``h``, or ``r*h`` for a
  GRU candidate that resets before the matrix); it may use earlier gates' values.  Per gate the
  parameters are ``sigma_w_<k>``, ``sigma_v_<k>``, ``sigma_b_<k>`` and (``bias_mean=True``)
  ``mu_b_<k>``; a gate without ``mu_b_<k>`` has mean 0.  At large width

  .. math:: a^k\sim\mathcal N(\mu_k,q^k),\qquad q^k=\sigma_{w,k}^2\,\mathbb E[(s^k)^2]+\sigma_{v,k}^2R+\sigma_{b,k}^2,

  with two-sequence covariance :math:`q^k_{ab}=\sigma_{w,k}^2\mathbb E[s^k_as^k_b]+\sigma_{v,k}^2\Sigma R+\sigma_{b,k}^2`;
  different gates are independent, and a unit's fields are independent of its own past
  (exact for untied weights, 06 §1).
* **state** components, updated in the declared order (``("c", "h")`` for the LSTM).  Each update
  is of degree <= 1 in *one* state atom -- the component's own old value, or an odd function of
  a component updated earlier this step (``tanh(c_t)``) -- with coefficients that are products of
  functions of single gate fields; an additive term must be odd in a zero-mean gate, so that all
  state means vanish (validated).  Symbols: old value ``Symbol(comp)``, new value
  ``Symbol(comp + "_t")``, gate field ``Symbol("a_" + gate)``.

Everything else (maps, fixed points, eigenvalues, χ, timescales, kernels, LaTeX) is derived by
:mod:`theory.symbolic.gated_derive` and rendered by :mod:`theory.codegen.gated_render`.  The object offers what
:mod:`theory.api` uses of a core :class:`~theory.declare.cell.Cell` (``name``, ``params``, ``param_names``,
``package``, ``defaults``, ``declaration_hash()``, ``carries_state``).

The declaration is pure data: it imports no derivation, rendering, api or critical module.  The
modules that know how register their functions by type in :mod:`theory.declare.registry`
(``gated_render`` the package, ``gated_api`` the ``closure=`` core quantities, ``gated_critical``
the critical initialisation, ``gated_derive`` the summary lines); ``summary_lines()`` and
``critical_init()`` below look them up there.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sympy as sp

from . import params as P
from .activations import sigmoid
from .cell import GENERATOR_VERSION
from .declared import check_expression
from .gated_structure import check_structure, field, new, old
from .registry import CRITICAL_INITS, SUMMARIES, lookup

#: bumped whenever the gated derivation or rendering changes its output
GATED_VERSION = "gated-1"

ACTIVATIONS = {"sigmoid": sigmoid, "tanh": sp.tanh}

#: defaults shared by every gate, by parameter stem (a cell overrides single entries)
SHARED_DEFAULTS = {"sigma_w": 1.0, "sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 0.0, "R": 1.0, "Sigma": 1.0}


@dataclass(frozen=True)
class Gate:
    """One gate: ``value = activation(a)``, ``a = W reads + U x + b`` (see module docstring)."""

    name: str
    activation: str = "sigmoid"
    reads: sp.Expr = old("h")
    bias_mean: bool = True
    scale: object = None

    # ``scale`` (reset-after GRU): an expression of one earlier gate's field that multiplies the
    # recurrent part, a = U x + b + scale * (W reads + b_h), b_h ~ N(0, sigma_b_h<k>^2).

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-z]+", self.name):
            raise ValueError(f"gate name {self.name!r} must be lower-case letters")
        check_expression(self.reads, f"Gate {self.name}: Gate(reads=...)", numbers_ok=False)
        if self.scale is not None:
            check_expression(self.scale, f"Gate {self.name}: Gate(scale=...)", numbers_ok=False)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"gate {self.name}: activation must be one of {sorted(ACTIVATIONS)}")

    @property
    def field(self) -> sp.Symbol:
        return field(self.name)

    @property
    def value(self) -> sp.Expr:
        return ACTIVATIONS[self.activation](self.field)

    @property
    def param_names(self) -> tuple:
        n = self.name
        return ((f"sigma_w_{n}", f"sigma_v_{n}", f"sigma_b_{n}") + ((f"sigma_b_h{n}",) if self.scale is not None else ())
                + ((f"mu_b_{n}",) if self.bias_mean else ()))

    def symbol(self, stem: str):
        """SymPy symbol of this gate's ``stem`` parameter (``mu_b`` of a mean-free gate is 0)."""
        if stem == "mu_b" and not self.bias_mean:
            return sp.Integer(0)
        return P.symbol(f"{stem}_{self.name}")


@dataclass(frozen=True)
class GatedCell:
    """A declared gated cell.  ``update``: ((component, expression), ...) in update order."""

    name: str
    gates: tuple
    state: tuple
    update: tuple
    memory_gate: str
    overrides: tuple = ()
    description: str = ""
    reference: str = ""
    convention: str = ""
    assumptions: tuple = ()

    @property
    def recurrent(self) -> bool:
        """Always True: a gated cell's state feeds itself forward (feed-forward nets are ``Cell`` declarations)."""
        return True

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.name):
            raise ValueError(f"cell name {self.name!r} must be lower-case words joined by hyphens")
        for g in self.gates:
            if not isinstance(g, Gate):
                raise TypeError(f"{self.name}: GatedCell(gates=...) must hold theory.declare.gated.Gate objects, "
                                f"got {type(g).__name__}")
        for pair in self.update:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise TypeError(f"{self.name}: GatedCell(update=...) must be ((component, expression), ...), "
                                f"got {pair!r:.60}")
            check_expression(pair[1], f"{self.name}: GatedCell(update=...) of {pair[0]}", numbers_ok=False)
        names = [g.name for g in self.gates]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate gate names {names}")
        if self.memory_gate not in names:
            raise ValueError(f"{self.name}: memory_gate {self.memory_gate!r} is not a gate")
        if [c for c, _ in self.update] != list(self.state):
            raise ValueError(f"{self.name}: update must assign each state component once, in the order {self.state}")
        olds = {old(c) for c in self.state}
        earlier = set()
        scaled = {}
        for g in self.gates:
            extra = sp.sympify(g.reads).free_symbols - olds - earlier
            if extra:
                raise ValueError(f"{self.name}: gate {g.name} reads undeclared symbols {sorted(map(str, extra))}")
            if g.scale is not None:
                fs = sp.sympify(g.scale).free_symbols
                if len(fs) != 1 or not fs <= earlier:
                    raise ValueError(f"{self.name}: the scale of gate {g.name} must be a function of one earlier "
                                     f"gate's field, got {g.scale}")
                (f,) = fs
                if f in scaled or f in scaled.values():
                    raise ValueError(f"{self.name}: gate field {f} scales two gates or is itself scaled")
                if g.bias_mean:
                    raise ValueError(f"{self.name}: a scaled gate ({g.name}) must have bias mean 0 (bias_mean=False)")
                scaled[g.field] = f
            earlier.add(g.field)
        fields = {g.field for g in self.gates}
        done = set()
        for comp, expr in self.update:
            extra = sp.sympify(expr).free_symbols - olds - fields - done
            if extra:
                raise ValueError(f"{self.name}: update of {comp} uses undeclared symbols {sorted(map(str, extra))}")
            done.add(new(comp))
        if len(self.read_components) != 1:
            raise ValueError(f"{self.name}: the gates must read exactly one state component, got {self.read_components}")
        defaults = dict(self.params)
        for n, v in defaults.items():
            msg = P.spec(n).check(v)
            if msg:
                raise ValueError(f"{self.name}: invalid default: {msg}")
        unknown = set(dict(self.overrides)) - set(defaults)
        if unknown:
            raise ValueError(f"{self.name}: overrides name unknown parameters {sorted(unknown)}")
        check_structure(self)

    # --- what theory.api uses ----------------------------------------------------------------
    @property
    def params(self) -> tuple:
        """((name, default), ...) in kernel argument order: per gate (σ_w, σ_v, σ_b[, μ_b]), then R, Σ."""
        names = [n for g in self.gates for n in g.param_names] + ["R", "Sigma"]
        over = dict(self.overrides)
        return tuple((n, over.get(n, SHARED_DEFAULTS[_stem(n)])) for n in names)

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
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def carries_state(self) -> bool:
        return True

    @property
    def noise(self) -> tuple:
        """Hidden-state noise draws: none (gated cells have no noise option yet)."""
        return ()

    def identical_copies(self, params: dict) -> bool:
        """True where the two sequences of the correlation map are copies of one run (Σ = 1)."""
        return float(params.get("Sigma", 1.0)) == 1.0

    @property
    def has_input(self) -> bool:
        return True

    @property
    def recurrent(self) -> bool:
        return True

    @property
    def critical_pair(self):
        """None: a gated cell has no closed-form critical pair; its critical surface lambda_max = 1 is
        solved along a parameter (``theory.critical_line(cell, along=..., values=..., solve_for=...)``)."""
        return None

    # --- derived facts -------------------------------------------------------------------------
    @property
    def read_components(self) -> tuple:
        """State components the gates read (exactly one: the hidden state)."""
        syms = set()
        for g in self.gates:
            syms |= sp.sympify(g.reads).free_symbols
        return tuple(c for c in self.state if old(c) in syms)

    @property
    def read(self) -> str:
        return self.read_components[0]

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def declaration_hash(self) -> str:
        """sha256 of the declaration (srepr of every expression) and the generator versions."""
        parts = [GENERATOR_VERSION, GATED_VERSION, self.name, repr(self.state), self.memory_gate, repr(self.params)]
        parts += [f"{g.name}|{g.activation}|{g.bias_mean}|{sp.srepr(sp.sympify(g.reads))}"
                  + (f"|scale {sp.srepr(sp.sympify(g.scale))}" if g.scale is not None else "") for g in self.gates]
        parts += [f"{c}|{sp.srepr(sp.sympify(e))}" for c, e in self.update]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    # --- behaviour served by other modules, looked up by type in theory.declare.registry ---------------
    def summary_lines(self) -> list:
        """Short description for the ``derive`` command (:func:`theory.symbolic.gated_derive.summary_lines`)."""
        return _served(SUMMARIES, self, "summary_lines")(self)

    def critical_init(self, **constraints) -> "CriticalInit":
        """Critical initialisation (λ_max = 1); returns a ``CriticalInit``; see :func:`theory.criticality.gated_critical.critical_init`."""
        return _served(CRITICAL_INITS, self, "critical_init")(self, **constraints)


def _served(table, cell, what):
    fn = lookup(table, cell)
    if fn is None:  # only when theory/__init__ (theory.extensions) has not run
        raise RuntimeError(f"{what} of {type(cell).__name__} is not registered; import theory first")
    return fn


def _stem(name: str) -> str:
    for stem in ("sigma_w", "sigma_v", "sigma_b", "mu_b"):
        if name.startswith(stem + "_"):
            return stem
    return name


__all__ = ["Gate", "GatedCell", "old", "new", "field", "ACTIVATIONS", "SHARED_DEFAULTS", "GATED_VERSION"]
