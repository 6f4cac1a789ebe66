"""Registry of hand-written simulators, keyed by theory cell name.

``SIMULATORS[cell]`` is a :class:`~verify.simulators.base.Simulator`. Adding a cell (GRU, LSTM)
means one file with ``draw_weights``, ``draw_inputs`` and ``step``, plus one line here; a theory
cell with no entry is reported as "not simulated" by :mod:`verify.judge.compare`, never skipped.
"""

from __future__ import annotations

from . import feedforward, gru, gru_reset_after, lstm, minimalrnn, vanilla
from .activations import ACTIVATIONS
from .base import Simulator
from .gated_base import GatedSimulator

SIMULATORS: dict[str, Simulator] = {}
for _act in ACTIVATIONS:
    SIMULATORS[f"feedforward-{_act}"] = feedforward.make(_act)
    SIMULATORS[f"vanilla-{_act}"] = vanilla.make(_act)
SIMULATORS[minimalrnn.SIMULATOR.cell] = minimalrnn.SIMULATOR


#: Gated cells with a multi-component state (GRU, LSTM): their own protocol, driven by verify.judge.gated.
GATED_SIMULATORS: dict[str, GatedSimulator] = {s.cell: s for s in (gru.SIMULATOR, gru_reset_after.SIMULATOR,
                                                                  lstm.SIMULATOR)}


def get_gated(cell: str) -> GatedSimulator:
    try:
        return GATED_SIMULATORS[cell]
    except KeyError:
        raise ValueError(f"no gated simulator for {cell!r}; gated: {', '.join(sorted(GATED_SIMULATORS))}") from None


def simulated_cells() -> list[str]:
    return sorted(SIMULATORS)


def get(cell: str) -> Simulator:
    try:
        return SIMULATORS[cell]
    except KeyError:
        raise ValueError(
            f"no simulator for cell {cell!r}; simulated cells: {', '.join(simulated_cells())}"
        ) from None


__all__ = ["SIMULATORS", "GATED_SIMULATORS", "Simulator", "GatedSimulator", "get", "get_gated", "simulated_cells"]
