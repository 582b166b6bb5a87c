"""Process faults through the database's own powers: kill (SIGKILL, then restart), pause (SIGSTOP/SIGCONT).

Both act through the DB module (``Killable``, ``Pausable``), which knows its
own PID file, so jepsy never kills or stops a process by name.  Targets
(``kill_targets`` / ``pause_targets`` options, comma-separated): ``one``,
``minority``, ``majority``, ``random``, ``primaries`` (with ``HasPrimaries``),
``all``.

``start-kill`` kills the database on the targets and ``stop-kill`` starts it
again there (the delay between them is the schedule's interval); ``heal``
restarts whatever is still down, because the final reads and the log
collection need the database back.  ``start-pause`` freezes, ``stop-pause``
and ``heal`` thaw.

State on the nodes, for ``jepsy heal`` after a jepsy that died: ``killed``
marks a node whose database jepsy killed; ``paused`` lists the PIDs that the
pause actually stopped (the processes in state T after the pause that were not
stopped before it), so a later heal resumes exactly those and no process
somebody else stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy.control import on_nodes
from jepsy.errors import ConfigError
from jepsy.protocols import HasPrimaries, Killable, NemesisPackage, Pausable, Test

from .family import Family, chooser, package
from .nodestate import STATE_DIR, heal_script
from .targets import TARGETS, parse_list, pick

__all__ = ["KillNemesis", "PauseNemesis", "kill", "kill_family", "pause", "pause_family"]

DEFAULT_TARGETS = ("one", "minority", "random", "majority", "all")
STOPPED_PIDS = "ps -eo pid=,stat= | awk '$2 ~ /^T/ {print $1}'"


def _targets(opts: Mapping[str, Any], key: str, db: Any) -> list[str]:
    default = [*DEFAULT_TARGETS, *(["primaries"] if isinstance(db, HasPrimaries) else [])]
    chosen = parse_list(opts.get(key), default)
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown {key} {unknown[0]!r}; known: {', '.join(TARGETS)}")
    return chosen


class KillNemesis:
    """``start-kill`` (value: a target spec) kills; ``stop-kill`` restarts. Completion: the nodes."""

    fs = frozenset({"start-kill", "stop-kill"})

    def __init__(self, db: Any, targets: list[str]) -> None:
        if not isinstance(db, Killable):
            raise ConfigError("the kill nemesis needs a database that can be killed and started "
                              "(Killable)")
        self.db: Any = db
        self.targets = targets
        self.killed: set[str] = set()

    def setup(self, test: Test) -> None:
        """Nothing is killed at the start."""

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-kill":
            spec = op.get("value") or test.rng.choice(self.targets)
            nodes = pick(spec, test.nodes, test.rng, test, self.db)

            def kill_one(node: str) -> None:
                test.remote.execute(node, f"mkdir -p {STATE_DIR} && date +%s > {STATE_DIR}/killed",
                                    sudo=True)
                self.killed.add(node)
                self.db.kill(test, node)

            on_nodes(nodes, kill_one)
            return nodes
        if op["f"] == "stop-kill":
            return self.restart(test)
        raise ConfigError(f"kill nemesis cannot do {op['f']!r}")

    def restart(self, test: Test) -> list[str]:
        nodes = [n for n in test.nodes if n in self.killed]

        def start_one(node: str) -> None:
            self.db.start(test, node)
            test.remote.execute(node, f"rm -f {STATE_DIR}/killed", sudo=True)
            self.killed.discard(node)

        on_nodes(nodes, start_one)
        return nodes

    def heal(self, test: Test) -> None:
        self.restart(test)

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing."""


class PauseNemesis:
    """``start-pause`` (value: a target spec) freezes; ``stop-pause`` thaws. Completion: the nodes."""

    fs = frozenset({"start-pause", "stop-pause"})

    def __init__(self, db: Any, targets: list[str]) -> None:
        if not isinstance(db, Pausable):
            raise ConfigError("the pause nemesis needs a database that can be paused (Pausable)")
        self.db: Any = db
        self.targets = targets
        self.paused: set[str] = set()

    def setup(self, test: Test) -> None:
        """Nothing is paused at the start."""

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-pause":
            spec = op.get("value") or test.rng.choice(self.targets)
            nodes = pick(spec, test.nodes, test.rng, test, self.db)
            on_nodes(nodes, lambda n: self.pause_one(test, n))
            return nodes
        if op["f"] == "stop-pause":
            return self.resume(test)
        raise ConfigError(f"pause nemesis cannot do {op['f']!r}")

    def pause_one(self, test: Test, node: str) -> list[str]:
        """Pause the database on ``node``; record and return the PIDs that went to state T."""
        before = set(test.remote.execute(node, STOPPED_PIDS, sudo=True).stdout.split())
        self.paused.add(node)
        self.db.pause(test, node)
        after = test.remote.execute(node, STOPPED_PIDS, sudo=True).stdout.split()
        new = [p for p in after if p not in before]
        if new:
            test.remote.execute(node, f"mkdir -p {STATE_DIR} && printf '%s\\n' {' '.join(new)} "
                                      f">> {STATE_DIR}/paused", sudo=True)
        return new

    def resume(self, test: Test) -> list[str]:
        nodes = sorted(self.paused, key=test.nodes.index)

        def resume_one(node: str) -> None:
            self.db.resume(test, node)
            test.remote.execute(node, heal_script(["pause"]), sudo=True)
            self.paused.discard(node)

        on_nodes(nodes, resume_one)
        return nodes

    def heal(self, test: Test) -> None:
        """Thaw what this run paused, and any PID a previous run recorded on any node."""
        self.resume(test)
        on_nodes(test.nodes, lambda n: test.remote.execute(n, heal_script(["pause"]), sudo=True))

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing."""


def kill_family(opts: Mapping[str, Any]) -> Family:
    db = opts.get("database")
    targets = _targets(opts, "kill_targets", db)
    return Family("kill", KillNemesis(db, targets), chooser("start-kill", targets), {"f": "stop-kill"})


def pause_family(opts: Mapping[str, Any]) -> Family:
    db = opts.get("database")
    targets = _targets(opts, "pause_targets", db)
    return Family("pause", PauseNemesis(db, targets), chooser("start-pause", targets),
                  {"f": "stop-pause"})


def kill(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis kill``: kill and restart the database every ``nemesis_interval`` seconds."""
    return package(kill_family(opts), float(opts.get("nemesis_interval", 5.0)))


def pause(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis pause``: freeze and thaw the database every ``nemesis_interval`` seconds."""
    return package(pause_family(opts), float(opts.get("nemesis_interval", 5.0)))
