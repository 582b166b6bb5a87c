"""Kill and pause on a real etcd cluster in the lab: the process is gone and back, stopped and running."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jepsy.dbs.etcd import PID_FILE, EtcdDB
from jepsy.nemeses.process import KillNemesis, PauseNemesis
from jepsy.protocols import Test as RunSpec
from tests.integration.test_nemesis_partition import etcd_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[RunSpec, EtcdDB]]:
    # "clock" among the nemeses: etcd is started under the node's faketime.
    with etcd_cluster(nodes=3, nemesis=["kill", "pause", "clock"]) as running:
        yield running


def state(t: RunSpec, node: str) -> str:
    """The etcd process's state letter (R, S, T...) or "gone"."""
    out = t.remote.execute(node, f"p=$(cat {PID_FILE} 2>/dev/null) && ps -o stat= -p \"$p\"",
                           check=False).stdout.strip()
    return out[:1] if out else "gone"


def pid(t: RunSpec, node: str) -> str:
    return t.remote.execute(node, f"cat {PID_FILE} 2>/dev/null", check=False).stdout.strip()


def etcd_processes(t: RunSpec, node: str) -> list[str]:
    return t.remote.execute(node, "ps -eo comm= | grep -x etcd || true").stdout.split()


def test_killed_database_is_gone_and_then_back(cluster: tuple[RunSpec, EtcdDB]) -> None:
    t, db = cluster
    nem = KillNemesis(db, ["one"])
    old = pid(t, "n2")
    assert etcd_processes(t, "n2") == ["etcd"]
    done = nem.invoke(t, {"f": "start-kill", "value": ["n2"]})
    assert done.took_effect == ["n2"] and done.value == {"n2": f"killed pid {old}"}
    assert etcd_processes(t, "n2") == [] and state(t, "n2") == "gone"
    assert etcd_processes(t, "n1") == ["etcd"]
    assert t.remote.execute("n2", "cat /run/jepsy/faults/killed").ok
    assert nem.invoke(t, {"f": "stop-kill"}).value == {"n2": "restarted"}
    assert etcd_processes(t, "n2") == ["etcd"] and pid(t, "n2") != old
    assert not t.remote.execute("n2", "test -e /run/jepsy/faults/killed", check=False).ok
    db._await_ready(t, "n2")  # and it rejoins the cluster


def test_paused_database_is_stopped_then_running(cluster: tuple[RunSpec, EtcdDB]) -> None:
    t, db = cluster
    nem = PauseNemesis(db, ["all"])
    assert nem.invoke(t, {"f": "start-pause", "value": "all"}).took_effect == ["n1", "n2", "n3"]
    assert [state(t, n) for n in t.nodes] == ["T", "T", "T"]
    recorded = t.remote.execute("n1", "cat /run/jepsy/faults/paused").stdout.split()
    assert recorded == [pid(t, "n1")]
    nem.invoke(t, {"f": "stop-pause"})
    time.sleep(0.1)
    assert all(state(t, n) in ("S", "R") for n in t.nodes)
    assert not t.remote.execute("n1", "test -e /run/jepsy/faults/paused", check=False).ok


def test_database_runs_under_the_nodes_faketime(cluster: tuple[RunSpec, EtcdDB]) -> None:
    t, _ = cluster
    env = t.remote.execute("n1", f"tr '\\0' '\\n' < /proc/$(cat {PID_FILE})/environ").stdout
    assert "FAKETIME_TIMESTAMP_FILE=/run/jepsy/faketime" in env and "libfaketime.so.1" in env
