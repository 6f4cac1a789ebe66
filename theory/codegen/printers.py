"""Code printers: thin subclasses of SymPy's own, one per backend (04 §1).

* :class:`NumbaPrinter` — ``PythonCodePrinter`` over ``math``; ``Piecewise`` prints as a Python
  conditional expression, which ``numba.njit`` compiles.
* :class:`JaxKernelPrinter` — SymPy's ``JaxPrinter`` with ``erf`` mapped to
  ``jax.scipy.special.erf`` (SymPy prints ``math.erf``, which fails under ``jit``; SymPy #27895)
  and ``Piecewise`` as nested ``jnp.where`` (broadcasts over quadrature nodes).
* :class:`DerivationLatexPrinter` — ``LatexPrinter``; expectation nodes print themselves.

Only right-hand sides are printed; ``render`` writes the ``name = ...`` lines itself (SymPy #30395).
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import JaxPrinter
from sympy.printing.pycode import PythonCodePrinter

_SETTINGS = {"fully_qualified_modules": True, "allow_unknown_functions": True}


class NumbaPrinter(PythonCodePrinter):
    """Scalar Python over ``math`` for ``numba.njit`` / ``numba.vectorize`` kernels."""

    def __init__(self, settings=None):
        super().__init__({**_SETTINGS, **(settings or {})})

    def _print_sigmoid(self, expr):
        # exp overflow gives inf and 1/(1+inf) = 0: never NaN for large |x|.
        return "(1.0/(1.0 + math.exp(-(%s))))" % self._print(expr.args[0])

    def _print_Rational(self, expr):
        return "(%d/%d)" % (expr.p, expr.q)

    def _print_unit_clip(self, expr):
        return "min(max(%s, -1.0), 1.0)" % self._print(expr.args[0])


class JaxKernelPrinter(JaxPrinter):
    """``jax.numpy`` expressions, safe under ``jit``/``vmap``/``grad``."""

    def __init__(self, settings=None):
        super().__init__({**_SETTINGS, **(settings or {})})

    def _print_erf(self, expr):
        return "jax.scipy.special.erf(%s)" % self._print(expr.args[0])

    def _print_erfc(self, expr):
        return "jax.scipy.special.erfc(%s)" % self._print(expr.args[0])

    def _print_sigmoid(self, expr):
        return "jax.nn.sigmoid(%s)" % self._print(expr.args[0])

    def _print_Rational(self, expr):
        return "(%d/%d)" % (expr.p, expr.q)

    def _print_unit_clip(self, expr):
        # clamped value, identity gradient (see theory.symbolic.gaussian.unit_clip)
        x = self._print(expr.args[0])
        return "(%s + jax.lax.stop_gradient(jax.numpy.clip(%s, -1.0, 1.0) - %s))" % (x, x, x)

    def _print_Piecewise(self, expr):
        *head, (last_expr, last_cond) = expr.args
        if last_cond != True:  # noqa: E712 (SymPy true)
            out = "jax.numpy.nan"
            head = list(expr.args)
        else:
            out = self._print(last_expr)
        for e, c in reversed(head):
            out = "jax.numpy.where(%s, %s, %s)" % (self._print(c), self._print(e), out)
        return out


class DerivationLatexPrinter(LatexPrinter):
    """LaTeX for ``derivation.md``; symbol names follow the papers (σ_w, μ_b, q*)."""

    def __init__(self, settings=None):
        super().__init__({"symbol_names": LATEX_NAMES, **(settings or {})})

    def _print_Lambda(self, expr):
        return self._print(expr.expr)


LATEX_NAMES = {sp.Symbol(n, **a): l for n, a, l in [
    ("sigma_w", {"nonnegative": True}, r"\sigma_w"), ("sigma_v", {"nonnegative": True}, r"\sigma_v"),
    ("sigma_b", {"nonnegative": True}, r"\sigma_b"), ("mu_b", {"real": True}, r"\mu_b"),
    ("R", {"nonnegative": True}, "R"), ("Sigma", {"real": True}, r"\Sigma"),
    ("q_star", {"positive": True}, "q^*"), ("Q", {"nonnegative": True}, "Q"), ("C", {"real": True}, "C")]}


def numba_code(expr) -> str:
    return NumbaPrinter().doprint(expr)


def jax_code(expr) -> str:
    return JaxKernelPrinter().doprint(expr)


def latex(expr) -> str:
    return DerivationLatexPrinter().doprint(expr)
