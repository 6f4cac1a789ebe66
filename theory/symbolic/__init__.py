"""Symbolic derivation: Gaussian expectations and their closed forms, the mean-field maps of each family."""
