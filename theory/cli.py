"""``derive``: write/refresh generated kernels for a cell and print a short summary.

    derive cell=minimalrnn [backend=numba,jax] [out=DIR] [sigma_w=2.0 ...]
    derive all [backend=...]   # every built-in cell (no parameters, no out=)
    derive list            # cell names
    derive cell=vanilla-tanh plot=phase [out=DIR] [sigma_v=0 ...]   # phase-diagram PNG
    derive --help

key=value arguments are parsed strictly: an unknown key or cell, a non-number or an invalid
parameter gives a one-line error and exit code 2.  Parameters only shape the example evaluation of
one cell, so `derive all sigma_w=...` is refused (exit 2).

Files: a package is written only into a folder that does not exist yet, is empty, or holds an earlier
generation of the same cell (marked by the file .signalprop-generated, written with every package).
Everything is rendered first, written to a temporary folder on the same filesystem and then moved in
with atomic renames (unchanged files are left alone); a failure undoes the renames, so the folder is
left as it was.  out= being a file, lying under a file, unwritable or too long, a foreign non-empty
folder or a read-only generated file: one-line error, exit 2, nothing written.
"""
from __future__ import annotations

import math
import os
import sys
import time

from .codegen.outdir import TMP_PREFIX, OutputError, check_path, check_target
from .declare.registry import SUMMARIES, lookup

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
    from .declare.params import SPECS
    lines = [USAGE, "keys:", "  cell      one of: " + ", ".join(theory.cells()),
             "  backend   comma list of numba,jax (default: numba,jax)",
             "  out       output directory (default: derivations/<package> beside the theory package —",
             "            the repo in an editable checkout, site-packages when installed;",
             "            user-declared cells: $SIGNALPROP_CACHE or ~/.cache/signalprop); must be new, empty",
             "            or an earlier generation of the same cell (.signalprop-generated)",
             "  plot      phase: write <out>/<package>_phase.png (annealed chi = 1 or lambda_max = 1 line; xi and",
             "            isometry spread, or xi_q for gated cells over sigma_w (all gates) x memory-gate bias;",
             "            out default .; the PNG is replaced atomically)",
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
    from .declare.params import SPECS
    allowed = {"cell": lambda k, v: v, "backend": lambda k, v: v, "out": lambda k, v: v}
    allowed.update({n: to_float for n in SPECS})
    allowed.update({n: to_float for c in theory.cells() for n in theory.parameters(c)})  # per-gate names
    allowed["plot"] = _plot_kind  # --- phase-diagram plot (theory/criticality/phase.py) ---
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
        elif params:
            raise ValueError(f"parameters ({', '.join(params)}) need a single cell: derive cell=NAME "
                             f"{' '.join(f'{k}=...' for k in params)}")
        if "out" in kv and len(names) > 1:
            raise ValueError("out=DIR needs a single cell")
        if "plot" in kv and len(names) > 1:
            raise ValueError("plot=phase needs a single cell")
        # every path problem is reported here, before the (slow) derivation and rendering
        if "plot" in kv:
            _check_plot(theory.cell(names[0]), kv.get("out", "."))
        else:
            for name in names:
                c = theory.cell(name)
                check_target(kv.get("out") or theory.api.default_out_dir(c), c.name)
    except ValueError as e:  # OutputError is a ValueError
        return _error(e)
    try:
        if "plot" in kv:  # --- phase-diagram plot: writes DIR/<package>_phase.png, no kernels ---
            return _plot_phase(theory, names[0], kv.get("out", "."), params)
        for name in names:
            _derive_one(theory, name, backends, kv.get("out"), params)
    except OutputError as e:  # a write failed after the checks: nothing of that package changed
        return _error(e)
    return 0


def _error(e) -> int:
    print(f"derive: error: {e}", file=sys.stderr)
    return 2


# --- phase-diagram plot (theory/criticality/phase.py) -----------------------------------------------------
PLOTS = ("phase",)


def _plot_kind(k, v):
    if v not in PLOTS:
        raise ValueError(f"{k} must be one of: {', '.join(PLOTS)}; got {v!r}")
    return v


def _check_plot(c, out):
    """Before any work: ``out`` can receive the PNG (every cell has a phase diagram)."""
    png = check_path(out) / f"{c.package}_phase.png"
    if os.path.lexists(png) and not png.is_file():
        raise OutputError(f"{png} exists and is not a file")
    if os.path.lexists(png) and not os.access(png, os.W_OK):
        raise OutputError(f"{png} is read-only")


def _plot_phase(theory, name, out, params) -> int:
    from pathlib import Path

    from .criticality.phase import phase_diagram
    c = theory.cell(name)
    d = phase_diagram(c.name, **params)
    out = Path(out)
    path = out / f"{c.package}_phase.png"
    tmp = out / f"{TMP_PREFIX}{os.getpid()}-{c.package}_phase.png"
    try:  # the figure goes to a temporary file beside the target, then one atomic rename
        out.mkdir(parents=True, exist_ok=True)
        d.plot(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {e.filename or path}: {e.strerror or e}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    print(f"{c.name}: phase diagram over {d.x} x {d.y} ({d.xs.size}x{d.ys.size}) -> {path}")
    return 0
# --- end phase-diagram plot -------------------------------------------------------------------


def _derive_one(theory, name, backends, out, params):
    from .symbolic.derive import derive
    c = theory.cell(name)
    t0 = time.time()
    paths = theory.generate(c, out, backends)
    print(f"{c.name}: {c.description}")
    describe = lookup(SUMMARIES, c)  # gated cells: theory.symbolic.gated_derive.summary_lines
    if describe is not None:
        print("\n".join(describe(c)))
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
