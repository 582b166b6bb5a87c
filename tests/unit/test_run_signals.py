"""A signal stops a run without losing an op in flight: its completion is recorded
before the history closes.

The op in flight is held by the test, not by timing: the client double waits until
the run's main thread waits for the workers, sends SIGTERM then, and completes only
once the run has either closed its history (the op's completion comes too late: the
bug) or waits for this op in ``wind_down`` (as it must).  CPython 3.11's Thread.join,
interrupted by a raising signal handler, marks the thread it waited for as stopped
while it still runs (python/cpython#90882); ``jepsy test`` on a loaded machine lost
a completion that way.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from jepsy.doubles import MemoryDB
from jepsy.history import pair, read_history
from jepsy.nemeses.none import NoNemesis
from jepsy.protocols import Client, Test
from jepsy.run import Plan, RunState, run_test
from jepsy.workloads.register import workload as register

from .test_nemesis_targets import fake_test

WAIT_S = 30.0  # a bound for a broken run, never reached by a working one


def _main_stack() -> list[str]:
    """The function names of the main thread's stack, innermost first."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def _main_waits_for_workers(phase: str) -> bool:
    """The main thread is blocked waiting for the workers, called from ``phase``."""
    names = _main_stack()
    return (bool(names) and names[0] in ("wait", "_wait_for_tstate_lock")
            and "join" in names and phase in names)


def _until(cond: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class Phases:
    """An observer that keeps the phases the run entered."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def phase_changed(self, state: RunState) -> None:
        self.seen.append(state.phase)

    def run_ended(self, state: RunState) -> None:
        pass


class _HeldClient:
    """A memory client whose first op of process 0 sends SIGTERM to the run and is
    held in flight until the run either closed its history or waits for it."""

    def __init__(self, inner: Client, db: HoldsAnOp) -> None:
        self.inner, self.db = inner, db

    def open(self, test: Test, node: str) -> _HeldClient:
        return _HeldClient(self.inner.open(test, node), self.db)

    def setup(self, test: Test) -> None:
        self.inner.setup(test)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        if op["process"] == 0 and not self.db.held.is_set():
            self.db.held.set()
            self.db.signalled = _until(lambda: _main_waits_for_workers("run_main"))
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            # "collecting logs" comes after the history closed; a run that waits
            # for this op waits in wind_down.
            self.db.released = _until(lambda: "collecting logs" in self.db.phases.seen
                                      or _main_waits_for_workers("wind_down"))
        return self.inner.invoke(test, op)

    def teardown(self, test: Test) -> None:
        self.inner.teardown(test)

    def close(self, test: Test) -> None:
        self.inner.close(test)


class HoldsAnOp(MemoryDB):
    def __init__(self, phases: Phases) -> None:
        super().__init__(lag=0.0)
        self.phases = phases
        self.held = threading.Event()
        self.signalled = self.released = False

    def client(self, workload: str, test: Test) -> Client:
        return _HeldClient(super().client(workload, test), self)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_an_op_in_flight_at_sigterm_completes_before_the_history_closes(tmp_path: Path) -> None:
    phases = Phases()
    db = HoldsAnOp(phases)
    plan = Plan(test=fake_test(2), db=db, workload=register({}), nemesis=NoNemesis(),
                nemesis_generator=None, concurrency=2, time_limit=WAIT_S, recovery=0)
    results = run_test(plan, tmp_path, observers=[phases])
    assert db.signalled and db.released
    assert results["valid"] == "unknown" and "SIGTERM" in results["incomplete"]
    ops = read_history(tmp_path / "history.jsonl")
    calls = pair(ops)
    assert calls and [inv.index for inv, done in calls if done is None] == []
    # The held op (process 0's first) completed after the heal, as ops in flight do.
    heal = next(op.index for op in ops if op.f == "heal")
    first = next(done for inv, done in calls if inv.process == 0)
    assert first is not None and first.type == "ok" and first.index > heal
