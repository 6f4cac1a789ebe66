"""The parts of ``verify`` that run in a worker of ``verify all`` as well as in the parent
(:mod:`verify.commands.suite_parts`): the standard points of the simulated cells (:func:`suite_points`) and
the Jacobian-spectra run (:func:`run_spectra`).  Imported by :mod:`verify.cli` and
:mod:`verify.commands.suite_parts`; imports neither."""
from __future__ import annotations

import sys

from .cliutil import BadInput, check_out, progress_printer


def run_spectra(s: dict, progress=None) -> int:
    from ..judge.spectra_report import run_points, standard_points

    check_out(s["out"])
    progress = progress if progress is not None else progress_printer(s["quiet"])
    try:
        points = standard_points(s["width"], s["ensemble"], s["seed"], cells=s["cells"], steps=s["steps"],
                                 ks_steps=s["ks_steps"], regimes=s["regimes"])
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    ks_cells = s.get("ks_cells", s["cells"])
    points = [type(p)(**{**p.__dict__, "weights": s["weights"], "ks_weights": s.get("ks_weights", s["weights"]),
                         "law": s.get("law", "auto"),
                         "ks_steps": p.ks_steps if p.cell in ks_cells else ()}) for p in points]
    if progress:
        progress(f"verify spectra: {len(points)} cells x {len(s['weights'])} weight laws x {len(s['regimes'])} "
                 f"regimes, N={s['width']}, E={s['ensemble']}, T={list(s['steps'])}")
    rc, _ = run_points(points, s["out"], progress=progress, plots=s["plots"], meta={"argv": sys.argv[1:]},
                       samples_dir=s.get("samples"))
    return rc


def suite_points(cells, *, width, ensemble, seed, dtype, probes, quiet, progress=None) -> list:
    """Simulate and evaluate the standard points (verify.commands.suite) of ``cells``; verdicts not yet set
    (the Bonferroni family is the whole report)."""
    from ..judge.compare import verify_point
    from ..engine.sharding import family_of
    from .suite import standard_points

    configs = []
    for cell in cells:
        configs += standard_points(cell, width=width, ensemble=ensemble, seed=seed, dtype=dtype, probes=probes)
    if progress:
        progress(f"verify all: {len(configs)} points on {len(cells)} cells ({', '.join(cells)}), "
                 f"N={width}, E={ensemble}")
    # One compiled program per family of cells (verify.engine.sharding.family_of: the activations of
    # the vanilla and of the feed-forward nets), both regimes, every point: it runs the family's
    # longest horizon and each point keeps its first T steps (the same statistics as a T-step run).
    horizon = family_horizons(configs)
    points = []
    for i, cfg in enumerate(configs):
        if progress:
            progress(f"point {i + 1}/{len(configs)}: {cfg.cell} {cfg.label} T={cfg.steps}")
        points.append(verify_point(cfg, progress=progress, finalize=False,
                                   program_steps=horizon[family_of(cfg.cell)]))
    return points


def family_horizons(configs) -> dict:
    """family (verify.engine.sharding.family_of) -> the longest horizon of its points."""
    from ..engine.sharding import family_of

    horizon = {}
    for cfg in configs:
        horizon[family_of(cfg.cell)] = max(horizon.get(family_of(cfg.cell), 0), cfg.steps)
    return horizon


__all__ = ["run_spectra", "suite_points", "family_horizons"]
