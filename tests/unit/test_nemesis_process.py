"""Kill and pause through the database's own powers, with the state they leave on nodes."""

from __future__ import annotations

from typing import Any

import pytest

from jepsy.errors import ConfigError
from jepsy.nemeses.process import KillNemesis, PauseNemesis, kill, pause
from jepsy.protocols import Test as RunSpec

from .test_nemesis_targets import commands, fake_test


class FakeDB:
    """Records kill/start/pause/resume calls (the powers the nemeses use), and names a leader."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def kill(self, test: RunSpec, node: str) -> None:
        self.calls.append(("kill", node))

    def start(self, test: RunSpec, node: str) -> None:
        self.calls.append(("start", node))

    def pause(self, test: RunSpec, node: str) -> None:
        self.calls.append(("pause", node))

    def resume(self, test: RunSpec, node: str) -> None:
        self.calls.append(("resume", node))

    def primaries(self, test: RunSpec) -> list[str]:
        return ["n3"]


def test_kill_then_restart_exactly_the_killed_nodes() -> None:
    t, db = fake_test(), FakeDB()
    nem = KillNemesis(db, ["majority"])
    done = nem.invoke(t, {"f": "start-kill", "value": "majority"})
    killed = done.took_effect  # FakeDB cannot tell whether it runs: taken at its word
    assert len(killed) == 3 and sorted(c[1] for c in db.calls if c[0] == "kill") == killed
    assert done.value == dict.fromkeys(killed, "killed") and done.missed == {}
    assert all("/run/jepsy/faults/killed" in commands(t, n)[0] for n in killed)
    assert nem.invoke(t, {"f": "stop-kill"}).value == dict.fromkeys(killed, "restarted")
    assert sorted(c[1] for c in db.calls if c[0] == "start") == killed
    nem.heal(t)  # nothing left to restart
    assert len([c for c in db.calls if c[0] == "start"]) == 3


def test_heal_restarts_what_is_still_down() -> None:
    t, db = fake_test(), FakeDB()
    nem = KillNemesis(db, ["primaries"])
    assert nem.invoke(t, {"f": "start-kill", "value": "primaries"}).took_effect == ["n3"]
    nem.heal(t)
    assert db.calls == [("kill", "n3"), ("start", "n3")]


def test_pause_records_only_pids_it_stopped() -> None:
    state = {"paused": False}

    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if cmd.startswith("ps -eo"):
            # PID 7 was stopped by someone else before; 42 is the database.
            return 0, "7\n42\n" if state["paused"] else "7\n", ""
        return None

    class DB(FakeDB):
        def pause(self, test: RunSpec, node: str) -> None:
            state["paused"] = True
            super().pause(test, node)

    t, db = fake_test(handler=handler), DB()
    nem = PauseNemesis(db, ["one"])
    assert nem.invoke(t, {"f": "start-pause", "value": ["n2"]}).value == {"n2": "paused pids 42"}
    assert "for p in 42; do" in commands(t, "n2")[-1]
    assert "/run/jepsy/faults/paused" in commands(t, "n2")[-1]
    assert nem.invoke(t, {"f": "stop-pause"}).value == {"n2": "resumed"}
    assert ("resume", "n2") in db.calls
    assert "kill -CONT" in commands(t, "n2")[-1]


class ObservableDB(FakeDB):
    """Runs only on the nodes in ``up``, and says so (as ``PidfileDaemon.running`` does)."""

    def __init__(self, up: set[str]) -> None:
        super().__init__()
        self.up = set(up)

    def running(self, test: RunSpec, node: str) -> bool:
        return node in self.up

    def kill(self, test: RunSpec, node: str) -> None:
        super().kill(test, node)
        self.up.discard(node)


def test_a_kill_of_a_database_that_is_not_running_says_so_per_node() -> None:
    t, db = fake_test(3), ObservableDB({"n1"})
    done = KillNemesis(db, ["all"]).invoke(t, {"f": "start-kill", "value": "all"})
    assert done.value == {"n1": "killed", "n2": "not running; nothing killed",
                          "n3": "not running; nothing killed"}
    assert done.took_effect == ["n1"] and set(done.missed) == {"n2", "n3"}


def test_a_pause_that_stopped_nothing_is_missed() -> None:
    t = fake_test(2, handler=lambda node, cmd: (0, "", "") if cmd.startswith("ps -eo") else None)
    done = PauseNemesis(FakeDB(), ["all"]).invoke(t, {"f": "start-pause", "value": "all"})
    assert done.took_effect == [] and done.missed == dict.fromkeys(t.nodes,
                                                                   "no process stopped; not running?")


def test_databases_without_the_power_are_refused() -> None:
    with pytest.raises(ConfigError, match="Killable"):
        kill({"database": object()})
    with pytest.raises(ConfigError, match="Pausable"):
        pause({"database": object()})
    with pytest.raises(ConfigError, match="unknown kill_targets"):
        kill({"database": FakeDB(), "kill_targets": "most"})


def test_default_targets_include_primaries_when_the_db_can_name_them() -> None:
    class NoLeader:
        def kill(self, test: Any, node: str) -> None: ...
        def start(self, test: Any, node: str) -> None: ...

    with_leader = kill({"database": FakeDB()}).nemesis
    without = kill({"database": NoLeader()}).nemesis
    assert isinstance(with_leader, KillNemesis) and "primaries" in with_leader.targets
    assert isinstance(without, KillNemesis) and "primaries" not in without.targets
