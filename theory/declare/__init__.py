"""Declarations: what a cell is (pure data, validated on construction), its parameters and activations."""
