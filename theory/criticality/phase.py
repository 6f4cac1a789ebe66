r"""Phase diagrams: :math:`\chi`, :math:`\xi` and the isometry spread on a parameter grid.

``phase_diagram(cell, x="sigma_w", y="sigma_b", ...)`` evaluates, with the generated vectorised
kernels (one broadcast call per quantity, no Python loop over points):

* :math:`\chi` — ordered (:math:`\chi<1`) / chaotic (:math:`\chi>1`), the critical line :math:`\chi=1`;
* :math:`\xi` — the correlation depth/time scale (:math:`-1/\ln\chi` when ordered; diverges on the line);
* :math:`\sigma^2_{JJ^\top}/m_1^2` over ``T`` steps (``isometry_variance / isometry_mean**2``; the
  normalised spread, :math:`Tv` for vanilla cells) for the chosen weight law.

``PhaseDiagram.plot(path)`` draws (matplotlib, Agg, headless) :math:`\xi` and the spread as log
colour maps, the :math:`\chi=1` contour of the grid, the closed-form critical line
(``theory.critical_line`` by :math:`q^*`, when the axes are the cell's critical pair) and the
phase labels, with the papers' symbols on the axes.

Cost: :math:`\xi` in the chaotic phase needs the :math:`C^*` solve; cells whose bivariate
expectation has no closed form (tanh, hard-tanh, minimalRNN) spend ~30 ms per chaotic point there
(2-D quadrature) — see ``reports/bench_phase_diagram_cpu.md``.  ``xi=False`` skips it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SYMBOLS = {"sigma_w": r"$\sigma_w$", "sigma_v": r"$\sigma_v$", "sigma_b": r"$\sigma_b$", "mu_b": r"$\mu_b$",
           "R": r"$R$", "Sigma": r"$\Sigma$", "q_star": r"$q^*$"}
DEFAULT_RANGES = {"sigma_w": (0.5, 3.0), "sigma_v": (0.0, 2.0), "sigma_b": (0.0, 1.0), "mu_b": (-3.0, 6.0),
                  "R": (0.1, 2.0), "Sigma": (0.0, 1.0)}


@dataclass(frozen=True)
class PhaseDiagram:
    """Grids (shape ``(ny, nx)``) of ``chi``, ``xi``, ``relvar`` over ``xs`` (columns), ``ys`` (rows)."""

    cell: str
    x: str
    y: str
    xs: np.ndarray
    ys: np.ndarray
    chi: np.ndarray
    xi: np.ndarray | None
    relvar: np.ndarray
    T: int
    weights: str
    fixed: dict
    critical: dict | None = None
    seconds: dict = field(default_factory=dict)

    def chi_one_curve(self) -> np.ndarray:
        """For each row (value of ``y``), the ``x`` where the grid's chi crosses 1 (first crossing,
        linear interpolation; NaN if none)."""
        out = np.full(self.ys.shape, np.nan)
        g = self.chi - 1.0
        for i in range(self.ys.size):
            r = g[i]
            s = np.nonzero(np.isfinite(r[:-1]) & np.isfinite(r[1:]) & (np.sign(r[:-1]) != np.sign(r[1:])))[0]
            if s.size:
                j = s[0]
                out[i] = self.xs[j] - r[j] * (self.xs[j + 1] - self.xs[j]) / (r[j + 1] - r[j])
        return out

    def plot(self, path, dpi: int = 110) -> str:
        """Write the figure to ``path`` (PNG); returns the path."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm

        panels = [("xi", self.xi, r"$\xi$ (correlation depth, steps)")] if self.xi is not None else []
        panels.append(("relvar", self.relvar,
                       rf"$\sigma^2_{{JJ^\top}}/m_1^2$ over $T={self.T}$ ({self.weights} $W$)"))
        fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), squeeze=False)
        X, Y = np.meshgrid(self.xs, self.ys)
        for ax, (name, Z, label) in zip(axes[0], panels):
            Zp = np.where(np.isfinite(Z) & (Z > 0), Z, np.nan)
            finite = Zp[np.isfinite(Zp)]
            if finite.size:
                lo, hi = np.percentile(finite, 1), np.percentile(finite, 99.5)
                lo = max(lo, hi * 1e-8)
                m = ax.pcolormesh(X, Y, np.clip(Zp, lo, hi), norm=LogNorm(vmin=lo, vmax=hi), shading="auto",
                                  cmap="viridis")
                fig.colorbar(m, ax=ax, label=label)
            if np.any(np.isfinite(self.chi)):
                ax.contour(X, Y, self.chi, levels=[1.0], colors="w", linewidths=2.2)
                ax.contour(X, Y, self.chi, levels=[1.0], colors="k", linewidths=1.0)
            if self.critical is not None:
                ax.plot(self.critical[self.x], self.critical[self.y], "--", color="tab:red", lw=1.2,
                        label=r"$\chi=1$ closed form ($q^*$ family)")
                ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
            self._label_phases(ax)
            ax.set_xlim(self.xs[0], self.xs[-1])
            ax.set_ylim(self.ys[0], self.ys[-1])
            ax.set_xlabel(SYMBOLS.get(self.x, self.x), fontsize=12)
            ax.set_ylabel(SYMBOLS.get(self.y, self.y), fontsize=12)
        shown = ", ".join(f"{k}={v:g}" for k, v in self.fixed.items() if k not in (self.x, self.y))
        fig.suptitle(f"{self.cell}: phase diagram ({shown}); black/white line: $\\chi=1$", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return str(path)

    def _label_phases(self, ax):
        for phase, sel in (("ordered\n" + r"$\chi<1$", self.chi < 1), ("chaotic\n" + r"$\chi>1$", self.chi > 1)):
            if sel.sum() < 0.05 * sel.size:
                continue
            iy, ix = np.nonzero(sel)
            ax.text(float(np.median(self.xs[ix])), float(np.median(self.ys[iy])), phase, ha="center", va="center",
                    fontsize=11, color="w", weight="bold",
                    bbox=dict(boxstyle="round", fc=(0, 0, 0, 0.35), ec="none"))


def _axis(name, lim, n):
    lo, hi = lim if lim is not None else DEFAULT_RANGES.get(name, (0.0, 2.0))
    return np.linspace(lo, hi, n)


def phase_diagram(cell, x: str = "sigma_w", y: str | None = None, xlim=None, ylim=None, n=None, T: int = 10,
                  weights: str = "orthogonal", xi: bool = True, backend: str = "numba", **fixed) -> PhaseDiagram:
    """Evaluate the phase diagram of ``cell`` over ``x`` (columns) and ``y`` (rows; default the second
    member of the critical pair); other parameters from ``fixed`` or the defaults."""
    import time
    import warnings

    from .. import api
    from ..jacobian.isometry import has_isometry
    from ..validate import count
    c = api.cell(cell)
    if not has_isometry(c):
        raise ValueError(f"phase_diagram needs chi and the isometry moments, derived for single-field cells; "
                         f"{c.name} is a gated cell: its critical line lambda_max = 1 is served by "
                         f"theory.critical_line({c.name!r}, along=..., values=..., solve_for=...)")
    T = count("T", T)
    y = y or c.critical_pair[1]
    for a in (x, y):
        if a not in c.param_names:
            raise ValueError(f"{c.name}: axis {a!r} is not a parameter; choose from {list(c.param_names)}")
    if x == y:
        raise ValueError("x and y must differ")
    if n is None:  # chaotic xi costs ~30 ms/point where the bivariate expectation needs quadrature
        quad = any(k.startswith("_E2_") for k in vars(api.kernels(c)))
        n = (80, 60) if (quad and xi) else (160, 120)
    nx, ny = (n, n) if isinstance(n, int) else n
    xs, ys = _axis(x, xlim, nx), _axis(y, ylim, ny)
    grid = {x: xs[None, :], y: ys[:, None]}
    base = {k: v for k, v in api.parameters(c).items() if k not in (x, y)}
    base.update({k: v for k, v in fixed.items()})
    kw = {**base, **grid}
    secs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if backend == "numba":
            # one fixed-point solve for the whole grid: chi (= step_msv, A2 + sigma_w^2 B2), the mean
            # and the variance are all functions of Q* (the generic predict route would solve it 3 times)
            from ..jacobian.isometry import isometry_kernels, weights_variance
            vw = weights_variance(weights)
            if int(T) != T or T < 1:
                raise ValueError(f"T must be a positive integer, got {T!r}")
            p = api.resolve_params(c, kw)
            args = [np.asarray(p[k], dtype=np.float64) for k in c.param_names]
            core, iso = api.kernels(c, "numba"), isometry_kernels(c, "numba")
            t = time.perf_counter()
            Qs = core.Q_star(*args)
            secs["Q_star"] = time.perf_counter() - t
            t = time.perf_counter()
            chi = np.asarray(iso.step_msv(Qs, *args))
            secs["chi"] = time.perf_counter() - t
            t = time.perf_counter()
            var = np.asarray(iso.isometry_variance(float(T), vw, Qs, *args))
            mean = np.asarray(iso.isometry_mean(float(T), Qs, *args))
            secs["isometry"] = time.perf_counter() - t
        else:
            t = time.perf_counter()
            chi = np.asarray(api.predict(c.name, "chi", backend=backend, **kw))
            secs["chi"] = time.perf_counter() - t
            t = time.perf_counter()
            var = np.asarray(api.predict(c.name, "isometry_variance", backend=backend, T=T, weights=weights, **kw))
            mean = np.asarray(api.predict(c.name, "isometry_mean", backend=backend, T=T, weights=weights, **kw))
            secs["isometry"] = time.perf_counter() - t
        t = time.perf_counter()
        xiv = np.asarray(api.predict(c.name, "xi", backend=backend, **kw)) if xi else None
        secs["xi"] = time.perf_counter() - t
    shape = (ys.size, xs.size)
    chi, var, mean = (np.broadcast_to(a, shape) for a in (chi, var, mean))
    xiv = np.broadcast_to(xiv, shape) if xiv is not None else None
    crit = None
    if (x, y) == tuple(c.critical_pair) or (y, x) == tuple(c.critical_pair):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            crit = api.critical_line(c.name, q_star=np.geomspace(1e-3, 50.0, 400), **base)
    return PhaseDiagram(cell=c.name, x=x, y=y, xs=xs, ys=ys, chi=np.array(chi), xi=None if xiv is None else np.array(xiv),
                        relvar=np.array(var / mean ** 2), T=int(T), weights=weights, fixed=base, critical=crit,
                        seconds=secs)
