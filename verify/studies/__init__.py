"""Studies beyond the mean-field core: dying ReLU (born-dead networks)."""
