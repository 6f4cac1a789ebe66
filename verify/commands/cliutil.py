"""What the ``verify`` command lines share: strict ``key=value`` parsing (:func:`split_pairs`,
:func:`parse_int`, :func:`parse_float`, :func:`parse_bool`, :func:`parse_choice`, raising
:class:`BadInput`), ``tied=`` -> :data:`REGIMES`, and the stderr progress printer
(:func:`progress_printer`).  Used by :mod:`verify.cli`, :mod:`verify.commands.gated_cli`,
:mod:`verify.studies.dying_relu`, :mod:`verify.commands.suite_runs`; imports nothing from the package."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

#: ``tied=`` value -> weight regimes simulated
REGIMES = {"true": ("tied",), "false": ("untied",), "both": ("untied", "tied")}


class BadInput(ValueError):
    """A one-line message for the user; exit status 2."""


def check_out(path: str) -> Path:
    """``out=`` checked before any simulation (issue 18): the folder is created if missing and must take a
    file (a probe written and removed).  A path at an existing file, under a file, unwritable or too long
    -> :class:`BadInput` with the path and the reason (exit 2), instead of an ``OSError`` after the run."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BadInput(f"out={path}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".verify-probe-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"out={path}: cannot write there ({exc.strerror or exc})") from None
    return p


def parse_int(key: str, v: str, lo: int) -> int:
    try:
        x = int(v)
    except ValueError:
        raise BadInput(f"{key} must be an integer, got {v!r}") from None
    if x < lo:
        raise BadInput(f"{key} must be >= {lo}, got {x}")
    return x


def parse_float(key: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise BadInput(f"{key} must be a number, got {v!r}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise BadInput(f"{key} must be finite, got {v!r}")
    return x


def parse_bool(key: str, v: str) -> bool:
    if v.lower() not in BOOL:
        raise BadInput(f"{key} must be true or false, got {v!r}")
    return BOOL[v.lower()]


def parse_choice(key: str, v: str, choices) -> str:
    if v not in choices:
        raise BadInput(f"{key} must be one of {', '.join(choices)}; got {v!r}")
    return v


def split_pairs(args: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in args:
        if "=" not in a or a.startswith("="):
            raise BadInput(f"expected key=value, got {a!r} (see verify --help)")
        k, v = a.split("=", 1)
        if k in out:
            raise BadInput(f"key {k!r} given twice")
        if v == "":
            raise BadInput(f"{k} has an empty value")
        out[k] = v
    return out


def progress_printer(quiet: bool) -> Optional[Callable[[str], None]]:
    if quiet:
        return None
    t0 = time.perf_counter()
    return lambda msg: print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


__all__ = ["BOOL", "REGIMES", "BadInput", "parse_int", "parse_float", "parse_bool", "parse_choice",
           "split_pairs", "progress_printer"]
