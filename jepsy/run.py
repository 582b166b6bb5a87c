"""Running a wired test: one run, phase by phase, from connecting to the nodes to the stored verdict.

The phases are the steps of ``Run`` (each step's cleanup is guaranteed by the
ones after it)::

    set_up: nemesis.prepare ─ db.setup (all nodes) ─ nemesis.setup ─ clients open/setup
    run_main: workers + nemesis thread pull ops from the generator,
        each op recorded (invoke, then ok/fail/info) and flushed as it happens
    heal (always: normal end, exception, Ctrl-C, SIGTERM)
    final_reads: recovery wait, then each worker runs the final generator
    wind_down (always): ops in flight complete ─ clients close ─ history closed
        ─ collect (logs) ─ tear_down (db, nemesis) ─ disconnect (SSH closed)
    check ─ write (results.json, report)

Observers (``RunObserver``: the live view) are told of each phase; they watch
the run and never change it.

A worker whose op ended in ``info`` continues as a new process (old number plus
the concurrency), with a freshly opened client, as in Jepsen.  Interrupting a
run stops the workers, heals, collects logs and still checks the history it
has: a violation found in part of a history is still a violation, anything else
is "unknown" because the run is incomplete.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jepsy import generator as gen
from jepsy.checkers import Checker, check_safe
from jepsy.checkers.availability import AvailabilityChecker, with_availability
from jepsy.checkers.stats import stats
from jepsy.claims import Applied, fault_tally, never_took_effect, unhealed_from, why_unknown
from jepsy.control import on_nodes
from jepsy.errors import ExitCode, JepsyError
from jepsy.history import HistoryWriter, Op
from jepsy.placement import with_nodes
from jepsy.protocols import DB, Client, HasLogFiles, Nemesis, PreparesNodes, Test, Workload
from jepsy.store import write_json

__all__ = ["Interrupted", "Plan", "Run", "RunObserver", "RunState", "run_test"]


class Interrupted(Exception):
    """Raised in the main thread by SIGINT/SIGTERM so that every cleanup runs."""


@dataclass
class RunState:
    """Live counters, read by the terminal view while the run goes on."""

    phase: str = "setup"
    started: float = field(default_factory=time.monotonic)
    time_limit: float = 0.0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    faults: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, op: Op) -> None:
        if op.type != "invoke" and op.is_client:
            with self.lock:
                self.counts[(op.f, op.type)] += 1

    def totals(self) -> Counter[str]:
        with self.lock:
            out: Counter[str] = Counter()
            for (_, typ), n in self.counts.items():
                out[typ] += n
            return out


@dataclass
class Plan:
    """Everything ``run_test`` needs; built by the CLI from names and options."""

    test: Test
    db: DB
    workload: Workload
    nemesis: Nemesis
    nemesis_generator: Any
    concurrency: int
    time_limit: float
    rate: float = 0.0
    recovery: float = 5.0
    leave_db_running: bool = False
    # Runs beside the workload's checkers (default: informational, no expectation).
    availability: AvailabilityChecker | None = None
    # Keep the ops in memory while the run goes on, for generators that read them
    # (``gen.Context.history``: the guided fault strategy).  Off, memory stays flat
    # however long the run, and the checkers read the history back from its file.
    keep_history: bool = False


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread for the duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM while a cleanup step must not be cut short."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Engine:
    """Drives workers and the nemesis thread over one shared generator."""

    def __init__(self, plan: Plan, history: HistoryWriter, state: RunState,
                 stop: threading.Event) -> None:
        self.plan, self.test, self.history, self.state, self.stop = (
            plan, plan.test, history, state, stop)
        self.lock = threading.Lock()
        self.busy: set[int | str] = set()
        self.errors: list[BaseException] = []
        self.gen: gen.Gen = gen.build(None)
        self.threads: list[int | str] = []
        # This phase's threads, each with the event it sets once its function returned
        # (see ``join``).
        self.running: list[tuple[threading.Thread, threading.Event]] = []
        # Each worker's current process number; it survives from one phase to the next.
        self.processes: dict[int, int] = {}
        # Client ops and the fault schedule draw from separate generators seeded from
        # the test's, so the nemesis schedule of a seed repeats however the clients
        # interleave (which threads get which op depends on timing; which ops and
        # faults are generated does not).
        self.rngs = {"clients": random.Random(self.test.rng.random()),
                     "nemesis": random.Random(self.test.rng.random())}

    def now(self) -> float:
        return self.history.now() / 1e9

    def _next(self, thread: int | str) -> gen.Next:
        with self.lock:
            rng = self.rngs["nemesis" if thread == "nemesis" else "clients"]
            ctx = gen.Context(thread=thread, time=self.now(), rng=rng,
                              threads=self.threads, busy=frozenset(self.busy),
                              history=self.history.ops)
            out = self.gen.next(ctx)
            if isinstance(out, dict):
                self.busy.add(thread)
            return out

    def _done(self, thread: int | str) -> None:
        with self.lock:
            self.busy.discard(thread)

    def _wait_until(self, at: float | None) -> bool:
        """Sleep until ``at`` (seconds since start); False if the run is stopping."""
        if at is not None:
            delay = at - self.now()
            if delay > 0 and self.stop.wait(delay):
                return False
        return not self.stop.is_set()

    def run_phase(self, spec: Any, clients: list[Client | None], with_nemesis: bool) -> None:
        self.gen = gen.build(spec)
        self.threads = list(range(len(clients))) + (["nemesis"] if with_nemesis else [])

        def thread(name: str, fn: Callable[[int, list[Client | None]], None],
                   i: int) -> tuple[threading.Thread, threading.Event]:
            done = threading.Event()
            return threading.Thread(target=self._guard, args=(fn, i, clients, done),
                                    name=name, daemon=True), done

        self.running = [thread(f"worker-{i}", self._worker, i) for i in range(len(clients))]
        if with_nemesis:
            self.running.append(thread("nemesis", self._nemesis, 0))
        # Every thread started, or none cut off half-way: one whose start a signal
        # interrupted would run with no ident yet, and ``join`` would not wait for it.
        with _deferred_signals() as pending:
            for t, _ in self.running:
                t.start()
        if pending:
            raise Interrupted(signal.Signals(pending[0]).name)
        self.join()
        if self.errors:
            raise self.errors[0]

    def join(self, timeout: float | None = None, only: str | None = None) -> list[str]:
        """Wait for this phase's threads (or the one named ``only``), in short slices so
        that signals get through.

        Threads stop asking for ops once ``stop`` is set, and an op in flight ends
        within its client's timeout.  Returns the names of threads still running
        after ``timeout`` seconds.

        It waits on each thread's own event (set by ``_guard`` once the thread's
        function returned), never on ``Thread.join``: in CPython 3.11 a signal
        handler that raises (ours raises ``Interrupted``) while the main thread is in
        ``Thread.join`` marks the joined thread stopped though it still runs
        (python/cpython#90882), so a later join returned at once and ``wind_down``
        closed the history under that thread's op in flight: its completion was
        lost.  An event tells the truth whatever interrupts a wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for t, done in self.running:
            if only is not None and t.name != only:
                continue
            while (self._pending(t, done)
                   and (deadline is None or time.monotonic() < deadline)):
                done.wait(0.1)
        return [t.name for t, done in self.running if self._pending(t, done)]

    @staticmethod
    def _pending(t: threading.Thread, done: threading.Event) -> bool:
        """Started (it has an ident: ``run_phase`` starts its threads whole) and not
        yet finished; a thread that could not be started is never waited for."""
        return t.ident is not None and not done.is_set()

    def _guard(self, fn: Callable[[int, list[Client | None]], None], i: int,
               clients: list[Client | None], done: threading.Event) -> None:
        try:
            fn(i, clients)
        except BaseException as e:
            self.test.log.error("thread %s crashed:\n%s", threading.current_thread().name,
                                traceback.format_exc())
            self.errors.append(e)
            self.stop.set()
        finally:
            done.set()

    def _open(self, i: int) -> Client | None:
        node = self.test.nodes[i % len(self.test.nodes)]
        try:
            return self.plan.db.client(self.plan.workload.name, self.test).open(self.test, node)
        except JepsyError:
            raise
        except Exception as e:
            self.test.log.warning("worker %d: opening a client to %s failed: %r", i, node, e)
            return None

    def _drive(self, thread: int | str, perform: Callable[[dict[str, Any]], None]) -> None:
        """Ask the generator for ``thread``'s ops and perform each at its time, until the
        generator is exhausted for this thread or the run stops."""
        while not self.stop.is_set():
            out = self._next(thread)
            if out is None:
                return
            if isinstance(out, gen.Pending):
                self.stop.wait(min(out.wait, 0.1))
                continue
            try:
                if not self._wait_until(out.pop("at", None)):
                    return
                perform(out)
            finally:
                self._done(thread)

    def _worker(self, i: int, clients: list[Client | None]) -> None:
        self.processes.setdefault(i, i)
        self._drive(i, lambda op: self._client_op(i, clients, op))

    def _client_op(self, i: int, clients: list[Client | None], op: dict[str, Any]) -> None:
        process = self.processes[i]
        if clients[i] is None:
            clients[i] = self._open(i)
        client = clients[i]
        f, value = str(op["f"]), op.get("value")
        self.state.count(self.history.record("invoke", process, f, value))
        if client is None:
            done: dict[str, Any] = {"type": "fail", "error": "no client connection"}
        else:
            try:
                done = client.invoke(self.test, {"f": f, "value": value, "process": process})
            except Exception as e:
                done = {"type": "info", "error": f"{type(e).__name__}: {e}"}
        typ = done.get("type")
        if typ not in ("ok", "fail", "info"):
            done = {"type": "info", "error": f"client returned type {typ!r}"}
            typ = "info"
        self.state.count(self.history.record(
            str(typ), process, f, done.get("value", value), done.get("error")))
        if typ == "info":
            # The op may still take effect: this process is retired, as in Jepsen.
            self.processes[i] = process + self.plan.concurrency
            self._close(clients[i])
            clients[i] = self._open(i)

    def _close(self, client: Client | None) -> None:
        if client is not None:
            try:
                client.close(self.test)
            except Exception as e:
                self.test.log.warning("closing a client failed: %r", e)

    def _nemesis(self, _: int, clients: list[Client | None]) -> None:
        self._drive("nemesis", lambda op: self.nemesis_op(self.plan.nemesis, op))

    def nemesis_op(self, nem: Nemesis, op: dict[str, Any]) -> None:
        f = str(op["f"])
        self.history.record("info", "nemesis", f, op.get("value"))
        extra: dict[str, Any] | None = None
        try:
            value = nem.invoke(self.test, op)
            error = None
            if isinstance(value, Applied):  # the nemesis says where its fault took effect
                value, extra = value.value, value.extra()
        except JepsyError as e:
            value, error = None, str(e)
            self.test.log.warning("nemesis %s failed: %s", f, e)
        self.history.record("info", "nemesis", f, value, error, extra)
        with self.state.lock:
            kind = f.split("-", 1)[-1]
            if f.startswith("start-") and error is None:
                self.state.faults[kind] = value
            elif f.startswith("stop-"):
                self.state.faults.pop(kind, None)


def _heal(plan: Plan, history: HistoryWriter, state: RunState, tries: int = 3,
          pause: float = 2.0, budget: float = 45.0) -> dict[str, list[str]]:
    """Heal every fault; what could not be healed, per node (empty: all healed).

    A node the control machine lost (its link cut, its sshd gone) may come back:
    healing is idempotent, so it is tried again (the Remote reconnects) after a
    pause (2 s, doubling up to 8 s), at least ``tries`` times and until ``budget``
    seconds have passed: a refused connection fails in milliseconds and a cut link
    only after the heal timeout, and either node gets the same time to come back.
    What still fails is named node by node in ``results.json`` (``unhealed``) and
    the log, for ``jepsy heal`` to clear.
    """
    test = plan.test
    unhealed: dict[str, list[str]] = {}
    t0, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            plan.nemesis.heal(test)
            history.record("info", "nemesis", "heal", None)
            with state.lock:
                state.faults.clear()
            if unhealed:
                test.log.warning("healed on try %d after: %s", attempt, unhealed)
            return {}
        except Exception as e:
            names = test.opts.get("nemesis")
            unhealed = unhealed_from(e, ",".join(names) if isinstance(names, list) else "faults")
            test.log.error("heal try %d failed: %s", attempt, e)
            if attempt >= tries and time.monotonic() - t0 + pause > budget:
                break
            time.sleep(pause)
            pause = min(2 * pause, 8.0)
    # Not "heal": the fault periods of the history stay open, as they may well be.
    history.record("info", "nemesis", "heal-incomplete", unhealed)
    test.log.error("HEAL FAILED on %s; run 'jepsy heal' on this inventory", ", ".join(unhealed))
    return unhealed


def _collect_logs(plan: Plan, run_dir: Path) -> dict[str, Any]:
    test, db = plan.test, plan.db
    if not isinstance(db, HasLogFiles):
        return {}

    def grab(node: str) -> list[str]:
        got = []
        dest = run_dir / "nodes" / node
        dest.mkdir(parents=True, exist_ok=True)
        for remote_path in db.log_files(test, node):
            local = dest / Path(remote_path).name
            try:
                test.remote.download(node, remote_path, str(local))
                got.append(local.name)
            except Exception as e:
                test.log.warning("%s: could not collect %s: %s", node, remote_path, e)
        return got

    return on_nodes(test.nodes, grab, raise_errors=False)


@runtime_checkable
class RunObserver(Protocol):
    """Watches a run without taking part in it (the live view is one): told of each phase
    (``state.phase``), then once that the run ended, whatever happened.  Called in the
    run's thread, must return quickly; one that raises is logged and ignored."""

    def phase_changed(self, state: RunState) -> None: ...

    def run_ended(self, state: RunState) -> None: ...


class Run:
    """One run of a ``Plan``, stored in ``run_dir``; its phases are the steps below, called
    in order by ``execute`` with the module docstring's guarantees.  A ``JepsyError``
    (the configuration's fault) propagates after ``heal`` and ``wind_down``."""

    def __init__(self, plan: Plan, run_dir: Path, state: RunState | None = None,
                 checker_opts: dict[str, Any] | None = None,
                 on_setup: Callable[[], None] | None = None,
                 observers: Sequence[RunObserver] = ()) -> None:
        self.plan, self.test, self.run_dir = plan, plan.test, run_dir
        self.state = state or RunState(time_limit=plan.time_limit)
        self.state.time_limit = plan.time_limit
        self.checker_opts = checker_opts or {}
        self.on_setup = on_setup
        self.observers = list(observers)
        self.stop = threading.Event()
        self.clients: list[Client | None] = []
        self.incomplete: str | None = None
        self.crashed: BaseException | None = None
        self.db_started = False
        self.unhealed: dict[str, list[str]] = {}
        self.logs: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.t0 = time.monotonic()
        self.streamed: Any = None  # a checkers.streaming.Streamed when the file was streamed

    # -- the whole run -------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        self.t0 = time.monotonic()
        self._open_log()
        self.history = HistoryWriter(self.run_dir / "history.jsonl", keep=self.plan.keep_history)
        self.engine = _Engine(self.plan, self.history, self.state, self.stop)
        try:
            try:
                with _signals_raise():
                    self._until_healed()
                    self.final_reads()
            except Interrupted as e:
                self.incomplete = self.incomplete or f"interrupted by {e}"
                self.stop.set()
            finally:
                self.wind_down()
            self._enter("checking")
            results = self.results(self.check())
            self.write(results)
            self._enter("done")
            return results
        finally:
            self._notify("run_ended")

    def _until_healed(self) -> None:
        """Set up and run the main phase; then heal, always."""
        try:
            self.set_up()
            self.run_main()
        except Interrupted as e:
            self.incomplete = f"interrupted by {e}"
            self.stop.set()
        except JepsyError:
            self.stop.set()
            raise
        except BaseException as e:
            self.stop.set()
            self.crashed = e
            self.test.log.error("run crashed:\n%s", traceback.format_exc())
        finally:
            self.heal()

    # -- the phases, in order ------------------------------------------------
    def set_up(self) -> None:
        """Database, nemesis and clients ready.  The Remote connects to each node on its
        first command (so the in-process ``memory`` database needs no SSH at all)."""
        plan, test = self.plan, self.test
        self._enter("setup")
        test.log.info("setting up %s on %s", type(plan.db).__name__, ", ".join(test.nodes))
        self.db_started = True  # from here on, logs are collected and the database torn down
        if isinstance(plan.nemesis, PreparesNodes):  # e.g. a filesystem under the data dir
            plan.nemesis.prepare(test)
        on_nodes(test.nodes, lambda n: plan.db.setup(test, n))
        self.timings["db_setup_s"] = time.monotonic() - self.t0
        test.log.info("database ready on every node in %.1f s", self.timings["db_setup_s"])
        plan.nemesis.setup(test)
        if self.on_setup is not None:
            self.on_setup()
        self.timings["setup_s"] = time.monotonic() - self.t0
        test.log.info("nemesis ready; setup took %.1f s", self.timings["setup_s"])
        first = plan.db.client(plan.workload.name, test).open(test, test.nodes[0])
        try:
            first.setup(test)
        finally:
            first.close(test)
        self.clients = [self.engine._open(i) for i in range(plan.concurrency)]

    def run_main(self) -> None:
        """The workload's ops and the fault schedule for ``time_limit`` seconds."""
        plan = self.plan
        self._enter("running")
        self.state.started = time.monotonic()
        t1 = time.monotonic()
        main = gen.time_limit(plan.time_limit, gen.route(
            gen.rate(plan.rate, plan.workload.generator), plan.nemesis_generator))
        self.engine.run_phase(main, self.clients, with_nemesis=True)
        self.timings["main_s"] = time.monotonic() - t1

    def heal(self) -> None:
        """End every fault; what could not be healed is kept in ``unhealed``."""
        with _deferred_signals() as pending:
            self.stop.set()
            self._enter("healing")
            t2 = time.monotonic()
            # A fault being applied right now must land before the heal, or
            # it would outlive it: wait for the nemesis thread first.
            if self.engine.join(timeout=120, only="nemesis"):
                self.test.log.error("the nemesis thread is still busy after 120 s; healing anyway")
            self.unhealed = _heal(self.plan, self.history, self.state)
            self.timings["heal_s"] = time.monotonic() - t2
            if pending and self.incomplete is None:
                self.incomplete = f"interrupted by {signal.Signals(pending[0]).name}"

    def final_reads(self) -> None:
        """The final generator after the recovery wait, if the run so far is whole."""
        plan = self.plan
        if (self.incomplete is not None or self.crashed is not None or self.unhealed
                or plan.workload.final_generator is None):
            return
        self._enter("recovering")
        time.sleep(plan.recovery)
        self._enter("final reads")
        self.stop.clear()
        self.engine.run_phase(gen.clients(plan.workload.final_generator), self.clients,
                              with_nemesis=False)

    def wind_down(self) -> None:
        """Always: clients and history closed, logs collected, teardown, SSH closed."""
        with _deferred_signals():
            self.stop.set()
            # Ops still in flight complete (and are recorded) before clients and the
            # history close: a completion is never lost, nor written to a closed file.
            stuck = self.engine.join(timeout=60)
            if stuck:
                self.test.log.error("threads still running after 60 s: %s", ", ".join(stuck))
            for c in self.clients:
                self.engine._close(c)
            self.history.close()
            self.collect()
            self.tear_down()
            self.disconnect()  # before the checkers, which may fork
            self._close_log()

    def collect(self) -> None:
        self._enter("collecting logs")
        self.logs = _collect_logs(self.plan, self.run_dir) if self.db_started else {}

    def tear_down(self) -> None:
        plan, test = self.plan, self.test
        if self.db_started and not plan.leave_db_running:
            self._enter("teardown")
            on_nodes(test.nodes, lambda n: plan.db.teardown(test, n), raise_errors=False)
        plan.nemesis.teardown(test)

    def disconnect(self) -> None:
        try:
            self.test.remote.close()
        except Exception as e:
            self.test.log.warning("closing the connections failed: %r", e)

    def check(self) -> dict[str, Any]:
        plan, test = self.plan, self.test
        t3 = time.monotonic()
        opts = {"time_limit": plan.time_limit, "nodes": test.nodes, "store_dir": str(self.run_dir),
                "concurrency": plan.concurrency, **self.checker_opts}
        if not plan.keep_history:  # a history too large to hold is checked from its file
            try:
                from jepsy.checkers import streaming

                self.streamed = streaming.check_run_file(
                    plan.workload.checker, plan.availability, self.history.path,
                    self.history.count, opts)
            except Exception as e:  # then as always: the ops read back
                test.log.warning("streaming check failed, reading the history whole: %r", e)
        checker: Checker = check_safe(with_availability(plan.workload.checker, plan.availability))
        verdict: dict[str, Any] = (self.streamed.verdict if self.streamed is not None
                                   else checker.check(self.history.ops, opts))
        verdict = with_nodes(verdict, test.nodes, plan.concurrency)  # "process 15 (on n1)"
        self.timings["check_s"] = time.monotonic() - t3
        self.timings["total_s"] = time.monotonic() - self.t0
        return verdict

    def results(self, verdict: dict[str, Any]) -> dict[str, Any]:
        # A streamed check kept the nemesis ops only (all the tally needs) and the stats.
        streamed = self.streamed
        test, ops, crashed = (self.test, streamed.nemesis if streamed else self.history.ops,
                              self.crashed)
        valid = verdict.get("valid")
        incomplete = self.incomplete
        if crashed is not None:
            incomplete = f"crashed: {type(crashed).__name__}: {crashed}"
        if incomplete and valid is True:
            valid = "unknown"
        tally = fault_tally(ops)
        not_in_force = never_took_effect(tally)
        if not_in_force and valid is True:  # the faults the verdict is about did not happen
            valid = "unknown"
        if self.unhealed and valid is True:  # the cluster may still be partitioned, paused, skewed
            valid = "unknown"
        results = {
            "valid": valid,
            # A JepsyError during the run (an existing deployment's start command that
            # fails) keeps its own code (254): the configuration, not jepsy, is at fault.
            "exit_code": int((crashed.exit_code if isinstance(crashed, JepsyError) else ExitCode.INTERNAL)
                             if crashed is not None and valid is not False
                             else ExitCode.for_valid(valid)),
            "incomplete": incomplete,
            "test": test.name,
            "run_dir": str(self.run_dir),
            "nodes": test.nodes,
            "stats": streamed.stats if streamed else stats().check(ops, {}),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "logs": {n: v if isinstance(v, list) else str(v) for n, v in self.logs.items()},
            "checker": verdict,
            "faults": tally,
            "unhealed": self.unhealed or None,
        }
        results["reason"] = (why_unknown(results, not_in_force, self.run_dir)
                             if valid not in (True, False) else None)
        return results

    def write(self, results: dict[str, Any]) -> None:
        write_json(self.run_dir / "results.json", results)
        self._enter("report")
        from jepsy.report import write_all

        if self.streamed is not None:  # drawing millions of ops would hold them all again
            self.test.log.warning("report: %s", self.streamed.report_note)
        history = self.streamed.nemesis if self.streamed is not None else self.history.ops
        for problem in write_all(self.run_dir, history=history):
            self.test.log.warning("report: %s", problem)

    # -- plumbing --------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        self.state.phase = phase
        self._notify("phase_changed")

    def _notify(self, event: str) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(self.state)
            except Exception as e:
                self.test.log.warning("run observer %s failed on %s: %r",
                                      type(observer).__name__, event, e)

    def _open_log(self) -> None:
        self.handler = logging.FileHandler(self.run_dir / "jepsy.log")
        self.handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(threadName)s %(message)s"))
        self.test.log.addHandler(self.handler)
        self.test.log.setLevel(logging.INFO)

    def _close_log(self) -> None:
        self.test.log.removeHandler(self.handler)
        self.handler.close()


def run_test(plan: Plan, run_dir: Path, state: RunState | None = None,
             checker_opts: dict[str, Any] | None = None,
             on_setup: Callable[[], None] | None = None,
             observers: Sequence[RunObserver] = ()) -> dict[str, Any]:
    """Run ``plan`` and store it in ``run_dir``; return the results (also in results.json).

    ``on_setup`` runs once the database is up on every node (e.g. to record its version);
    ``observers`` watch the phases (``RunObserver``: the live view).
    """
    results: dict[str, Any] = Run(plan, run_dir, state, checker_opts, on_setup, observers).execute()
    return results
