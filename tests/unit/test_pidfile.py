"""The pidfile commands every DB module uses, run for real in bash and in dash (a node's
login shell may be either) on a short-lived child the test starts itself, never by name."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from jepsy.dbs.pidfile import Pidfile

SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]


def sh(cmd: str, shell: str = "bash") -> int:
    return subprocess.run([shell, "-c", cmd], timeout=10).returncode


def state(pidfile: Path, want: str = "") -> str:
    """The process's state letter; with ``want``, waits (up to 5 s) for one of those letters:
    a signal takes effect when the process next runs, later on a loaded machine."""
    pid = pidfile.read_text().strip()
    deadline = time.monotonic() + 5
    while True:
        got = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if not want or got in want or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


@pytest.mark.parametrize("shell", SHELLS)
def test_start_pause_resume_stop(tmp_path: Path, shell: str) -> None:
    pf = Pidfile(str(tmp_path / "d.pid"), group=True)
    log = tmp_path / "d.log"
    assert sh(pf.start("sleep 30", str(log)), shell) == 0
    assert sh(pf.running(), shell) == 0
    first = (tmp_path / "d.pid").read_text()
    assert sh(pf.start("sleep 30", str(log)), shell) == 0  # already running: not started twice
    assert (tmp_path / "d.pid").read_text() == first
    assert sh(pf.signal("STOP"), shell) == 0 and state(tmp_path / "d.pid", "T") == "T"
    assert sh(pf.signal("CONT"), shell) == 0 and state(tmp_path / "d.pid", "SR") in ("S", "R")
    assert sh(pf.signal("STOP"), shell) == 0
    assert sh(pf.stop(), shell) == 0  # a paused daemon dies too
    assert not (tmp_path / "d.pid").exists() and sh(pf.running(), shell) != 0
    assert sh(pf.stop(), shell) == 0  # idempotent


def test_kill_keeps_nothing_running_and_command_shapes() -> None:
    assert Pidfile("/p").signal("9") == "kill -9 $(cat /p)"
    assert Pidfile("/p", group=True).signal("9") == "kill -9 -$(cat /p)"
    assert Pidfile("/p").kill() == "[ -f /p ] && kill -9 $(cat /p); rm -f /p"


@pytest.mark.parametrize("shell", SHELLS)
def test_start_record_starts_it_again_after_a_kill(tmp_path: Path, shell: str) -> None:
    """What ``jepsy heal`` runs for a database the kill fault left down."""
    pf = Pidfile(str(tmp_path / "d.pid"))
    assert sh(pf.start("sleep 30", str(tmp_path / "d.log")), shell) == 0
    first = (tmp_path / "d.pid").read_text()
    assert sh(pf.kill(), shell) == 0 and sh(pf.running(), shell) != 0
    assert sh(f"sh {pf.start_record}", shell) == 0 and sh(pf.running(), shell) == 0
    assert (tmp_path / "d.pid").read_text() != first
    assert sh(f"sh {pf.start_record}", shell) == 0  # running: not started twice
    assert sh(pf.stop(), shell) == 0
