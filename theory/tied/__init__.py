"""Tied-weight (real-network) theory: the single-site process of dynamical mean-field theory (08).

:mod:`~theory.tied.site` reads the site process off a declaration, :mod:`~theory.tied.render` prints it
into the generated ``tied_numba.py``/``tied_jax.py``, :mod:`~theory.tied.engine` solves it forward in
time, :mod:`~theory.tied.api` serves ``theory.predict(..., tied=True)`` and ``theory.trajectory(..., tied=True)``.
"""
