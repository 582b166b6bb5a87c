"""Packet faults on lab nodes: a netem delay shows in round-trip times, a rate limit in throughput.

netem needs the kernel's ``sch_netem``; on a kernel without it (some VM
kernels) the delay test skips with that reason, and the rate and loss faults
are proven through their fallbacks (``tbf``, iptables ``statistic``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from jepsy.nemeses.packet import PacketNemesis
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import LAB, SUBNET, can_connect, lab_test

pytestmark = pytest.mark.integration

CONNECT_MS = ("python3 -c 'import socket, sys, time\n"
              "ts = []\n"
              "for _ in range(5):\n"
              "    t = time.monotonic(); socket.create_connection((sys.argv[1], 22), 5).close()\n"
              "    ts.append(time.monotonic() - t)\n"
              "print(round(min(ts) * 1000, 2))' {dst}")
SINK = ("timeout 20 python3 -c 'import socket; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 9998)); "
        "s.listen(1); c = s.accept()[0]\n"
        "while c.recv(65536): pass'")
# The sink may start late over SSH: the sender retries its connection for five seconds.
SEND = ("python3 -c 'import socket, sys, time\n"
        "for _ in range(50):\n"
        "    try: c = socket.create_connection((sys.argv[1], 9998), 2); break\n"
        "    except ConnectionRefusedError: time.sleep(0.1)\n"
        "t = time.monotonic(); c.sendall(b\"x\" * 200000); c.shutdown(socket.SHUT_WR)\n"
        "c.recv(1); print(round(time.monotonic() - t, 3))' {dst}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[RunSpec, PacketNemesis]]:
    with lab_running(LAB, SUBNET, nodes=3) as lab:
        test = lab_test(lab)
        nem = PacketNemesis(["delay", "loss", "rate"], ["one"])
        try:
            nem.setup(test)
            yield test, nem
        finally:
            nem.heal(test)
            test.remote.close()


def connect_ms(t: RunSpec, src: str, dst: str) -> float:
    return float(t.remote.execute(src, CONNECT_MS.format(dst=t.address(dst))).stdout)


def send_seconds(t: RunSpec, src: str, dst: str) -> float:
    """Seconds to push 200 kB from ``src`` to a sink on ``dst``."""
    done: dict[str, Any] = {}
    sink = threading.Thread(target=lambda: done.setdefault("r", t.remote.execute(dst, SINK,
                                                                                  check=False)))
    sink.start()
    took = float(t.remote.execute(src, SEND.format(dst=t.address(dst)), timeout=30).stdout)
    sink.join()
    return took


def test_netem_delay_shows_in_round_trip_time(cluster: tuple[RunSpec, PacketNemesis]) -> None:
    t, nem = cluster
    if not nem.netem:
        pytest.skip("this kernel has no netem (CONFIG_NET_SCH_NETEM unset): delay, duplicate, "
                    "reorder and corrupt cannot be applied; loss and rate use fallbacks")
    before = connect_ms(t, "n1", "n2")
    done = nem.invoke(t, {"f": "start-packet", "value": {
        "behaviours": {"delay": {"time": "100ms", "jitter": "1ms"}}, "targets": ["n1"]}})
    assert "netem delay 100ms" in done.value["n1"] and done.took_effect == ["n1"]
    during = connect_ms(t, "n1", "n2")
    nem.invoke(t, {"f": "stop-packet"})
    after = connect_ms(t, "n1", "n2")
    assert before < 20 and during >= 95 and after < 20, (before, during, after)


def test_rate_limit_shows_in_throughput_and_goes_away(cluster: tuple[RunSpec, PacketNemesis]) -> None:
    t, nem = cluster
    before = send_seconds(t, "n1", "n2")
    done = nem.invoke(t, {"f": "start-packet", "value": {
        "behaviours": {"rate": {"rate": "1mbit"}}, "targets": ["n1"]}})
    assert "tbf" in done.value["n1"] or "netem rate 1mbit" in done.value["n1"]
    qdisc = t.remote.execute("n1", "tc qdisc show dev eth0 root").stdout
    assert " fa17: " in qdisc
    during = send_seconds(t, "n1", "n2")
    nem.invoke(t, {"f": "stop-packet"})
    after = send_seconds(t, "n1", "n2")
    # 200 kB at 1 Mbit/s is 1.6 s; unlimited on a veth it is milliseconds.
    assert before < 0.5 and during > 1.0 and after < 0.5, (before, during, after)
    assert " fa17: " not in t.remote.execute("n1", "tc qdisc show dev eth0 root").stdout


def test_total_loss_cuts_and_heal_restores(cluster: tuple[RunSpec, PacketNemesis]) -> None:
    t, nem = cluster
    nem.invoke(t, {"f": "start-packet", "value": {
        "behaviours": {"loss": {"percent": "100%", "correlation": ""}}, "targets": ["n1"]}})
    try:
        if nem.netem:
            assert not can_connect(t, "n1", "n2")  # netem drops n1's egress
        else:
            assert not can_connect(t, "n2", "n1")  # the fallback drops n1's ingress from peers
        assert can_connect(t, "n2", "n3")
    finally:
        nem.invoke(t, {"f": "stop-packet"})
    assert can_connect(t, "n1", "n2") and can_connect(t, "n2", "n1")
