"""Served quantities of a generated jax module, each written once and emitted twice: as its own
public function and inside the function that serves its whole group from **one** solve.

A quantity is a :class:`Served`: a name, a docstring and a body (indented statements ending in
``return``) that reads the solved state.  A group is the quantities that need the same solve (the Q*
solve, or the C* solve) and the statements that solve it (``solve``).  :func:`render_group` emits

* ``def <name>(<params>):`` per quantity — the solve, then its body (jit/vmap/grad as before), and
* ``def <function>(<params>):`` — the solve once, each body as a local function of the solved state,
  and a dict ``{name: value}``.

``theory.api`` compiles the group function (``PROGRAMS`` maps it to its names): tracing and compiling
one solve instead of one per quantity is what a grid evaluation costs on a CPU (issue 22 item 4; the
LSTM's correlation group: 13 traced solves took ~6 s to trace and ~12 s to compile cold).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Served:
    """One served quantity: ``body`` (4-space indented statements ending in ``return``) reads the
    variables that the group's ``solve`` statements define."""
    name: str
    doc: str
    body: str


@dataclass(frozen=True)
class Group:
    """Quantities served by one solve: ``function`` is the name of the function that returns them all."""
    function: str
    doc: str
    solve: str
    served: tuple


def render_quantity(served: Served, params: str, solve: str, decorator: str = "") -> str:
    """Source of one quantity's public function: ``decorator``, the solve, then its body."""
    return f'{decorator}def {served.name}({params}):\n    """{served.doc}"""\n{solve}{served.body}'


def render_group(group: Group, params: str) -> list:
    """Source of each quantity's public function, then of the group's function (a list of strings)."""
    out = [render_quantity(s, params, group.solve) for s in group.served]
    inner = "".join(f"\n    def value_{s.name}():\n{textwrap.indent(s.body, '    ')}" for s in group.served)
    result = "".join(f"        {s.name!r}: value_{s.name}(),\n" for s in group.served)
    out.append(f'def {group.function}({params}):\n    """{group.doc}"""\n{group.solve}{inner}\n'
               f"    return {{\n{result}    }}\n")
    return out


def programs_line(groups) -> str:
    """The ``PROGRAMS`` constant of a generated jax module: group function -> the quantities it serves
    (``theory.api.jax_value`` compiles the group function once for all of them)."""
    mapping = {g.function: tuple(s.name for s in g.served) for g in groups}
    return ("# served quantities by the solve they need: each group's function computes them all from one solve\n"
            f"PROGRAMS = {mapping!r}")
