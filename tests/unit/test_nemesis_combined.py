"""Composing fault families: dispatch, heal of every family, and the seeded random schedule."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from jepsy import generator as gen
from jepsy.errors import ConfigError, JepsyError
from jepsy.nemeses.combined import CombinedNemesis, combine, random_schedule
from jepsy.nemeses.family import Family
from jepsy.nemeses.none import NoNemesis
from jepsy.nemeses.partition import PartitionNemesis
from jepsy.protocols import Test as RunSpec

from .test_nemesis_process import FakeDB
from .test_nemesis_targets import fake_test


class Recorder:
    def __init__(self, name: str, fail_heal: bool = False) -> None:
        self.fs = frozenset({f"start-{name}", f"stop-{name}"})
        self.name, self.fail_heal = name, fail_heal
        self.log: list[str] = []

    def setup(self, test: RunSpec) -> None:
        self.log.append("setup")

    def invoke(self, test: RunSpec, op: Mapping[str, Any]) -> Any:
        self.log.append(str(op["f"]))
        return self.name

    def heal(self, test: RunSpec) -> None:
        self.log.append("heal")
        if self.fail_heal:
            raise JepsyError(f"{self.name} heal broke")

    def teardown(self, test: RunSpec) -> None:
        self.log.append("teardown")


def test_ops_go_to_the_family_that_handles_them() -> None:
    a, b = Recorder("a"), Recorder("b")
    nem = CombinedNemesis({"a": a, "b": b})
    t = fake_test()
    assert nem.fs == a.fs | b.fs
    assert nem.invoke(t, {"f": "start-b"}) == "b" and b.log == ["start-b"] and a.log == []
    with pytest.raises(ConfigError):
        nem.invoke(t, {"f": "start-c"})
    with pytest.raises(ConfigError, match="two nemeses"):
        CombinedNemesis({"a": a, "a2": Recorder("a")})


def test_heal_tries_every_family_even_when_one_fails() -> None:
    broken, fine = Recorder("partition", fail_heal=True), Recorder("kill")
    nem = CombinedNemesis({"kill": fine, "partition": broken})
    with pytest.raises(JepsyError, match="partition heal broke"):
        nem.heal(fake_test())
    assert broken.log == ["heal"] and fine.log == ["heal"]


def test_the_kill_heal_starts_the_database_only_after_the_power_heal_ended() -> None:
    """The kill heal starts the database; the power heal unmounts its filesystem first."""
    import threading
    import time

    events: list[str] = []
    lock = threading.Lock()

    class Slow(Recorder):
        def heal(self, test: RunSpec) -> None:
            with lock:
                events.append(f"{self.name} begins")
            time.sleep(0.2 if self.name == "power" else 0.0)
            with lock:
                events.append(f"{self.name} ends")

    nem = CombinedNemesis({"kill": Slow("kill"), "power": Slow("power"),
                           "partition": Slow("partition")})
    nem.heal(fake_test())
    assert events.index("kill begins") > events.index("power ends")
    assert events.index("partition begins") < events.index("power ends")  # others: at once


def families(names: list[str]) -> list[Family]:
    return [Family(n, Recorder(n), lambda ctx, n=n: {"f": f"start-{n}"}, {"f": f"stop-{n}"})
            for n in names]


def run_schedule(spec: Any, seed: int, steps: int, interval: float) -> list[dict[str, Any]]:
    g = gen.build(spec)
    rng = random.Random(seed)
    ops = []
    for i in range(steps):
        ctx = gen.Context(thread="nemesis", time=i * interval + 0.001, rng=rng)
        out = g.next(ctx)
        if isinstance(out, dict):
            ops.append(out)
    return ops


def test_schedule_is_seeded_and_every_stop_follows_its_start() -> None:
    spec = random_schedule(families(["partition", "kill", "clock"]), 1.0)
    ops = run_schedule(spec, seed=5, steps=60, interval=1.0)
    assert ops == run_schedule(spec, seed=5, steps=60, interval=1.0)
    assert ops != run_schedule(spec, seed=6, steps=60, interval=1.0)
    active: set[str] = set()
    overlap = 0
    for op in ops:
        kind, name = op["f"].split("-", 1)
        if kind == "start":
            assert name not in active
            active.add(name)
        else:
            assert name in active
            active.remove(name)
        overlap = max(overlap, len(active))
    assert {o["f"] for o in ops} == {f"{k}-{n}" for k in ("start", "stop")
                                     for n in ("partition", "kill", "clock")}
    assert overlap >= 2  # families overlap unless told not to


def test_max_faults_bounds_overlap_and_clients_get_nothing() -> None:
    spec = random_schedule(families(["a", "b", "c"]), 1.0, max_faults=1)
    active = 0
    for op in run_schedule(spec, seed=1, steps=80, interval=1.0):
        active += 1 if op["f"].startswith("start") else -1
        assert 0 <= active <= 1
    g = gen.build(spec)
    assert g.next(gen.Context(thread=0, time=5.0, rng=random.Random(0))) is None


def test_combine_builds_packages_by_name() -> None:
    assert isinstance(combine(["none"], {}).nemesis, NoNemesis)
    assert isinstance(combine(["partition"], {}).nemesis, PartitionNemesis)
    pkg = combine(["partition", "kill", "pause", "clock", "packet"], {"nemesis_interval": 2},
                  FakeDB())
    assert isinstance(pkg.nemesis, CombinedNemesis)
    assert {"start-partition", "stop-kill", "start-pause", "check-clock", "stop-packet"} <= pkg.nemesis.fs
    ops = run_schedule(pkg.generator, seed=3, steps=40, interval=2.0)
    assert ops and all(o["f"] in pkg.nemesis.fs for o in ops)
    with pytest.raises(ConfigError, match="unknown nemesis"):
        combine(["partition", "gremlins"], {})
