"""How long faults take to be in force, and to be gone, on 5 lab nodes (``-m slow``; prints a table).

"Apply" is the time from the nemesis deciding a fault to ``invoke`` returning,
that is until every target node has confirmed it (the rules, qdiscs, offsets
or signals are in force when their command returns).  "Heal" is the same for
the op that ends it.  Run with ``pytest -m slow -s`` to see the figures; the
assertions are only loose bounds, because the machine may be shared.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jepsy.dbs.etcd import EtcdDB
from jepsy.nemeses.clock import ClockNemesis
from jepsy.nemeses.combined import CombinedNemesis
from jepsy.nemeses.packet import PacketNemesis
from jepsy.nemeses.partition import PartitionNemesis
from jepsy.nemeses.process import KillNemesis, PauseNemesis
from jepsy.protocols import Test as RunSpec
from tests.integration.test_nemesis_partition import etcd_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 10


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[RunSpec, EtcdDB]]:
    with etcd_cluster(nodes=5, nemesis=["clock", "kill", "pause"]) as running:
        yield running


def timed(nem: Any, test: RunSpec, start: dict[str, Any], stop: dict[str, Any],
          settle: float = 0.0) -> tuple[list[float], list[float]]:
    apply, heal = [], []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        nem.invoke(test, start)
        apply.append(time.monotonic() - t0)
        t0 = time.monotonic()
        nem.invoke(test, stop)
        heal.append(time.monotonic() - t0)
        time.sleep(settle)
    return apply, heal


def test_fault_apply_and_heal_times_on_five_nodes(cluster: tuple[RunSpec, EtcdDB]) -> None:
    t, db = cluster
    part, packet, clock = PartitionNemesis(), PacketNemesis(["loss", "rate"], ["all"]), ClockNemesis({})
    kill, pause = KillNemesis(db, ["all"]), PauseNemesis(db, ["all"])
    for nem in (part, packet, clock):
        nem.setup(t)
    cases = [
        ("partition majorities-ring", part, {"f": "start-partition", "value": "majorities-ring"},
         {"f": "stop-partition"}, 0.0),
        ("packet rate, all 5", packet, {"f": "start-packet", "value": {"behaviours": ["rate"],
                                                                      "targets": "all"}},
         {"f": "stop-packet"}, 0.0),
        ("clock bump, all 5 (+ measuring)", clock, {"f": "start-clock", "value": {
            "mode": "bump", "targets": "all"}}, {"f": "stop-clock"}, 0.0),
        ("kill all 5 / restart", kill, {"f": "start-kill", "value": "all"}, {"f": "stop-kill"}, 1.0),
        ("pause all 5 / resume", pause, {"f": "start-pause", "value": "all"}, {"f": "stop-pause"}, 0.0),
    ]
    rows = []
    for name, nem, start, stop, settle in cases:
        a, h = timed(nem, t, start, stop, settle)
        rows.append((name, statistics.median(a), max(a), statistics.median(h), max(h)))
    everything = CombinedNemesis({"partition": part, "packet": packet, "clock": clock,
                                  "kill": kill, "pause": pause})
    heals = []
    for _ in range(5):
        for op in ({"f": "start-partition", "value": "halves"},
                   {"f": "start-packet", "value": {"behaviours": ["rate"], "targets": "all"}},
                   {"f": "start-clock", "value": "scramble"}, {"f": "start-pause", "value": "all"}):
            everything.invoke(t, op)
        t0 = time.monotonic()
        everything.heal(t)
        heals.append(time.monotonic() - t0)
    print(f"\n{'fault (5 nodes)':34s} {'apply med':>9s} {'max':>6s} {'heal med':>9s} {'max':>6s}  (ms)")
    for name, am, ax, hm, hx in rows:
        print(f"{name:34s} {am * 1000:9.0f} {ax * 1000:6.0f} {hm * 1000:9.0f} {hx * 1000:6.0f}")
    print(f"{'heal of 4 families at once':34s} {'':9s} {'':6s} {statistics.median(heals) * 1000:9.0f} "
          f"{max(heals) * 1000:6.0f}")
    assert all(am < 2.0 and hm < 2.0 for _, am, _, hm, _ in rows)
    assert statistics.median(heals) < 3.0
