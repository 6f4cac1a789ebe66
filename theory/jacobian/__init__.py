"""Input-output Jacobians: dynamical-isometry moments and the spectral densities of J J^T."""
