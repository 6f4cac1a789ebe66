"""``verify study=trainability [cell=NAME] [knob=P] [values=a,b,..] [T=1,2,4,..] [seeds=S] [width=N]
[steps=K] [batch=B] [lr=X] [classes=K] [eval=E] [threshold=A] [tied_xi=true|false] [out=DIR] [<param>=v ...]``
and ``verify study=trainability compare=inits [schemes=critical,pytorch,glorot,orthogonal] ...`` (item 3:
the library's tied critical initialisation against PyTorch's default, Glorot and orthogonal).

Runs :func:`verify.studies.trainability.run_study` and writes ``DIR/report.json`` and
``DIR/trainability.png`` (default ``DIR``: ``trainability_<cell>``).  Defaults per cell choose a knob
whose ξ spans about 0.5–20 steps: vanilla-tanh σ_w with a weak input (σ_v = 0.1, σ_b = 0; ξ 0.7–18),
the minimalRNN's μ_b, the LSTM's forget-gate and the GRU's update-gate bias (ξ 0.3–18 at the defaults).
"""
from __future__ import annotations

import sys
import time

from ..commands.cliutil import BadInput, check_out, parse_bool, parse_float, parse_int

#: (knob, values, parameter overrides) per cell
DEFAULTS = {
    "vanilla-tanh": ("sigma_w", (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0), {"sigma_v": 0.1, "sigma_b": 0.0}),
    "minimalrnn": ("mu_b", (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0), {}),
    "lstm": ("mu_b_f", (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0), {}),
    "gru": ("mu_b_z", (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0), {}),
    "gru-reset-after": ("mu_b_z", (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0), {}),
}
T_DEFAULT = (1, 2, 4, 8, 16, 32, 64)
OPTIONS = ("study", "cell", "knob", "values", "T", "seeds", "width", "steps", "batch", "lr", "classes", "eval",
           "threshold", "tied_xi", "out", "quiet", "compare", "schemes")
SCHEME_NAMES = ("critical", "pytorch", "glorot", "orthogonal")


def parse(kv: dict) -> dict:
    """The study's arguments from ``key=value`` strings; :class:`BadInput` on anything wrong."""
    import theory

    from .trainability_task import Training
    cell = kv.get("cell", "vanilla-tanh")
    if cell not in DEFAULTS:
        raise BadInput(f"study=trainability: cell must be one of {', '.join(DEFAULTS)}; got {cell!r}")
    knob, values, overrides = DEFAULTS[cell]
    names = theory.cell(cell).param_names
    # the knob grid's weak-input defaults do not apply to compare=inits: every scheme sees the cell's defaults
    params = dict(overrides) if kv.get("compare", "knob") == "knob" else {}
    for k, v in kv.items():
        if k in OPTIONS:
            continue
        if k not in names:
            raise BadInput(f"study=trainability: unknown key {k!r}; options {', '.join(OPTIONS)} or parameters of "
                           f"{cell}: {', '.join(names)}")
        params[k] = parse_float(k, v)
    try:
        theory.api.resolve_params(theory.cell(cell), params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    knob = kv.get("knob", knob)
    if knob not in names or knob in ("R", "Sigma"):
        raise BadInput(f"knob must be an initialisation parameter of {cell}, got {knob!r}")
    if "values" in kv:
        values = tuple(parse_float("values", v) for v in kv["values"].split(","))
    Ts = tuple(parse_int("T", v, 1) for v in kv["T"].split(",")) if "T" in kv else T_DEFAULT
    cfg = Training(width=parse_int("width", kv.get("width", "48"), 2),
                   classes=parse_int("classes", kv.get("classes", "4"), 2),
                   steps=parse_int("steps", kv.get("steps", "300"), 1),
                   batch=parse_int("batch", kv.get("batch", "64"), 1),
                   learning_rate=parse_float("lr", kv.get("lr", "3e-3")),
                   eval_size=parse_int("eval", kv.get("eval", "512"), 1))
    if not cfg.learning_rate > 0:
        raise BadInput("lr must be > 0")
    threshold = parse_float("threshold", kv.get("threshold", "0.8"))
    if not 1.0 / cfg.classes < threshold < 1.0:
        raise BadInput(f"threshold must lie between chance (1/{cfg.classes}) and 1, got {threshold}")
    compare = kv.get("compare", "knob")
    if compare not in ("knob", "inits"):
        raise BadInput(f"compare must be knob or inits, got {compare!r}")
    schemes = tuple(kv.get("schemes", ",".join(SCHEME_NAMES)).split(","))
    bad = [x for x in schemes if x not in SCHEME_NAMES]
    if bad or len(set(schemes)) != len(schemes):
        raise BadInput(f"schemes must be distinct names from {', '.join(SCHEME_NAMES)}; got {kv.get('schemes')!r}")
    if compare == "knob" and "schemes" in kv:
        raise BadInput("schemes= goes with compare=inits")
    return {"cell": cell, "knob": knob, "values": values, "Ts": Ts, "compare": compare, "schemes": schemes,
            "seeds": tuple(range(parse_int("seeds", kv.get("seeds", "3"), 1))), "cfg": cfg, "threshold": threshold,
            "tied_xi": parse_bool("tied_xi", kv.get("tied_xi", "false")), "params": params,
            "out": check_out(kv.get("out", f"trainability_{cell}")),
            "quiet": parse_bool("quiet", kv.get("quiet", "false"))}


def main(kv: dict) -> int:
    """``verify study=trainability ...``: 0 on success (the data decide nothing about the exit status:
    a poor fit is a result, not a failure); bad input raises :class:`BadInput`, which ``verify.cli``
    reports with exit status 2."""
    from .trainability import run_inits, run_study, write_report
    a = parse(kv)  # BadInput: verify.cli reports it (exit 2)
    t0 = time.time()
    common = dict(seeds=a["seeds"], cfg=a["cfg"], threshold=a["threshold"], tied_xi=a["tied_xi"], params=a["params"],
                  progress=None if a["quiet"] else sys.stderr)
    try:
        if a["compare"] == "inits":
            r = run_inits(a["cell"], a["Ts"], schemes=a["schemes"], **common)
        else:
            r = run_study(a["cell"], a["knob"], a["values"], a["Ts"], **common)
    except ValueError as exc:  # e.g. no critical initialisation at the given parameters: said, not a traceback
        raise BadInput(str(exc)) from None
    out = write_report(r, a["out"])
    for label, row, xi in zip(r["labels"], r["rows"], r["xi"]["annealed"]):
        print(f"{r['knob']}={label:<10} T_max={row['T_max']:<4g} [{row['T_max_lo']:g}, {row['T_max_hi']:g}]  "
              f"annealed xi={xi:.3g}")
    fa = r["fit"]["annealed"]
    print("fit log T_max ~ log xi (annealed): " + (f"slope {fa['slope']:.3f}, R^2 {fa['r2']:.3f}, "
                                                  f"c = {fa['c_at_slope_1']:.3g} at slope 1" if "slope" in fa
                                                  else fa["note"]))
    print(f"report: {out / 'report.json'} ({time.time() - t0:.0f} s)")
    return 0
