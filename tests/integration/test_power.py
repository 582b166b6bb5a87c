"""The power-loss filesystem loses exactly the unsynced data: on this machine, then through the nemesis.

``powerwriter.py`` appends records with fsync, then more without, and writes a
new file it never syncs.  After the power-loss fault (kill, then drop) the log
must hold exactly the synced records and the new file nothing; after a plain
kill (no power loss) everything written must still be there, as a page cache
keeps it.  On a lab node the ``power`` nemesis does the same through a
database double, and ``jepsy heal``'s script removes a filesystem that a
killed jepsy left mounted.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote, sh
from jepsy.dbs.pidfile import Pidfile
from jepsy.heal import heal_nodes, leftovers
from jepsy.nemeses import nodestate, power, powerfs
from jepsy.nemeses.nodestate import heal_script
from jepsy.protocols import Test
from tests.conftest import require_root
from tests.integration.conftest import lab_running

pytestmark = pytest.mark.integration

WRITER = Path(__file__).with_name("powerwriter.py")
SYNCED, UNSYNCED = 500, 300


def expected_synced() -> bytes:
    return b"".join(b"synced %06d\n" % i for i in range(SYNCED))


def _wait(cond: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(cond) or not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _is_mounted(d: Path) -> bool:
    return f" {d} {power.FS_TYPE} " in Path("/proc/mounts").read_text()


@contextmanager
def mounted(d: Path, sock: Path) -> Iterator[subprocess.Popen[bytes]]:
    fs = subprocess.Popen([sys.executable, powerfs.__file__, "mount", str(d), "--socket", str(sock)])
    try:
        _wait(lambda: _is_mounted(d), "the mount")
        yield fs
    finally:
        fs.send_signal(signal.SIGTERM)
        fs.wait(timeout=10)
        if _is_mounted(d):
            subprocess.run(["umount", "-l", str(d)], check=False)


def run_writer(d: Path, marker: Path) -> subprocess.Popen[bytes]:
    marker.unlink(missing_ok=True)
    w = subprocess.Popen([sys.executable, str(WRITER), str(d), str(marker), str(SYNCED), str(UNSYNCED)])
    _wait(marker.exists, "the writer")
    return w


def ctl(sock: Path, request: str) -> str:
    got = subprocess.run([sys.executable, powerfs.__file__, "ctl", str(sock), request],
                         capture_output=True, text=True, check=True)
    return got.stdout


def test_power_loss_drops_exactly_the_unsynced_writes_here(tmp_path: Path) -> None:
    require_root()
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    d, sock, marker = tmp_path / "data", tmp_path / "ctl.sock", tmp_path / "marker"
    d.mkdir()
    with mounted(d, sock):
        w = run_writer(d, marker)
        assert (d / "log").stat().st_size == len(expected_synced()) + UNSYNCED * 16
        w.kill()
        w.wait()
        assert '"pages"' in ctl(sock, "drop")
        assert (d / "log").read_bytes() == expected_synced()
        assert (d / "fresh").read_bytes() == b""  # created (metadata is durable), data lost
        with pytest.raises(OSError):  # the power is off: nothing changes
            (d / "late").write_bytes(b"x")
        assert "restored" in ctl(sock, "restore")
        # A plain kill, no power loss: the page cache keeps everything.
        w = run_writer(d, marker)
        w.kill()
        w.wait()
        data = (d / "log").read_bytes()
        assert data.startswith(expected_synced() * 2) and data.endswith(b"unsynced %06d\n" % (UNSYNCED - 1))
        assert '"pages": 3' in ctl(sock, "sync")  # what the nemesis's teardown does before unmounting
    # The pending pages reached the directory underneath.
    assert not _is_mounted(d)
    assert (d / "fresh").read_bytes() == b"never synced\n" * 100
    assert (d / "log").read_bytes() == data


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet is not)."""
    try:
        return "\tZ" not in Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1][:3]
    except OSError:
        return False


def test_the_heal_stops_what_runs_on_the_filesystem_writes_back_unmounts_and_restarts_it(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """``jepsy heal``'s power part on this machine (its paths moved under tmp_path).

    A "database" runs with its working directory on the filesystem, which holds a page
    never synced: the heal must stop it (it could not outlive the unmount), write the page
    back, unmount, and start it again from its start record, on the plain directory.
    Before, the heal unmounted under it, and etcd died with ENOTCONN.
    """
    require_root()
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    base = Path(tempfile.mkdtemp(prefix="jp", dir="/tmp"))  # a socket's path has 108 bytes
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    d, state, run = base / "d", tmp_path / "faults", base / "r"
    for x in (d, state, run):
        x.mkdir()
    sock = run / (str(d).strip("/").replace("/", "_") + ".sock")
    pidfile = tmp_path / "db.pid"
    Path(f"{pidfile}.start").write_text(f"cd {d} && sleep 300 & echo $! > {pidfile}\n")
    script = (heal_script(["power"]).replace(nodestate.STATE_DIR, str(state))
              .replace(nodestate.POWER_RUN_DIR, str(run))
              .replace(f"python3 {nodestate.POWER_PROGRAM}", f"{sys.executable} {powerfs.__file__}"))
    with mounted(d, sock) as fs:
        (d / "pending").write_bytes(b"never synced\n" * 1000)  # stays in the filesystem's memory
        subprocess.run(["sh", f"{pidfile}.start"], check=True)
        old = int(pidfile.read_text())
        (state / "power.mounts").write_text(f"{fs.pid} {d} {pidfile}\n")
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
        new = int(pidfile.read_text())
        try:
            assert f"healed power: stopped what ran on {d}, to unmount it" in out
            assert f"healed power: unmounted {d}" in out and not _is_mounted(d)
            assert f"started again (pid {new})" in out and new != old
            assert not _alive(old) and _alive(new)
            assert os.readlink(f"/proc/{new}/cwd") == str(d)  # the plain directory now
            assert (d / "pending").read_bytes() == b"never synced\n" * 1000  # written back
            assert not (state / "power.mounts").exists() and not (state / "power.down").exists()
            assert fs.wait(timeout=10) is not None
        finally:
            os.kill(new, signal.SIGKILL)


class WriterDB:
    """A database double on a lab node: the writer under a pidfile, with a data directory."""

    data_dir = "/var/lib/jepsy/powertest"
    pid = Pidfile("/run/jepsy/powerwriter.pid")
    marker = "/run/jepsy/powerwriter.done"

    def setup(self, test: Test, node: str) -> None:
        test.remote.upload(node, str(WRITER), "/tmp/powerwriter.py")

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"{self.pid.stop()}; rm -rf {self.data_dir}/*", check=False)

    def kill(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.pid.kill(), check=False)

    def start(self, test: Test, node: str) -> None:
        cmd = sh("python3", "/tmp/powerwriter.py", self.data_dir, self.marker, SYNCED, UNSYNCED)
        test.remote.execute(node, f"rm -f {self.marker}; mkdir -p /var/log/jepsy; "
                                  + self.pid.start(cmd, "/var/log/jepsy/powerwriter.log"))
        test.remote.execute(node, f"for i in $(seq 100); do [ -f {self.marker} ] && exit 0; sleep 0.1; "
                                  "done; exit 1")


def test_power_nemesis_on_a_lab_node_and_jepsy_heal_after_a_killed_run() -> None:
    with lab_running("hq2", "10.152.0", nodes=1) as lab:
        nodes = inventory.from_file(lab.inventory_path)
        test = Test(name="hq2", nodes=[n.name for n in nodes], node_specs={n.name: n for n in nodes},
                    remote=SSHRemote(nodes), rng=random.Random(1))
        db = WriterDB()
        nem = power.family({"database": db, "power_targets": "all"}).nemesis
        assert isinstance(nem, power.PowerNemesis)
        log = f"cat {db.data_dir}/log"
        try:
            nem.prepare(test)
            db.setup(test, "n1")
            nem.setup(test)
            db.start(test, "n1")
            assert test.remote.execute("n1", f"wc -c < {db.data_dir}/log").stdout.strip() == str(
                len(expected_synced()) + UNSYNCED * 16)
            done = nem.invoke(test, {"f": "start-power", "value": "all"})
            assert done.took_effect == ["n1"] and done.value["n1"]["files"] == 2
            assert test.remote.execute("n1", log).stdout.encode() == expected_synced()
            assert nem.invoke(test, {"f": "stop-power"}) == ["n1"]
            nem.heal(test)
            db.teardown(test, "n1")
            nem.teardown(test)
            assert leftovers(test.remote, test.nodes) == {"n1": []}
            # A run killed while its filesystem is mounted and the database runs on it:
            nem.prepare(test)
            db.start(test, "n1")
            left = leftovers(test.remote, test.nodes)["n1"]
            assert isinstance(left, list) and left[0] == "left power-loss filesystem mounted"
            assert len(left) == 2 and left[1].startswith("left power-loss filesystem process ")
            healed = heal_nodes(test.remote, test.nodes)["n1"]
            assert f"healed power: unmounted {db.data_dir}" in healed
            assert leftovers(test.remote, test.nodes) == {"n1": []}
        finally:
            db.teardown(test, "n1")
            nem.teardown(test)
            test.remote.close()
