"""Declarations of the dying-ReLU study (:mod:`theory.studies.dying_relu`, 05-dying-relu.md): the
symbols, :class:`Kernel` and the kernel tables, the single source of truth for the generated
package.  Imported by the study (evaluation) and by :mod:`theory.studies.dying_relu_codegen`;
imports neither."""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p


# ----------------------------------------------------------------------------------------------
# declarations (the single source of truth)
# ----------------------------------------------------------------------------------------------

N = sp.Symbol("N", positive=True)        # hidden width (integer-valued; kernels take floats)
L = sp.Symbol("L", positive=True)        # number of hidden layers (or the layer index)
d = sp.Symbol("d", positive=True)        # input dimension (fan-in of the first layer)
beta = sp.Symbol("beta", nonnegative=True)   # 1 with biases, 0 without
first = sp.Symbol("first", nonnegative=True)  # 1 if D lies in the non-negative orthant, else 0
rho = sp.Symbol("rho", real=True)        # cosine between the two inputs of a layer
delta = sp.Symbol("delta", positive=True)  # tolerated collapse probability


def stable(expr):
    r"""Rewrite ``log(1 + x)`` as ``log1p(x)`` and ``(1 + x)**a`` (symbolic ``a``) as ``exp(a log1p(x))``, merge exponentials, and write ``exp(y)`` as
    ``expm1(y) + 1``: :math:`1-(1-2^{-N})^L` becomes ``-expm1(L*log1p(-2**-N))``, accurate when
    :math:`2^{-N}` is below the float epsilon (plain evaluation returns 0 there)."""
    def near_one(p):
        return p.is_Pow and p.base.is_Add and sp.S.One in p.base.args and bool(p.exp.free_symbols)

    def log_near_one(x):
        return isinstance(x, sp.log) and x.args[0].is_Add and sp.S.One in x.args[0].args

    expr = expr.replace(log_near_one, lambda x: log1p(x.args[0] - 1))
    expr = expr.replace(near_one, lambda p: sp.exp(p.exp * log1p(p.base - 1)))
    expr = sp.powsimp(expr, combine="exp")
    return expr.replace(lambda x: isinstance(x, sp.exp), lambda x: expm1(x.args[0]) + 1)


@dataclass(frozen=True)
class Kernel:
    """One generated function: ``name(args)``; ``readable`` is what ``derivation.md`` shows,
    ``expr`` (:func:`stable` of it) is what the kernels evaluate; ``status`` is exact/bound/estimate."""

    name: str
    args: tuple
    readable: sp.Expr
    status: str
    doc: str

    @property
    def expr(self):
        return stable(self.readable)


_POINT = 1 - (1 - 2 ** (-N)) ** L

KERNELS = (
    Kernel("collapse_hazard", ("N",), 2 ** (-N), "exact (A1-A3)",
           "P(layer dies at a point | its input is alive) = 2^-N: the 2^N orthants of W v are equally likely"),
    Kernel("layer_log_survival", ("N",), sp.log(1 - 2 ** (-N)), "exact (A1-A3)",
           "log(1 - 2^-N): per-layer log survival; summed over layers for per-layer widths"),
    Kernel("p_point_collapse", ("N", "L"), _POINT, "exact (A1-A3)",
           "P(x^L = 0) at one input x != 0: alive/dead is a Markov chain with constant killing 2^-N"),
    Kernel("dead_fraction_point", ("N", "L"), (1 + _POINT.subs(L, L - 1)) / 2, "exact (A1-A3)",
           "E[fraction of units of layer L with h <= 0] at one point: 1/2 if the input is alive "
           "(each h_i = w_i.v is symmetric without atoms), 1 if dead"),
    Kernel("width_for_survival_real", ("L", "delta"), sp.log(1 / (1 - (1 - delta) ** (1 / L))) / sp.log(2),
           "exact (A1-A3)", "real N solving 1-(1-2^-N)^L = delta; the design rule is its ceiling"),
    Kernel("orthant_bound", ("N", "L", "d", "beta", "first"),
           1 - (1 - 2 ** (-N * (N + beta))) ** (L - 1) * (1 - 2 ** (-N * (d + beta))) ** first, "lower bound",
           "P(some layer l >= 2 has all incoming weights (and biases) <= 0; layer 1 too if D is in the "
           "non-negative orthant): such a layer is dead on the whole orthant, hence on D"),
    Kernel("norm_relvar", ("N", "L"), (1 + sp.Integer(5) / N) ** L - 1, "exact (Gaussian W, A1)",
           "Var(|x^L|^2)/E[|x^L|^2]^2 for a fixed input: per layer |x^l|^2/|x^(l-1)|^2 = (s^2/N) chi^2_K, "
           "K ~ Bin(N, 1/2), so E[R] = s^2/2 and E[R^2] = (s^4/4)(1 + 5/N), independently across layers"),
)

#: per-layer pieces of the d = 1 domain chain (``bdp_estimate``), printed as helpers
STEP_KERNELS = (
    Kernel("both_die", ("N", "rho"), ((sp.pi - sp.acos(rho)) / (2 * sp.pi)) ** N, "exact given the angle (Gaussian W)",
           "P(W u <= 0 and W v <= 0) for inputs at cosine rho: the bivariate orthant probability "
           "(pi - arccos rho)/(2 pi) per row, rows independent"),
    Kernel("arccos_map", ("rho",), (sp.sqrt(1 - rho ** 2) + (sp.pi - sp.acos(rho)) * rho) / sp.pi,
           "mean field (N -> infinity)",
           "cosine of relu(u), relu(v) for Gaussian u, v at correlation rho (Cho & Saul 2009)"),
)

BDP_ESTIMATE_DOC = (
    "Approximate mean-field-angle estimate of the born-dead probability on an interval containing 0 "
    "(d = 1), bias-free Gaussian weights. "
    "Bias-free nets are positively homogeneous, so the net is dead on D iff it is dead at x = +1 and at "
    "x = -1. States: both alive (A), one dead (S), both dead (D). Layer 1 kills +1 or -1 (never both) "
    "with probability 2^-N each; the layer-2 inputs are orthogonal (rho = 0). Layer l >= 2 moves "
    "A -> D with both_die(N, rho), A -> S with 2(2^-N - both_die), S -> D with 2^-N. The only "
    "approximation: for l >= 3 the cosine rho follows the mean-field arccos_map instead of its random, "
    "survival-conditioned value. Exact for L <= 2; an approximate mean-field-angle estimate beyond "
    "(off by up to ~0.1, 2x at N = 8). The exact law, with the random angle kernel, is domain_bdp "
    "(theory/studies/dying_relu_domain.py).")


__all__ = ["N", "L", "d", "beta", "first", "rho", "delta", "stable", "Kernel", "KERNELS", "STEP_KERNELS", "BDP_ESTIMATE_DOC"]
