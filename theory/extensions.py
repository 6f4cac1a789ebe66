"""Modules that extend the core on import: register quantities (``api.register_quantity``), cells
(``cells.register``), extra generated files (``render.EXTENSIONS``) or the behaviour of a family
of declarations (``theory.declare.registry``: renderer, core predictor, critical init, summary).  Listed here, imported by
``theory/__init__``; one line per module."""
MODULES = (
    "theory.studies.dying_relu",
    "theory.closures.gated_api",  # predict(..., closure=) of gated cells (registry.CORE_PREDICTORS)
    "theory.codegen.gated_render",  # their generated package (registry.RENDERERS); imports gated_derive (SUMMARIES)
    "theory.criticality.gated_critical",  # their critical_init (registry.CRITICAL_INITS)
    "theory.jacobian.isometry",
    "theory.jacobian.gated_isometry",  # isometry_mean of gated cells (registry.JACOBIAN_MOMENTS)
    "theory.jacobian.isometry_render",  # the isometry files of a generated package (render.EXTENSIONS)
    "theory.tied.api",  # predict(..., tied=True), trajectory(..., tied=True): real (tied-weight) networks
    "theory.tied.critical",  # critical_line(..., tied=True)
)


def load():
    import importlib
    for m in MODULES:
        importlib.import_module(m)
