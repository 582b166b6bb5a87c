"""Wiring one test run from names and options: what ``jepsy test`` and ``jepsy test-all`` share.

``run_one`` turns a ``TestSpec`` (plain data: the names a user typed and their
options) into the wired objects (database, workload, composed nemesis, Test,
Plan), stores ``test.json`` (everything needed to repeat the run: seed, exact
command line, jepsy's version, the database version read from the nodes),
runs it, and returns the results.  Errors in the spec raise ``ConfigError``
before anything touches a node.
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jepsy import __version__, options, registry
from jepsy.errors import ExitCode, JepsyError
from jepsy.inventory import Node

__all__ = ["TestSpec", "run_one", "suite_exit_code"]

# Options of the composed fault schedule itself (``jepsy.nemeses.combined``), whichever
# families it mixes.
SCHEDULE_OPTIONS = {o.name: o for o in (
    options.Option("nemesis_max_faults", None,
                   "at most this many faults in force at once (default: one per family)",
                   parse=options.integer),
)}


@dataclass
class TestSpec:
    """What to run; defaults are the CLI's."""

    __test__ = False  # not a pytest test class, despite its name

    db: str
    workload: str = "register"
    nemesis: str = "none"
    time_limit: float = 60.0
    concurrency: int | None = None
    rate: float = 100.0
    seed: int | None = None
    nemesis_interval: float = 5.0
    recovery: float = 5.0
    store: str = "store"
    name: str | None = None
    leave_db_running: bool = False
    db_opts: dict[str, Any] = field(default_factory=dict)
    workload_opts: dict[str, Any] = field(default_factory=dict)
    nemesis_opts: dict[str, Any] = field(default_factory=dict)
    command_line: Sequence[str] = ()
    # Availability expectations (jepsy.checkers.availability); None: informational only.
    expect_recovery: float | None = None
    expect_availability: float | None = None
    recovery_fraction: float | None = None  # None: the checker's default (0.8)
    nemesis_schedule: str | None = None  # an explicit schedule file (nemeses/schedule.py)
    nemesis_strategy: str = "random"  # or "guided" (nemeses/guided.py)

    @property
    def nemeses(self) -> list[str]:
        return [n.strip() for n in self.nemesis.split(",") if n.strip()] or ["none"]

    def test_name(self) -> str:
        return self.name or f"{self.db}-{self.workload}-{'+'.join(self.nemeses)}"


def _db_version(db: Any, test: Any) -> dict[str, str] | None:
    """``db.version(test, node)`` on every node when the module can say it (``HasVersion``)."""
    from jepsy.control import on_nodes
    from jepsy.protocols import HasVersion

    if not isinstance(db, HasVersion):
        return None

    got = on_nodes(test.nodes, lambda n: db.version(test, n), raise_errors=False)
    return {n: v if isinstance(v, str) else f"unknown ({v})" for n, v in got.items()}


def run_one(nodes: list[Node], spec: TestSpec, *, sudo_password: str | None = None,
            trust_on_first_use: bool = False, live: bool = True,
            echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``spec`` on ``nodes``; the results (also in the run's results.json)."""
    from jepsy.checkers.availability import DEFAULT_FRACTION, AvailabilityChecker
    from jepsy.control import SSHRemote
    from jepsy.live import LiveView, print_summary
    from jepsy.nemeses.combined import combine
    from jepsy.protocols import Test
    from jepsy.run import Plan, RunState, run_test
    from jepsy.store import new_run, write_json

    concurrency = spec.concurrency or 2 * len(nodes)
    avail = AvailabilityChecker(expect_recovery=spec.expect_recovery,
                                expect_availability=spec.expect_availability,
                                fraction=DEFAULT_FRACTION if spec.recovery_fraction is None
                                else spec.recovery_fraction)
    seed = spec.seed if spec.seed is not None else random.SystemRandom().randrange(2**31)
    nemeses = spec.nemeses
    common = {"time_limit": spec.time_limit, "concurrency": concurrency, "rate": spec.rate,
              "seed": seed, "nemesis_interval": spec.nemesis_interval}
    db_factory = registry.load("dbs", spec.db)
    wl_factory = registry.load("workloads", spec.workload)
    db_opts = {**common, **options.resolve(f"database {spec.db!r}", [options.declared(db_factory)],
                                           spec.db_opts, flag="--db-opt")}
    wl_opts = {**common, **options.resolve(f"workload {spec.workload!r}",
                                           [options.declared(wl_factory)],
                                           spec.workload_opts, flag="--workload-opt")}
    nem_tables = [options.declared(registry.load("nemeses", n)) for n in nemeses]
    nem_tables.append(SCHEDULE_OPTIONS)
    nem_opts = {**common, **options.resolve(f"nemesis {','.join(nemeses)!r}", nem_tables,
                                            spec.nemesis_opts, flag="--nemesis-opt")}
    the_db = db_factory(db_opts)
    the_workload = wl_factory(wl_opts)
    name = spec.test_name()
    package = combine(nemeses, {**nem_opts, **_fault_plan(spec, nodes, name)}, the_db)
    remote = SSHRemote(nodes, sudo_password=sudo_password, trust_on_first_use=trust_on_first_use)
    test = Test(name=name, nodes=[n.name for n in nodes], node_specs={n.name: n for n in nodes},
                remote=remote, rng=random.Random(seed),
                opts={**common, "db": spec.db, "workload": spec.workload, "nemesis": nemeses,
                      "workload_opts": dict(the_workload.opts)})
    the_db.client(the_workload.name, test)  # fails fast if the db cannot speak the workload
    run_dir = new_run(spec.store, name)
    test.store_dir = run_dir
    info = {
        "name": name, "jepsy_version": __version__, "seed": seed,
        "command_line": shlex.join(["jepsy", *spec.command_line]), "db": spec.db,
        "workload": spec.workload, "nemesis": nemeses, "nodes": test.nodes, "options": common,
        "db_opts": db_opts, "workload_opts": wl_opts, "nemesis_opts": nem_opts,
        "recovery": spec.recovery, "nemesis_strategy": spec.nemesis_strategy,
        "nemesis_schedule": spec.nemesis_schedule,
        "given_opts": {"db": spec.db_opts, "workload": spec.workload_opts,
                       "nemesis": spec.nemesis_opts},
    }
    if avail.expects:
        info["expect"] = {"recovery_s": avail.expect_recovery,
                          "availability": avail.expect_availability,
                          "recovery_fraction": avail.fraction}
    write_json(run_dir / "test.json", info)
    echo(f"jepsy: {name}, seed {seed}, nodes {', '.join(test.nodes)}; storing in {run_dir}")
    plan = Plan(test=test, db=the_db, workload=the_workload, nemesis=package.nemesis,
                nemesis_generator=package.generator, concurrency=concurrency,
                time_limit=spec.time_limit, rate=spec.rate, recovery=spec.recovery,
                leave_db_running=spec.leave_db_running, availability=avail,
                # The guided strategy reads the history as it streams (nemeses/guided.py).
                keep_history=spec.nemesis_strategy == "guided")
    state = RunState(time_limit=spec.time_limit)
    try:
        results = run_test(plan, run_dir, state,
                           on_setup=lambda: _record_version(the_db, test, run_dir, info),
                           observers=[LiveView()] if live else [])
    finally:
        remote.close()  # the run closes it before checking; again here if it never started
    _record_schedule(spec, run_dir, name, results, echo)
    if live:
        print_summary(results)
    return results


def _record_version(db: Any, test: Any, run_dir: Any, info: dict[str, Any]) -> None:
    from jepsy.store import write_json

    versions = _db_version(db, test)
    if versions is not None:
        write_json(run_dir / "test.json", {**info, "db_version": versions})


def _fault_plan(spec: TestSpec, nodes: list[Node], name: str) -> dict[str, Any]:
    """The nemesis options of ``--nemesis-schedule`` (loaded and checked against the nodes
    before anything touches them) and ``--nemesis-strategy``."""
    from jepsy.nemeses import schedule
    from jepsy.store import safe_name

    plan = schedule.load(spec.nemesis_schedule, [n.name for n in nodes]) \
        if spec.nemesis_schedule else None
    return {"nemesis_schedule": plan, "nemesis_strategy": spec.nemesis_strategy,
            "guided_state": str(Path(spec.store) / safe_name(name) / "guided-state.json")}


def _record_schedule(spec: TestSpec, run_dir: Path, name: str, results: dict[str, Any],
                     echo: Callable[[str], None]) -> None:
    """``schedule.json``: the faults this run had, as an explicit schedule to replay; and the
    guided policy's reward for the verdict."""
    from jepsy.checkers.chunks import fault_ops
    from jepsy.nemeses import guided, schedule
    from jepsy.store import safe_name

    try:
        ops = fault_ops(run_dir / "history.jsonl")  # not the millions of client ops
        schedule.write(run_dir / "schedule.json", schedule.from_history(ops))
    except JepsyError as e:
        echo(f"jepsy: warning: no schedule.json: {e}")
    if spec.nemesis_strategy == "guided":
        guided.record_verdict(Path(spec.store) / safe_name(name) / "guided-state.json",
                              results.get("valid"))


def suite_exit_code(codes: Sequence[int]) -> int:
    """One code for many runs: 255 if any crashed, else 2 if any unknown, else 1 if any
    invalid, else 0 (and 254 if any had a configuration error)."""
    for worst in (ExitCode.INTERNAL, ExitCode.CONFIG, ExitCode.UNKNOWN, ExitCode.INVALID):
        if worst in codes:
            return int(worst)
    return int(ExitCode.VALID)
