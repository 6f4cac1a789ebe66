"""``derive``: write/refresh generated kernels for a cell and print a short summary.

    derive cell=minimalrnn [backend=numba,jax] [out=DIR] [sigma_w=2.0 ...]
    derive all             # every built-in cell
    derive list            # cell names
    derive cell=vanilla-tanh plot=phase [out=DIR] [sigma_v=0 ...]   # phase-diagram PNG
    derive --help

key=value arguments are parsed strictly: an unknown key or cell, a non-number or an invalid
parameter gives a one-line error and exit code 2.
"""
from __future__ import annotations

import math
import sys
import time

USAGE = __doc__


def parse_kv(argv, allowed: dict) -> dict:
    """Parse ``key=value`` words; ``allowed`` maps key -> converter.  ValueError on anything else."""
    out = {}
    for word in argv:
        if "=" not in word:
            raise ValueError(f"expected key=value, got {word!r}; keys: {', '.join(allowed)}")
        k, v = word.split("=", 1)
        if k not in allowed:
            raise ValueError(f"unknown key {k!r}; valid keys: {', '.join(allowed)}")
        if k in out:
            raise ValueError(f"key {k!r} given twice")
        out[k] = allowed[k](k, v)
    return out


def to_float(k, v):
    try:
        x = float(v)
    except ValueError:
        raise ValueError(f"{k} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{k} must be finite, got {v!r}")
    return x


def _help(theory) -> str:
    from .params import SPECS
    lines = [USAGE, "keys:", "  cell      one of: " + ", ".join(theory.cells()),
             "  backend   comma list of numba,jax (default: numba,jax)",
             "  out       output directory (default: derivations/<package> beside the theory package —",
             "            the repo in an editable checkout, site-packages when installed;",
             "            user-declared cells: $SIGNALPROP_CACHE or ~/.cache/signalprop)",
             "  plot      phase: write <out>/<package>_phase.png (chi = 1 line, xi, isometry spread; out default .)",
             "  parameters for the example evaluation (defaults per cell):"]
    lines += [f"    {n:<8} {s.meaning}" for n, s in SPECS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    import theory
    if argv in (["--help"], ["-h"], ["help"]):
        print(_help(theory))
        return 0
    if argv == ["list"]:
        print("\n".join(theory.cells()))
        return 0
    names = None
    if argv[:1] == ["all"]:
        names, argv = theory.cells(), argv[1:]
    from .params import SPECS
    allowed = {"cell": lambda k, v: v, "backend": lambda k, v: v, "out": lambda k, v: v}
    allowed.update({n: to_float for n in SPECS})
    allowed.update({n: to_float for c in theory.cells() for n in theory.parameters(c)})  # per-gate names
    allowed["plot"] = _plot_kind  # --- phase-diagram plot (theory/phase.py) ---
    try:
        kv = parse_kv(argv, allowed)
        if names is None:
            if "cell" not in kv:
                raise ValueError("missing cell=NAME; choose one of " + ", ".join(theory.cells()))
            names = [theory.cell(kv["cell"]).name]
        elif "cell" in kv:
            raise ValueError("give either 'all' or cell=NAME")
        backends = tuple(b.strip() for b in kv.get("backend", "numba,jax").split(","))
        for b in backends:
            if b not in theory.BACKENDS:
                raise ValueError(f"unknown backend {b!r}; choose from {', '.join(theory.BACKENDS)}")
        params = {k: v for k, v in kv.items() if k not in ("cell", "backend", "out", "plot")}
        if len(names) == 1:
            theory.api.resolve_params(theory.cell(names[0]), params)
        if "out" in kv and len(names) > 1:
            raise ValueError("out=DIR needs a single cell")
        if "plot" in kv and len(names) > 1:
            raise ValueError("plot=phase needs a single cell")
    except ValueError as e:
        print(f"derive: error: {e}", file=sys.stderr)
        return 2
    if "plot" in kv:  # --- phase-diagram plot: writes DIR/<package>_phase.png, no kernels ---
        return _plot_phase(theory, names[0], kv.get("out", "."), params)
    for name in names:
        _derive_one(theory, name, backends, kv.get("out"), params if len(names) == 1 else {})
    return 0


# --- phase-diagram plot (theory/phase.py) -----------------------------------------------------
PLOTS = ("phase",)


def _plot_kind(k, v):
    if v not in PLOTS:
        raise ValueError(f"{k} must be one of: {', '.join(PLOTS)}; got {v!r}")
    return v


def _plot_phase(theory, name, out, params) -> int:
    from pathlib import Path

    from .phase import phase_diagram
    c = theory.cell(name)
    Path(out).mkdir(parents=True, exist_ok=True)
    d = phase_diagram(c.name, **params)
    path = d.plot(Path(out) / f"{c.package}_phase.png")
    print(f"{c.name}: phase diagram over {d.x} x {d.y} ({d.xs.size}x{d.ys.size}) -> {path}")
    return 0
# --- end phase-diagram plot -------------------------------------------------------------------


def _derive_one(theory, name, backends, out, params):
    from .derive import derive
    c = theory.cell(name)
    t0 = time.time()
    paths = theory.generate(c, out, backends)
    print(f"{c.name}: {c.description}")
    if hasattr(c, "summary_lines"):  # gated cells (theory.gated) describe themselves
        print("\n".join(c.summary_lines()))
    else:
        d = derive(c)
        print(f"  V(Q)  = {d.variance_map}")
        print(f"  chi(Q) = {d.chi}")
    gated = getattr(c, "carries_state", False)
    print("  assumes: single-time closure, exact at large width for untied weights; for tied weights "
          + ("NOT exact (gated cell: gate and stored state correlate)" if gated else "exact for same-time statistics"))
    print(f"  wrote {len(paths)} files in {paths[0].parent}  ({time.time() - t0:.1f} s)")
    if out is None and "numba" in backends:
        p = theory.parameters(c)
        p.update(params)
        shown = ", ".join(f"{k}={v:g}" for k, v in p.items())
        try:
            vals = {q: theory.predict(c.name, q, **p) for q in ("q_star", "Q_star", "chi", "xi")}
            print(f"  at {shown}:")
            print("    " + "  ".join(f"{k}={v:.6g}" for k, v in vals.items()))
        except theory.FixedPointError as e:
            print(f"  at {shown}: {e}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
