"""The control machine loses a node in the middle of a fault.

A partition is in force when this machine loses SSH to n2, in one of two ways:
its link is cut (its veth taken down on the lab's bridge), or its sshd is stopped
(``Lab.stop_sshd``: the listener and every session killed, the node itself up, so
new connections are refused and jepsy's open one drops).  If n2 stays lost, the
run heals what it can reach, names exactly what it could not heal and where
(``unhealed``), exits 2, and a later ``jepsy heal`` clears it once n2 is back.
If n2 comes back while the run is still healing, the run reconnects and heals
everything.  Slow (a lost node costs the heal timeout): ``pytest -m slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy.lab import Lab
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import iptables_rules

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAB, SUBNET = "ht4", "10.174.0"
JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_running(LAB, SUBNET, nodes=3) as running:
        try:
            yield running
        finally:
            restore(running, "n2")


def link(lab: Lab, node: str, up: bool) -> None:
    subprocess.run(["ip", "link", "set", f"{lab.name}-{node}", "up" if up else "down"], check=True)


def lose(lab: Lab, node: str, how: str) -> None:
    if how == "link":
        link(lab, node, up=False)
    else:
        assert lab.stop_sshd(node), "no sshd to stop"


def restore(lab: Lab, node: str) -> None:
    """Link up and sshd answering (a no-op for whichever was not lost)."""
    link(lab, node, up=True)
    lab.start_sshd(node)


def partitioned(lab: Lab, node: str) -> bool:
    return "-j DROP" in iptables_rules(lab.netns(node)) and "-N jepsy" in iptables_rules(lab.netns(node))


def run_cutting_n2(lab: Lab, store: Path, restore_after: float | None,
                   how: str = "link") -> tuple[int, dict[str, object]]:
    """A run with a partition in force at its end; n2 lost (``how``) once n2 has its rules."""
    run = subprocess.Popen(
        [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "memory", "--nemesis",
         "partition", "--nemesis-opt", "partition_shapes=halves", "--nemesis-interval", "2",
         "--time-limit", "3", "--recovery", "0", "--seed", "7", "--store", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 60
        while not partitioned(lab, "n2"):
            assert time.monotonic() < deadline and run.poll() is None, "no partition on n2"
            time.sleep(0.05)
        lose(lab, "n2", how)
        if restore_after is not None:
            threading.Timer(restore_after, restore, (lab, "n2")).start()
        code = run.wait(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return code, json.loads((store / "latest" / "results.json").read_text())


@pytest.mark.parametrize("how", ["link", "sshd"])
def test_what_a_lost_node_keeps_is_named_and_jepsy_heal_clears_it(lab: Lab, tmp_path: Path,
                                                                  how: str) -> None:
    code, results = run_cutting_n2(lab, tmp_path, restore_after=None, how=how)
    assert code == 2 and results["valid"] == "unknown", results
    unhealed = results["unhealed"]
    assert isinstance(unhealed, dict) and list(unhealed) == ["n2"], unhealed
    assert "partition" in unhealed["n2"][0]
    assert "the heal failed on n2" in str(results["reason"])
    assert not partitioned(lab, "n1") and not partitioned(lab, "n3")  # healed what it could reach
    assert partitioned(lab, "n2")  # and named exactly what it could not
    history = (tmp_path / "latest" / "history.jsonl").read_text()
    assert '"heal-incomplete"' in history and '"f": "heal"' not in history
    if how == "sshd":  # the node stayed up: the partition is still in force on it
        assert lab.status()[1].alive and not lab.status()[1].ssh
    restore(lab, "n2")
    healed = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                            capture_output=True, text=True, timeout=120)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "n2: partition" in healed.stdout or "chain jepsy" in healed.stdout, healed.stdout
    assert not partitioned(lab, "n2")


@pytest.mark.parametrize("how", ["link", "sshd"])
def test_a_node_back_before_the_heal_gives_up_is_healed(lab: Lab, tmp_path: Path, how: str) -> None:
    code, results = run_cutting_n2(lab, tmp_path, restore_after=12.0, how=how)
    assert results["unhealed"] is None, results
    assert code == 0 and results["valid"] is True, results
    assert not any(partitioned(lab, n) for n in ("n1", "n2", "n3"))
