"""Partitions on lab nodes: a cut pair cannot open a TCP connection while a third node can.

Also the helpers the other nemesis integration modules share: ``lab_test``
(a ``Test`` over SSH to a lab's nodes) and ``can_connect``.  Every module
brings up its own 3-node lab ``jt4`` (10.81.0.0/24) and always tears it down.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote, on_nodes, sh
from jepsy.dbs.etcd import EtcdDB
from jepsy.lab import Lab
from jepsy.nemeses.partition import PartitionNemesis
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running

pytestmark = pytest.mark.integration

LAB, SUBNET = "jt4", "10.81.0"


def lab_test(lab: Lab, **opts: Any) -> RunSpec:
    nodes = inventory.from_file(lab.inventory_path)
    return RunSpec(name="jt4", nodes=[n.name for n in nodes], node_specs={n.name: n for n in nodes},
                   remote=SSHRemote(nodes), opts=dict(opts), rng=random.Random(4))


@contextmanager
def etcd_cluster(nodes: int, nemesis: list[str]) -> Iterator[tuple[RunSpec, EtcdDB]]:
    """A lab of ``nodes`` running etcd (set up with ``nemesis`` in the test's options, so that
    e.g. "clock" starts it under faketime); torn down, lab included, whatever happens."""
    with lab_running(LAB, SUBNET, nodes=nodes, packages=["etcd-server"]) as lab:
        test = lab_test(lab, db="etcd", nemesis=nemesis)
        db = EtcdDB({})
        try:
            on_nodes(test.nodes, lambda n: db.setup(test, n))
            yield test, db
        finally:
            on_nodes(test.nodes, lambda n: db.teardown(test, n), raise_errors=False)
            test.remote.close()


def can_connect(test: RunSpec, src: str, dst: str, port: int = 22, timeout: float = 1.5) -> bool:
    """Whether ``src`` opens a TCP connection to ``dst`` (bash's /dev/tcp, from inside the node)."""
    probe = sh("timeout", str(timeout), "bash", "-c", f"exec 3<>/dev/tcp/{test.address(dst)}/{port}")
    return test.remote.execute(src, probe, check=False, timeout=timeout + 5).ok


def iptables_rules(node_netns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", node_netns, "iptables", "-w", "-S"],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunSpec]:
    with lab_running(LAB, SUBNET, nodes=3) as lab:
        test = lab_test(lab)
        try:
            yield test
        finally:
            test.remote.close()


def test_cut_pair_cannot_connect_while_a_third_node_can(cluster: RunSpec) -> None:
    t = cluster
    foreign = "-A INPUT -s 10.81.0.250/32 -p tcp -m tcp --dport 9 -j DROP"
    t.remote.execute("n1", "iptables -w " + foreign, sudo=True)
    nem = PartitionNemesis()
    nem.setup(t)
    assert can_connect(t, "n1", "n2") and can_connect(t, "n2", "n1")
    g = nem.invoke(t, {"f": "start-partition", "value": {"n1": ["n2"], "n2": ["n1"], "n3": []}})
    assert g.value["n1"] == ["n2"] and g.took_effect == ["n1", "n2"]
    assert not can_connect(t, "n1", "n2") and not can_connect(t, "n2", "n1")
    assert can_connect(t, "n3", "n1") and can_connect(t, "n3", "n2") and can_connect(t, "n1", "n3")
    nem.invoke(t, {"f": "stop-partition"})
    assert can_connect(t, "n1", "n2") and can_connect(t, "n2", "n1")
    rules = iptables_rules(f"{LAB}-n1")
    assert foreign in rules, rules  # someone else's rule survives the heal
    assert "jepsy" not in rules
    t.remote.execute("n1", "iptables -w " + foreign.replace("-A INPUT", "-D INPUT"), sudo=True)


def test_one_way_partition_drops_one_direction_only(cluster: RunSpec) -> None:
    t = cluster
    nem = PartitionNemesis()
    # n1 drops what n2 sends; n2 still receives n1's packets.  A TCP handshake
    # fails both ways, so the proof is a datagram: n2 -> n1 lost, n1 -> n2 arrives.
    nem.invoke(t, {"f": "start-partition", "value": {"n1": ["n2"]}})
    try:
        # The listener may start late over SSH: the sender repeats for two seconds.
        listen = ("timeout 6 python3 -c 'import socket; s = socket.socket(socket.AF_INET, "
                  "socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 9999)); s.settimeout(4); "
                  "print(s.recvfrom(100)[0].decode())'")
        send = ("python3 -c 'import socket, sys, time\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "for _ in range(10):\n"
                "    s.sendto(b\"hello\", (sys.argv[1], 9999)); time.sleep(0.2)' {dst}")

        def one_way(src: str, dst: str) -> bool:
            import threading

            got: dict[str, Any] = {}
            th = threading.Thread(target=lambda: got.setdefault(
                "r", t.remote.execute(dst, listen, check=False)))
            th.start()
            t.remote.execute(src, send.format(dst=t.address(dst)))
            th.join()
            return "hello" in got["r"].stdout

        assert one_way("n1", "n2")
        assert not one_way("n2", "n1")
    finally:
        nem.heal(t)
    assert "jepsy" not in iptables_rules(f"{LAB}-n1")
