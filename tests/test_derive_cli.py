"""``derive list`` and ``derive all`` (theory/cli.py): the success paths.

``derive all`` over every built-in cell takes ~150 s here (measured 2026-12-04: 147 s wall, exit 0, checkout
unchanged), too slow for the suite; it is checked cheaply instead: (1) the dispatch — one derivation per
registered cell, default output directory, the given backends; (2) one real ``derive all`` restricted to one
cell, which must leave the checked-in files untouched (bytes and modification times: write_package rewrites
only files whose text differs, and the checked-in files are the regeneration, tests/test_regeneration.py).
"""
from pathlib import Path

import theory
from theory import cli
from theory.cells import is_builtin

ROOT = Path(__file__).resolve().parents[1]


def test_derive_list_prints_every_cell_name_and_exits_0(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == list(theory.cells())
    # user cells registered in this process by other tests are listed too (rightly); the checked-in
    # packages hold the built-in ones
    lines = [n for n in lines if is_builtin(n)]
    # independent of the registry: the cell names in the headers of the checked-in packages
    # ("# cell: NAME    kind: package"; studies such as dying-relu say "# study:" and are not cells)
    headers = [(p / "__init__.py").read_text().splitlines()[1] for p in (ROOT / "derivations").iterdir()
               if (p / "__init__.py").exists()]
    names = {h.split()[2] for h in headers if h.startswith("# cell: ")}
    assert len(names) >= 14 and set(lines) == names and len(lines) == len(set(lines))


def test_derive_all_derives_every_cell_into_its_default_directory(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_derive_one", lambda th, name, backends, out, params: calls.append(
        (name, backends, out, params)))
    assert cli.main(["all"]) == 0
    assert [c[0] for c in calls] == list(theory.cells())
    assert all(c[1:] == (("numba", "jax"), None, {}) for c in calls)
    calls.clear()
    assert cli.main(["all", "backend=numba"]) == 0
    assert len(calls) == len(theory.cells()) and all(c[1] == ("numba",) for c in calls)


def test_derive_all_on_a_consistent_checkout_rewrites_nothing(monkeypatch, capsys):
    cell = "vanilla-tanh"
    pkg = ROOT / "derivations" / theory.cell(cell).package
    files = sorted(p for p in pkg.iterdir() if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    monkeypatch.setattr(theory, "cells", lambda: [cell])
    assert cli.main(["all"]) == 0
    out = capsys.readouterr().out
    # every file of the checked-in package is generated (kernels, isometry, tied site, marker, docs)
    assert out.startswith(f"{cell}:") and f"wrote {len(files)} files in {pkg}" in out
    assert sorted(p for p in pkg.iterdir() if p.is_file()) == files
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
