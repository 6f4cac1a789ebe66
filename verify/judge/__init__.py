"""Theory against simulation: fixed points, trajectories and timescales (compare, gated), width sweeps, Jacobian spectra; verdicts."""
