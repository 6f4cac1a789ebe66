"""``xi_from_lambda``: a relaxation time from a per-step factor, with its delta-method SE.  Used by
:mod:`verify.judge.gated` and :mod:`verify.reporting.gated_plots`; imports nothing from the package."""
from __future__ import annotations

import math


def xi_from_lambda(lam: float, se: float) -> tuple[float, float]:
    """ξ = -1/ln λ and its delta-method SE, SE_λ / (λ ln²λ)."""
    if not 0 < lam < 1:
        return math.inf, math.nan
    return -1.0 / math.log(lam), se / (lam * math.log(lam) ** 2)


__all__ = ["xi_from_lambda"]
