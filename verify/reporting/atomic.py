"""Report files written whole or not at all, each carrying its run's id, and the run manifest.

Every file a ``verify`` command writes into its ``out=`` folder (``report.json``, ``spectra.json``,
PNG figures, eigenvalue samples) goes through :func:`open_atomic`: it is written under a temporary
name in the same folder (``.<name>.tmp-<random>``) and renamed onto its final name with
``os.replace`` only when complete, so a reader sees the previous file or the new one, never a
partial one, and a failure mid-write leaves the previous file as it was and no temporary file.

A **run** is one ``verify`` command.  Its id (:func:`current_run`: a UTC time stamp and 8 random hex
digits) is in ``$SIGNALPROP_RUN_ID``, so worker processes share it; the JSON reports hold it as
``"run_id"``, the PNGs as the text chunk ``signalprop-run-id``.  When a folder's files are in place,
:func:`write_manifest` writes ``run-manifest.json`` *last*: the run id and the sha256 of every file
of the run.  :func:`begin` (called before a folder's first file) removes a manifest left by another
run, so a folder with no manifest, or files that do not hash to it, is an incomplete run.

Imports nothing from the package.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import struct
import time
import zlib
from pathlib import Path

#: environment variable holding the id of the current run (inherited by worker processes)
RUN_ENV = "SIGNALPROP_RUN_ID"
#: the manifest of a folder's run, written last
MANIFEST = "run-manifest.json"
#: PNG text chunk key holding the run id
PNG_KEY = "signalprop-run-id"


def start_run() -> str:
    """Start a new run: a fresh id, set in ``$SIGNALPROP_RUN_ID`` (workers started later inherit it).
    Returns the id."""
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)
    os.environ[RUN_ENV] = run
    return run


def current_run() -> str:
    """The id of the current run: ``$SIGNALPROP_RUN_ID``, or a new run started now (library callers
    that write several reports and want distinct ids call :func:`start_run` themselves)."""
    return os.environ.get(RUN_ENV) or start_run()


@contextlib.contextmanager
def open_atomic(path, mode: str = "wb"):
    """Context manager: a file object open on a temporary name beside ``path``; on a clean exit the
    data is flushed to disk and the file renamed onto ``path`` (one ``os.replace``); on an exception
    the temporary file is removed and ``path`` is untouched.  ``mode``: ``"wb"`` or ``"w"`` (UTF-8)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    f = open(tmp, mode.replace("w", "x"), **({} if "b" in mode else {"encoding": "utf-8"}))
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`open_atomic`); returns ``path``."""
    with open_atomic(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path, doc: dict, **dumps_kw) -> Path:
    """``doc`` with ``"run_id"`` (:func:`current_run`) added first, as JSON, written atomically;
    returns ``path``.  ``dumps_kw`` go to ``json.dumps`` (``indent``, ``default``)."""
    return write_text(path, json.dumps({"run_id": current_run(), **doc}, **dumps_kw))


def save_figure(fig, path, **savefig_kw) -> Path:
    """``fig.savefig`` to ``path`` atomically (format from the suffix); a PNG carries the run id as
    the text chunk :data:`PNG_KEY`.  Returns ``path``."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt == "png":
        savefig_kw["metadata"] = {**savefig_kw.get("metadata", {}), PNG_KEY: current_run()}
    with open_atomic(path, "wb") as f:
        fig.savefig(f, format=fmt, **savefig_kw)
    return path


def png_text(path) -> dict:
    """The ``tEXt`` chunks of PNG file ``path`` as {key: value}; empty for a file that is not a PNG."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return {}
    out, i = {}, 8
    while i + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        if kind == b"tEXt" and b"\0" in body:
            k, v = body.split(b"\0", 1)
            out[k.decode("latin-1")] = v.decode("latin-1")
        elif kind == b"zTXt" and b"\0" in body:
            k, v = body.split(b"\0", 1)
            out[k.decode("latin-1")] = zlib.decompress(v[1:]).decode("latin-1")
        if kind == b"IEND":
            break
        i += 12 + n
    return out


def begin(folder) -> None:
    """Before the first file of this run goes into ``folder``: remove a manifest of another run (its
    files are about to be replaced, so it no longer describes the folder)."""
    path = Path(folder) / MANIFEST
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("run_id")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError):
        old = None
    if old != current_run():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def write_manifest(folder, names) -> Path:
    """Write ``folder/run-manifest.json`` (atomically, last): ``{"run_id", "complete": true, "files":
    {name: sha256}}`` for the files ``names`` of this run in ``folder``.  Returns its path."""
    folder = Path(folder)
    files = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in sorted(set(names))}
    return write_text(folder / MANIFEST, json.dumps({"run_id": current_run(), "complete": True, "files": files},
                                                    indent=1))


def check_manifest(folder) -> str:
    """The run id of ``folder``'s complete run: the manifest exists and every file it lists hashes to
    its entry.  Raises ``ValueError`` saying what is missing or differs (an incomplete run)."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder}: no {MANIFEST} (the run did not finish)") from None
    for name, want in doc["files"].items():
        try:
            got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except FileNotFoundError:
            raise ValueError(f"{folder}: {name} listed in {MANIFEST} is missing") from None
        if got != want:
            raise ValueError(f"{folder}: {name} is not the file of run {doc['run_id']} (sha256 differs)")
    return doc["run_id"]
