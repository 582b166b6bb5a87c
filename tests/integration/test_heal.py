"""The heal guarantee when jepsy itself dies: SIGKILL mid-fault, then ``jepsy heal``.

A real run (etcd, register workload, partition + pause + clock + packet
faults) is killed with SIGKILL while a partition and a pause are both in
force; ``jepsy heal --inventory`` must then leave no jepsy iptables rule,
no jepsy qdisc, no clock skew and no stopped process on any node, and must
leave alone a firewall rule that somebody else put there before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepsy.control import on_nodes
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


def test_jepsy_heal_after_sigkill(tmp_path: Path) -> None:
    with lab_running(LAB, SUBNET, nodes=3, packages=["etcd-server"]) as lab:
        t = lab_test(lab)
        try:
            on_nodes(t.nodes, lambda n: t.remote.execute(n, "iptables -w " + FOREIGN, sudo=True))
            run = subprocess.Popen(
                [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "etcd",
                 "--workload", "register", "--nemesis", "partition,pause,clock,packet",
                 "--nemesis-interval", "0.7", "--time-limit", "120", "--seed", "11",
                 "--store", str(tmp_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "NO_COLOR": "1"})
            seen: dict[str, list[str]] = {}
            try:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and run.poll() is None:
                    seen = {n: r.stdout.split() for n, r in on_nodes(
                        t.nodes, lambda n: t.remote.execute(n, PROBE)).items()}
                    found = {x for v in seen.values() for x in v}
                    if {"partition", "pause", "stopped"} <= found:
                        break
                    time.sleep(0.1)
                else:
                    pytest.fail(f"never saw a partition and a pause together (last: {seen})")
            finally:
                os.kill(run.pid, signal.SIGKILL)  # jepsy gets no chance to heal
                run.wait()
            assert run.returncode == -signal.SIGKILL

            healed = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                                    capture_output=True, text=True, timeout=60)
            assert healed.returncode == 0, healed.stdout + healed.stderr
            assert "partition: chain jepsy" in healed.stdout and "pause: resumed" in healed.stdout

            after = on_nodes(t.nodes, lambda n: t.remote.execute(n, PROBE).stdout.split())
            assert after == {n: [] for n in t.nodes}, (after, seen)
            for n in t.nodes:
                rules = iptables_rules(f"{LAB}-{n}")
                assert FOREIGN in rules and "jepsy" not in rules, rules
            # A second heal finds nothing to do and still succeeds.
            again = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                                   capture_output=True, text=True, timeout=60)
            assert again.returncode == 0 and again.stdout.count("nothing to heal") == 3, again.stdout
        finally:
            t.remote.close()
