"""The Vagrant lab on real VMs (libvirt, QEMU software emulation): opt-in and slow.

Runs only with ``JEPSY_VAGRANT=1`` (and ``-m slow``), as root, with Debian's
vagrant, vagrant-libvirt, libvirt-daemon-system, qemu-system-x86 and the box
build tools installed.  It builds the box when there is none (about 5 min),
brings up 3 VMs with ``vagrant/lab.sh up 3`` (2-4 min), runs ``jepsy doctor``
and a short ``jepsy test`` with partitions and real clock faults, steps one VM's
clock through jepsy's Remote to show it is that VM's own, and always runs
``vagrant/lab.sh down``, which fails if anything of the lab is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote
from tests.conftest import REPO, require_root

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("JEPSY_VAGRANT") != "1",
                       reason="real VMs: opt in with JEPSY_VAGRANT=1 (see vagrant/README.md)"),
]

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
LAB = REPO / "vagrant" / "lab.sh"
# Captured before the test session's HOME isolation: boxes live in the real user's
# ~/.vagrant.d, and a box built once is reused.
VAGRANT_HOME = os.environ.get("VAGRANT_HOME") or os.path.expanduser("~/.vagrant.d")


def _env() -> dict[str, str]:
    return {**os.environ, "VAGRANT_HOME": VAGRANT_HOME, "JEPSY_NODES": "3",
            "JEPSY": str(Path(sys.executable).parent / "jepsy"),
            "NO_COLOR": "1", "COLUMNS": "200"}


@pytest.fixture(scope="module")
def vagrant_inventory() -> Iterator[Path]:
    require_root()
    if shutil.which("vagrant") is None or shutil.which("libvirtd") is None:
        pytest.skip("needs vagrant, vagrant-libvirt and libvirt-daemon-system")
    env = _env()
    try:
        up = subprocess.run([str(LAB), "up", "3"], capture_output=True, text=True, env=env,
                            timeout=3600)
        assert up.returncode == 0, up.stderr[-3000:]
        yield Path(up.stdout.strip().splitlines()[-1])
    finally:
        down = subprocess.run([str(LAB), "down"], capture_output=True, text=True, env=env,
                              timeout=900)
        assert down.returncode == 0, f"lab left behind: {down.stderr[-2000:]}"


def jepsy(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JEPSY, *args], capture_output=True, text=True, timeout=timeout,
                          env=_env())


def test_inventory_uses_private_addresses_and_pins_host_keys(vagrant_inventory: Path) -> None:
    nodes = inventory.from_file(vagrant_inventory)
    assert [n.name for n in nodes] == ["n1", "n2", "n3"]
    assert [n.vars["jepsy_ip"] for n in nodes] == ["192.168.56.11", "192.168.56.12", "192.168.56.13"]
    assert all(n.host != n.vars["jepsy_ip"] for n in nodes)  # SSH over the management network
    known = Path(str(nodes[0].known_hosts)).read_text()
    assert all(n.host in known and n.vars["jepsy_ip"] in known for n in nodes)


def test_doctor(vagrant_inventory: Path) -> None:
    r = jepsy("doctor", "--inventory", str(vagrant_inventory), "--db", "etcd", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ready: a test can run" in r.stdout


def test_clock_is_the_vms_own(vagrant_inventory: Path) -> None:
    """A step of 300 s on n1 moves n1 only: not n2, not this machine (wall vs monotonic)."""
    nodes = inventory.from_file(vagrant_inventory)
    host_skew_before = time.time() - time.monotonic()
    with SSHRemote(nodes) as remote:
        def offset(node: str) -> float:
            t0 = time.time()
            out = remote.execute(node, "date +%s.%N").stdout
            return float(out) - (t0 + time.time()) / 2

        before = offset("n1")
        remote.execute("n1", "date -s \"@$(( $(date +%s) + 300 ))\" >/dev/null", sudo=True)
        try:
            assert 295 < offset("n1") - before < 305
            assert abs(offset("n2")) < 30  # untouched (VMs start about 1 s from the host)
        finally:
            remote.execute("n1", "date -s \"@$(( $(date +%s) - 300 ))\" >/dev/null", sudo=True)
        assert abs(offset("n1") - before) < 5
    assert abs((time.time() - time.monotonic()) - host_skew_before) < 1.0


def test_register_under_partitions_and_clock_faults(vagrant_inventory: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = jepsy("test", "--inventory", str(vagrant_inventory), "--db", "etcd", "--workload", "register",
              "--nemesis", "partition,clock", "--time-limit", "60", "--nemesis-interval", "8",
              "--rate", "20", "--seed", "8", "--store", str(store), "--recovery", "10",
              timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    run = (store / "latest").resolve()
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    nemesis = [o for o in ops if o["process"] == "nemesis" and o["type"] == "info"]
    # The completion of a start-partition is the grudge applied: {node: [nodes it drops]}.
    partitions = [o for o in nemesis if o["f"] == "start-partition" and isinstance(o["value"], dict)
                  and any(o["value"].values())]
    clocks = [o for o in nemesis if o["f"] == "start-clock" and isinstance(o["value"], dict)]
    assert partitions, "no partition was applied"
    assert clocks, "no clock fault was applied"
    # Real clocks, measured in the VMs (not faked).
    for op in clocks:
        node_values = [v for v in op["value"].values() if isinstance(v, dict) and "offset" in v]
        assert node_values and all(v["clock"] == "real" for v in node_values)
    assert sum(1 for o in ops if o["process"] != "nemesis" and o["type"] == "ok") > 20
