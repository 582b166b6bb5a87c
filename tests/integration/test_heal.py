"""The heal guarantee when jepsy is stopped mid-fault: SIGTERM (jepsy heals), SIGKILL (``jepsy heal``).

A real run (etcd, register workload, partition + pause + clock + packet
faults) is signalled while a partition and a pause are both in force.  After
SIGTERM, jepsy itself must have ended every fault before exiting; after
SIGKILL, ``jepsy heal --inventory`` must.  Either way no jepsy iptables rule,
no jepsy qdisc, no clock skew and no stopped process may be left on any node,
and a firewall rule that somebody else put there before must still be there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy.control import on_nodes
from jepsy.lab import Lab
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import LAB, SUBNET, iptables_rules, lab_test

pytestmark = pytest.mark.integration

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
FOREIGN = "-A INPUT -s 10.81.0.250/32 -p tcp -m tcp --dport 9 -j DROP"
PROBE = ("iptables -w -n -L jepsy >/dev/null 2>&1 && echo partition; "
         "[ -s /run/jepsy/faults/paused ] && echo pause; "
         "tc qdisc show dev eth0 root | grep -q ' fa17: ' && echo packet; "
         "[ -f /run/jepsy/faketime ] && awk '{exit ($1 + 0 == 0)}' /run/jepsy/faketime && echo clock; "
         "ps -eo stat= | grep -q '^T' && echo stopped; true")


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Lab, RunSpec]]:
    with lab_running(LAB, SUBNET, nodes=3, packages=["etcd-server"]) as lab:
        t = lab_test(lab)
        try:
            on_nodes(t.nodes, lambda n: t.remote.execute(n, "iptables -w " + FOREIGN, sudo=True))
            yield lab, t
        finally:
            t.remote.close()


def faults_in_force(t: RunSpec) -> dict[str, list[str]]:
    return {n: r.stdout.split() for n, r in on_nodes(t.nodes, lambda n: t.remote.execute(n, PROBE)).items()}


def run_until_partition_and_pause(lab: Lab, t: RunSpec, store: Path, sig: signal.Signals,
                                  seed: int) -> tuple[int, dict[str, list[str]]]:
    """Start a run, send ``sig`` once a partition and a pause are in force; its exit code, and what was."""
    run = subprocess.Popen(
        [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "etcd",
         "--workload", "register", "--nemesis", "partition,pause,clock,packet",
         "--nemesis-interval", "0.7", "--time-limit", "120", "--seed", str(seed),
         "--store", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    seen: dict[str, list[str]] = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and run.poll() is None:
            seen = faults_in_force(t)
            if {"partition", "pause", "stopped"} <= {x for v in seen.values() for x in v}:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"never saw a partition and a pause together (last: {seen})")
    finally:
        os.kill(run.pid, sig)
        try:
            run.wait(timeout=60)
        finally:
            if run.poll() is None:
                os.kill(run.pid, signal.SIGKILL)
                run.wait()
    return run.returncode, seen


def assert_clean(t: RunSpec, seen: dict[str, list[str]]) -> None:
    after = faults_in_force(t)
    assert after == {n: [] for n in t.nodes}, (after, seen)
    for n in t.nodes:
        rules = iptables_rules(f"{LAB}-{n}")
        assert FOREIGN in rules and "jepsy" not in rules, rules


def test_sigterm_jepsy_heals_before_exiting(cluster: tuple[Lab, RunSpec], tmp_path: Path) -> None:
    lab, t = cluster
    code, seen = run_until_partition_and_pause(lab, t, tmp_path, signal.SIGTERM, seed=12)
    assert code == 2  # an interrupted run is "unknown"
    assert_clean(t, seen)
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert "interrupted" in results["incomplete"]


def test_jepsy_heal_after_sigkill(cluster: tuple[Lab, RunSpec], tmp_path: Path) -> None:
    lab, t = cluster
    code, seen = run_until_partition_and_pause(lab, t, tmp_path, signal.SIGKILL, seed=11)
    assert code == -signal.SIGKILL  # jepsy got no chance to heal
    assert faults_in_force(t) != {n: [] for n in t.nodes}

    healed = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                            capture_output=True, text=True, timeout=60)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "partition: chain jepsy" in healed.stdout and "pause: resumed" in healed.stdout
    assert_clean(t, seen)
    # A second heal finds nothing to do and still succeeds.
    again = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.count("nothing to heal") == 3, again.stdout
