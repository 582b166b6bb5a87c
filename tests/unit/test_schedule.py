"""Explicit fault schedules: the file format and its checks, reading one out of a history, replaying
it, the guided strategy's signal and policy, and the CLI's one-line errors for bad schedule files."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from jepsy import generator as gen
from jepsy.cli import main
from jepsy.errors import ConfigError
from jepsy.history import Op
from jepsy.nemeses.combined import combine
from jepsy.nemeses.family import Family
from jepsy.nemeses.guided import Guided, features
from jepsy.nemeses.schedule import Fault, Schedule, from_history, load, parse, replay

from .test_nemesis_process import FakeDB

NODES = ["n1", "n2", "n3"]


def test_a_schedule_round_trips_and_is_checked(tmp_path: Path) -> None:
    s = Schedule((Fault("partition", 2.0, {"n1": ["n2", "n3"]}, 3.0), Fault("kill", 4.0, ["n2"], None)))
    p = tmp_path / "s.json"
    p.write_text(json.dumps(s.to_json()))
    assert load(p, NODES) == s and s.families == ["partition", "kill"] and s.last_event() == 5.0
    (tmp_path / "s.yaml").write_text("faults:\n- {family: pause, at: 1, duration: 2, value: one}\n")
    assert load(tmp_path / "s.yaml", NODES).faults == (Fault("pause", 1.0, "one", 2.0),)


@pytest.mark.parametrize("faults, message", [
    ([{"family": "flood", "at": 1}], "unknown fault 'flood'"),
    ([{"family": "kill", "at": 1, "value": ["n9"]}], "unknown node(s) n9"),
    ([{"family": "partition", "at": 1, "value": {"n1": ["n7"]}}], "unknown node(s) n7"),
    ([{"family": "kill", "at": -1}], "'at' must be >= 0"),
    ([{"family": "kill", "at": 1, "when": 2}], "unknown field 'when'"),
    ([{"family": "kill", "at": 1, "duration": 5}, {"family": "kill", "at": 3}], "overlap"),
])
def test_bad_schedules_are_one_config_error(faults: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as e:
        parse({"faults": faults}, NODES)
    assert message in str(e.value) and "\n" not in str(e.value)


def nem(t: float, f: str, value: Any = None, error: Any = None) -> Op:
    return Op(0, int(t * 1e9), "info", "nemesis", f, value, error)


def test_from_history_takes_what_was_done_and_skips_what_failed() -> None:
    grudge = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
    history = [
        Op(0, int(10e9), "invoke", 0, "read", None),
        nem(14, "start-partition", "one"), nem(14.1, "start-partition", grudge),
        nem(15, "start-kill", "minority"), nem(15.2, "start-kill", ["n3"]),
        nem(18, "stop-partition"), nem(18.1, "stop-partition"),
        nem(19, "start-pause", "one"), nem(19.1, "start-pause", None, "no pid"),
        nem(20, "start-packet", {"behaviours": ["loss"], "targets": "one"}),
        nem(20.2, "start-packet", {"n2": "eth0: netem loss 20%"}),
        nem(25, "heal"),
    ]
    s = from_history(history)
    assert s.faults == (Fault("partition", 4.0, grudge, 4.0), Fault("kill", 5.0, ["n3"], None),
                        Fault("packet", 10.0, {"behaviours": ["loss"], "targets": ["n2"]}, None))
    assert any("pause" in n and "no pid" in n for n in s.notes)


def test_replay_emits_each_start_and_stop_at_its_time() -> None:
    g = gen.build(replay(Schedule((Fault("kill", 1.0, ["n1"], 2.0), Fault("partition", 3.0, "one", None)))))
    rng = random.Random(1)

    def at(t: float) -> Any:
        return g.next(gen.Context(thread="nemesis", time=100.0 + t, rng=rng))

    assert isinstance(at(0), gen.Pending)
    assert at(1.0) == {"f": "start-kill", "value": ["n1"]}
    assert isinstance(at(2.0), gen.Pending)
    assert at(3.0) == {"f": "stop-kill"}
    assert at(3.0) == {"f": "start-partition", "value": "one"}
    assert at(50) is None


def test_combine_follows_an_explicit_schedule_with_its_families() -> None:
    s = parse({"faults": [{"family": "kill", "at": 0, "duration": 1, "value": ["n1"]}]}, NODES)
    package = combine(["partition"], {"nemesis_schedule": s}, FakeDB())
    assert {"start-kill", "start-partition"} <= set(package.nemesis.fs)
    ops = gen.build(package.generator).next(gen.Context(thread="nemesis", time=0.0, rng=random.Random()))
    assert ops == {"f": "start-kill", "value": ["n1"]}
    with pytest.raises(ConfigError, match="unknown nemesis strategy"):
        combine(["partition"], {"nemesis_strategy": "smart"})


def client(i: int, t: float, typ: str, process: int, f: str = "read", error: Any = None) -> Op:
    return Op(i, int(t * 1e9), typ, process, f, None, error)


def test_features_see_outcomes_interleavings_availability_and_latency() -> None:
    before = [client(0, 0, "invoke", 0), client(1, 0.01, "ok", 0)]
    window = [client(2, 1, "invoke", 0), client(3, 1.002, "ok", 0), client(4, 1.1, "invoke", 0),
              client(5, 2.1, "info", 0, error="timeout: no answer"), client(6, 2.2, "invoke", 3),
              client(7, 2.3, "fail", 3)]
    got = features("partition:one", window, before, concurrency=3)
    assert "out|partition:one|w0|read|info|timeout" in got and "out|partition:one|w0|read|ok|-" in got
    assert "seq|partition:one|ok>info" in got
    assert "avail|partition:one|1" in got and "drop|partition:one|2" in got
    assert any(x.startswith("lat|partition:one|") for x in got)


class Quiet:
    fs = frozenset({"start-a", "stop-a", "start-b", "stop-b"})


def two_families() -> list[Family]:
    a = Family("a", Quiet(), lambda ctx: {"f": "start-a"}, {"f": "stop-a"})  # type: ignore[arg-type]
    b = Family("b", Quiet(), lambda ctx: {"f": "start-b"}, {"f": "stop-b"})  # type: ignore[arg-type]
    return [a, b]


def drive(seed: int, history: list[Op], rewarding: str, state: str | None = None,
          steps: int = 40) -> list[str]:
    """Ask a guided schedule for faults; faults of family ``rewarding`` make new outcomes appear."""
    g = Guided(two_families(), interval=1.0, state_path=state)
    rng, t, chosen = random.Random(seed), 0.0, []
    for _ in range(steps * 20):
        t += 0.1
        out = g.next(gen.Context(thread="nemesis", time=t, rng=rng, threads=[0, 1, "nemesis"],
                                 history=history))
        if isinstance(out, dict):
            chosen.append(out["f"])
            if out["f"] == f"start-{rewarding}":  # each fault of it brings a new kind of error
                n = len(history)
                history += [client(n, t, "invoke", 0), client(n + 1, t + 0.05, "fail", 0,
                                                              error=f"e{n}: new")]
    return chosen


def test_guided_is_deterministic_under_a_seed_and_prefers_what_pays(tmp_path: Path) -> None:
    one, two = drive(5, [], "b"), drive(5, [], "b")
    assert one == two and one
    starts = [f for f in one if f.startswith("start-")]
    assert starts.count("start-b") > starts.count("start-a") >= 1  # every arm tried, then b
    state = tmp_path / "g.json"
    drive(5, [], "b", str(state), steps=10)
    data = json.loads(state.read_text())
    assert data["arms"] and data["last_run"] and data["seen"]


@pytest.mark.parametrize("content, message", [
    ('{"faults": [{"family": "meteor", "at": 1}]}', "unknown fault 'meteor'"),
    ('{"faults": [{"family": "kill", "at": 1, "value": ["n7"]}]}', "unknown node(s) n7"),
    ("faults: [", "not JSON or YAML"),
])
def test_jepsy_test_refuses_a_bad_schedule_file_in_one_line(
        content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.json"
    p.write_text(content)
    with pytest.raises(SystemExit) as e:
        main(["test", "--nodes", "n1,n2", "--db", "memory", "--nemesis-schedule", str(p),
              "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert e.value.code == 254 and message in err and err.count("\n") == 1
    assert not (tmp_path / "store").exists()  # refused before any run began


def test_guided_ends_each_fault_before_the_run_ends_and_counts_a_try_when_it_starts() -> None:
    g = Guided(two_families(), interval=4.0, state_path=None, time_limit=6.0)
    rng, events = random.Random(2), []
    for i in range(200):
        out = g.next(gen.Context(thread="nemesis", time=i * 0.05, rng=rng, threads=[0, "nemesis"]))
        if isinstance(out, dict):
            events.append((round(i * 0.05, 2), out["f"]))
    assert [f for _, f in events][:1] in (["start-a"], ["start-b"]) and len(events) == 2
    assert events[0][0] == 4.0 and events[1][0] <= 5.5  # cut at time_limit - 0.5
    assert sum(t for t, _ in g.stats.values()) == 1
