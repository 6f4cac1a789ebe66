"""Write ``generator_0_4_0.npz``: every built-in cell's served quantities at random parameter points,
computed by the kernels of generator 0.4.0 (commit 8c8f106), the fixture of
``tests/test_generator_regression.py`` (issue 15's rule: a change of the generated files comes with a
test that the new kernels equal the previous ones to <= 1e-13 relative).

    git worktree add /tmp/old 8c8f106
    PYTHONPATH=/tmp/old .venv/bin/python tests/data/make_generator_regression.py tests/data/generator_0_4_0.npz

Points: each parameter is its default times U(0.6, 1.4) (gated cells U(0.6, 1.1), so that the slow
4-D correlation solves of the chaotic phase are not needed), a zero default becomes U(0, 0.3) for a
standard deviation and U(-0.5, 0.5) for a mean; Sigma = 1 at even points, 0.7 at odd points of the
single-field cells.  numba: every quantity of every cell; jax (theory.predict backend="jax"): the
cells named in JAX_CELLS.
"""
import sys
import warnings

import numpy as np

import theory

POINTS = 8
JAX_CELLS = ("vanilla-tanh", "minimalrnn", "gru")
SEED = 20261207


def served(cell: str) -> tuple:
    """The served quantities of ``cell``: its jax module's PROGRAMS (a tuple of groups before generator
    0.5.0, a dict after), flattened, in a fixed order."""
    programs = theory.kernels(cell, "jax").PROGRAMS
    groups = programs.values() if isinstance(programs, dict) else programs
    return tuple(sorted(q for g in groups for q in g))


def points(cell: str, rng) -> dict:
    c = theory.cell(cell)
    gated = cell.startswith(("gru", "lstm"))
    out = {}
    for n, v in theory.parameters(cell).items():
        if n in ("R",):
            out[n] = np.full(POINTS, float(v))
        elif n == "Sigma":
            out[n] = np.array([1.0 if gated or i % 2 == 0 else 0.7 for i in range(POINTS)])
        elif v == 0.0:
            out[n] = rng.uniform(-0.5, 0.5, POINTS) if n.startswith("mu") else rng.uniform(0.0, 0.3, POINTS)
        else:
            out[n] = float(v) * rng.uniform(0.6, 1.1 if gated else 1.4, POINTS)
    assert list(out) == list(c.param_names)
    return out


def main(path):
    rng = np.random.default_rng(SEED)
    data = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in theory.cells():
            p = points(cell, rng)
            data[f"{cell}|params"] = np.stack([p[n] for n in theory.cell(cell).param_names])
            mod = theory.kernels(cell, "numba")
            for q in served(cell):
                data[f"{cell}|{q}|numba"] = np.asarray(getattr(mod, q)(*[p[n] for n in theory.cell(cell).param_names]))
                if cell in JAX_CELLS:
                    data[f"{cell}|{q}|jax"] = np.asarray(theory.predict(cell, q, backend="jax", **p))
            print(cell, len(served(cell)), "quantities", flush=True)
    np.savez_compressed(path, **data)


if __name__ == "__main__":
    main(sys.argv[1])
