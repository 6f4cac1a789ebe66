r"""Jacobian spectra vs theory: moment and CDF checks, KS distances, plots, ``spectra.json``.

This is the only spectral module that imports ``theory``.  For each point (cell, parameters,
weight law, regime) :func:`spectral_point` simulates ``E`` networks (:mod:`verify.engine.spectra`) and
compares, at every checkpoint ``T``:

* **moments** — :math:`m_1` with ``isometry_mean`` and :math:`\sigma^2=m_2-m_1^2` with
  ``isometry_variance`` (for the gated minimalRNN the S-product ``isometry_variance_free`` is
  reported beside it), rule ``|pred - mean| <= k SE + B_N``: ``SE`` over the ``E`` networks,
  ``k`` Bonferroni over all checks of the report (:func:`verify.statistics.stats.bonferroni_k`,
  alpha = 0.01), ``B_N = MOMENT_WIDTH_COEF * T * |pred| / N`` (each of the ``T`` steps carries an
  ``O(1/N)`` relative bias);
* **CDF at fixed points** — at the theory's quantiles :data:`CDF_LEVELS` of the predicted law
  (``theory.spectrum``), the per-network fraction of eigenvalues below, same rule with
  ``B = CDF_WIDTH_COEF * T / N + atom deficit`` (below);
* **KS distance** of the pooled eigenvalues to the predicted CDF, judged against its finite-``N``
  expectation ``k * max_x SE(x) + B``: ``SE(x)`` is the SE over networks of the pooled empirical
  CDF (on a grid of 200 predicted quantiles; eigenvalues of one matrix are not independent, so
  DKW with ``E N`` samples would be wrong), the same Bonferroni ``k``.

**Atom deficit** (ReLU, hard-tanh): :math:`D_t^2\in\{0,1\}`, so at width ``N`` the product has
exactly ``N - min_t r_t`` zero eigenvalues (``r_t`` = active units at step ``t``), while the
limit law has an atom ``1 - p``.  The excess :math:`E[\max_t(pN-r_t)]/N\sim\sqrt{p(1-p)/N}\,
E\max_t Z_t` is an ``O(N^{-1/2})`` bias of the CDF (never more than that anywhere, because only
that much mass is moved); it is computed for independent ``r_t ~ Bin(N, p)`` (untied; tied steps
are positively correlated, which makes it smaller) by :func:`atom_deficit` and added to ``B``.

Tied runs of the gated cell that fail while their untied twin agrees are labelled
``closure-limited`` (02 §5, 03 §7), not ``disagree``.  A predicted density the theory cannot
produce is reported as ``no prediction`` (with the error), never skipped.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..reporting.atomic import begin, open_atomic, save_figure, write_json, write_manifest

from ..engine.spectra import (SpectraRun, cdf_estimate, float_floor, floor_to_zero, ks_between, ks_distance, moments,
                      simulate_spectra)
from ..statistics.stats import ALPHA, bonferroni_k, ensemble_estimate

MOMENT_WIDTH_COEF = 3.0
"""``B_N = MOMENT_WIDTH_COEF * T * |pred| / N`` for m1 and the variance.  Fixed *a priori*, before
any spectral run, not from a pilot: each factor of the product carries an ``O(1/N)`` relative
correction of its moments (a real Gaussian N x N factor: ``E tr((WW^T)^2)/N = sigma_w^4 (2 + 1/N)``,
i.e. 1/(2N) relative; a diagonal D: the finite-N fluctuation of the field variance shifts
``E phi'^2`` by ``O(1/N)``), so ``T`` factors give ``O(T/N)``; 3 allows three such units per
factor.  Checked afterwards, without changing it, by :func:`width_pilot` (seed 99, N = 32 and 64,
E = 16, all five cells, both laws, tied and untied, T = 1..16; ``reports/spectra_cpu/pilot.json``):
the per-step relative slopes are mostly noise at that size (median ``|a|`` 1.4 for m1, 2.5 for the
variance; 1 of 100 m1 slopes beyond 2 SE: vanilla-tanh orthogonal untied T = 1, ``a = -5.7 +- 2.7``,
i.e. *larger* than 3 -- a known risk for that check, reported, not absorbed; tied ReLU with Gaussian
weights is heavy-tailed, slopes up to 10^3 +- 10^3).  No pilot value entered the constant."""

CDF_WIDTH_COEF = 1.0
"""``B = CDF_WIDTH_COEF * T / N (+ atom deficit)`` for CDF values and the KS distance; fixed a
priori by the same ``O(T/N)`` argument (a relative shift ``delta`` of the scale of the law moves the
CDF by at most ``delta * max(lambda rho(lambda))``, below 1 for the laws here); the ``O(N^{-1/2})``
atom deficit of piecewise-linear phi is derived, not fitted (module docstring).  The pilot's
two-sample KS (N = 32 vs 64) is dominated by sampling noise (~0.07 at E N = 512) and cannot resolve
this coefficient (median ``KS / (1/32 - 1/64) / T`` = 0.43, max 4.8 at T = 1, i.e. a KS of 0.075)."""

CDF_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
"""Predicted quantile levels at which the CDF is checked (fixed in advance)."""

SPECTRUM_GRID = 150
"""Grid points of ``theory.spectrum`` (its cost grows with the grid; 150 keeps a call near 30 s)."""

POINT_MASS_RTOL = 1e-9
"""Relative tolerance at point masses of the predicted law (T = 1, orthogonal, ReLU / hard-tanh:
the eigenvalue ``sigma_w^2`` comes out of the SVD within rounding of it)."""


@dataclass
class SpectralCheck:
    cell: str
    label: str
    regime: str
    weights: str
    T: int
    quantity: str  # "m1" | "variance" | "cdf@<level>" | "ks"
    prediction: float
    estimate: float
    se: float
    n: int
    allowance: float
    k: float = math.nan
    verdict: str = ""
    free_steps: float = math.nan  # gated cells: the S-product variance, for comparison
    x: float = math.nan  # cdf checks: the eigenvalue threshold
    note: str = ""
    scale: float = math.nan  # allowance = coefficient * scale + extra (recomputed by assign)
    extra: float = 0.0


@dataclass(frozen=True)
class SpectralPoint:
    cell: str
    label: str
    params: dict
    width: int = 128
    ensemble: int = 16
    steps: tuple = (1, 2, 4, 8, 16)
    weights: tuple = ("orthogonal", "gaussian")
    regimes: tuple = ("untied", "tied")
    ks_steps: tuple = (1, 4, 8)
    seed: int = 0
    ks_weights: tuple = ("orthogonal", "gaussian")  #: weight laws whose density is compared
    law: str = "auto"  #: gated cells' predicted law (theory.spectrum ``method``; auto = operator-valued at T >= 2; vanilla: exact either way)


# ----------------------------------------------------------------------------------------------
# standard points: near-critical, fixed by rule
# ----------------------------------------------------------------------------------------------

VANILLA_BASE = {"sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}
"""Weak input drive (03 §5: isometry in a vanilla RNN needs it); sigma_w is solved for chi."""
MINIMALRNN_BASE = {"sigma_v": 1.0, "sigma_b": 0.0, "mu_b": 2.0, "R": 1.0, "Sigma": 1.0}
CHI_TARGET = {"vanilla-relu": 0.9}
"""chi = 1 everywhere except ReLU, which has no finite fixed point at chi = 1 (scale invariance:
Q* diverges); 0.9 keeps xi_q ~ 10 steps.  The ReLU spectrum does not depend on q*."""
STANDARD_CELLS = ("vanilla-tanh", "vanilla-erf", "vanilla-relu", "vanilla-hard-tanh", "minimalrnn")


def near_critical_params(cell: str) -> dict:
    """Parameters with theory ``chi = CHI_TARGET`` (default 1) by a Brent solve in ``sigma_w``."""
    import theory
    from scipy.optimize import brentq
    base = dict(MINIMALRNN_BASE if cell == "minimalrnn" else VANILLA_BASE)
    target = CHI_TARGET.get(cell, 1.0)

    def f(sw):
        return float(theory.predict(cell, "chi", **{**base, "sigma_w": sw})) - target
    def safe(sw):  # no finite fixed point (beyond criticality for ReLU): NaN
        try:
            return f(sw)
        except Exception:  # noqa: BLE001
            return math.nan
    grid = np.linspace(0.5, 8.0, 31)
    vals = [safe(s) for s in grid]
    for i in range(len(grid) - 1):
        a, b, fa, fb = grid[i], grid[i + 1], vals[i], vals[i + 1]
        if math.isfinite(fa) and not math.isfinite(fb):  # refine up to where the fixed point is lost
            sub = np.linspace(a, b, 41)
            sv = [safe(x) for x in sub]
            j = max(k for k in range(len(sub)) if math.isfinite(sv[k]))
            b, fb = sub[j], sv[j]
        if math.isfinite(fa) and math.isfinite(fb) and fa * fb <= 0:
            return {**base, "sigma_w": float(brentq(f, a, b, xtol=1e-12))}
    raise ValueError(f"{cell}: chi = {target} not bracketed in sigma_w in [0.5, 8]")


def standard_points(width: int, ensemble: int, seed: int, cells=STANDARD_CELLS, steps=(1, 2, 4, 8, 16),
                    ks_steps=(1, 4, 8), regimes=("untied", "tied")) -> list:
    return [SpectralPoint(cell=c, label="near-critical", params=near_critical_params(c), width=width,
                          ensemble=ensemble, steps=tuple(steps), regimes=tuple(regimes), ks_steps=tuple(ks_steps),
                          seed=seed + 1000 * i)
            for i, c in enumerate(cells)]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _burn_in(cell, params) -> int:
    """Six ``xi_q`` (the state starts at |h|^2/N = Q* exactly; the burn-in settles the shape of its
    distribution), clipped to [20, 120]."""
    import theory
    try:
        xq = float(theory.predict(cell, "xi_q", **params))
    except Exception:  # noqa: BLE001 - no finite timescale: use the cap
        xq = math.inf
    return int(min(120, max(20, math.ceil(6 * xq)))) if math.isfinite(xq) else 120


def atom_deficit(width: int, p: float, T: int, reps: int = 20000, seed: int = 2024) -> float:
    r""":math:`E[\max(0,\max_{t\le T}(pN-r_t))]/N` for independent ``r_t ~ Bin(N, p)`` (Monte Carlo,
    fixed seed, ``reps`` draws; its own MC error is < 2% of the value)."""
    if p <= 0 or p >= 1:
        return 0.0
    r = np.random.default_rng(seed).binomial(width, p, size=(reps, T))
    return float(np.mean(np.maximum(0.0, (p * width - r).max(axis=1)))) / width


def ks_tolerant(samples, sp) -> float:
    r"""KS distance :math:`\sup_x|F_n(x)-F(x)|` of pooled ``samples`` to the predicted law ``sp``,
    exact with ties and atoms: at every distinct sample value ``u`` both :math:`|F_n(u)-F(u)|` and
    :math:`|F_n(u^-)-F(u^-)|`; :math:`F(0^-)=0`; samples within :data:`POINT_MASS_RTOL` of a predicted
    point mass away from 0 are snapped onto it (the SVD returns it within rounding)."""
    x = np.ravel(samples).astype(np.float64)
    for l, _ in sp.point_masses:  # snap rounding copies of a point mass onto it
        x = np.where(np.abs(x - l) <= POINT_MASS_RTOL * abs(l), l, x)
    x = np.sort(x)
    # The predicted CDF is tabulated from its lowest grid point lam[0] up (the mass below it is one
    # number, the power-law left tail, and sp.cdf is 0 below lam[0] by construction): the sup runs
    # over x >= lam[0], with x = lam[0] itself included (that compares the left-tail mass).
    lo = float(sp.lam[0]) if sp.cont_cdf is None and sp.lam.size else -np.inf
    u = np.unique(np.concatenate([x[x >= lo], [lo] if np.isfinite(lo) else []]))
    n = x.size
    Fn = np.searchsorted(x, u, "right") / n
    Fn_left = np.searchsorted(x, u, "left") / n
    F = sp.cdf(u)
    F_left = np.where(u > 0, sp.cdf(u * (1 - POINT_MASS_RTOL)), 0.0)
    left = u > lo  # at u = lo only F(lo) is defined
    return float(max(np.max(np.abs(Fn - F)), np.max(np.abs(Fn_left - F_left)[left], initial=0.0)))


def quantile_points(sp, levels) -> list:
    """Smallest grid eigenvalue where the predicted CDF reaches each level (None if not reached),
    moved just above a point mass it falls on."""
    grid = np.unique(np.concatenate([sp.lam, [l for l, _ in sp.point_masses]]))
    F = sp.cdf(grid)
    out = []
    for q in levels:
        i = int(np.searchsorted(F, q))
        if i >= grid.size or F[i] - q > 0.5 * (1 - sp.atom):
            out.append(None)
            continue
        x = float(grid[i])
        if any(abs(x - l) <= POINT_MASS_RTOL * max(abs(l), 1e-300) for l, _ in sp.point_masses):
            x = x * (1 + 10 * POINT_MASS_RTOL)
        out.append(x)
    return out


# ----------------------------------------------------------------------------------------------
# one point
# ----------------------------------------------------------------------------------------------

def samples_file(samples_dir, run: SpectraRun, params: dict) -> Path:
    """Where :func:`spectral_point` keeps the eigenvalues of one run (``samples=DIR``): the name says
    the configuration; the parameters are checked on load (:func:`load_samples`)."""
    name = (f"{run.cell}_N{run.width}_E{run.ensemble}_{run.weights}_{'tied' if run.tied else 'untied'}"
            f"_T{'-'.join(str(t) for t in run.steps)}_burn{run.burn_in}_seed{run.seed}.npz")
    return Path(samples_dir) / name


def save_samples(path: Path, lam: np.ndarray, params: dict, seconds: float) -> None:
    """Raw eigenvalues (E, len(steps), N) of a run, before the float floor, with what made them
    (the device, so that a report judged elsewhere can say where the networks ran)."""
    import jax
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"params": {k: float(v) for k, v in params.items()}, "seconds": seconds,
            "device": str(jax.devices()[0].device_kind), "platform": jax.default_backend()}
    with open_atomic(path, "wb") as f:
        np.savez_compressed(f, lam=lam, meta=json.dumps(meta))


def load_samples(path: Path, params: dict, shape: tuple):
    """(lam, meta) from :func:`save_samples` if ``path`` exists and holds these parameters and this
    shape, else None (a stale file with other parameters raises: never judge the wrong networks)."""
    if not path.exists():
        return None
    with np.load(path) as f:
        lam, meta = f["lam"], json.loads(str(f["meta"]))
    want = {k: float(v) for k, v in params.items()}
    if meta["params"].keys() != want.keys() or any(abs(meta["params"][k] - want[k]) > 1e-12 * max(1.0, abs(want[k]))
                                                   for k in want) or lam.shape != shape:
        raise ValueError(f"{path}: stored samples were made at other parameters or shape "
                         f"({meta['params']}, {lam.shape}) than asked ({want}, {shape}); remove the file")
    return lam, meta


def spectral_point(pt: SpectralPoint, progress=None, densities: dict | None = None,
                   predict_params: dict | None = None, samples_dir=None) -> dict:
    """Simulate and compare one point; verdicts are assigned later (:func:`assign`).
    ``predict_params``: judge against the theory at other parameters (power checks; the networks,
    their start ``Q*`` and burn-in stay those of ``pt.params``).  ``samples_dir``: keep each run's
    eigenvalues there (:func:`samples_file`) and reuse them when present, so that networks simulated
    on one machine (a GPU) can be judged on another against another predicted law."""
    import theory
    from theory.jacobian.spectrum import spectrum
    p_sim = {k: float(v) for k, v in pt.params.items()}
    Q = float(theory.predict(pt.cell, "Q_star", **p_sim))
    burn = _burn_in(pt.cell, p_sim)
    p = {k: float(v) for k, v in (predict_params or p_sim).items()}
    gated = bool(theory.cell(pt.cell).carries_state)
    densities = {} if densities is None else densities
    checks, samples, series, floors, timings, spec_info, sources = [], {}, {}, {}, {}, {}, {}
    for w in pt.weights:
        for regime in pt.regimes:
            t0 = time.perf_counter()
            run = SpectraRun(cell=pt.cell, width=pt.width, ensemble=pt.ensemble, steps=tuple(pt.steps), weights=w,
                             tied=regime == "tied", burn_in=burn, seed=pt.seed)
            path = samples_file(samples_dir, run, p_sim) if samples_dir else None
            loaded = load_samples(path, p_sim, (pt.ensemble, len(run.steps), pt.width)) if path else None
            if loaded is None:
                lam = simulate_spectra(run, p_sim, Q)
                timings[f"{w}/{regime}"] = time.perf_counter() - t0
                if path:
                    save_samples(path, lam, p_sim, timings[f"{w}/{regime}"])
                source = "simulated"
            else:
                lam, smeta = loaded
                timings[f"{w}/{regime}"] = smeta["seconds"]
                source = f"loaded from {path.name} (simulated on {smeta['device']}, {smeta['seconds']:.1f}s)"
                sources[f"{w}/{regime}"] = {"file": path.name, **smeta}
            if progress:
                progress(f"spectra {pt.cell} {w} {regime}: N={pt.width} E={pt.ensemble} T<={run.steps[-1]} "
                         f"(burn-in {burn}): {timings[f'{w}/{regime}']:.1f}s, {source}")
            fl = float_floor(lam, pt.width)
            floors[f"{w}/{regime}"] = {int(T): float(np.mean(lam[:, i, :] <= fl[:, i, None]))
                                       for i, T in enumerate(run.steps)}
            lam = floor_to_zero(lam, pt.width)
            mo = moments(lam, run.steps)
            ser = series.setdefault(f"{w}/{regime}", {"T": list(run.steps), "m1": [], "m1_se": [], "var": [],
                                                       "var_se": [], "var_pred": [], "var_free": [], "m1_pred": []})
            for i, T in enumerate(run.steps):
                pm = float(theory.predict(pt.cell, "isometry_mean", T=T, weights=w, **p))
                pv = float(theory.predict(pt.cell, "isometry_variance", T=T, weights=w, **p))
                pf = float(theory.predict(pt.cell, "isometry_variance_free", T=T, weights=w, **p))
                for q, e, pred in (("m1", mo.m1[i], pm), ("variance", mo.variance[i], pv)):
                    checks.append(SpectralCheck(pt.cell, pt.label, regime, w, T, q, pred, float(e.mean), float(e.se),
                                                e.n, MOMENT_WIDTH_COEF * T * abs(pred) / pt.width,
                                                scale=T * abs(pred) / pt.width, free_steps=pf if (q == "variance" and gated) else math.nan))
                ser["m1"].append(float(mo.m1[i].mean)); ser["m1_se"].append(float(mo.m1[i].se))
                ser["var"].append(float(mo.variance[i].mean)); ser["var_se"].append(float(mo.variance[i].se))
                ser["var_pred"].append(pv); ser["var_free"].append(pf); ser["m1_pred"].append(pm)
            for T in pt.ks_steps:
                if T not in run.steps or w not in pt.ks_weights:
                    continue
                i = run.steps.index(T)
                key = (w, T)
                if key not in densities:
                    t1 = time.perf_counter()
                    try:
                        densities[key] = spectrum(pt.cell, T=T, weights=w, n=SPECTRUM_GRID,
                                                  method=pt.law if gated else "free-steps", **p)
                    except Exception as exc:  # noqa: BLE001 - reported, never hidden
                        densities[key] = f"{type(exc).__name__}: {exc}"
                    spec_info[f"{w}/T{T}"] = {"seconds": time.perf_counter() - t1}
                    if progress:
                        progress(f"  theory.spectrum {pt.cell} {w} T={T}: {time.perf_counter() - t1:.1f}s"
                                 + ("" if not isinstance(densities[key], str) else f" FAILED ({densities[key][:60]})"))
                sp = densities[key]
                samples[f"{w}/{regime}/T{T}"] = lam[:, i, :]
                if isinstance(sp, str):
                    checks.append(SpectralCheck(pt.cell, pt.label, regime, w, T, "ks", math.nan, math.nan, math.nan,
                                                pt.ensemble, math.nan, verdict="no prediction", note=sp[:200]))
                    continue
                spec_info.setdefault(f"{w}/T{T}", {}).update(
                    {"grid_moments": sp.grid_moments(), "atom": sp.atom, "point_masses": list(sp.point_masses),
                     "notes": list(sp.notes), "m1": sp.m1, "variance": sp.variance})
                deficit = atom_deficit(pt.width, 1.0 - sp.atom, T) if sp.atom > 0 else 0.0
                B = CDF_WIDTH_COEF * T / pt.width + deficit
                note = f"atom deficit {deficit:.4f} included" if deficit else ""
                xs, used = quantile_points(sp, CDF_LEVELS), set()
                for lev, x in zip(CDF_LEVELS, xs):
                    if x is None or x in used:  # a level inside an atom: one check per distinct x
                        continue
                    used.add(x)
                    est = cdf_estimate(lam[:, i, :], x)
                    pred = float(sp.cdf(np.array([x]))[0])
                    checks.append(SpectralCheck(pt.cell, pt.label, regime, w, T, f"cdf@{lev}", pred,
                                                float(est.mean[0]), float(est.se[0]), est.n, B, x=x, note=note,
                                                scale=T / pt.width, extra=deficit))
                grid = [x for x in quantile_points(sp, np.linspace(0.005, 0.995, 200)) if x is not None]
                se_max = float(np.max(cdf_estimate(lam[:, i, :], grid).se)) if grid else math.nan
                ks = ks_tolerant(lam[:, i, :], sp)
                checks.append(SpectralCheck(pt.cell, pt.label, regime, w, T, "ks", 0.0, ks, se_max, pt.ensemble, B,
                                            note=note, scale=T / pt.width, extra=deficit))
    return {"point": pt, "params": p_sim, "predict_params": p, "Q_star": Q, "burn_in": burn, "gated": gated, "checks": checks,
            "samples": samples, "densities": densities, "series": series, "float_floor_fraction": floors,
            "timings": timings, "spectrum_info": spec_info, "sample_sources": sources}


def assign(results: list, alpha: float = ALPHA) -> None:
    """Bonferroni ``k`` over all checks of the report (moments, CDF values, KS) at family-wise ``alpha``."""
    open_ = [c for r in results for c in r["checks"] if c.verdict != "no prediction"]
    m = max(1, len(open_))
    for r in results:
        for c in r["checks"]:
            if c.verdict == "no prediction":
                continue
            c.k = bonferroni_k(m, c.n, alpha)
            coef = MOMENT_WIDTH_COEF if c.quantity in ("m1", "variance") else CDF_WIDTH_COEF
            c.allowance = coef * c.scale + c.extra
            if c.quantity == "ks":
                ok = c.estimate <= c.k * c.se + c.allowance
            else:
                ok = abs(c.prediction - c.estimate) <= c.k * c.se + c.allowance
            c.verdict = "agree" if ok else "disagree"
        if r["gated"]:
            untied = {(c.weights, c.T, c.quantity): c.verdict for c in r["checks"] if c.regime == "untied"}
            for c in r["checks"]:
                if c.regime == "tied" and c.verdict == "disagree" and untied.get((c.weights, c.T, c.quantity)) == "agree":
                    c.verdict = "closure-limited"


# ----------------------------------------------------------------------------------------------
# width pilot (fixes the allowances; no theory involved in the estimate)
# ----------------------------------------------------------------------------------------------

def width_pilot(widths=(64, 128), ensemble=16, seed=99, cells=STANDARD_CELLS, steps=(1, 2, 4, 8, 16),
                progress=None) -> dict:
    """Finite-width slopes from two widths, per cell / weights / regime / T (see
    :data:`MOMENT_WIDTH_COEF`): ``a_m1``, ``a_var`` (relative, per step) with SEs, and the CDF slope
    ``a_ks = KS(N1, N2) / (1/N1 - 1/N2) / T``; the theory enters only through the parameters and
    ``Q*`` (the starting point), not through the estimates."""
    import theory
    n1, n2 = widths
    rows = []
    for c in cells:
        p = near_critical_params(c)
        Q = float(theory.predict(c, "Q_star", **p))
        burn = _burn_in(c, p)
        for w in ("orthogonal", "gaussian"):
            for regime in ("untied", "tied"):
                lam = {}
                for n in widths:
                    run = SpectraRun(cell=c, width=n, ensemble=ensemble, steps=tuple(steps), weights=w,
                                     tied=regime == "tied", burn_in=burn, seed=seed)
                    lam[n] = floor_to_zero(simulate_spectra(run, p, Q), n)
                if progress:
                    progress(f"pilot {c} {w} {regime} done")
                d = 1.0 / n1 - 1.0 / n2
                for i, T in enumerate(steps):
                    row = {"cell": c, "weights": w, "regime": regime, "T": T}
                    for q, f in (("m1", lambda l: l.mean(axis=-1)), ("var", lambda l: l.var(axis=-1))):
                        e1, e2 = ensemble_estimate(f(lam[n1][:, i])), ensemble_estimate(f(lam[n2][:, i]))
                        scale = T * max(abs(float(e2.mean)), 1e-300)
                        row[f"a_{q}"] = float(e1.mean - e2.mean) / d / scale
                        row[f"a_{q}_se"] = float(math.hypot(e1.se, e2.se)) / d / scale
                    row["a_ks"] = ks_between(lam[n1][:, i], lam[n2][:, i]) / d / T
                    rows.append(row)
    return {"widths": list(widths), "ensemble": ensemble, "seed": seed, "rows": rows}


# ----------------------------------------------------------------------------------------------
# plots, JSON, table
# ----------------------------------------------------------------------------------------------

def plot_point(r: dict, out: Path) -> list:
    """Histograms with the predicted density (log10-lambda axis when the law is broad); m1 and the
    normalised variance vs T for both weight laws, tied and untied."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pt, files = r["point"], []
    order = lambda k: (k.split("/")[0], k.split("/")[1], int(k.split("/")[2][1:]))  # noqa: E731 - T numerically
    keys = [k for k in sorted(r["samples"], key=order)
            if not isinstance(r["densities"].get((k.split("/")[0], int(k.split("/")[2][1:]))), str)]
    if keys:
        ncol = min(4, len(keys))
        nrow = math.ceil(len(keys) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.9 * nrow), squeeze=False)
        for ax in axes.ravel()[len(keys):]:
            ax.axis("off")
        for ax, key in zip(axes.ravel(), keys):
            w, regime, Tk = key.split("/")
            T = int(Tk[1:])
            sp = r["densities"][(w, T)]
            x = r["samples"][key].ravel()
            logx = sp.variance > sp.m1 ** 2  # broad law: histogram of log10(lambda)
            pos = x[x > 0]
            if logx:
                lo = np.log10(max(np.percentile(pos, 1), sp.lam[sp.lam > 0][0]))
                hi = np.log10(np.percentile(pos, 99.9))
                ax.hist(np.log10(pos), bins=np.linspace(lo, hi, 50), weights=np.full(pos.size, 1.0 / x.size),
                        density=False, color="0.75", label=f"{regime} networks")
                sel = (sp.lam > 0) & (np.log10(np.maximum(sp.lam, 1e-300)) >= lo) & (np.log10(np.maximum(sp.lam, 1e-300)) <= hi)
                binw = (hi - lo) / 49
                c = sp.density * sp.lam * math.log(10) * binw  # mass per bin of log10 lambda
                # the predicted density is already normalised over the whole law (its mass below the
                # grid is in ``left_tail``; ``theory.spectrum`` self-checks mass 1): no rescaling here
                ax.plot(np.log10(sp.lam[sel]), c[sel], "C3", lw=1.2, label="theory")
                ax.set_xlabel(r"$\log_{10}\lambda$")
                ax.set_ylabel("fraction per bin")
            else:
                hi = np.percentile(x, 99.8)
                ax.hist(x[x <= hi], bins=50, density=True, color="0.75", label=f"{regime} networks")
                sel = sp.lam <= hi
                ax.plot(sp.lam[sel], sp.density[sel], "C3", lw=1.2, label="theory")  # normalised law
                for l, m in sp.point_masses:
                    ax.axvline(l, color="C3", ls=":", lw=1)
                ax.set_xlabel(r"$\lambda$ (eigenvalue of $JJ^\top$)")
            ks = [c for c in r["checks"] if c.quantity == "ks" and c.weights == w and c.T == T and c.regime == regime]
            extra = f"; atom@0 {sp.atom:.2f}" if sp.atom > 0 else ""
            if ks:
                k = ks[0]
                ax.set_title(f"{w} {regime} T={T}: KS {k.estimate:.3f} (exp. <= {k.k * k.se + k.allowance:.3f}){extra}",
                             fontsize=7)
            ax.legend(fontsize=6)
        fig.suptitle(f"{pt.cell} [{pt.label}] N={pt.width} E={pt.ensemble}", fontsize=9)
        fig.tight_layout()
        name = f"{pt.cell}_histograms.png"
        save_figure(fig, out / name, dpi=90)
        plt.close(fig)
        files.append(name)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    colors = {"orthogonal/untied": "C0", "orthogonal/tied": "C2", "gaussian/untied": "C1", "gaussian/tied": "C3"}
    for key, s in sorted(r["series"].items()):
        color = colors.get(key, "k")
        T = np.array(s["T"])
        mp = np.array(s["m1_pred"])
        a1.errorbar(T, np.array(s["m1"]), yerr=np.array(s["m1_se"]), fmt="o", color=color, ms=3, label=f"sim {key}")
        a1.plot(T, mp, "-", color=color, lw=1)
        a2.errorbar(T, np.array(s["var"]) / mp ** 2, yerr=np.array(s["var_se"]) / mp ** 2, fmt="o", color=color,
                    ms=3, label=f"sim {key}")
        a2.plot(T, np.array(s["var_pred"]) / mp ** 2, "-", color=color, lw=1)
        if r["gated"]:
            a2.plot(T, np.array(s["var_free"]) / mp ** 2, ":", color=color, lw=1)
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("T (steps)")
    a1.set_ylabel(r"$m_1$")
    a2.set_ylabel(r"$\sigma^2_{JJ^\top}/m_1^2$ (theory $m_1$)")
    a2.set_yscale("log")
    a1.set_title("mean; lines: theory chi^T", fontsize=8)
    a2.set_title("variance growth; lines: theory" + (" (dotted: free steps)" if r["gated"] else ""), fontsize=8)
    a2.legend(fontsize=6)
    fig.suptitle(f"{pt.cell} [{pt.label}] N={pt.width} E={pt.ensemble}", fontsize=9)
    fig.tight_layout()
    name = f"{pt.cell}_moments_vs_T.png"
    save_figure(fig, out / name, dpi=90)
    plt.close(fig)
    return files + [name]


def rules() -> dict:
    return {"alpha": ALPHA,
            "k": "t^{-1}_{E-1}(1 - alpha/(2m)), Bonferroni over all m checks of the report",
            "moments": f"|pred - mean| <= k SE + B_N, B_N = {MOMENT_WIDTH_COEF} T |pred| / N",
            "cdf": f"at predicted quantiles {list(CDF_LEVELS)}: |F_pred(x) - mean_k F_k(x)| <= k SE + B, "
                   f"B = {CDF_WIDTH_COEF} T / N + atom deficit (ReLU / hard-tanh)",
            "ks": "sup_x |F_pooled - F_pred| over x >= the predicted law's lowest tabulated point lam[0] (~1e-14 m1; "
                  "the mass below it enters as F(lam[0])) <= k max_x SE(x) + B (SE over networks of the pooled CDF, "
                  "200 predicted quantiles)",
            "sample_size": "E networks (eigenvalues of one matrix are not independent)",
            "closure-limited": "tied minimalRNN check failing while its untied twin agrees (02 §5)",
            "no prediction": "theory.spectrum raised: nothing to compare (listed, does not count as agree)"}


def to_json(results: list, figures: list, meta: dict) -> dict:
    from ..reporting.report import clean_json, environment
    pts = []
    for r in results:
        pt = r["point"]
        pts.append({"cell": pt.cell, "label": pt.label, "params": r["params"], "Q_star": r["Q_star"],
                    "burn_in": r["burn_in"], "width": pt.width, "ensemble": pt.ensemble, "steps": list(pt.steps),
                    "ks_steps": list(pt.ks_steps), "regimes": list(pt.regimes), "weights": list(pt.weights),
                    "seed": pt.seed, "law": pt.law if r["gated"] else "free-steps (exact)", "series": r["series"], "checks": [asdict(c) for c in r["checks"]],
                    "float_floor_fraction": r["float_floor_fraction"], "timings_s": r["timings"],
                    "sample_sources": r.get("sample_sources", {}),
                    "spectrum": r["spectrum_info"]})
    return clean_json({"environment": environment(), "precision": "float64 (jax_enable_x64), matmul HIGHEST",
                   "meta": meta, "rules": rules(), "constants": {"MOMENT_WIDTH_COEF": MOMENT_WIDTH_COEF,
                   "CDF_WIDTH_COEF": CDF_WIDTH_COEF, "CDF_LEVELS": list(CDF_LEVELS), "SPECTRUM_GRID": SPECTRUM_GRID},
                   "counts": counts(results), "points": pts, "figures": figures})


def counts(results) -> dict:
    out: dict = {}
    for r in results:
        for c in r["checks"]:
            out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


def table(results: list) -> str:
    rows = [("cell", "weights", "regime", "T", "quantity", "prediction", "estimate ± SE", "tol", "verdict")]
    for r in results:
        for c in r["checks"]:
            if c.verdict == "no prediction":
                rows.append((c.cell, c.weights, c.regime, str(c.T), c.quantity, "-", "-", "-", c.verdict))
                continue
            est = f"{c.estimate:.4g} ± {c.se:.2g}" if c.quantity != "ks" else f"{c.estimate:.4g}"
            tol = c.k * c.se + c.allowance
            rows.append((c.cell, c.weights, c.regime, str(c.T), c.quantity,
                         "-" if c.quantity == "ks" else f"{c.prediction:.4g}", est, f"{tol:.2g}", c.verdict))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(x.ljust(n) for x, n in zip(r, w)) for r in rows)


def write_report(results: list, out, plots: bool = True, meta: dict | None = None, echo=print) -> tuple[int, Path]:
    """Judge (:func:`assign`), plot and write ``out/spectra.json``; returns (exit status 0/1, path).
    Exit 1 when a check disagrees (closure-limited and ``no prediction`` are listed, not failures)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    begin(out)
    assign(results)
    figures = [f for r in results for f in plot_point(r, out)] if plots else []
    path = write_json(out / "spectra.json", to_json(results, figures, meta or {}), indent=1)
    write_manifest(out, [*figures, path.name])
    echo(table(results))
    echo(f"spectra: {counts(results)}; report: {path}")
    bad = any(c.verdict == "disagree" for r in results for c in r["checks"])
    return (1 if bad else 0), path


def run_points(points: list, out, progress=None, plots: bool = True, meta: dict | None = None,
               echo=print, samples_dir=None) -> tuple[int, Path]:
    """Simulate every point (or load its eigenvalues from ``samples_dir``), then :func:`write_report`."""
    t0 = time.perf_counter()
    densities: dict = {}
    results = []
    for pt in points:
        dens = densities.setdefault((pt.cell, tuple(sorted(pt.params.items()))), {})
        results.append(spectral_point(pt, progress, dens, samples_dir=samples_dir))
    meta = dict(meta or {}, seconds=time.perf_counter() - t0)
    return write_report(results, out, plots=plots, meta=meta, echo=echo)
