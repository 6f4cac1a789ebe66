"""Build the API reference from the docstrings (issue 21 item 6), with pdoc.

    pip install -e ".[docs]"
    python docs/build_api.py              # writes docs/api/index.html (about 10 s)
    python docs/build_api.py out=DIR

Documents the import name ``signalprop`` (the theory's API it serves, and the PyTorch, Flax and
Equinox bridges), then ``theory`` and ``verify`` with their subpackages.  The bridges import their
framework, so a module whose framework is not installed is left out and named on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the documented modules, in the order of the reference's index
MODULES = ("signalprop", "signalprop.torch", "signalprop.flax", "signalprop.equinox", "signalprop.gates",
           "signalprop.benettin", "theory", "verify", "verify.engine", "verify.simulators", "verify.statistics",
           "verify.judge", "verify.studies", "verify.reporting", "verify.commands", "verify.simulators.base",
           "verify.simulators.projected")
#: what each optional module needs (left out, and named, when it is missing)
NEEDS = {"signalprop.torch": "torch", "signalprop.flax": "flax", "signalprop.equinox": "equinox"}


def documented_modules() -> list[str]:
    """:data:`MODULES` whose optional framework is importable."""
    out = []
    for name in MODULES:
        need = NEEDS.get(name)
        if need is not None:
            try:
                importlib.import_module(need)
            except ImportError:
                print(f"build_api: {name} left out ({need} is not installed)", file=sys.stderr)
                continue
        out.append(name)
    return out


def build(out: Path) -> Path:
    """Write the reference to ``out``; returns ``out / "index.html"``.  Raises ``SystemExit`` with the
    install command when pdoc is missing."""
    try:
        import pdoc
        import pdoc.render
    except ImportError:
        raise SystemExit('build_api: pdoc is not installed; pip install -e ".[docs]"') from None
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))
    pdoc.render.configure(docformat="restructuredtext", math=True, footer_text="signalprop API reference")
    pdoc.pdoc(*documented_modules(), output_directory=out)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv))
    unknown = set(args) - {"out"}
    if unknown:
        print(f"build_api: unknown key {sorted(unknown)[0]!r}; valid: out=DIR", file=sys.stderr)
        return 2
    index = build(Path(args.get("out", ROOT / "docs" / "api")))
    print(f"API reference: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
