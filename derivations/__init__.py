"""Generated kernels, one package per cell (``derivations.minimalrnn``, ``derivations.vanilla_tanh``, ...).

Everything below this package except this file is written by ``derive`` (theory/render.py) and must
not be edited by hand; regeneration reproduces it byte for byte (tests/test_regeneration.py).
"""
