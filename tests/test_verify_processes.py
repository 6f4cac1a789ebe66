"""``verify all`` leaves no process and no temporary folder behind, however its parent ends (issue 18.3).

The two mechanisms are tested on their own, in real processes: a worker's watchdog ends the worker
and removes the shared folder once its parent is killed with SIGKILL (which no handler can see), and
SIGTERM inside :func:`verify.commands.suite_parts.terminate_as_exit` runs the parent's cleanup as Ctrl-C does.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process tree semantics checked on Linux")


def _wait(pred, timeout=20.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_worker_ends_and_removes_the_folder_when_its_parent_is_killed(tmp_path):
    folder = tmp_path / "verify-all-x"
    folder.mkdir()
    (folder / "partial.stdout").write_text("half")
    pidfile = tmp_path / "child.pid"
    child = textwrap.dedent(f"""
        import os, sys, time
        from verify.commands.suite_parts import watch_parent
        watch_parent(int(sys.argv[1]), {str(folder)!r}, interval=0.05)
        open({str(pidfile)!r}, "w").write(str(os.getpid()))
        time.sleep(120)
    """)
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())])
        time.sleep(120)
    """)
    p = subprocess.Popen([sys.executable, "-c", parent], env=ENV)
    try:
        assert _wait(lambda: pidfile.exists() and pidfile.read_text()), "worker did not start"
        worker = int(pidfile.read_text())
        assert _alive(worker) and folder.exists()
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert _wait(lambda: not _alive(worker)), "worker survived its parent's SIGKILL"
        assert not folder.exists(), "temporary folder left behind"
    finally:
        p.kill()


def test_sigterm_runs_the_cleanup_that_ctrl_c_runs(tmp_path):
    marker = tmp_path / "cleaned"
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import time
        from verify.commands.suite_parts import terminate_as_exit
        with terminate_as_exit():
            try:
                open({str(ready)!r}, "w").write("1")
                time.sleep(120)
            except BaseException:
                open({str(marker)!r}, "w").write("1")
                raise
    """)
    p = subprocess.Popen([sys.executable, "-c", script], env=ENV, stderr=subprocess.DEVNULL)
    try:
        assert _wait(ready.exists)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 128 + signal.SIGTERM
        assert marker.exists(), "cleanup did not run on SIGTERM"
    finally:
        p.kill()
