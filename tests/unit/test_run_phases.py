"""A run as its phases: observers see every phase and cannot break the run; the SSH
connections are closed before the checkers run, also when setup failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from jepsy.doubles import FakeRemote, MemoryDB
from jepsy.errors import ConnectError
from jepsy.history import Op
from jepsy.nemeses.none import NoNemesis
from jepsy.protocols import Test
from jepsy.run import Plan, RunObserver, RunState, run_test
from jepsy.workloads.register import workload as register

from .test_nemesis_targets import fake_test


class Recorder:
    """An observer that keeps the phases it was told of, optionally failing on each."""

    def __init__(self, fail: bool = False) -> None:
        self.phases: list[str] = []
        self.ended = 0
        self.fail = fail

    def phase_changed(self, state: RunState) -> None:
        self.phases.append(state.phase)
        if self.fail:
            raise RuntimeError("observer broke")

    def run_ended(self, state: RunState) -> None:
        self.ended += 1
        if self.fail:
            raise RuntimeError("observer broke at the end")


class SeesRemote:
    """A checker that records whether the connections were closed when it ran."""

    def __init__(self, remote: FakeRemote) -> None:
        self.remote = remote
        self.closed_at_check: bool | None = None

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        self.closed_at_check = self.remote.closed
        return {"valid": True}


def _plan(test: Test, checker: Any = None) -> Plan:
    wl = register({"ops_per_key": 10})
    if checker is not None:
        from dataclasses import replace

        wl = replace(wl, checker=checker)
    return Plan(test=test, db=MemoryDB(lag=0.0), workload=wl, nemesis=NoNemesis(),
                nemesis_generator=None, concurrency=2, time_limit=0.3, recovery=0)


def test_observers_see_every_phase_in_order_and_a_failing_one_changes_nothing(tmp_path: Path) -> None:
    seen, broken = Recorder(), Recorder(fail=True)
    results = run_test(_plan(fake_test(3)), tmp_path, observers=[broken, seen])
    assert results["valid"] is True and results["exit_code"] == 0
    assert seen.phases == ["setup", "running", "healing", "recovering", "final reads",
                           "collecting logs", "teardown", "checking", "report", "done"]
    assert broken.phases == seen.phases
    assert seen.ended == 1 and broken.ended == 1
    assert isinstance(seen, RunObserver)
    assert "observer broke" in (tmp_path / "jepsy.log").read_text()


class FailsOn(MemoryDB):
    """A memory database whose setup cannot reach one node."""

    def __init__(self, node: str) -> None:
        super().__init__(lag=0.0)
        self.node = node

    def setup(self, test: Test, node: str) -> None:
        if node == self.node:
            raise ConnectError(f"{node}: cannot connect")


def test_the_connections_are_closed_before_the_check(tmp_path: Path) -> None:
    test = fake_test(3)
    assert isinstance(test.remote, FakeRemote)
    checker = SeesRemote(test.remote)
    results = run_test(_plan(test, checker), tmp_path)
    assert checker.closed_at_check is True
    assert results["valid"] is True


def test_an_unreachable_node_fails_the_run_and_the_run_still_ends(tmp_path: Path) -> None:
    test = fake_test(3)
    plan = _plan(test)
    plan.db = FailsOn("n2")
    seen = Recorder()
    with pytest.raises(ConnectError):
        run_test(plan, tmp_path, observers=[seen])
    # healed, logs collected, torn down, connections closed; the observer told it ended
    assert seen.phases == ["setup", "healing", "collecting logs", "teardown"]
    assert seen.ended == 1
    assert isinstance(test.remote, FakeRemote) and test.remote.closed
    assert (tmp_path / "history.jsonl").exists()
