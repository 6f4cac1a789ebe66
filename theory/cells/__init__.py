"""The registry of declared cells: ``register`` adds one, ``get`` looks one up by name.

The built-in cell modules only declare (``CELLS``, pure data) and import nothing from here;
``_load_builtin`` imports them on first use and registers their cells, so the registry and the
cell modules form no import circle."""
from __future__ import annotations

from ..declare.cell import Cell

_REGISTRY: dict[str, Cell] = {}
_BUILTIN: set = set()


def register(cell: Cell, builtin: bool = False) -> Cell:
    """Add ``cell`` to the registry (replacing a cell of the same name) and return it.

    Built-in cells have their kernels checked in under ``derivations/``; user cells are generated
    on first use into a cache directory."""
    if cell.name in _BUILTIN and not builtin:
        raise ValueError(f"{cell.name!r} is a built-in cell; give your cell another name")
    _REGISTRY[cell.name] = cell
    if builtin:
        _BUILTIN.add(cell.name)
    return cell


def is_builtin(name: str) -> bool:
    _load_builtin()
    return name in _BUILTIN


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get(name: str) -> Cell:
    _load_builtin()
    if not isinstance(name, str):  # a declaration object (Cell, or another family's)
        kinds = tuple({type(c) for c in _REGISTRY.values()} | {Cell})
        if not isinstance(name, kinds):
            raise ValueError(f"a cell is a name (one of {sorted(_REGISTRY)}) or a declaration "
                             f"({', '.join(sorted(k.__name__ for k in kinds))}), got {name!r} ({type(name).__name__})")
        return name
    try:
        return _REGISTRY[name.replace("_", "-")]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose one of {sorted(_REGISTRY)}") from None


_loaded = False


def _load_builtin():
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import feedforward, gru, gru_reset_after, lstm, minimalrnn, vanilla
    for mod in (feedforward, gru, gru_reset_after, lstm, minimalrnn, vanilla):
        for c in mod.CELLS:
            register(c, builtin=True)
