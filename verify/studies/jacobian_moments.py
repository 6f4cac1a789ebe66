r"""``verify study=jacobian-moments [cell=lstm|gru|gru-reset-after|minimalrnn|vanilla-<act>] [width=N] [networks=E] [T=Tmax] [burn=B]
[seed=S] [population=true|false] [critical=H] [out=DIR] [<param>=v ...]``: Jacobian moments of real
recurrent networks (gated cells, and the single-field minimalRNN and vanilla cells as one-component
states).  ``critical=H``: at the library's (annealed) critical initialisation for horizon ``H``
(``theory.critical_init(cell, horizon=H)``: λ_max = 1 and ξ_q = H), the other parameters overriding it.

For each regime (untied: weights redrawn every step; tied: one ``W`` at every step, the real network)
``E`` networks of width ``N`` run ``B`` steps from random states to stationarity (the input a fresh
``N(0, R)`` vector each step), then the T-step state Jacobian :math:`J_T=\partial s_{B+T}/\partial s_B`
is probed with one Gaussian vector :math:`v` per network (Hutchinson), all from one linearisation of the ``Tmax`` steps:

* :math:`m_1(T)=\|J_Tv\|^2/(nN)`, for the full state (:math:`n` components) and the read block
  (:math:`v` only in ``h``, read out in ``h``), every ``T`` up to ``Tmax``;
* :math:`m_2(T)=\|J_T^\top J_Tv\|^2/(nN)` (one transposed pass per ``T`` in :data:`M2_STEPS`), giving the
  spectrum's variance :math:`m_2-m_1^2` and spread :math:`m_2/m_1^2-1` (not derived by the theory for
  gated cells; measured here).

Estimates are means over networks with their standard error (``std/sqrt(E)``).  The theory columns:
the annealed :math:`m_1` of the Gaussian closure (``theory.predict(cell, "isometry_mean", T=...)``),
with ``population=true`` the exact untied one (population dynamics, with its SE; gated cells only: a
single-field cell's annealed :math:`m_1=\chi^T` has no state closure to check), and the tied one
(``theory.predict(..., tied=True)``, :mod:`theory.tied.jacobian`, with its SE): untied networks are
to be compared with the first two, tied (real) networks with the last.  The report
gives ``z = (estimate - prediction)/SE`` and does not fold any finite-width allowance into it: it is a
measurement (``N`` is stated) of how far the annealed moments are from untied and tied networks.
Writes ``DIR/report.json`` and ``DIR/m1.png``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..commands.cliutil import BadInput, check_out, parse_bool, parse_float, parse_int, progress_printer

OPTIONS = ("study", "cell", "width", "networks", "T", "burn", "seed", "population", "critical", "out", "quiet")
#: steps at which m_2 is measured (those <= Tmax)
M2_STEPS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class OneComponent:
    """A single-field simulator (:class:`verify.simulators.base.Simulator`: vanilla, minimalRNN) in the
    gated protocol the Jacobian program drives: state ``(h,)``, read ``h``."""

    sim: object  # verify.simulators.base.Simulator
    components: tuple = ("h",)
    read: str = "h"

    def draw_weights(self, key, n, params, dtype):
        return self.sim.draw_weights(key, n, params, dtype)

    def step(self, w, state, x, params):
        return (self.sim.step(w, state[0], x, params).h,), None


def simulator(cell: str):
    """The cell's simulator in the gated protocol (ValueError naming the cells that have one)."""
    from ..simulators import GATED_SIMULATORS, SIMULATORS

    if cell in GATED_SIMULATORS:
        return GATED_SIMULATORS[cell]
    if cell in SIMULATORS and SIMULATORS[cell].recurrent:
        return OneComponent(SIMULATORS[cell])
    names = sorted(GATED_SIMULATORS) + sorted(c for c, s in SIMULATORS.items() if s.recurrent)
    raise ValueError(f"cell must be a simulated recurrent cell, one of {', '.join(names)}; got {cell!r}")


def jacobian_program(sim, width: int, burn: int, t_max: int, tied: bool, m2_steps: tuple):
    """jit(vmap over network keys) of one network's ``(m_1 full (t_max,), m_1 block (t_max,), m_2 at m2_steps)``."""
    import jax
    import jax.numpy as jnp

    comps = sim.components
    n = len(comps)
    r = comps.index(sim.read)

    def one(params, key):
        kw, kx, k0, kv = jax.random.split(key, 4)
        w0 = sim.draw_weights(kw, width, params, jnp.float64)

        def weights(t):
            return w0 if tied else sim.draw_weights(jax.random.fold_in(kw, t), width, params, jnp.float64)

        def x(t):
            return jnp.sqrt(params["R"]) * jax.random.normal(jax.random.fold_in(kx, t), (width,), jnp.float64)

        s = tuple(jax.random.normal(jax.random.fold_in(k0, i), (width,), jnp.float64) for i in range(n))
        s = jax.lax.fori_loop(0, burn, lambda t, st: sim.step(weights(t), st, x(t), params)[0], s)

        def run(s0):
            def body(st, t):
                new = sim.step(weights(t), st, x(t), params)[0]
                return new, new
            return jax.lax.scan(body, s0, jnp.arange(burn, burn + t_max))[1]

        v = tuple(jax.random.normal(jax.random.fold_in(kv, i), (width,), jnp.float64) for i in range(n))
        vh = tuple(v[i] if i == r else jnp.zeros_like(v[i]) for i in range(n))
        _, lin = jax.linearize(run, s)  # one forward pass: J_t v for every t, and the transposes below
        jv, jvh = lin(v), lin(vh)
        full = sum(jnp.sum(y * y, axis=-1) for y in jv) / (n * width)
        block = jnp.sum(jvh[r] * jvh[r], axis=-1) / jnp.sum(vh[r] * vh[r])
        m2 = []
        for T in m2_steps:
            def lin_T(d, T=T):  # d -> J_T d
                return tuple(y[T - 1] for y in lin(d))
            jtjv = jax.linear_transpose(lin_T, s)(tuple(y[T - 1] for y in jv))[0]
            m2.append(sum(jnp.sum(y * y) for y in jtjv) / (n * width))
        return full, block, jnp.stack(m2) if m2 else jnp.zeros((0,))

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


def measure(cell: str, params: dict, *, width: int, networks: int, t_max: int, burn: int, seed: int, tied: bool,
            m2_steps: tuple = ()) -> tuple:
    """Per-network Hutchinson estimates ``(m1_full (E, t_max), m1_block (E, t_max), m2 (E, len(m2_steps)))``
    of the simulated ``cell`` at fully specified ``params`` (module docstring)."""
    import jax
    import jax.numpy as jnp

    sim = simulator(cell)
    pj = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    keys = jax.random.split(jax.random.PRNGKey(seed), networks)
    prog = jacobian_program(sim, width, burn, t_max, tied, tuple(m2_steps))
    return tuple(np.asarray(a) for a in prog(pj, keys))


def _mean_se(x: np.ndarray):
    return x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])


def run_study(cell: str, params: dict, *, width: int, networks: int, t_max: int, burn: int, seed: int,
              population: bool, progress=None) -> dict:
    """Measure and predict (module docstring); returns the report as a dict."""
    import theory
    from theory.closures import population as exact
    from theory.jacobian.gated_isometry import probe
    from theory.tied.jacobian import isometry_mean_tied
    from ..simulators.gated_base import GatedSimulator
    sim = simulator(cell)
    decl = theory.api.cell(cell)
    several = len(sim.components) > 1
    p = {k: float(v) for k, v in theory.api.resolve_params(decl, params).items()}
    steps = np.arange(1, t_max + 1)
    pred_full = np.asarray(theory.predict(cell, "isometry_mean", T=steps, **params)).tolist()
    pred_block = np.asarray(theory.predict(cell, "isometry_mean", T=steps, block=sim.read, **params)).tolist() \
        if several else pred_full  # one component: the block is the whole state
    criterion = theory.api.critical_quantity(decl)
    out = {"cell": cell, "params": p, "width": width, "networks": networks, "burn": burn, "seed": seed,
           "T": steps.tolist(), "components": list(sim.components), "block": sim.read, "gaussian_closure": {"full": pred_full, "block": pred_block},
           criterion: theory.predict(cell, criterion, **params), "chi": theory.predict(cell, "chi", **params),
           "regimes": {}}
    population = population and isinstance(sim, GatedSimulator)  # single-field: annealed m_1 = chi^T, no closure
    if population:
        pop = {}
        for key, blk in (("full", None), ("block", sim.read)):
            if progress:
                progress(f"population dynamics: exact untied m_1 ({key}), T up to {t_max}")
            m, se = exact.isometry_mean(decl, p, t_max, probe(decl, blk))
            pop[key], pop[f"{key}_se"] = m.tolist(), se.tolist()
        out["population"] = pop
    if progress:
        progress(f"tied theory (single-site process): m_1 full and {sim.read} block, T up to {t_max}")
    tied_theory = {}
    for key, blk in (("full", None), ("block", sim.read)):
        m, se = isometry_mean_tied(decl, p, t_max, blk, seed=seed)
        tied_theory[key], tied_theory[f"{key}_se"] = m.tolist(), se.tolist()
    out["tied_theory"] = tied_theory
    m2_steps = tuple(T for T in M2_STEPS if T <= t_max)
    out["m2_T"] = list(m2_steps)
    for regime in ("untied", "tied"):
        t0 = time.time()
        if progress:
            progress(f"{cell} {regime}: {networks} networks of width {width}, burn {burn}, T up to {t_max}")
        full, block, m2 = measure(cell, p, width=width, networks=networks, t_max=t_max, burn=burn, seed=seed,
                                  tied=regime == "tied", m2_steps=m2_steps)
        fm, fs = _mean_se(full)
        bm, bs = _mean_se(block)
        rec = {"m1_full": fm.tolist(), "m1_full_se": fs.tolist(), "m1_block": bm.tolist(), "m1_block_se": bs.tolist(),
               "z_full_gaussian": ((fm - np.asarray(pred_full)) / fs).tolist(),
               "z_block_gaussian": ((bm - np.asarray(pred_block)) / bs).tolist(),
               "seconds": time.time() - t0, "per_network": {"m1_full": full.tolist(), "m1_block": block.tolist()}}
        if population:
            pf, pfs = np.asarray(out["population"]["full"]), np.asarray(out["population"]["full_se"])
            rec["z_full_population"] = ((fm - pf) / np.hypot(fs, pfs)).tolist()
        for key, (m, se) in (("full", (fm, fs)), ("block", (bm, bs))):
            tm, ts = np.asarray(tied_theory[key]), np.asarray(tied_theory[f"{key}_se"])
            rec[f"z_{key}_tied_theory"] = ((m - tm) / np.hypot(se, ts)).tolist()
        if m2_steps:
            idx = np.asarray(m2_steps) - 1
            var = m2 - full[:, idx] ** 2
            spread = m2 / full[:, idx] ** 2 - 1
            rec["m2"], rec["m2_se"] = (a.tolist() for a in _mean_se(m2))
            rec["variance"], rec["variance_se"] = (a.tolist() for a in _mean_se(var))
            rec["spread"], rec["spread_se"] = (a.tolist() for a in _mean_se(spread))
        out["regimes"][regime] = rec
    return out


def plot(rep: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = np.asarray(rep["T"])
    panels = [("full", "full state"), ("block", f"{rep['block']} → {rep['block']} block")]
    if len(rep.get("components", ())) == 1:
        panels = panels[:1]  # one component: the block is the full state
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        ax.semilogy(T, rep["gaussian_closure"][key], "k-", label="annealed, Gaussian closure")
        ax.semilogy(T, rep["tied_theory"][key], "r-", label="tied theory (single-site process)")
        if "population" in rep:
            ax.semilogy(T, rep["population"][key], "k--", label="annealed, exact (population)")
        for regime, style in (("untied", "o"), ("tied", "s")):
            r = rep["regimes"][regime]
            ax.errorbar(T, r[f"m1_{key}"], yerr=2 * np.asarray(r[f"m1_{key}_se"]), fmt=style, ms=4, capsize=2,
                        label=f"{regime} networks (±2 SE)")
        ax.set_xlabel("T (steps)")
        ax.set_ylabel("m₁(T) = Tr(JᵀJ)/(nN)")
        ax.set_title(f"{rep['cell']}: {title}, N = {rep['width']}, {rep['networks']} networks")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse(kv: dict) -> dict:
    """The study's settings from ``key=value`` strings; :class:`BadInput` on anything wrong."""
    import theory

    cell = kv.get("cell", "lstm")
    try:
        simulator(cell)
    except ValueError as exc:
        raise BadInput(f"study=jacobian-moments: {exc}") from None
    names = set(theory.api.cell(cell).param_names)
    unknown = sorted(set(kv) - set(OPTIONS) - names)
    if unknown:
        raise BadInput(f"study=jacobian-moments: unknown option(s) {unknown}; options {list(OPTIONS)} and the "
                       f"parameters of {cell}")
    params = {k: parse_float(k, kv[k]) for k in sorted(names & set(kv))}
    try:
        theory.api.resolve_params(theory.api.cell(cell), params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if "critical" in kv:
        horizon = parse_float("critical", kv["critical"])
        ci = theory.critical_init(cell, horizon=horizon)
        if not ci.feasible:
            raise BadInput(f"critical={kv['critical']}: {ci.message}")
        params = {**{k: float(v) for k, v in ci.params.items()}, **params}
    return {"cell": cell, "params": params,
            "width": parse_int("width", kv.get("width", "256"), 2),
            "networks": parse_int("networks", kv.get("networks", "16"), 2),
            "t_max": parse_int("T", kv.get("T", "12"), 1),
            "burn": parse_int("burn", kv.get("burn", "100"), 0),
            "seed": parse_int("seed", kv.get("seed", "0"), 0),
            "population": parse_bool("population", kv.get("population", "true")),
            "out": check_out(kv.get("out", f"jacobian_moments_{cell}")),
            "quiet": parse_bool("quiet", kv.get("quiet", "false"))}


def main(kv: dict) -> int:
    a = parse(kv)
    out, cell = a["out"], a["cell"]
    t0 = time.time()
    rep = run_study(cell, a["params"], width=a["width"], networks=a["networks"], t_max=a["t_max"], burn=a["burn"],
                    seed=a["seed"], population=a["population"], progress=progress_printer(a["quiet"]))
    rep["seconds"] = time.time() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    plot(rep, out / "m1.png")
    print(f"jacobian-moments {cell}: wrote {out / 'report.json'} and {out / 'm1.png'} ({rep['seconds']:.0f} s)")
    for regime, r in rep["regimes"].items():
        for name, key in (("annealed Gaussian closure", "z_full_gaussian"), ("tied theory", "z_full_tied_theory")):
            zs = ", ".join(f"{z:+.1f}" for z in r[key])
            print(f"  {regime}: z(full m1 - {name}) per T: {zs}")
    return 0
