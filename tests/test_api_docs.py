"""The API reference is built from the docstrings (issue 21 item 6): ``python docs/build_api.py``
writes pdoc's HTML for ``signalprop`` (and its framework bridges), ``theory`` and ``verify``.
CI installs the ``docs`` extra and sets SIGNALPROP_REQUIRE_EXTRAS=1, so the build test cannot skip
there; elsewhere it skips without pdoc, saying why."""

import html
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "build_api.py"


def _load():
    spec = importlib.util.spec_from_file_location("build_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plain_run(doc: str) -> str:
    """The longest run of the docstring's first paragraph between code spans and roles (plain text,
    which pdoc renders as it is), whitespace normalised."""
    pieces = re.split(r"``[^`]*``|:\w+:`[^`]*`|\*\*?", doc.split("\n\n")[0])
    return max((" ".join(p.split()) for p in pieces), key=lambda p: len(p.split()))


def test_the_reference_documents_the_import_name_its_bridges_and_the_theory_from_their_docstrings(tmp_path):
    if not os.environ.get("SIGNALPROP_REQUIRE_EXTRAS"):
        pytest.importorskip("pdoc", reason='the docs extra is not installed (pip install -e ".[docs]")')
    import signalprop.torch
    import theory

    index = _load().build(tmp_path / "api")
    assert index.is_file()
    pages = {"signalprop.torch.critical_init_": tmp_path / "api" / "signalprop" / "torch.html",
             "theory.predict": tmp_path / "api" / "theory.html"}
    for name, obj in (("signalprop.torch.critical_init_", signalprop.torch.critical_init_),
                      ("theory.predict", theory.predict)):
        page = html.unescape(re.sub(r"<[^>]+>", "", pages[name].read_text()))
        phrase = _plain_run(inspect.getdoc(obj))
        assert len(phrase.split()) >= 4 and phrase in " ".join(page.split()), (name, phrase)
    for page in ("verify/engine.html", "verify/simulators/projected.html", "signalprop/flax.html"):
        assert (tmp_path / "api" / page).is_file(), page


def test_without_pdoc_the_build_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pdoc", None)
    with pytest.raises(SystemExit, match=r'pip install -e "\.\[docs\]"'):
        _load().build(tmp_path)


def test_an_unknown_key_is_refused(capsys):
    assert _load().main(["outdir=x"]) == 2
    assert "unknown key 'outdir'" in capsys.readouterr().err
