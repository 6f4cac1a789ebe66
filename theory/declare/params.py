"""The parameter vocabulary shared by every cell, the simulators and the reports.

One table, one meaning per name (docs: README "Parameters").  Per-gate variants for multi-gate
cells take a suffix (``sigma_w_z``, ``mu_b_f``) and inherit the constraint of their stem.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class ParamSpec:
    name: str
    meaning: str
    kind: str  # "std" (>= 0), "moment" (>= 0), "correlation" ([-1, 1]), "fraction" ([0, 1]), "real"

    def check(self, value) -> str | None:
        """Return an error message if ``value`` (array-like) violates the constraint, else None."""
        import numpy as np

        from ..validate import number
        try:
            number(self.name, value)  # strings, bools, None, dicts: refused, not read as numbers
        except ValueError as e:
            return str(e)
        v = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(v)):
            return f"{self.name} must be finite, got {value!r}"
        if self.kind in ("std", "moment") and np.any(v < 0):
            return f"{self.name} must be >= 0 ({self.meaning}), got {value!r}"
        if self.kind == "correlation" and np.any(np.abs(v) > 1):
            return f"{self.name} must lie in [-1, 1] ({self.meaning}), got {value!r}"
        if self.kind == "fraction" and np.any((v < 0) | (v > 1)):
            return f"{self.name} must lie in [0, 1] ({self.meaning}), got {value!r}"
        return None


SPECS = {
    "sigma_w": ParamSpec("sigma_w", "recurrent/layer weight std x sqrt(N)", "std"),
    "sigma_v": ParamSpec("sigma_v", "input weight std x sqrt(N_in)", "std"),
    "sigma_b": ParamSpec("sigma_b", "bias std", "std"),
    "mu_b": ParamSpec("mu_b", "bias mean", "real"),
    "R": ParamSpec("R", "input second moment per unit", "moment"),
    "Sigma": ParamSpec("Sigma", "correlation of the two input sequences", "correlation"),
    "leak": ParamSpec("leak", "leak rate a of a leaky update h_t = (1 - a) h_{t-1} + a phi(e_t)", "fraction"),
    "sigma_eps": ParamSpec("sigma_eps", "std of the additive hidden-state noise sigma_eps eps_t", "std"),
    "sigma_m": ParamSpec("sigma_m", "relative std of the multiplicative hidden-state noise h_t (1 + sigma_m eta_t)",
                         "std"),
}


def spec(name: str) -> ParamSpec:
    stem = name.split("_")[0] + ("_" + name.split("_")[1] if name.count("_") >= 1 and name.startswith(("sigma", "mu")) else "")
    if name in SPECS:
        return SPECS[name]
    if stem in SPECS:
        base = SPECS[stem]
        return ParamSpec(name, base.meaning + f" ({name[len(stem) + 1:]} gate)", base.kind)
    raise ValueError(f"unknown parameter {name!r}; known: {sorted(SPECS)} (+ per-gate suffixes)")


def symbol(name: str) -> sp.Symbol:
    """The SymPy symbol of a parameter, with assumptions from its kind."""
    kind = spec(name).kind
    if kind in ("std", "moment", "fraction"):
        return sp.Symbol(name, nonnegative=True)
    return sp.Symbol(name, real=True)
