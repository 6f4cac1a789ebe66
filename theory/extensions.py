"""Modules that extend the core on import: register quantities (``api.register_quantity``), cells
(``cells.register``) or extra generated files (``render.EXTENSIONS``).  Listed here, imported by
``theory/__init__``; one line per module."""
MODULES = (
    "theory.studies.dying_relu",
    "theory.gated_api",
    "theory.isometry",
    "theory.critical",
    "theory.phase",      # theory.phase_diagram
    "theory.spectrum",   # theory.spectrum(cell, T=..., weights=...): callable module (cheap: numpy only)
    "theory.tied.api",   # predict(..., tied=True), trajectory(..., tied=True): real (tied-weight) networks
)


def load():
    import importlib
    for m in MODULES:
        importlib.import_module(m)
