"""Activation functions as SymPy expressions.

An activation is a SymPy expression in one symbol; the derivation engine differentiates it,
finds its kinks and lowers Gaussian expectations of it.  Adding one is a line here (or a
``make_activation`` call in user code).  ``sigmoid`` is a SymPy ``Function`` so that printers
can emit a numerically stable form and so that ``1 - sigmoid(x)`` can be rewritten as
``sigmoid(-x)`` (no cancellation when the gate is almost shut, see 02 §2).
"""
from __future__ import annotations

import sympy as sp

X = sp.Symbol("x", real=True)


class sigmoid(sp.Function):
    """Logistic function σ(x) = 1 / (1 + e^{-x}); σ' = σ(x) σ(-x)."""

    nargs = 1

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sigmoid(x) * sigmoid(-x)

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sp.Rational(1, 2)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer, exp=None):
        tex = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)

    def _numpycode(self, printer):  # used by the jax printer
        return "%s(%s)" % (printer._module_format("jax.nn.sigmoid"), printer._print(self.args[0]))

    def _pythoncode(self, printer):  # numba: exp overflow to inf gives 0, never NaN
        return "(1.0/(1.0 + math.exp(-(%s))))" % printer._print(self.args[0])


def relu(x):
    return sp.Piecewise((x, x > 0), (0, True))


def hard_tanh(x):
    return sp.Piecewise((-1, x < -1), (x, x < 1), (1, True))


#: name -> callable building the SymPy expression of φ(x)
ACTIVATIONS = {
    "tanh": sp.tanh,
    "erf": sp.erf,
    "relu": relu,
    "hard-tanh": hard_tanh,
    "linear": lambda x: x,
}


def activation(name: str, x: sp.Symbol = X) -> sp.Expr:
    """Return φ(x) for a registered activation name (ValueError naming the choices otherwise)."""
    try:
        return sp.sympify(ACTIVATIONS[name](x))
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def complement_sigmoid(expr):
    """Rewrite 1 - σ(a) as σ(-a) everywhere (exact; avoids cancellation for shut gates)."""
    def repl(e):
        if isinstance(e, sp.Add):
            args = list(e.args)
            one = [a for a in args if a == 1]
            sig = [a for a in args if isinstance(-a, sigmoid)]
            if one and sig:
                args.remove(one[0])
                s = sig[0]
                args.remove(s)
                return sp.Add(*args, sigmoid(-(-s).args[0]))
        return e
    return expr.replace(lambda e: isinstance(e, sp.Add), repl)
