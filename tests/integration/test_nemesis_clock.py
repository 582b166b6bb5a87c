"""Clock faults in the lab: a libc program under the node's faketime sees the skew; no real clock moves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jepsy.nemeses.clock import ClockNemesis, faketime_env
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import LAB, SUBNET, lab_test

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[RunSpec, ClockNemesis]]:
    with lab_running(LAB, SUBNET, nodes=3) as lab:
        test = lab_test(lab, db="etcd")
        nem = ClockNemesis({})
        try:
            nem.setup(test)
            yield test, nem
        finally:
            nem.heal(test)
            test.remote.close()


def skew(t: RunSpec, node: str, faked: bool = True) -> float:
    """Seconds between what a libc program on ``node`` reads and this machine's clock."""
    prefix = faketime_env() + " " if faked else ""
    before = time.time()
    out = t.remote.execute(node, prefix + "python3 -c 'import time; print(time.time())'").stdout
    return float(out) - (before + time.time()) / 2


def test_bump_moves_the_faked_clock_of_the_target_only(cluster: tuple[RunSpec, ClockNemesis]) -> None:
    t, nem = cluster
    host_before = time.time()
    done = nem.invoke(t, {"f": "start-clock", "value": {"mode": "bump", "targets": ["n2"],
                                                       "deltas": {"n2": -3600.0}}})
    out = done.value
    assert "Go program" in done.missed["n2"]  # and the run's verdict will not claim it
    assert out["n2"]["offset"] == pytest.approx(-3600, abs=0.5)
    assert "Go program" in out["n2"]["note"]  # etcd would not see it, and the value says so
    assert skew(t, "n2") == pytest.approx(-3600, abs=0.5)
    assert abs(skew(t, "n1")) < 0.5
    assert abs(skew(t, "n2", faked=False)) < 0.5  # the kernel clock itself did not move
    assert abs(time.time() - host_before) < 30  # nor did this machine's
    nem.invoke(t, {"f": "stop-clock"})
    assert abs(skew(t, "n2")) < 0.5


def test_strobe_oscillates_and_heal_ends_it(cluster: tuple[RunSpec, ClockNemesis]) -> None:
    t, nem = cluster
    nem.invoke(t, {"f": "start-clock", "value": {"mode": "strobe", "targets": ["n3"], "delta": 50.0,
                                                 "period": 0.15, "duration": 20}})
    seen = set()
    for _ in range(12):
        seen.add(round(skew(t, "n3") / 50))
        time.sleep(0.07)
    assert seen == {0, 1}, seen
    nem.heal(t)
    assert all(abs(skew(t, "n3")) < 0.5 for _ in range(3))
    assert not t.remote.execute("n3", "test -e /run/jepsy/faults/clock.strobe.pid", check=False).ok


def test_scramble_then_reset(cluster: tuple[RunSpec, ClockNemesis]) -> None:
    t, nem = cluster
    out = nem.invoke(t, {"f": "start-clock", "value": {"mode": "scramble", "spread": 100}}).value
    assert all(abs(v["offset"]) <= 100.5 for v in out.values())
    assert max(abs(v["offset"]) for v in out.values()) > 1
    for n in t.nodes:
        assert skew(t, n) == pytest.approx(out[n]["offset"], abs=0.5)
    back = nem.invoke(t, {"f": "stop-clock"})
    assert all(abs(v["offset"]) < 0.5 for v in back.values())
