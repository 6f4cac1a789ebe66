"""Typed validation of public arguments: one place that says what a number, a count or a choice is.

Every public function (``predict``, ``trajectory``, ``critical_line``, ``spectrum``, ``population``, ...)
checks its arguments here before any work, so a bad argument gives one ``ValueError`` naming the
parameter, never numpy's or Python's own message from deep inside a kernel.

* A **number** is an int, a float, a numpy real scalar or a numeric array (or a jax array/tracer,
  passed through): strings, bools, ``None``, dicts and object arrays are refused (``"1.5"`` or
  ``True`` silently read as 1.5 or 1.0 hide a caller's bug).
* A **count** (``steps``, ``T``, ``n``, ``size``, ...) is a finite integer (an integer-valued float
  is accepted) in ``[low, limit]``.  The limits bound the work one call can start; they are module
  data (:data:`LIMITS`), so a user who means it raises them: ``theory.validate.LIMITS["steps"] = 10**8``.
"""
from __future__ import annotations

import numbers

import numpy as np

#: largest count each argument accepts (work bound per call; raise an entry to override)
LIMITS = {
    "steps": 1_000_000,   # trajectory: one Python-level map evaluation per step (~10 us each)
    "T": 100_000,         # isometry / spectrum horizon
    "n": 100_000,         # spectrum grid points
    "panels": 4096,       # Gauss-Legendre panels of the per-unit law
    "size": 10_000_000,   # population-dynamics population
}


def _is_traced(v) -> bool:
    try:
        import jax
        return isinstance(v, (jax.Array, jax.core.Tracer))
    except Exception:  # pragma: no cover - jax missing
        return False


def number(name: str, value, owner: str = ""):
    """``value`` if it is a real number or a numeric array, else ValueError naming ``name``.

    Returns the value unchanged (numbers, numpy arrays, jax arrays); lists/tuples of numbers are
    returned as float arrays."""
    where = f"{owner}: " if owner else ""
    if _is_traced(value):
        return value
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes, dict, set)):
        raise ValueError(f"{where}{name} must be a real number or an array of numbers, got {value!r} "
                         f"({type(value).__name__})")
    if isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Complex):
        raise ValueError(f"{where}{name} must be real, got {value!r}")
    try:
        arr = np.asarray(value)
    except Exception:
        raise ValueError(f"{where}{name} must be a real number or an array of numbers, got {value!r}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{where}{name} must be a real number or an array of numbers, got {value!r} "
                         f"(element type {arr.dtype})")
    return value if isinstance(value, np.ndarray) else arr.astype(float)


def finite(name: str, value, owner: str = ""):
    """A real number (or array) with every entry finite; ValueError naming ``name`` otherwise."""
    v = number(name, value, owner)
    if not _is_traced(v) and not np.all(np.isfinite(np.asarray(v, dtype=float))):
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}{name} must be finite, got {value!r}")
    return v


def scalar(name: str, value, owner: str = "") -> float:
    """``float(value)`` for one finite real number (not an array); ValueError naming ``name`` otherwise."""
    v = finite(name, value, owner)
    if np.ndim(v) != 0:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}{name} must be one number, got an array of shape {np.shape(v)}")
    return float(v)


def count(name: str, value, low: int = 1, limit: int | None = None, owner: str = "") -> int:
    """``int(value)`` for a finite integer ``low <= value <= limit`` (``limit`` defaults to
    ``LIMITS[name]``, none if absent); ValueError naming ``name`` otherwise."""
    where = f"{owner}: " if owner else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}{name} must be an integer >= {low}, got {value!r} ({type(value).__name__})")
    if not np.isfinite(float(value)) or int(value) != value:
        raise ValueError(f"{where}{name} must be an integer >= {low}, got {value!r}")
    n = int(value)
    if n < low:
        raise ValueError(f"{where}{name} must be an integer >= {low}, got {value!r}")
    limit = LIMITS.get(name) if limit is None else limit
    if limit is not None and n > limit:
        raise ValueError(f"{where}{name}={n} exceeds the work bound {limit} for one call; if you mean it, "
                         f"raise theory.validate.LIMITS[{name!r}]")
    return n


def choice(name: str, value, options, owner: str = ""):
    """``value`` if it is one of ``options``; ValueError listing them otherwise."""
    if not isinstance(value, str) or value not in options:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}unknown {name} {value!r}; choose one of {list(options)}")
    return value


def flag(name: str, value) -> bool:
    """``value`` if it is exactly True or False (a truthy string or 1 is a caller's bug)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


__all__ = ["LIMITS", "number", "finite", "scalar", "count", "choice", "flag"]
