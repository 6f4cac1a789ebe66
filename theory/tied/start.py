"""Where a tied site process starts: the annealed fixed point's second moments (a shorter transient)."""
from __future__ import annotations

from .. import api


def annealed_start(mod, c, p: dict):
    """Initial second moments for :func:`theory.tied.engine.forward`: ``{component: Q*}`` of the annealed
    fixed point of cell ``c`` at scalar parameters ``p`` where it exists and is positive (else 1 for that
    component), or 1 for every component where the annealed solve fails.  ``mod``: the cell's generated
    ``tied_numba`` module (its ``COMPONENTS`` and ``HIDDEN``)."""
    comps = mod.COMPONENTS
    try:
        if len(comps) == 1:
            q = float(api.predict(c, "Q_star", **p))
            return {comps[0]: q if q > 0 else 1.0}
        return {k: float(api.predict(c, f"Q_{k}_star" if k != mod.HIDDEN else "Q_star", **p)) or 1.0 for k in comps}
    except (api.FixedPointError, ValueError):
        return 1.0


__all__ = ["annealed_start"]
