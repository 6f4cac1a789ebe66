"""Evaluating a kernel over a large parameter grid, with progress on long calls (issue 22 item 1).

A numba ufunc over a 1000 × 1000 grid is one call that can run for minutes (ξ: hours) and says
nothing.  :func:`evaluate` gives the same values (the same ufunc, elementwise) in slices along the
broadcast grid's longest axis, so that a call that has run for :data:`QUIET_SECONDS` reports on
stderr how far it is and how long the rest should take::

    predict vanilla-tanh xi: 120000/1000000 points (12 %), 31 s, about 3.8 min left

Slices are views of the broadcast arguments (no grid is materialised), so memory stays that of
the output.  ``progress``: None (report only past :data:`QUIET_SECONDS`), True (report every slice
from the first), False (never).
"""
from __future__ import annotations

import sys
import time

import numpy as np

#: points per slice: ~0.1-3 s of ξ/χ evaluation per slice on one core
SLICE_POINTS = 1 << 12
#: a call reports once it has run this long (short calls stay silent)
QUIET_SECONDS = 2.0
#: seconds between two reports
EVERY_SECONDS = 2.0


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else (f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h")


class Progress:
    """Reports ``done`` of ``total`` points of a call labelled ``label`` on ``stream`` (stderr): once the
    call has run :data:`QUIET_SECONDS` (``progress`` None) or from the first update (True), at most every
    :data:`EVERY_SECONDS`, with the time the rest should take at the rate so far; never if False."""

    def __init__(self, label: str, total: int, progress=None, stream=None):
        self.label, self.total, self.progress = label, total, progress
        self.stream = sys.stderr if stream is None else stream
        self.t0 = self.last = time.perf_counter()
        self.reported = False

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if self.progress is False or done >= self.total or done <= 0:
            return
        if (self.progress is True or now - self.t0 >= QUIET_SECONDS) and (not self.reported or now - self.last >= EVERY_SECONDS):
            left = (now - self.t0) * (self.total - done) / done
            print(f"{self.label}: {done}/{self.total} points ({100 * done / self.total:.0f} %), "
                  f"{_minutes(now - self.t0)}, about {_minutes(left)} left", file=self.stream, flush=True)
            self.reported, self.last = True, now

    def finish(self) -> None:
        if self.reported:
            print(f"{self.label}: {self.total} points in {_minutes(time.perf_counter() - self.t0)}",
                  file=self.stream, flush=True)


def evaluate(fn, arrays, label: str, progress=None, stream=None):
    """``fn(*arrays)`` (an elementwise, broadcasting kernel), evaluated in slices of the broadcast
    grid's longest axis when the grid has more than :data:`SLICE_POINTS` points; returns the array
    ``fn`` would return (a scalar for scalar arguments).  Reports to ``stream`` (stderr) as the
    module docstring says."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    total = int(np.prod(shape))  # 1 for scalars
    if progress is False or total <= SLICE_POINTS:
        return fn(*arrays)
    axis = int(np.argmax(shape))  # slice the longest axis (a (1, 10^6) grid is sliced too)
    views = [np.moveaxis(np.broadcast_to(a, shape), axis, 0) for a in arrays]
    moved = views[0].shape
    per_row = total // moved[0]
    rows = max(1, SLICE_POINTS // per_row)
    out = None
    report = Progress(label, total, progress, stream)
    for i in range(0, moved[0], rows):
        part = fn(*[v[i:i + rows] for v in views])
        if out is None:
            out = np.empty(moved, dtype=np.asarray(part).dtype)
        out[i:i + rows] = part
        report.update(min(moved[0], i + rows) * per_row)
    report.finish()
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))  # C order, as the ufunc's own output
