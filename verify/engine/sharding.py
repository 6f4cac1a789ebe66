"""Ensemble runner: memory plan, chunks, and a ``Mesh`` over the ensemble axis (07 §7).

Networks are independent, so the ensemble axis is sharded over all devices with
``shard_map`` (``in_specs=P("ens")`` for the network indices); nothing communicates until the
per-network statistics come back to the host. The plan is made *before* anything is allocated:

.. math::
    M_{\\rm net} \\approx b\\,[c_W n_W N^2 + N(s + 3P) + T\\,n_{\\rm stats}],

with ``b`` bytes per number, ``n_W`` N x N matrices per network (vanilla and minimalRNN 2 with
``V``; feed-forward 1), ``c_W = WEIGHT_COPIES`` live copies while a matrix is generated, ``s``
state-like vectors and ``P`` Jacobian probes. Untied runs regenerate weights each step, so there is
no factor ``T``. Networks per device per chunk ``= floor(HEADROOM * free / M_net)`` is only the
first size tried: the chunk program is compiled and XLA's memory analysis of it decides
(:func:`fit_chunk`: the chunk shrinks until the measured need fits ``HEADROOM`` of the free memory;
one network per device that does not fit is refused with the measured number, before any run).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .. import COMPILER_OPTIONS
from .simulate import RunShape, family_ensemble_function, family_key, stat_names
from ..simulators import SIMULATORS, get as get_simulator
from ..simulators.base import Simulator

AXIS = "ens"
BYTES = {"float32": 4, "float64": 8}
# While one N x N Gaussian matrix is generated, the raw Threefry bits, the float conversion and
# the finished matrix coexist: three live copies per matrix.
WEIGHT_COPIES = 3
# N-vectors per network besides probes: two states, two pre-activations, two new states, two
# inputs, the recurrent field and its predecessor, gate values, tangents; rounded up.
VECTOR_SLOTS = 16
# Use at most this fraction of the free memory: XLA temporaries, fragmentation, the host copy.
HEADROOM = 0.5


class MemoryPlanError(RuntimeError):
    """One network does not fit on one device."""


@dataclass(frozen=True)
class MemoryPlan:
    bytes_per_network: int  # the formula's first guess (module docstring)
    free_bytes_per_device: int
    devices: int
    chunk: int  # networks per chunk, a multiple of ``devices``
    chunks: int
    measured_bytes: int = 0  # XLA's memory analysis of the compiled chunk program, per device (0: not measured)

    def as_dict(self) -> dict:
        return {k: int(v) for k, v in self.__dict__.items()}


def bytes_per_network(sim: Simulator, shape: RunShape, starts: int = 1) -> int:
    """The formula of the module docstring; ``starts`` runs from several initial states share the
    weights (:func:`verify.engine.simulate.family_network`), so only the vectors and statistics scale."""
    b = BYTES[shape.dtype]
    n = shape.width
    weights = WEIGHT_COPIES * sim.n_square * n * n
    vectors = starts * n * (VECTOR_SLOTS + 3 * shape.probes)
    stats = starts * shape.steps * len(stat_names(sim))
    return b * (weights + vectors + stats)


def free_bytes_per_device(devices: Sequence) -> int:
    """Accelerators: ``bytes_limit - bytes_in_use``. CPU: ``MemAvailable`` shared by the host's
    CPU devices (with ``--xla_force_host_platform_device_count`` they share one RAM)."""
    dev = devices[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        avail = int(info["MemAvailable"].strip().split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return avail // len(devices)


def plan_memory(
    sim: Simulator,
    shape: RunShape,
    ensemble: int,
    devices: Sequence,
    free_bytes: Optional[int] = None,
    max_chunk: Optional[int] = None,
    starts: int = 1,
) -> MemoryPlan:
    """Choose the chunk size, or raise :class:`MemoryPlanError` naming the bytes needed."""
    if ensemble < 2:
        raise ValueError("ensemble must be >= 2 (the standard error needs two networks)")
    n_dev = len(devices)
    per_net = bytes_per_network(sim, shape, starts)
    free = free_bytes_per_device(devices) if free_bytes is None else int(free_bytes)
    per_dev = int(HEADROOM * free // per_net)
    if per_dev < 1:
        raise MemoryPlanError(
            f"{sim.cell} at width {shape.width} ({shape.dtype}) needs about "
            f"{per_net / 2**30:.3g} GiB per network ({per_net} bytes, x{1 / HEADROOM:g} headroom); "
            f"only {free / 2**30:.3g} GiB free per device"
        )
    per_dev = min(per_dev, math.ceil(ensemble / n_dev))
    if max_chunk is not None:
        per_dev = max(1, min(per_dev, max_chunk // n_dev))
    chunk = per_dev * n_dev
    return MemoryPlan(per_net, free, n_dev, chunk, math.ceil(ensemble / chunk))


def measured_bytes(compiled) -> int:
    """Bytes one device needs to run ``compiled`` (a ``jax.stages.Compiled``), from XLA's memory
    analysis: arguments + outputs + temporaries + generated code, less aliased buffers.  0 where the
    backend gives no analysis."""
    m = compiled.memory_analysis()
    if m is None:
        return 0
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               + m.generated_code_size_in_bytes - m.alias_size_in_bytes)


#: the chunk each program last fitted, and what it measured: ``{program key: (chunk, bytes)}``
_FITTED: dict = {}


def fit_chunk(compile_at: Callable[[int], object], chunk: int, step: int, free: int, label: str,
              program: Optional[tuple] = None):
    """Compile the chunk program (``compile_at(chunk)``) and shrink ``chunk`` (a multiple of ``step``,
    the devices) until XLA's measured need fits ``HEADROOM * free`` bytes per device.  The formula of
    the module docstring only picks the first size to try: it was measured 3.4x optimistic for an
    untied vanilla RNN at N = 4000 (the batched weight draw holds several N x N buffers per network at
    once), so the compiled program decides.  Returns ``(compiled, chunk, measured_bytes)``; raises
    :class:`MemoryPlanError` with the measured bytes when one network per device does not fit.

    ``program`` (hashable; what identifies the program apart from the chunk): a later call starts from
    the chunk this program last fitted when that is no larger than ``chunk`` and its measured bytes
    still fit, so a repeated run reuses its compiled program instead of re-fitting to the free memory
    of the moment (which moves, and gave a new chunk size and a recompilation on every call)."""
    chunk = max(step, int(chunk) // step * step)
    budget = HEADROOM * free
    if program is not None and program in _FITTED:
        fitted, fitted_need = _FITTED[program]
        if fitted <= chunk and fitted_need <= budget:
            chunk = fitted
    while True:
        compiled = compile_at(chunk)
        need = measured_bytes(compiled)
        if need <= budget:
            if program is not None:
                _FITTED[program] = (chunk, need)
            return compiled, chunk, need
        if chunk <= step:
            raise MemoryPlanError(
                f"{label}: {chunk // step} network(s) per device need {need / 2**30:.3g} GiB "
                f"(XLA memory analysis of the compiled program, x{1 / HEADROOM:g} headroom); only "
                f"{free / 2**30:.3g} GiB free per device: use a smaller width")
        smaller = int(budget // (need / chunk)) // step * step
        chunk = max(step, min(smaller, chunk - step))


def make_mesh(devices: Optional[Sequence] = None) -> Mesh:
    return Mesh(np.array(list(devices or jax.devices())), (AXIS,))


def family_of(cell: str) -> tuple[str, ...]:
    """The registered cells sharing ``cell``'s compiled program (:func:`verify.engine.simulate.family_key`),
    in registry order; ``cell`` alone if it is not registered."""
    sim = get_simulator(cell)
    key = family_key(sim)
    return tuple(c for c, s in SIMULATORS.items() if s is sim or family_key(s) == key) or (cell,)


@lru_cache(maxsize=64)
def _family_program(cells: tuple, shape: RunShape, devices: tuple) -> Callable:
    """``jit(shard_map(vmap(family_network)))`` for a family of cells, ``shape.tied`` ignored
    (the regime is a runtime argument), cached so that every cell, regime and parameter point of
    the family reuses one compiled program (on a CPU compilation dominates a run's time)."""
    mesh = make_mesh(devices)
    fn = family_ensemble_function(tuple(get_simulator(c) for c in cells), shape)
    sharded = jax.shard_map(
        fn, mesh=mesh, in_specs=(P(), P(AXIS), P(), P(), P(), P(), P()), out_specs=P(AXIS),
        check_vma=False,
    )
    return jax.jit(sharded, compiler_options=COMPILER_OPTIONS)


def _program(cell: str, shape: RunShape, devices: tuple) -> Callable:
    """``(master, indices, params, Q0, C0) -> {stat: (E, shape.steps)}`` for ``cell`` in regime
    ``shape.tied``, through its family's shared program."""
    cells = family_of(cell)
    fn = _family_program(cells, replace(shape, tied=False), devices)
    which, tied = np.int32(cells.index(cell)), np.bool_(shape.tied)
    return lambda master, idx, p, Q0, C0: fn(master, idx, p, Q0, C0, which, tied)


@lru_cache(maxsize=64)
def _compiled_program(cells: tuple, shape: RunShape, devices: tuple, chunk: int, params: tuple, starts: int):
    """The family program lowered and compiled for ``chunk`` networks, ``params`` (names) and
    ``starts`` initial states: called directly (no second compilation), and measured."""
    fn = _family_program(cells, shape, devices)
    idx = jax.ShapeDtypeStruct((chunk,), np.int32, sharding=NamedSharding(make_mesh(devices), P(AXIS)))
    vec = np.zeros(starts, dtype=np.float64)
    return fn.lower(jax.random.key(0), idx, {n: 0.0 for n in params}, vec, vec, np.int32(0),
                    np.bool_(False)).compile()


def check_memory(cell: str, shape: RunShape, ensemble: int, devices: Optional[Sequence] = None,
                 free_bytes: Optional[int] = None, max_chunk: Optional[int] = None, starts: int = 1):
    """``(compiled, plan)``: the memory plan measured on the compiled program (:func:`fit_chunk`),
    before anything runs; raises :class:`MemoryPlanError` naming the bytes it would need.  Callers
    that run several widths check them all first (a width ladder is refused before its first run)."""
    sim = get_simulator(cell)
    devices = tuple(devices or jax.devices())
    n_dev = len(devices)
    free = free_bytes_per_device(devices) if free_bytes is None else int(free_bytes)
    try:
        guess = plan_memory(sim, shape, ensemble, devices, free, max_chunk, starts=starts)
        first = guess.chunk
    except MemoryPlanError:  # the formula is only the first guess; the compiled program decides
        first = n_dev
    cells = family_of(cell)
    base = replace(shape, tied=False)
    names = tuple(sim.param_names)
    compiled, chunk, need = fit_chunk(
        lambda ch: _compiled_program(cells, base, devices, ch, names, starts), first, n_dev, free,
        f"{cell} at width {shape.width} ({shape.dtype}, {shape.steps} steps)",
        program=(cells, base, devices, names, starts))
    plan = MemoryPlan(bytes_per_network(sim, shape, starts), free, n_dev, chunk, math.ceil(ensemble / chunk), need)
    return compiled, plan


def _sharded_function(cell: str, shape: RunShape, devices: tuple) -> Callable:
    """``jit(shard_map(vmap(simulate_network)))`` of one cell and regime (the family's program)."""
    return _program(cell, shape, devices)


def run_ensemble(
    cell: str,
    params: dict,
    shape: RunShape,
    *,
    seed: int,
    ensemble: int,
    Q0: float,
    C0: float,
    devices: Optional[Sequence] = None,
    free_bytes: Optional[int] = None,
    max_chunk: Optional[int] = None,
    first_network: int = 0,
    progress: Optional[Callable[[str], None]] = None,
    program_steps: Optional[int] = None,
    program_starts: Optional[int] = None,
) -> tuple[dict[str, np.ndarray], MemoryPlan]:
    """Simulate networks ``first_network .. first_network+ensemble-1`` of master ``seed``.

    Returns ``({stat: float64 array (ensemble, steps)}, plan)``. Network ``k`` always gets key
    ``fold_in(key(seed), k)``, so results do not depend on chunking or device count.

    ``program_steps`` (>= ``shape.steps``): run the program compiled for that many steps and keep
    the first ``shape.steps``, so runs of different lengths share one compiled program.  Step ``t``
    depends only on steps ``<= t`` and its keys ``fold_in(., t)``, so the statistics are the same
    as those of a ``shape.steps`` run.  ``program_starts``: see :func:`run_starts`.
    """
    runs, plan = run_starts(cell, params, shape, seed=seed, ensemble=ensemble, starts=[(Q0, C0)],
                            devices=devices, free_bytes=free_bytes, max_chunk=max_chunk,
                            first_network=first_network, progress=progress,
                            program_steps=program_steps, program_starts=program_starts)
    return runs[0], plan


def run_starts(
    cell: str,
    params: dict,
    shape: RunShape,
    *,
    seed: int,
    ensemble: int,
    starts: Sequence[tuple[float, float]],
    devices: Optional[Sequence] = None,
    free_bytes: Optional[int] = None,
    max_chunk: Optional[int] = None,
    first_network: int = 0,
    progress: Optional[Callable[[str], None]] = None,
    program_steps: Optional[int] = None,
    program_starts: Optional[int] = None,
) -> tuple[list[dict[str, np.ndarray]], MemoryPlan]:
    """:func:`run_ensemble` from each initial state ``(Q0, C0)`` of ``starts``, in one program.

    The runs use the same samples, as separate runs with the same ``seed`` would (their results
    are the same); each step's weights are drawn once for all of them.  ``program_starts``
    (>= ``len(starts)``): the number of starts the program is compiled for (the last start is
    repeated), so calls with fewer starts reuse it.  Returns one stats dict per start."""
    sim = get_simulator(cell)
    sim.check_params(params)
    if shape.tied and not sim.recurrent:
        raise ValueError(f"{cell} draws fresh weights per layer: tied must be false")
    starts = [(float(q), float(c)) for q, c in starts]
    if not starts:
        raise ValueError("need at least one initial state")
    for Q0, C0 in starts:
        if not (Q0 >= 0 and abs(C0) <= Q0):
            raise ValueError(f"initial state needs Q0 >= 0 and |C0| <= Q0; got Q0={Q0}, C0={C0}")
    k = len(starts)
    padded = starts + [starts[-1]] * max(0, int(program_starts or 0) - k)
    devices = tuple(devices or jax.devices())
    steps = shape.steps
    if program_steps is not None and program_steps > steps:
        shape = replace(shape, steps=int(program_steps))
    compiled, plan = check_memory(cell, shape, ensemble, devices, free_bytes, max_chunk, starts=len(padded))
    which, tied = np.int32(family_of(cell).index(cell)), np.bool_(shape.tied)
    sharding = NamedSharding(make_mesh(devices), P(AXIS))
    master = jax.random.key(seed)
    p = {name: float(params[name]) for name in sim.param_names}
    q0 = np.array([q for q, _ in padded], dtype=np.float64)
    c0 = np.array([c for _, c in padded], dtype=np.float64)
    parts: list[dict] = []
    t0 = time.perf_counter()
    for c in range(plan.chunks):
        start = first_network + c * plan.chunk
        idx = jax.device_put(np.arange(start, start + plan.chunk, dtype=np.int32), sharding)
        out = jax.device_get(compiled(master, idx, p, q0, c0, which, tied))
        parts.append(out)
        if progress is not None:
            progress(
                f"  {cell} {'tied' if shape.tied else 'untied'} N={shape.width}: chunk {c + 1}/"
                f"{plan.chunks} ({plan.chunk} networks) {time.perf_counter() - t0:.1f}s"
            )
    stats = {
        name: np.concatenate([np.asarray(o[name], dtype=np.float64) for o in parts])[:ensemble]
        for name in parts[0]
    }  # (ensemble, starts, program steps)
    return [{name: np.ascontiguousarray(v[:, i, :steps]) for name, v in stats.items()} for i in range(k)], plan
