"""signalprop theory: cells declared once in SymPy, mean-field maps derived, kernels generated.

Public API::

    theory.cells()                                   # names
    theory.predict("minimalrnn", "chi", sigma_w=2.0) # float / array (backend="numba"|"jax")
    theory.trajectory("vanilla-tanh", 50, Q0=1.0)    # iterate the maps
    theory.critical_line("vanilla-tanh", q_star=[0.1, 1.0])
"""
from .api import (BACKENDS, QUANTITIES, FixedPointError, cell, cells, critical_line, generate, kernels,
                  parameters, predict, quantities, register, register_quantity, status, trajectory)
from .declare.cell import Cell, Field
from .declare.noise import with_noise
from .declare.activations import sigmoid
from .criticality.critical import critical_init
from .criticality.phase import phase_diagram
from .jacobian.spectrum import spectrum

__all__ = ["BACKENDS", "QUANTITIES", "FixedPointError", "cell", "cells", "critical_line", "generate", "kernels",
           "parameters", "predict", "quantities", "register", "register_quantity", "status", "trajectory", "Cell", "Field", "with_noise", "sigmoid",
           "critical_init", "phase_diagram", "spectrum"]

# the families' registrations (quantities, renderers, critical inits, tied solver) into the registries
# of theory.api and theory.declare.registry; listed in one place, theory/extensions.py
from . import extensions as _extensions  # noqa: E402

_extensions.load()
