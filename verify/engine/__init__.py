"""Simulation of real networks (independent of theory): the scanned per-network step, sharded ensembles, Jacobian spectra."""
