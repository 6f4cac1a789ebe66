r"""``verify study=relu-growth [widths=64,256,1024] [networks=E] [L=Lmax] [input_dim=d] [untied=64,256] [seed=S] [out=DIR]``:
forward and backward norms of ReLU RNNs at the initialisation of convergence theory (Allen-Zhu, Li & Song
2019), measured on real (tied) networks against the annealed law (issue 20 item 3).

The network (one ``W``, ``A`` per network, the same at every step):

.. math::  h_l=\phi(Wh_{l-1}+Ax_l),\quad h_0=0,\quad W_{ij},A_{ik}\sim\mathcal N(0,2/m),\quad\|x_l\|=1,

with :math:`\phi` = ReLU, width :math:`m` and inputs of dimension :math:`d` (default :math:`d=m`) drawn
uniformly on the unit sphere, fresh each step.

**Annealed law** (weights redrawn every step; also the infinite-width tied law of the equal-time second
moment, since the update reads :math:`h` only through the field): the field of a unit has variance
:math:`(2/m)(\|h_{l-1}\|^2+1)`, ReLU keeps half of it, so :math:`\mathbb E\|h_l\|^2=\|h_{l-1}\|^2+1`:
:math:`\|h_L\|^2/L=1`.  Backward, :math:`\beta(k)=\|u^\top\partial h_L/\partial h_{L-k}\|^2` for a uniform
unit :math:`u` has :math:`\mathbb E\beta(k)=\chi^k=1` (:math:`\chi=\sigma_w^2/2=1`).

**Measured**, per width, over ``E`` networks: median and 5/25/75/95 % quantiles of
:math:`\|h_L\|^2/L` and of :math:`\beta(k)` at a grid of depths; the per-network late growth exponent
:math:`\lambda=\ln(\|h_L\|^2/\|h_{L/2}\|^2)/(L/2)` (its spread across networks, and a power law in
:math:`m` fitted to that spread with its SE); the fraction of networks whose norm grows **faster than
cubic** over the last half, :math:`\|h_L\|^2/\|h_{L/2}\|^2>2^3` (the annealed law gives 2), with a Wilson
95 % interval; and the growth law of the median, stated only where the data support it (:func:`growth_law`):
"polynomial, exponent p ± se", "exponential, rate b per step", or "not determined" -- never an exponent
fitted to an exponential.

``untied=64,256``: also untied networks (``W`` redrawn every step) at those widths, the control in which
the annealed law holds exactly in the mean: E‖h_L‖²/L = 1 at any width.

Writes ``DIR/report.json`` and ``DIR/relu_growth.png``; float64 throughout (norms reach 1e50 at small
``m``; a non-finite norm is counted as faster than cubic and left out of the quantiles' finite values).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ..commands.cliutil import BadInput, check_out, parse_bool, parse_int, progress_printer

OPTIONS = ("study", "widths", "networks", "L", "input_dim", "untied", "seed", "out", "quiet")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: ‖h_L‖²/‖h_{L/2}‖² above this: faster than cubic over the last half (the annealed law gives 2)
SUPERCUBIC = 8.0
#: RMS residual (natural log) below which a fitted growth law is said to describe the median
FIT_RMS = 0.1
#: memory per chunk of networks simulated at once (float64 weight entries)
CHUNK_ENTRIES = 1 << 25


def conditional_transpose(h, rec, w, z):
    r"""Wᵀw for a fresh W (entries N(0, 2/m)) given only its field W h = ``rec``: the part of W along ĥ is
    fixed by the field, the rest is independent of it, so Wᵀw = h (rec·w)/‖h‖² + (I − ĥĥᵀ) ξ with
    ξ = √(2‖w‖²/m) ``z`` (``z`` standard normal); ``h = 0`` leaves W unconstrained (Wᵀw = ξ)."""
    import jax.numpy as jnp
    m = h.shape[-1]
    n2 = h @ h
    xi = jnp.sqrt(2.0 / m * (w @ w)) * z
    safe = jnp.where(n2 > 0, n2, 1.0)
    return jnp.where(n2 > 0, h * (rec @ w) / safe + xi - h * (h @ xi) / safe, xi)


def simulate(m: int, networks: int, L: int, seed: int, input_dim: int | None = None, tied: bool = True,
             untied_engine: str = "conditional"):
    """(F, B): arrays (networks, L) of ‖h_l‖² (l = 1..L) and β(k) (k = 1..L) for ReLU networks, tied (one
    ``W`` at every step: the real network) or untied (``W_l`` redrawn every step: the annealed law's own
    model, E‖h_L‖² = L exactly at any width).

    jax, vmapped over chunks of networks; the forward pass stores the ReLU masks, the backward pass runs
    u ↦ W_lᵀ D_l u from the last step.  Untied, ``untied_engine="conditional"`` (default) never draws a
    matrix: given h, W_l h ~ N(0, (2/m)‖h‖² I) exactly, and given that field W_lᵀ w is
    :func:`conditional_transpose` -- O(m) per step instead of O(m²) random numbers; ``"dense"`` draws every W_l (the reference the test holds it to)."""
    import jax
    import jax.numpy as jnp

    if untied_engine not in ("conditional", "dense"):
        raise ValueError(f"untied_engine must be 'conditional' or 'dense', got {untied_engine!r}")
    d = int(input_dim or m)
    conditional = not tied and untied_engine == "conditional"

    def one(key):
        kw, ka, kx, ku, kb = jax.random.split(key, 5)
        A = jax.random.normal(ka, (m, d), jnp.float64) * math.sqrt(2.0 / m)
        X = jax.random.normal(kx, (L, d), jnp.float64)
        AX = (X / jnp.linalg.norm(X, axis=1, keepdims=True)) @ A.T
        steps = jnp.arange(L)

        def weight(l):
            k = jax.random.fold_in(kw, l) if not tied else kw
            return jax.random.normal(k, (m, m), jnp.float64) * math.sqrt(2.0 / m)
        W = weight(0) if tied else None

        def fwd(h, inp):
            l, ax = inp
            if conditional:
                rec = jnp.sqrt(2.0 / m * (h @ h)) * jax.random.normal(jax.random.fold_in(kw, l), (m,), jnp.float64)
            else:
                rec = (W if tied else weight(l)) @ h
            g = rec + ax
            mask = g > 0
            new = jnp.where(mask, g, 0.0)
            # only the conditional engine needs the step's input and field again on the way back
            return new, (new @ new, mask, (h, rec) if conditional else ())
        _, (F, masks, kept) = jax.lax.scan(fwd, jnp.zeros(m, jnp.float64), (steps, AX))
        u = jax.random.normal(ku, (m,), jnp.float64)
        u = u / jnp.linalg.norm(u)

        def bwd(v, inp):  # v: gradient of u.h_L w.r.t. h_l; mask: D_l
            l, mask, step_kept = inp
            w = v * mask
            if conditional:
                h, rec = step_kept
                v = conditional_transpose(h, rec, w, jax.random.normal(jax.random.fold_in(kb, l), (m,), jnp.float64))
            else:
                v = (W if tied else weight(l)).T @ w
            return v, v @ v
        _, B = jax.lax.scan(bwd, u, (steps[::-1], masks[::-1], jax.tree.map(lambda a: a[::-1], kept)))
        return F, B

    run = jax.jit(jax.vmap(one))
    per_network = 4 * L * m + m * d if conditional else m * max(m, d) + L * m
    chunk = max(1, min(networks, CHUNK_ENTRIES // per_network))
    keys = jax.random.split(jax.random.PRNGKey(seed), networks)
    with jax.enable_x64(True):
        parts = [run(keys[i:i + chunk]) for i in range(0, networks, chunk)]
        F = np.concatenate([np.asarray(p[0]) for p in parts])
        B = np.concatenate([np.asarray(p[1]) for p in parts])
    return F, B


def depth_grid(L: int) -> list:
    """Depths 1, 2, 5, 10, 20, 50, ... up to and including L."""
    out, k = [], 0
    while True:
        for f in (1, 2, 5):
            v = f * 10 ** k
            if v >= L:
                return out + [L]
            out.append(v)
        k += 1


def _quantiles(x: np.ndarray) -> dict:
    """Quantiles of a sample; a non-finite value counts as +inf (an overflow is a huge norm)."""
    x = np.where(np.isfinite(x), x, np.inf)
    return {f"q{int(100 * q):02d}": float(np.quantile(x, q)) for q in QUANTILES}


def wilson(k: int, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval of a binomial proportion k/n."""
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, c - h), min(1.0, c + h)


def growth_law(depths, medians) -> dict:
    r"""Which law the median norm follows over the depths given (the upper half of the grid is passed).

    Fits :math:`\ln y=a+p\ln L` (power) and :math:`\ln y=a+bL` (exponential) by least squares.  A law is
    stated only where its RMS residual is below :data:`FIT_RMS` and the other's is not: a power law with
    :math:`p\le 3` ("polynomial"), an exponential with :math:`bL_{\max}>\ln 8` ("exponential").  A power
    exponent above 3 is not reported as a polynomial: it is an exponential seen on a log scale."""
    L = np.asarray(depths, float)
    y = np.asarray(medians, float)
    if L.size < 3 or not np.all(np.isfinite(y) & (y > 0)):
        return {"law": "not determined", "why": "fewer than 3 finite positive medians"}
    ly = np.log(y)
    out = {}
    for name, x in (("power", np.log(L)), ("exponential", L)):
        X = np.vstack([np.ones_like(x), x]).T
        coef, *_ = np.linalg.lstsq(X, ly, rcond=None)
        res = ly - X @ coef
        dof = max(L.size - 2, 1)
        s2 = float(res @ res) / dof
        se = math.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
        out[name] = {"slope": float(coef[1]), "se": se, "rms": float(np.sqrt(np.mean(res ** 2)))}
    pw, ex = out["power"], out["exponential"]
    if pw["rms"] < FIT_RMS and pw["slope"] <= 3 and not (ex["rms"] < pw["rms"] / 2):
        law = f"polynomial, exponent {pw['slope']:.2f} ± {pw['se']:.2f}"
    elif ex["rms"] < FIT_RMS and ex["slope"] * L.max() > math.log(8) and not (pw["rms"] < ex["rms"] / 2):
        law = f"exponential, rate {ex['slope']:.4f} ± {ex['se']:.4f} per step"
    else:
        law = "not determined"
    return {"law": law, "fits": out}


def summarise(F: np.ndarray, B: np.ndarray) -> dict:
    """The per-width record: quantiles over depths, late exponents, the faster-than-cubic fraction."""
    E, L = F.shape
    grid = depth_grid(L)
    fwd = {str(l): _quantiles(F[:, l - 1] / l) for l in grid}
    bwd = {str(k): _quantiles(B[:, k - 1]) for k in grid}
    half = L // 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = F[:, L - 1] / F[:, half - 1]
        lam = np.log(ratio) / (L - half)
        bratio = B[:, L - 1] / B[:, half - 1]
    fast = int(np.sum(~np.isfinite(ratio) | (ratio > SUPERCUBIC)))
    bfast = int(np.sum(~np.isfinite(bratio) | (bratio > SUPERCUBIC)))
    finite = lam[np.isfinite(lam)]
    upper = [l for l in grid if l >= max(L // 8, 2)]
    return {
        "networks": E, "depths": grid,
        "forward_norm_over_L": fwd, "backward_norm": bwd,
        "late_exponent": {"mean": float(np.mean(finite)), "std": float(np.std(finite, ddof=1)),
                          "std_se": float(np.std(finite, ddof=1) / math.sqrt(2 * (finite.size - 1))),
                          "finite": int(finite.size)},
        "faster_than_cubic": {"count": fast, "fraction": fast / E, "wilson95": wilson(fast, E)},
        "backward_faster_than_cubic": {"count": bfast, "fraction": bfast / E, "wilson95": wilson(bfast, E)},
        "forward_median_law": growth_law(upper, [np.median(np.where(np.isfinite(F[:, l - 1]), F[:, l - 1], np.inf))
                                                 for l in upper]),
        "backward_median_law": growth_law(upper, [np.median(np.where(np.isfinite(B[:, k - 1]), B[:, k - 1], np.inf))
                                                  for k in upper]),
    }


def spread_scaling(widths, records) -> dict:
    r"""Power law :math:`\mathrm{std}(\lambda)\propto m^{p}` fitted (weighted by the SE of each std) across
    widths, with its SE and the reduced :math:`\chi^2` of the fit."""
    m = np.log(np.asarray(widths, float))
    s = np.array([r["late_exponent"]["std"] for r in records])
    se = np.array([r["late_exponent"]["std_se"] for r in records]) / s  # SE of ln std
    if m.size < 2:
        return {"exponent": None, "why": "one width"}
    X = np.vstack([np.ones_like(m), m]).T / se[:, None]
    coef, *_ = np.linalg.lstsq(X, np.log(s) / se, rcond=None)
    cov = np.linalg.inv(X.T @ X)
    res = (np.log(s) - np.vstack([np.ones_like(m), m]).T @ coef) / se
    dof = m.size - 2
    return {"exponent": float(coef[1]), "se": float(math.sqrt(cov[1, 1])),
            "reduced_chi2": float(res @ res / dof) if dof > 0 else None}


def plot(rep: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(21, 4.5))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(rep["widths"])))
    for (m, r), col in zip(rep["per_width"].items(), colours):
        d = np.asarray(r["depths"])
        for ax, key in ((axes[0], "forward_norm_over_L"), (axes[1], "backward_norm")):
            q = {k: np.array([r[key][str(x)][k] for x in d]) for k in ("q05", "q50", "q95")}
            ax.plot(d, q["q50"], "o-", color=col, ms=3, label=f"m = {m} (median)")
            ax.fill_between(d, q["q05"], np.minimum(q["q95"], 1e300), color=col, alpha=0.15)
    for m, r in rep.get("untied_control", {}).get("per_width", {}).items():
        d = np.asarray(r["depths"])
        axes[0].plot(d, [r["forward_norm_over_L"][str(x)]["q50"] for x in d], "--", color="grey", lw=1,
                     label=f"untied m = {m} (median)")
    for ax, title, ylab in ((axes[0], "forward", "‖h_L‖² / L"), (axes[1], "backward", "β(k) = ‖uᵀ ∂h_L/∂h_{L-k}‖²")):
        ax.axhline(1.0, color="k", ls="--", lw=1, label="annealed law (= 1)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("L" if title == "forward" else "k")
        ax.set_ylabel(ylab)
        ax.set_title(f"tied ReLU RNN, W, A ~ N(0, 2/m): {title} (5–95 % band)", fontsize=9)
        ax.legend(fontsize=7)
    ws = np.asarray(rep["widths"], float)
    frac = [rep["per_width"][str(m)]["faster_than_cubic"] for m in rep["widths"]]
    lo = [f["fraction"] - f["wilson95"][0] for f in frac]
    hi = [f["wilson95"][1] - f["fraction"] for f in frac]
    axes[2].errorbar(ws, [f["fraction"] for f in frac], yerr=[lo, hi], fmt="s-", capsize=3,
                     label=f"‖h_L‖²/‖h_L/2‖² > {SUPERCUBIC:g} (Wilson 95 %)")
    axes[2].set_xscale("log", base=2)
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_xlabel("width m")
    axes[2].set_ylabel(f"fraction of networks, L = {rep['L']}")
    axes[2].set_title("faster than cubic over the last half", fontsize=9)
    axes[2].legend(fontsize=7)
    std = [rep["per_width"][str(m)]["late_exponent"] for m in rep["widths"]]
    axes[3].errorbar(ws, [s["std"] for s in std], yerr=[2 * s["std_se"] for s in std], fmt="o", capsize=3,
                     label="tied networks (±2 SE)")
    fit = rep["late_exponent_spread_vs_m"]
    if fit.get("exponent") is not None:
        k = np.exp(np.mean(np.log([s["std"] for s in std]) - fit["exponent"] * np.log(ws)))
        axes[3].plot(ws, k * ws ** fit["exponent"], "k-", lw=1,
                     label=f"fit ∝ m^({fit['exponent']:.2f} ± {fit['se']:.2f})")
    axes[3].set_xscale("log", base=2)
    axes[3].set_yscale("log")
    axes[3].set_xlabel("width m")
    axes[3].set_ylabel("std over networks of λ = ln(‖h_L‖²/‖h_L/2‖²)/(L/2)")
    axes[3].set_title("spread of the per-network growth exponent", fontsize=9)
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _per_width(widths, networks, L, seed, input_dim, tied, progress) -> dict:
    per = {}
    for i, m in enumerate(widths):
        E = networks[i] if isinstance(networks, (list, tuple)) else networks
        t0 = time.time()
        F, B = simulate(m, E, L, seed + i, input_dim, tied=tied)
        per[str(m)] = summarise(F, B)
        per[str(m)]["seconds"] = time.time() - t0
        with np.errstate(over="ignore"):
            x = F[:, L - 1] / L  # the annealed law is about the mean: E‖h_L‖²/L = 1
        per[str(m)]["forward_mean_over_L"] = {"mean": float(np.mean(x)), "se": float(np.std(x, ddof=1) / math.sqrt(E))}
        if progress:
            r = per[str(m)]
            progress(f"{'tied' if tied else 'untied'} m = {m}: {E} networks, L = {L} in {r['seconds']:.1f} s; "
                     f"median ‖h_L‖²/L = {r['forward_norm_over_L'][str(L)]['q50']:.3g}, faster than cubic "
                     f"{r['faster_than_cubic']['fraction']:.2f}")
    return per


def run_study(widths, networks, L, seed, input_dim=None, progress=None, untied_widths=()) -> dict:
    """The report: tied networks at every width; untied controls (the annealed law's own model) at
    ``untied_widths``."""
    per = _per_width(widths, networks, L, seed, input_dim, True, progress)
    rep = {"study": "relu-growth", "theory": "annealed law E‖h_L‖² = L, E β(k) = 1 (untied, exact in the mean "
                                             "at any width; also the tied infinite-width equal-time law)",
           "networks_are": "tied (one W, A per network)", "widths": list(widths), "L": L,
           "input_dim": input_dim or "m", "seed": seed, "supercubic_ratio": SUPERCUBIC, "fit_rms": FIT_RMS,
           "per_width": per, "late_exponent_spread_vs_m": spread_scaling(widths, [per[str(m)] for m in widths])}
    if untied_widths:
        E = [networks[list(widths).index(m)] if m in widths and isinstance(networks, (list, tuple)) else
             (networks if not isinstance(networks, (list, tuple)) else max(networks)) for m in untied_widths]
        rep["untied_control"] = {"widths": list(untied_widths),
                                 "per_width": _per_width(untied_widths, E, L, seed + 1000, input_dim, False, progress)}
    return rep


def _ints(key: str, v: str) -> list:
    try:
        out = [int(x) for x in v.split(",")]
    except ValueError:
        raise BadInput(f"{key} must be comma-separated integers, got {v!r}") from None
    if any(x < 2 for x in out):
        raise BadInput(f"{key} must be >= 2, got {v!r}")
    return out


def parse(kv: dict) -> dict:
    unknown = sorted(set(kv) - set(OPTIONS))
    if unknown:
        raise BadInput(f"study=relu-growth: unknown option(s) {unknown}; options {list(OPTIONS)}")
    widths = _ints("widths", kv.get("widths", "64,128,256,512,1024"))
    networks = _ints("networks", kv["networks"]) if "networks" in kv else [max(8, min(256, 32768 // m)) for m in widths]
    if len(networks) == 1:
        networks = networks * len(widths)
    if len(networks) != len(widths):
        raise BadInput(f"networks: give one count or one per width ({len(widths)}), got {len(networks)}")
    L = parse_int("L", kv.get("L", "300"), 4)
    untied = _ints("untied", kv["untied"]) if kv.get("untied", "none") != "none" else []
    return {"widths": widths, "networks": networks, "L": L, "untied": untied,
            "input_dim": parse_int("input_dim", kv["input_dim"], 1) if "input_dim" in kv else None,
            "seed": parse_int("seed", kv.get("seed", "0"), 0),
            "out": check_out(kv.get("out", "relu_growth")), "quiet": parse_bool("quiet", kv.get("quiet", "false"))}


def main(kv: dict) -> int:
    a = parse(kv)
    t0 = time.time()
    rep = run_study(a["widths"], a["networks"], a["L"], a["seed"], a["input_dim"], progress_printer(a["quiet"]),
                    untied_widths=a["untied"])
    rep["seconds"] = time.time() - t0
    from ..reporting.report import environment
    env = environment()
    rep["environment"] = {k: env[k] for k in ("python", "platform", "versions", "devices")}
    rep["environment"]["cpu_count"] = os.cpu_count()
    out = a["out"]
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    plot(rep, out / "relu_growth.png")
    print(f"relu-growth: wrote {out / 'report.json'} and {out / 'relu_growth.png'} ({rep['seconds']:.0f} s)")
    for m in rep["widths"]:
        r = rep["per_width"][str(m)]
        f = r["faster_than_cubic"]
        print(f"  m = {m:5d}: median ‖h_L‖²/L = {r['forward_norm_over_L'][str(rep['L'])]['q50']:.3g} (annealed 1); "
              f"faster than cubic {f['count']}/{r['networks']} [{f['wilson95'][0]:.2f}, {f['wilson95'][1]:.2f}]; "
              f"median law: {r['forward_median_law']['law']}")
    for m, r in rep.get("untied_control", {}).get("per_width", {}).items():
        f = r["forward_mean_over_L"]
        print(f"  untied control m = {int(m):5d}: mean ‖h_L‖²/L = {f['mean']:.4f} ± {f['se']:.4f} (annealed law: 1 exactly); "
              f"faster than cubic {r['faster_than_cubic']['count']}/{r['networks']}")
    s = rep["late_exponent_spread_vs_m"]
    if s.get("exponent") is not None:
        print(f"  spread of the late growth exponent ∝ m^({s['exponent']:.3f} ± {s['se']:.3f})")
    return 0
