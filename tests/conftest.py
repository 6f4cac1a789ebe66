"""Test setup: float64 JAX, the cell registry, and shared parameter points.

Reference values come from ``tests/reference.py`` (scipy quadrature, written independently of the
derivation engine and the generated kernels), never from the code under test.
"""
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

# Compiled XLA programs persist for the session (and across local runs): the suite runs in several
# xdist workers and CLI subprocesses, each of which would otherwise compile the same kernels again.
# Caching compiled code changes no value a test checks.  The CLI's own switch is used: a set
# SIGNALPROP_JAX_CACHE (a folder or "off", inherited by subprocesses) wins; else a git-ignored folder.
os.environ.setdefault("SIGNALPROP_JAX_CACHE",
                      os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "jax-tests"))
from verify.cli import enable_compilation_cache  # noqa: E402

enable_compilation_cache()


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject addopts): one worker per core, at most 4 — each worker imports jax and
    numba and holds its own compiled kernels (~1.5 GB), so more would trade memory for little time."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


sys.path.insert(0, os.path.dirname(__file__))

import theory  # noqa: E402

from theory.declare.gated import GatedCell  # noqa: E402

#: multi-gate cells (theory.declare.gated): their own tests (tests/test_gated_*.py); tests/reference.py
#: and the registry-driven core tests cover the single-field cells in CELLS only.
GATED = [c for c in theory.cells() if isinstance(theory.cell(c), GatedCell)]
CELLS = [c for c in theory.cells() if c not in GATED]
FEEDFORWARD = [c for c in CELLS if c.startswith("feedforward-")]
VANILLA = [c for c in CELLS if c.startswith("vanilla-")]


def ordered_point(cell):
    """An ordered-phase parameter point (chi < 1) with a finite fixed point for every cell."""
    if cell.startswith("feedforward-"):
        return dict(sigma_w=0.8, sigma_b=0.3)
    if cell.startswith("vanilla-"):
        return dict(sigma_w=0.8, sigma_v=0.7, sigma_b=0.3, R=1.0, Sigma=1.0)
    return dict(sigma_w=2.0, sigma_v=1.0, sigma_b=0.0, mu_b=1.0, R=1.0, Sigma=1.0)


def chaotic_point(cell):
    """A chaotic point (chi > 1, finite q*) — none exists for relu/linear (unbounded activations)."""
    if cell.endswith(("-relu", "-linear")):
        return None
    if cell.startswith("feedforward-"):
        return dict(sigma_w=2.0, sigma_b=0.3)
    if cell.startswith("vanilla-"):
        return dict(sigma_w=2.5, sigma_v=0.5, sigma_b=0.2, R=1.0, Sigma=1.0)
    return dict(sigma_w=6.0, sigma_v=0.5, sigma_b=0.0, mu_b=0.0, R=1.0, Sigma=1.0)


def differing_inputs_point(cell):
    """Inputs that keep differing (Sigma < 1): c* < 1 everywhere (recurrent cells only)."""
    if cell.startswith("feedforward-"):
        return None
    p = ordered_point(cell)
    p["Sigma"] = 0.4
    return p


@pytest.fixture
def getkey():
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 1000))
    return lambda: next(keys)


@pytest.fixture
def run_cli():
    """``run_cli("theory.cli" | "verify.cli", *args, cwd=...)``: the command in a fresh interpreter, headless
    (no DISPLAY, matplotlib's default backend), this checkout on PYTHONPATH; the CompletedProcess."""
    root = str(Path(__file__).resolve().parents[1])

    def run(module, *args, cwd):
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
        env["PYTHONPATH"] = root
        return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd,
                              env=env, timeout=600)
    return run
