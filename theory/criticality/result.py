"""The one result type of :func:`theory.critical_init`, for every cell and both theories.

A :class:`CriticalInit` says which theory it solved (``"annealed"``: untied weights, the mean-field
closure; ``"tied"``: the real network with the same W at every step, the DMFT solver of 08), which
criterion it met (``"chi = 1"`` for single-field cells, ``"lambda_max = 1"`` for gated cells, the
tied ``"lambda_max = exp(-1/xi)"``, ...), the full parameter set, what the theory predicts there,
and how it was found.  ``initializers()`` turns the parameters into ``jax.nn.initializers``-style
functions through the initialiser registered for the cell's declaration type
(:data:`theory.declare.registry.INITIALIZERS`).

Names in ``predicted`` and ``details`` read as attributes or items (``r.chi``, ``r["lambda_max"]``,
``r["value"]``), so the per-family results of earlier versions keep working.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

THEORIES = ("annealed", "tied")


@dataclass(frozen=True)
class CriticalInit:
    """A critical initialisation and what holds there.

    ``cell``: the cell's name; ``params``: every parameter of the cell at the solution;
    ``theory``: ``"annealed"`` or ``"tied"``; ``criterion``: the equation solved, e.g. ``"chi = 1"``;
    ``feasible``: False when the criterion could not be met (``message`` says why; ``params`` then holds
    the last point tried or the given parameters); ``method``: how it was solved; ``predicted``: the
    theory's values at ``params`` (``chi`` or ``lambda_max``, ``xi``/``xi_q``, ``q_star``, standard
    errors of the tied solver as ``*_se``); ``details``: what the solve used (``weights``, ``T``,
    ``solve_for``, ``value``, ``paths``, ...)."""

    cell: str
    params: dict
    theory: str
    criterion: str
    feasible: bool
    message: str
    method: str = ""
    predicted: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.theory not in THEORIES:
            raise ValueError(f"theory must be one of {THEORIES}, got {self.theory!r}")
        overlap = set(self.predicted) & set(self.details)
        if overlap:  # a name must mean one thing when read as r[name]
            raise ValueError(f"names in both predicted and details: {sorted(overlap)}")

    def __getattr__(self, name):
        # only called when normal lookup fails; read the dicts through __dict__ so that a half-built
        # object (copy, pickle) does not recurse
        d = self.__dict__
        for part in ("predicted", "details"):
            if name in d.get(part, ()):
                return d[part][name]
        raise AttributeError(f"{type(self).__name__} has no {name!r}; predicted: {sorted(d.get('predicted', ()))}, "
                             f"details: {sorted(d.get('details', ()))}")

    def __getitem__(self, key):
        if key in self.keys():
            return getattr(self, key)
        raise KeyError(key)

    def keys(self) -> list:
        """Every name readable as ``r[name]``: the fields, then ``predicted`` and ``details``."""
        return [f.name for f in fields(self)] + list(self.predicted) + list(self.details)

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def get(self, key, default=None):
        return self[key] if key in self else default

    def initializers(self, **options) -> dict:
        """Initialisers ``(key, shape, dtype) -> array`` realising ``params`` for this cell's family
        (single-field cells: ``{"W", "V", "b"}``, ``weights=`` and ``in_axis=`` options; gated cells:
        per gate and stacked, :func:`theory.criticality.gated_init.initializers`)."""
        from .. import api
        from ..declare.registry import INITIALIZERS, lookup
        if not self.feasible:
            raise ValueError(f"{self.cell}: no critical point to initialise at: {self.message}")
        c = api.cell(self.cell)
        make = lookup(INITIALIZERS, c)
        if make is None:
            raise ValueError(f"{self.cell}: no initialisers registered for {type(c).__name__} declarations")
        if "weights" not in options and "weights" in self.details:
            options["weights"] = self.details["weights"]
        return make(c, self.params, **options)

    def initializer(self, name: str, **options):
        """One entry of :meth:`initializers`."""
        return self.initializers(**options)[name]


__all__ = ["CriticalInit", "THEORIES"]
