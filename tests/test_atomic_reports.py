"""Issue 18 item 1 (reports): every report file is written whole or not at all, and all files of
one ``verify`` run carry the same run id, listed by the run manifest written last."""
import json
import os

import pytest

from verify.reporting import atomic


@pytest.fixture(autouse=True)
def _own_run_id(monkeypatch):
    monkeypatch.delenv(atomic.RUN_ENV, raising=False)  # restored after each test


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_a_failure_mid_write_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    atomic.write_json(path, {"x": 1})
    before = path.read_bytes()

    def crash(fd):  # the data is in the temporary file, not yet renamed
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError, match="No space"):
        atomic.write_json(path, {"x": 2})
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_savefig_that_raises_half_way_keeps_the_previous_png(tmp_path):
    import matplotlib.pyplot as plt
    path = tmp_path / "a.png"
    fig = _figure()
    atomic.save_figure(fig, path, dpi=40)
    before = path.read_bytes()
    real = fig.savefig

    def half(f, **kw):
        real(f, **kw)  # a whole PNG went into the temporary file ...
        f.truncate(100)  # ... then half of it is lost and the process fails
        raise RuntimeError("interrupted")
    fig.savefig = half
    with pytest.raises(RuntimeError, match="interrupted"):
        atomic.save_figure(fig, path, dpi=40)
    plt.close(fig)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_report_write_interrupted_keeps_the_old_report_and_marks_the_folder_incomplete(tmp_path, monkeypatch):
    from verify.reporting import report
    atomic.start_run()
    report.write(tmp_path, [], plots=False)
    first = (tmp_path / "report.json").read_bytes()
    assert atomic.check_manifest(tmp_path) == json.loads(first)["run_id"]
    atomic.start_run()  # the next run fails while writing its report
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        report.write(tmp_path, [], plots=False)
    assert (tmp_path / "report.json").read_bytes() == first
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="did not finish"):  # the old manifest is gone: not a complete run
        atomic.check_manifest(tmp_path)


def test_check_manifest_catches_a_file_of_another_run(tmp_path):
    atomic.start_run()
    atomic.write_json(tmp_path / "report.json", {})
    atomic.save_figure(_figure(), tmp_path / "a.png", dpi=30)
    run = atomic.write_manifest(tmp_path, ["report.json", "a.png"])
    assert atomic.check_manifest(tmp_path) == json.loads(run.read_text())["run_id"]
    atomic.start_run()
    atomic.save_figure(_figure(), tmp_path / "a.png", dpi=30)  # a later, interrupted run's PNG
    with pytest.raises(ValueError, match="a.png is not the file of run"):
        atomic.check_manifest(tmp_path)


def test_every_file_of_one_verify_run_carries_its_id_and_a_new_run_gets_a_new_one(tmp_path, capsys):
    from verify.cli import main
    out = tmp_path / "r"
    argv = ["cell=vanilla-tanh", "width=16", "ensemble=4", "steps=6", "tied=false", f"out={out}", "quiet=true"]
    ids = []
    for _ in range(2):
        main(argv)
        doc = json.loads((out / "report.json").read_text())
        run = doc["run_id"]
        manifest = json.loads((out / atomic.MANIFEST).read_text())
        assert manifest["run_id"] == run and manifest["complete"] is True
        pngs = [f for f in doc["figures"] if f.endswith(".png")]
        assert pngs and set(manifest["files"]) == {*doc["figures"], "report.json"}
        for f in pngs:
            assert atomic.png_text(out / f)[atomic.PNG_KEY] == run
        assert atomic.check_manifest(out) == run
        assert _leftovers(out) == []
        ids.append(run)
    assert ids[0] != ids[1]
    capsys.readouterr()


def test_workers_inherit_the_run_id(monkeypatch):
    import subprocess
    import sys
    run = atomic.start_run()
    got = subprocess.run([sys.executable, "-c", "from verify.reporting import atomic; print(atomic.current_run())"],
                         capture_output=True, text=True, env={**os.environ}, check=True).stdout.strip()
    assert got == run
