"""Code generation: SymPy printers, quadrature rules, templates that render numba/jax kernels and derivation.md, writing and trusting packages."""
