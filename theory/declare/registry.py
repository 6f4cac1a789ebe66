"""Behaviour registries keyed by declaration type.

Declaration objects (:class:`theory.declare.cell.Cell`, :class:`theory.declare.gated.GatedCell`, ...) are pure
data: they import no derivation, rendering, api or critical module.  A module that knows how to
render, predict or initialise a family of declarations registers its function here, keyed by the
declaration's type, on import (``theory.extensions.MODULES`` lists those modules, imported by
``theory/__init__``); the generic code (``theory.codegen.render``, ``theory.api``, ``theory.criticality.critical``,
``theory.cli``) looks the function up instead of asking the object.

This module imports nothing from the project, so anything may import it without a circle.
"""
from __future__ import annotations

#: type -> ``render_package(cell, backends) -> {file name: text}`` (the whole generated package)
RENDERERS: dict = {}
#: type -> ``predict_core(cell, quantity, backend, params, options)`` (core names with ``closure=`` etc.)
CORE_PREDICTORS: dict = {}
#: type -> ``critical_init(cell, **constraints)`` (the family's own critical initialisation)
CRITICAL_INITS: dict = {}
#: type -> ``trajectory(cell, steps, Q0, C0, **params) -> {name: array}`` (families whose state has
#: several components; single-field cells use theory.api.trajectory's own loop)
TRAJECTORIES: dict = {}
#: type -> name of the quantity that is 1 on the critical surface (default ``"chi"``; gated cells:
#: ``"lambda_max"``, the top eigenvalue of the perturbation map)
CRITICAL_QUANTITY: dict = {}
#: type -> ``initializers(cell, params, **options) -> {name: init(key, shape, dtype)}`` (the weights
#: and biases that realise a parameter set, ``jax.nn.initializers`` convention; used by
#: ``CriticalInit.initializers``)
INITIALIZERS: dict = {}
#: type -> {name: ``evaluate(cell, backend, params, extra)``}: the Jacobian moments (``isometry_mean``,
#: ``isometry_variance``, ...) a family of declarations serves through ``predict``
JACOBIAN_MOMENTS: dict = {}
#: type -> ``summary_lines(cell) -> [str]`` (what the ``derive`` command prints about the cell)
SUMMARIES: dict = {}


def register(table: dict, kind: type, fn):
    """``table[kind] = fn``; returns ``fn`` (usable as a decorator factory's result)."""
    table[kind] = fn
    return fn


def lookup(table: dict, obj):
    """The function registered in ``table`` for ``type(obj)`` or its nearest base class, else None."""
    for t in type(obj).__mro__:
        if t in table:
            return table[t]
    return None


__all__ = ["RENDERERS", "CORE_PREDICTORS", "CRITICAL_INITS", "INITIALIZERS", "CRITICAL_QUANTITY", "TRAJECTORIES", "SUMMARIES", "register", "lookup"]
