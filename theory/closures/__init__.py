"""Numerical closures of gated cells beyond the generated Gaussian kernels (population dynamics)."""
