r"""Phase diagrams: the order–chaos criterion, timescales and the isometry spread on a parameter grid.

``phase_diagram(cell, x="sigma_w", y=..., ...)`` evaluates, with the generated vectorised kernels (one
broadcast call per quantity, no Python loop over points), for every recurrent and feed-forward cell:

* the **criterion** — :math:`\chi` for single-field cells, :math:`\lambda_{\max}` (top eigenvalue of
  the perturbation map, 06 §4) for gated cells: ordered below 1, chaotic above, critical on 1;
* :math:`\xi` — the correlation time scale (:math:`-1/\ln\chi` when ordered; diverges on the line);
* single-field cells: :math:`\sigma^2_{JJ^\top}/m_1^2` over ``T`` steps (``isometry_variance /
  isometry_mean**2``; the normalised spread, :math:`Tv` for vanilla cells) for the chosen weight law;
* gated cells: :math:`\xi_q`, the variance relaxation time (the slowest finite timescale on the
  critical line, 06 §5).  Their Jacobian moments are not derived yet (issue 23 item 1), so there
  is no spread panel.

Axes are parameters, or a family of them (:func:`theory.api.axis_members`): ``x="sigma_w"`` on a gated
cell moves every ``sigma_w_<gate>`` together; the default ``y`` of a gated cell is its memory-gate
bias mean (``mu_b_f`` for the LSTM, ``mu_b_z`` for the GRU).

``tied=False`` (default): the annealed (untied-weight) theory.  ``tied=True``: real networks (one
:math:`W` at every step), :math:`\lambda_{\max}` by the tied-weight site process (08; Monte-Carlo,
``paths`` per point, common random numbers across the grid, its standard error in ``order_se``),
with the annealed criterion kept beside it for comparison.  A tied grid costs ~1 s per point
(LSTM, 8192 paths, 2-core CPU), so its default grid is 9 × 9.

``PhaseDiagram.plot(path)`` draws (matplotlib, Agg, headless) the panels as colour maps, the
criterion = 1 contour of the grid, an independent critical line — the closed form by :math:`q^*`
when the axes are a single-field cell's critical pair, else the grid's crossings refined by Brent's
method on the kernels — and the phase labels, with the papers' symbols on the axes.

Cost (2-core CPU): single-field :math:`\xi` in the chaotic phase needs the :math:`C^*` solve, ~30 ms
per point where the bivariate expectation has no closed form (tanh, hard-tanh, minimalRNN) — see
``reports/bench_phase_diagram_cpu.md``; gated cells: LSTM :math:`\lambda_{\max}` ~15 ms per point and
:math:`\xi` ~75 ms per point, GRU ~7 and ~9 ms.  ``xi=False`` skips :math:`\xi`; for gated cells it
is off by default.
"""
from __future__ import annotations

import textwrap
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..float64 import float64

SYMBOLS = {"sigma_w": r"$\sigma_w$", "sigma_v": r"$\sigma_v$", "sigma_b": r"$\sigma_b$", "mu_b": r"$\mu_b$",
           "R": r"$R$", "Sigma": r"$\Sigma$", "q_star": r"$q^*$"}
CRITERION_SYMBOLS = {"chi": r"\chi", "lambda_max": r"\lambda_{\max}"}
#: default axis ranges, by parameter name or by its family prefix (``mu_b_f`` -> ``mu_b``)
DEFAULT_RANGES = {"sigma_w": (0.5, 3.0), "sigma_v": (0.0, 2.0), "sigma_b": (0.0, 1.0), "mu_b": (-3.0, 6.0),
                  "R": (0.1, 2.0), "Sigma": (0.0, 1.0)}
#: default axis ranges of gated cells, where the critical scale lies further out (LSTM: sigma_w* = 4.3
#: at mu_b_f = 0, 2.1 at mu_b_f = 4)
GATED_RANGES = {"sigma_w": (0.5, 6.0), "mu_b": (-2.0, 6.0)}


@dataclass(frozen=True)
class PhaseDiagram:
    r"""Grids (shape ``(ny, nx)``) over ``xs`` (columns) and ``ys`` (rows).

    ``order``: the criterion (``criterion``: ``"chi"`` or ``"lambda_max"``) of the ``theory``
    (``"annealed"`` or ``"tied"``); ``order_se`` its standard error (tied only); ``annealed_order`` the
    annealed criterion on the same grid (tied only, for comparison); ``xi``, ``xi_q``, ``relvar`` the
    panels computed (None where not).  ``critical``: the annealed critical line solved independently of
    the grid's contour (closed form, or Brent roots bracketed by an annealed grid), a dict of arrays
    keyed by axis name."""

    cell: str
    x: str
    y: str
    xs: np.ndarray
    ys: np.ndarray
    criterion: str
    theory: str
    order: np.ndarray
    xi: np.ndarray | None
    relvar: np.ndarray | None
    T: int
    weights: str
    fixed: dict
    xi_q: np.ndarray | None = None
    order_se: np.ndarray | None = None
    annealed_order: np.ndarray | None = None
    critical: dict | None = None
    critical_label: str = ""
    seconds: dict = field(default_factory=dict)

    @property
    def chi(self) -> np.ndarray:
        """The criterion grid when it is χ (single-field cells, annealed)."""
        if self.criterion != "chi" or self.theory != "annealed":
            raise AttributeError(f"{self.cell}: the {self.theory} criterion is {self.criterion}; read .order")
        return self.order

    @property
    def lambda_max(self) -> np.ndarray:
        """The criterion grid when it is λ_max (gated cells, or tied)."""
        if self.criterion != "lambda_max":
            raise AttributeError(f"{self.cell}: the criterion is {self.criterion}; read .order")
        return self.order

    def critical_curve(self, grid: np.ndarray | None = None) -> np.ndarray:
        """For each row (value of ``y``), the ``x`` where ``grid`` (default ``order``) crosses 1 (first
        crossing, linear interpolation; NaN if none)."""
        g = (self.order if grid is None else grid) - 1.0
        out = np.full(self.ys.shape, np.nan)
        for i in range(self.ys.size):
            r, j = g[i], first_crossing(g[i])
            if j is not None:
                out[i] = self.xs[j] - r[j] * (self.xs[j + 1] - self.xs[j]) / (r[j + 1] - r[j])
        return out

    def chi_one_curve(self) -> np.ndarray:
        """:meth:`critical_curve` of the χ grid (the name single-field users know)."""
        return self.critical_curve(self.chi)

    def panels(self) -> list:
        """``[(name, grid, colour-bar label, diverging-about-1?)]`` in the order :meth:`plot` draws them."""
        sym = CRITERION_SYMBOLS.get(self.criterion, self.criterion)
        out = []
        if self.theory == "tied" or self.relvar is None:
            out.append(("order", self.order, rf"${sym}$ ({self.theory})", True))
        if self.xi is not None:
            out.append(("xi", self.xi, r"$\xi$ (correlation time scale, steps)", False))
        if self.xi_q is not None:
            out.append(("xi_q", self.xi_q, r"$\xi_q$ (variance relaxation time, steps)", False))
        if self.relvar is not None:
            out.append(("relvar", self.relvar,
                        rf"$\sigma^2_{{JJ^\top}}/m_1^2$ over $T={self.T}$ ({self.weights} $W$)", False))
        return out

    def plot(self, path, dpi: int = 110) -> str:
        """Write the figure to ``path`` (PNG); returns the path."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm, TwoSlopeNorm

        panels = self.panels()
        fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), squeeze=False)
        X, Y = np.meshgrid(self.xs, self.ys)
        sym = CRITERION_SYMBOLS.get(self.criterion, self.criterion)
        for ax, (name, Z, label, diverging) in zip(axes[0], panels):
            finite = Z[np.isfinite(Z)]
            if diverging and finite.size:
                lo, hi = min(float(finite.min()), 0.99), max(float(finite.max()), 1.01)
                m = ax.pcolormesh(X, Y, Z, norm=TwoSlopeNorm(vcenter=1.0, vmin=lo, vmax=hi), shading="auto",
                                  cmap="coolwarm")
                fig.colorbar(m, ax=ax, label=label)
            elif finite.size:
                Zp = np.where(np.isfinite(Z) & (Z > 0), Z, np.nan)
                finite = Zp[np.isfinite(Zp)]
                lo, hi = np.percentile(finite, 1), np.percentile(finite, 99.5)
                lo = max(lo, hi * 1e-8)
                m = ax.pcolormesh(X, Y, np.clip(Zp, lo, hi), norm=LogNorm(vmin=lo, vmax=hi), shading="auto",
                                  cmap="viridis")
                fig.colorbar(m, ax=ax, label=label)
            self._contours(ax, X, Y, sym)
            self._label_phases(ax, sym)
            ax.set_xlim(self.xs[0], self.xs[-1])
            ax.set_ylim(self.ys[0], self.ys[-1])
            ax.set_xlabel(_symbol(self.x), fontsize=12)
            ax.set_ylabel(_symbol(self.y), fontsize=12)
        width = int(11 * 5.6 * len(panels))  # characters of 9-pt text across the figure
        shown = textwrap.fill(", ".join(f"{k}={v:g}" for k, v in self.fixed.items()), width)
        fig.suptitle(f"{self.cell}: {self.theory} phase diagram, ${sym}=1$ is critical\n{shown}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return str(path)

    def _contours(self, ax, X, Y, sym):
        handles = []
        if np.any(np.isfinite(self.order)) and np.nanmin(self.order) < 1 < np.nanmax(self.order):
            ax.contour(X, Y, self.order, levels=[1.0], colors="w", linewidths=2.2)
            ax.contour(X, Y, self.order, levels=[1.0], colors="k", linewidths=1.0)
            handles.append(ax.plot([], [], "k-", lw=1.4, label=rf"{self.theory} ${sym}=1$ (grid)")[0])
        if self.critical is not None:
            handles.append(ax.plot(self.critical[self.x], self.critical[self.y], ":", color="tab:red", lw=1.6,
                                   label=self.critical_label)[0])
        if handles:
            ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8)

    def _label_phases(self, ax, sym):
        for phase, sel in ((f"ordered\n${sym}<1$", self.order < 1), (f"chaotic\n${sym}>1$", self.order > 1)):
            if sel.sum() < 0.05 * sel.size:
                continue
            iy, ix = np.nonzero(sel)
            ax.text(float(np.median(self.xs[ix])), float(np.median(self.ys[iy])), phase, ha="center", va="center",
                    fontsize=11, color="w", weight="bold",
                    bbox=dict(boxstyle="round", fc=(0, 0, 0, 0.35), ec="none"))


def first_crossing(r) -> int | None:
    """Index ``j`` of the first sign change of ``r`` between ``j`` and ``j + 1`` (both finite); None if none."""
    r = np.asarray(r)
    s = np.nonzero(np.isfinite(r[:-1]) & np.isfinite(r[1:]) & (np.sign(r[:-1]) != np.sign(r[1:])))[0]
    return int(s[0]) if s.size else None


def _family(name: str) -> str:
    """``mu_b_f`` -> ``mu_b``: the prefix that names the kind of a gate's parameter."""
    for k in SYMBOLS:
        if name == k or name.startswith(k + "_"):
            return k
    return name


def _symbol(name: str) -> str:
    base = _family(name)
    sym = SYMBOLS.get(base)
    if sym is None:
        return name
    gate = name[len(base) + 1:]  # every symbol is "$...$": the gate goes in as a superscript
    return sym[:-1] + rf"^{{({gate})}}$" if gate else sym


def _axis(name, lim, n, gated):
    if lim is None:
        fam = _family(name)
        lim = (GATED_RANGES.get(fam) if gated else None) or DEFAULT_RANGES.get(fam, (0.0, 2.0))
    lo, hi = lim
    return np.linspace(lo, hi, n)


@float64
def phase_diagram(cell, x: str = "sigma_w", y: str | None = None, xlim=None, ylim=None, n=None, T: int = 10,
                  weights: str = "orthogonal", xi: bool | None = None, backend: str = "numba", *, tied: bool = False,
                  paths: int = 8192, seed: int = 0, steps: int | None = None, **fixed) -> PhaseDiagram:
    """Evaluate the phase diagram of ``cell`` over ``x`` (columns) and ``y`` (rows); other parameters from
    ``fixed`` or the defaults.  ``y`` defaults to the second member of the critical pair (single-field
    cells) or the memory-gate bias mean (gated cells).  ``xi`` (default: True for single-field cells,
    False for gated cells, where it costs ~75 ms per point) adds the ξ panel.  ``tied=True``: the
    real-network λ_max by the tied site process (``paths``, ``seed``, ``steps``: the options of
    ``theory.predict(..., tied=True)``); see the module docstring."""
    from .. import api
    from ..jacobian.isometry import has_isometry
    from ..validate import count, flag

    c = api.cell(cell)
    tied = flag("tied", tied)
    single = has_isometry(c)
    if tied and not c.recurrent:
        raise ValueError(f"{c.name} is a feed-forward net: tied and untied coincide; use tied=False")
    T = count("T", T)
    xi = single and not tied if xi is None else flag("xi", xi)
    if tied and xi:
        raise ValueError("phase_diagram(tied=True) maps the tied lambda_max only: a tied xi is a relaxation fit "
                         "of minutes per point; ask theory.predict(cell, 'xi', tied=True, ...) at the points you need")
    if y is None:
        y = c.critical_pair[1] if c.critical_pair is not None else f"mu_b_{c.memory_gate}"
    if x == y:
        raise ValueError("x and y must differ")
    xm, ym = api.axis_pair(c, x, y, roles=("axis x", "axis y"))
    if n is None:
        if tied:
            n = (9, 9)
        elif not single:
            n = (48, 36)
        else:  # chaotic xi costs ~30 ms/point where the bivariate expectation needs quadrature
            quad = any(k.startswith("_E2_") for k in vars(api.kernels(c)))
            n = (80, 60) if (quad and xi) else (160, 120)
    nx, ny = (n, n) if isinstance(n, int) else n
    xs, ys = _axis(x, xlim, count("n", nx), not single), _axis(y, ylim, count("n", ny), not single)
    base = {k: v for k, v in api.parameters(c).items() if k not in xm + ym}
    base.update(fixed)
    kw = {**base, **{m: xs[None, :] for m in xm}, **{m: ys[:, None] for m in ym}}
    criterion = api.critical_quantity(c)
    secs = {}

    def timed(key, fn, *a, **k):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn(*a, **k)
        secs[key] = time.perf_counter() - t
        return out

    shape = (ys.size, xs.size)

    def grid(a):
        return None if a is None else np.array(np.broadcast_to(np.asarray(a, dtype=float), shape))

    var = mean = xiq = se = annealed = None
    if single and not tied:
        chi, var, mean = timed("chi+isometry", _single_field, api, c, kw, T, weights, backend)
    else:  # a tied diagram shows only tied quantities beside the annealed criterion's line
        chi = timed(criterion, api.predict, c.name, criterion, backend, **kw)
        if not tied:
            xiq = timed("xi_q", api.predict, c.name, "xi_q", backend, **kw)
    xiv = timed("xi", api.predict, c.name, "xi", backend, **kw) if xi else None
    order, crit_name = grid(chi), criterion
    if tied:
        annealed = order
        opts = {"paths": count("paths", paths), "seed": seed, **({} if steps is None else {"steps": steps})}
        lam, se = timed("tied lambda_max", api.predict, c.name, "lambda_max", backend, tied=True, return_error=True,
                        **opts, **kw)
        order, se, crit_name = grid(lam), grid(se), "lambda_max"
    sym = CRITERION_SYMBOLS.get(criterion, criterion)
    if single and set((x, y)) == set(c.critical_pair):
        crit = timed("critical line", _closed_form_line, api, c, base)
        label = rf"annealed ${sym}=1$ closed form ($q^*$ family)"
    else:
        fx, fy, fine = xs, ys, grid(chi)
        if tied:  # the annealed line at the resolution of an annealed diagram, not of the tied grid
            fx, fy = _axis(x, xlim, 48, not single), _axis(y, ylim, 36, not single)
            fine = timed("annealed fine grid", api.predict, c.name, criterion, backend,
                         **{**base, **{m: fx[None, :] for m in xm}, **{m: fy[:, None] for m in ym}})
            fine = np.broadcast_to(np.asarray(fine, dtype=float), (fy.size, fx.size))
        crit = timed("critical line", _refined_line, api, c, criterion, backend, base, x, xm, y, ym, fx, fy, fine)
        label = rf"annealed ${sym}=1$ root-solved (Brent)"
    return PhaseDiagram(cell=c.name, x=x, y=y, xs=xs, ys=ys, criterion=crit_name,
                        theory="tied" if tied else "annealed", order=order, xi=grid(xiv),
                        relvar=None if var is None else grid(var) / grid(mean) ** 2, T=int(T), weights=weights,
                        fixed=base, xi_q=grid(xiq), order_se=se, annealed_order=annealed, critical=crit,
                        critical_label=label, seconds=secs)


def _single_field(api, c, kw, T, weights, backend):
    """(χ, isometry variance, isometry mean) of a single-field cell on the grid ``kw``."""
    if backend != "numba":
        return (api.predict(c.name, "chi", backend=backend, **kw),
                api.predict(c.name, "isometry_variance", backend=backend, T=T, weights=weights, **kw),
                api.predict(c.name, "isometry_mean", backend=backend, T=T, weights=weights, **kw))
    # one fixed-point solve for the whole grid: chi (= step_msv, A2 + sigma_w^2 B2), the mean and the
    # variance are all functions of Q* (the generic predict route would solve it 3 times)
    from ..jacobian.isometry import isometry_kernels, weights_variance
    vw = weights_variance(weights)
    p = api.resolve_params(c, kw)
    args = [np.asarray(p[k], dtype=np.float64) for k in c.param_names]
    core, iso = api.kernels(c, "numba"), isometry_kernels(c, "numba")
    Qs = core.Q_star(*args)
    return (iso.step_msv(Qs, *args), iso.isometry_variance(float(T), vw, Qs, *args),
            iso.isometry_mean(float(T), Qs, *args))


def _closed_form_line(api, c, base):
    return api.critical_line(c.name, q_star=np.geomspace(1e-3, 50.0, 400), **base)


def _refined_line(api, c, criterion, backend, base, x, xm, y, ym, xs, ys, order):
    """The criterion = 1 line, one root per row: the grid's first crossing along ``x`` brackets it and
    Brent's method on the kernels solves it to 1e-12 (the grid contour's linear interpolation only
    brackets it)."""
    from scipy.optimize import brentq

    out = np.full(ys.shape, np.nan)
    for i, yv in enumerate(ys):
        j = first_crossing(order[i] - 1.0)
        if j is None:
            continue
        p = {**base, **{m: float(yv) for m in ym}}

        def f(v):
            return float(api.predict(c.name, criterion, backend, **{**p, **{m: v for m in xm}})) - 1.0
        try:
            out[i] = brentq(f, float(xs[j]), float(xs[j + 1]), xtol=1e-12, rtol=1e-12)
        except (api.FixedPointError, ValueError):  # a point inside the bracket failed: leave the row NaN
            pass
    return {y: ys.copy(), x: out}
