r"""Exact law of the born-dead probability on an interval around 0 (d = 1): ``domain_bdp(N, L)``.

Served as ``theory.predict("feedforward-relu", "domain_bdp", N=..., L=...)`` (05-dying-relu.md §3;
:mod:`theory.studies.dying_relu` validates the arguments and registers it).  Setting: bias-free ReLU
net, input dimension 1, ``L`` hidden layers of width ``N``, i.i.d. Gaussian weights (any variance:
the net is positively homogeneous, so the scale drops out), domain ``D`` an interval containing 0 in
its interior (e.g. ``[-1, 1]``).

**Reduction to two points.** ``x^l(t) = t x^l(+1)`` for ``t > 0`` and ``|t| x^l(-1)`` for ``t < 0``,
so the output is constant on ``D`` iff the layer-``L`` activations at ``+1`` and at ``-1`` are both
zero (a dead layer stays dead).

**Markov chain** (exact).  Layer 1 gives ``a = relu(w)``, ``b = relu(-w)``: disjoint supports, so
either exactly one of them is zero (probability :math:`2\cdot2^{-N}`; never both) or both are
non-zero at angle :math:`\pi/2`.  Given non-zero ``a, b`` at angle :math:`\theta`, the rows
``(g_i, g'_i) = (w_i\cdot a, w_i\cdot b)`` of the next layer are i.i.d. bivariate Gaussian with
correlation :math:`\cos\theta` (norms do not matter), so the state is (both alive, :math:`\theta`) |
(one alive) | (both dead) and, per layer,

* both alive -> both dead:      :math:`d_2(\theta)=\bigl(\tfrac{\pi-\theta}{2\pi}\bigr)^N`
  (bivariate orthant probability per row);
* both alive -> one alive:      :math:`d_1(\theta)=2\,(2^{-N}-d_2(\theta))`;
* both alive -> both alive at :math:`\theta'=\angle(\mathrm{relu}(g),\mathrm{relu}(g'))`, with the
  survival-conditioned kernel :math:`K_N(\theta\to\theta')`; after layer 1 :math:`\theta\le\pi/2`
  always (non-negative vectors), and :math:`K_N` has atoms at :math:`\pi/2` (disjoint supports) and
  at 0 (both supported on the same single unit);
* one alive -> both dead: :math:`2^{-N}` (the point law of 05 §2).

Hence, with :math:`\pi_l` the law of :math:`\theta` on "both alive", :math:`s_l` = P(one alive),
:math:`D_l` = P(both dead) after layer ``l``: :math:`\pi_1=(1-2^{1-N})\,\delta_{\pi/2}`,
:math:`s_1=2^{1-N}`, :math:`D_1=0`, and
:math:`D_{l+1}=D_l+\langle\pi_l,d_2\rangle+2^{-N}s_l`,
:math:`s_{l+1}=(1-2^{-N})s_l+\langle\pi_l,d_1\rangle`,
:math:`\pi_{l+1}(\cdot)=\int\pi_l(d\theta)\,(1-d_1-d_2)(\theta)\,K_N(\theta\to\cdot)`.
``domain_bdp(N, L)`` returns :math:`D_L`.  ``D_1 = 0``; ``D_2 = 4^{-N}(3-2^{1-N})``; for ``N = 1``
the first layer always kills one side, so :math:`D_L=1-2^{1-L}`.

**Numerics** (the only approximations are in :math:`K_N`; the death probabilities are exact per node):

* :math:`\theta` lives on the nodes :math:`\theta_k=\tfrac{\pi}{2}(k/(G-1))^2`, ``k = 0..G-1``
  (:data:`GRID` = ``G``): nodes at 0 and :math:`\pi/2` carry the kernel's atoms exactly, and the
  quadratic spacing is fine near 0, where deep nets' angles sit;
* :math:`K_N(\theta_j\to\cdot)` from :math:`2^{m}` points (:data:`LOG2_POINTS` = ``m``) of one
  scrambled Sobol sequence in :math:`[0,1)^{2N}` mapped to Gaussians :math:`(z, z')`,
  :math:`g=z`, :math:`g'=\cos\theta_j z+\sin\theta_j z'`; the same points at every node (common random
  numbers: the kernel is smooth in :math:`\theta_j`), points where a side dies are dropped (that is the
  conditioning), and each :math:`\theta'` is split linearly between its two neighbouring nodes (which
  keeps :math:`E[\theta'\mid\theta_j]`);
* the chain is then propagated exactly on the nodes (``G x G`` matrix, ``L - 1`` steps).

**Numerical error** (:data:`NUMERICAL_ERROR` = 1e-3 absolute is the stated bound for every
``N <= N_MAX``, ``L <= L_MAX``).  Measured for N in {2, 4, 8, 16}, all L <= 10000: another
scramble seed, G = 65 or 257 nodes, or 2^15 or 2^19 points change ``domain_bdp`` by at most 1.0e-4
(``tests/test_dying_relu_domain.py`` re-measures part of it; ``reports/domain_bdp/README.md`` has
the numbers); against 1-2e6 simulated nets per width (N = 2, 4, 8, 16; L = 1..50) every value lies
in the 99% Wilson interval widened by 1e-3 (largest difference 4.3e-4).

**Bounds on the work.** ``N <= N_MAX = 64`` (the kernel costs :math:`O(N)` per point; above it
``domain_bdp <= bdp_upper <= L 2^{-N} < 3e-16`` for every ``L <= L_MAX``, so use ``bdp_upper``) and
``L <= L_MAX = 10000``.  Results are cached per ``N`` (:func:`functools.lru_cache`; one call costs
about 1-3 s for N <= 16, about 8 s at N = 64, on a 2-core CPU).

**Why not generated code.** The other dying-ReLU quantities are closed forms declared in SymPy and
printed by :mod:`theory.studies.dying_relu_codegen`.  This one is a numerical Markov-chain
computation (a quasi-Monte-Carlo kernel propagated on a grid), not a closed-form expression, so it
is plain numpy/scipy here, deterministic (fixed scramble seed) and checked by its own tests.
``bdp_estimate`` (generated) is the cheaper approximation that replaces :math:`K_N` by the
mean-field arccos map; it is exact only for ``L <= 2``.
"""
from __future__ import annotations

import functools

import numpy as np

GRID = 129
"""Angle nodes ``G`` on [0, pi/2] (quadratic spacing; first spacing (pi/2)/128^2 ~ 1e-4)."""
LOG2_POINTS = 17
"""log2 of the number of scrambled Sobol points per node (2^17 = 131072)."""
SEED = 20261205
"""Scramble seed of the Sobol sequence (fixed: results are deterministic)."""
NUMERICAL_ERROR = 1e-3
"""Stated absolute error bound of :func:`domain_bdp` at the default settings (measured: changes of at
most 1.0e-4 between numerical settings for N <= 16, all L <= L_MAX)."""
N_MAX = 64
"""Largest width computed (above it domain_bdp <= L 2^-N < 3e-16 for L <= L_MAX: use bdp_upper)."""
L_MAX = 10000
"""Largest depth computed."""
_BLOCK = 2 ** 14   # Sobol points processed at once (bounds memory: 2^14 x 2N doubles per array)
_BITS = 30         # resolution of the Sobol points (scipy's default, stated: the midpoint shift uses it)


def nodes(grid: int = GRID) -> np.ndarray:
    r"""The angle nodes :math:`\theta_k=\tfrac{\pi}{2}(k/(G-1))^2`, ``k = 0..G-1``."""
    return 0.5 * np.pi * (np.arange(grid) / (grid - 1)) ** 2


def death_probabilities(n: int, theta):
    r"""``(d2, d1)``: P(both sides die in one layer), P(exactly one dies), inputs at angle ``theta``.

    :math:`d_2=((\pi-\theta)/(2\pi))^N` (each row's pair is <= 0 with the bivariate orthant
    probability, rows independent); :math:`d_1=P(\text{all }g\le0)+P(\text{all }g'\le0)-2d_2
    =2(2^{-N}-d_2)`."""
    d2 = ((np.pi - np.asarray(theta, dtype=float)) / (2 * np.pi)) ** n
    return d2, np.maximum(2.0 * (2.0 ** -n - d2), 0.0)   # max: rounding at theta = 0, where d1 = 0


@functools.lru_cache(maxsize=None)
def kernel(n: int, grid: int = GRID, log2_points: int = LOG2_POINTS, seed: int = SEED) -> np.ndarray:
    r"""``K[j, k]``: P(:math:`\theta'` lands on node ``k`` | both sides survive a layer whose inputs
    are at angle ``nodes(grid)[j]``), width ``n``; rows sum to 1 (see the module docstring)."""
    from scipy.special import ndtri
    from scipy.stats import qmc

    th = nodes(grid)
    cos, sin = np.cos(th), np.sin(th)
    acc = np.zeros((grid, grid))
    alive = np.zeros(grid)
    sobol = qmc.Sobol(2 * n, scramble=True, seed=seed, bits=_BITS)
    total = 2 ** log2_points
    for start in range(0, total, _BLOCK):
        # consecutive blocks of one sequence; the points are multiples of 2^-BITS in [0, 1), so 0
        # occurs: shift to the cell midpoints (ndtri(0) = -inf would give NaN samples)
        z = ndtri(sobol.random(min(_BLOCK, total - start)) + 2.0 ** -(_BITS + 1))
        z1, z2 = z[:, :n], z[:, n:]
        x = np.maximum(z1, 0.0)
        sxx = np.einsum("ij,ij->i", x, x)
        keep = sxx > 0                        # side 1 dies: not a both-survive event at any node
        z1, z2 = z1[keep], z2[keep]
        x = x[keep] / np.sqrt(sxx[keep])[:, None]
        for j in range(grid):
            y = np.maximum(cos[j] * z1 + sin[j] * z2, 0.0)
            syy = np.einsum("ij,ij->i", y, y)
            ok = syy > 0
            xo, yo = x[ok], y[ok] / np.sqrt(syy[ok])[:, None]
            # angle between unit vectors as 2 atan2(|x - y|, |x + y|) (Kahan): accurate near 0, where
            # arccos of a rounded cosine would put ~1e-8 instead of 0 (the atom of K_N at 0)
            dif, smm = xo - yo, xo + yo
            tp = 2.0 * np.arctan2(np.sqrt(np.einsum("ij,ij->i", dif, dif)), np.sqrt(np.einsum("ij,ij->i", smm, smm)))
            k = np.clip(np.searchsorted(th, tp, side="right") - 1, 0, grid - 2)
            w = np.clip((tp - th[k]) / (th[k + 1] - th[k]), 0.0, 1.0)
            acc[j] += np.bincount(k, 1.0 - w, grid) + np.bincount(k + 1, w, grid)
            alive[j] += ok.sum()
    if np.any(alive == 0):   # pragma: no cover (needs log2_points ~ 0)
        raise ValueError("too few Sobol points: no sample survived at some node; raise log2_points")
    out = acc / alive[:, None]
    out.setflags(write=False)
    return out


def _chain(n: int, layers: int, step) -> np.ndarray:
    """``D[0..layers]`` of the chain (module docstring) with ``step[j, k]`` = P(both survive and move
    from node j to node k); ``step`` is only used from layer 3 on (may be None for layers <= 2)."""
    k = 2.0 ** -n
    out = np.zeros(layers + 1)
    d2, d1 = death_probabilities(n, nodes(GRID if step is None else step.shape[0]))
    # after layer 1: one side dead w.p. 2 * 2^-N, else both alive at theta = pi/2 (the last node)
    pi = np.zeros(d2.size)
    pi[-1] = 1.0 - 2.0 * k
    one, dead = 2.0 * k, 0.0
    for layer in range(2, layers + 1):
        dead, one = dead + pi @ d2 + one * k, one * (1.0 - k) + pi @ d1
        out[layer] = dead
        if layer < layers:
            pi = pi @ step
    return out


@functools.lru_cache(maxsize=None)
def curve(n: int, grid: int = GRID, log2_points: int = LOG2_POINTS, seed: int = SEED) -> np.ndarray:
    """``D[L]`` for ``L = 0..L_MAX`` (``D[0] = 0``, no layer): the chain of the module docstring,
    width ``n``.  Read-only; cached per argument tuple."""
    _check_width(n)
    if n == 1:   # layer 1 always kills one side (pi = 0 from then on): the survivor's point law
        out = np.zeros(L_MAX + 1)
        out[2:] = -np.expm1(np.arange(1, L_MAX) * np.log1p(-0.5))
    else:
        d2, d1 = death_probabilities(n, nodes(grid))
        out = _chain(n, L_MAX, kernel(n, grid, log2_points, seed) * (1.0 - d1 - d2)[:, None])
    out.setflags(write=False)
    return out


def _check_width(n) -> None:
    if n > N_MAX:
        raise ValueError(f"domain_bdp is computed for widths N <= {N_MAX} (its kernel costs O(N) per point); "
                         f"got N = {n}. For N > {N_MAX} and L <= {L_MAX}, 0 <= domain_bdp <= bdp_upper "
                         f"<= L 2^-N < 3e-16: use bdp_upper")


def domain_bdp(N, L, *, grid: int = GRID, log2_points: int = LOG2_POINTS, seed: int = SEED):
    r"""Born-dead probability on an interval around 0 (d = 1), bias-free Gaussian weights, width
    ``N``, ``L`` hidden layers: :math:`D_L` of the module docstring, absolute error <=
    :data:`NUMERICAL_ERROR`.  ``N`` and ``L`` broadcast (positive integers, ``N <= N_MAX``,
    ``L <= L_MAX``); returns a float for scalars, else an array."""
    n, l_ = np.broadcast_arrays(np.asarray(N), np.asarray(L))
    for name, a in (("N", n), ("L", l_)):
        if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) \
                or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 1) or np.any(a != np.floor(a)):
            raise ValueError(f"{name} must be a positive integer (or an array of them), got {a!r}")
    if np.any(n > N_MAX):
        _check_width(int(np.max(n)))
    if np.any(l_ > L_MAX):
        raise ValueError(f"domain_bdp is computed for depths L <= {L_MAX}; got L = {int(np.max(l_))}")
    n, l_ = n.astype(np.int64), l_.astype(np.int64)
    out = np.empty(n.shape)
    for w in np.unique(n):
        sel = n == w
        if l_[sel].max() <= 2:   # no angle kernel needed (the chain's first two layers are closed)
            _check_width(int(w))
            out[sel] = _chain(int(w), 2, None)[l_[sel]]
        else:
            out[sel] = curve(int(w), grid, log2_points, seed)[l_[sel]]
    return float(out) if out.ndim == 0 else out


__all__ = ["domain_bdp", "curve", "kernel", "nodes", "death_probabilities", "GRID", "LOG2_POINTS", "SEED",
           "NUMERICAL_ERROR", "N_MAX", "L_MAX"]
