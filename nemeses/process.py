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

Every op's completion says what happened on each node, and is an ``Applied``
(``jepsy.claims``): ``{"n2": "killed pid 4711", "n3": "not running; nothing
killed"}``.  Whether the database was running is asked of the DB module
(``running(test, node)``, which ``PidfileDaemon`` has); a module that cannot
tell is taken at its word.  A pause took effect where some process went to
state T.

State on the nodes, for ``jepsy heal`` after a jepsy that died: ``killed``
marks a node whose database jepsy killed (written before the kill; it holds the
database's pidfile path, whose start record ``jepsy heal`` runs to start it
again); ``paused`` lists the daemon's PID (written before the pause) and the
PIDs that the pause actually stopped (the processes in state T after the pause
that were not stopped before it), so a later heal resumes exactly those and no
process somebody else stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from jepsy.claims import Applied
from jepsy.control import on_nodes
from jepsy.dbs.pidfile import Pidfile
from jepsy.errors import ConfigError
from jepsy.options import Option, declare, names, read
from jepsy.protocols import HasPrimaries, Killable, NemesisPackage, Pausable, Test

from .family import Family, chooser, package
from .nodestate import HEAL_TIMEOUT, STATE_DIR, heal_script
from .targets import TARGETS, parse_list, pick

__all__ = ["KillNemesis", "PauseNemesis", "kill", "kill_family", "pause", "pause_family"]

DEFAULT_TARGETS = ("one", "minority", "random", "majority", "all")
STOPPED_PIDS = "ps -eo pid=,stat= | awk '$2 ~ /^T/ {print $1}'"


NOT_RUNNING_KILL = "not running; nothing killed"


@runtime_checkable
class Observable(Protocol):
    """A DB module that can tell whether its database runs on a node."""

    def running(self, test: Test, node: str) -> bool: ...


def is_running(db: Any, test: Test, node: str) -> bool | None:
    """Whether the database runs on ``node``; None when the module cannot tell."""
    return db.running(test, node) if isinstance(db, Observable) else None


def pid_of(db: Any, test: Test, node: str) -> str:
    """The PID the module's pidfile names ("" when it has none or cannot be read)."""
    pidfile = getattr(db, "pidfile", None)
    if not isinstance(pidfile, Pidfile):
        return ""
    got = test.remote.execute(node, f"cat {pidfile.path} 2>/dev/null", sudo=True, check=False)
    return got.stdout.strip() if got.ok else ""


def account(outcomes: Mapping[str, tuple[bool, str]]) -> Applied:
    """``{node: (took effect, what happened)}`` as an ``Applied``."""
    return Applied({n: what for n, (_, what) in outcomes.items()},
                   [n for n, (ok, _) in outcomes.items() if ok],
                   {n: what for n, (ok, what) in outcomes.items() if not ok})


def _option(key: str, what: str) -> Option:
    return Option(key, None, f"whom {what} hits, drawn from this comma-separated list: "
                  f"{', '.join(TARGETS)} (default: {','.join(DEFAULT_TARGETS)}, and primaries "
                  "when the database names its leader)", parse=names)


KILL_OPTIONS = (_option("kill_targets", "a kill"),)
PAUSE_OPTIONS = (_option("pause_targets", "a pause"),)


def _targets(opts: Mapping[str, Any], key: str, db: Any) -> list[str]:
    default = [*DEFAULT_TARGETS, *(["primaries"] if isinstance(db, HasPrimaries) else [])]
    chosen = parse_list(read(KILL_OPTIONS + PAUSE_OPTIONS, opts)[key], default)
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

            return account(on_nodes(nodes, lambda n: self.kill_one(test, n)))
        if op["f"] == "stop-kill":
            return self.restart(test)
        raise ConfigError(f"kill nemesis cannot do {op['f']!r}")

    def kill_one(self, test: Test, node: str) -> tuple[bool, str]:
        """Kill the database on ``node``; (took effect, what happened).

        Restarted at ``stop-kill`` even when it was not running: the final
        reads need it up either way.
        """
        was = is_running(self.db, test, node)
        pid = pid_of(self.db, test, node) if was else ""
        # Recorded before the kill, so that a jepsy killed right after it leaves the record:
        # the pidfile's path, whose start record ``jepsy heal`` runs to start the database again.
        pidfile = getattr(self.db, "pidfile", None)
        mark = pidfile.path if isinstance(pidfile, Pidfile) else "$(date +%s)"
        test.remote.execute(node, f"mkdir -p {STATE_DIR} && echo {mark} > {STATE_DIR}/killed",
                            sudo=True)
        self.killed.add(node)
        self.db.kill(test, node)
        if was is False:
            return False, NOT_RUNNING_KILL
        if is_running(self.db, test, node):
            return False, "still running after SIGKILL"
        return True, f"killed pid {pid}" if pid else "killed"

    def restart(self, test: Test) -> Applied:
        """Start the database again where this nemesis killed it; say where it runs again."""
        nodes = [n for n in test.nodes if n in self.killed]

        def start_one(node: str) -> tuple[bool, str]:
            self.db.start(test, node)
            test.remote.execute(node, f"rm -f {STATE_DIR}/killed", sudo=True)
            self.killed.discard(node)
            if is_running(self.db, test, node) is False:
                return False, "started, but not running"
            return True, "restarted"

        return account(on_nodes(nodes, start_one))

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
            stopped = on_nodes(nodes, lambda n: self.pause_one(test, n))
            return account({n: (True, f"paused pids {', '.join(p)}") if p else
                            (False, "no process stopped; not running?") for n, p in stopped.items()})
        if op["f"] == "stop-pause":
            return self.resume(test)
        raise ConfigError(f"pause nemesis cannot do {op['f']!r}")

    def pause_one(self, test: Test, node: str) -> list[str]:
        """Pause the database on ``node``; record and return the PIDs that went to state T.

        The daemon's own PID (its process group's, ``-PID``, for a group) is recorded before
        the pause too, so that a jepsy killed between the pause and the record of what it
        stopped still leaves ``jepsy heal`` a PID to resume.
        """
        pidfile = getattr(self.db, "pidfile", None)
        if isinstance(pidfile, Pidfile):
            lead = f"-$(cat {pidfile.path})" if pidfile.group else f"$(cat {pidfile.path})"
            test.remote.execute(node, f"mkdir -p {STATE_DIR} && [ -s {pidfile.path} ] && "
                                      f"echo {lead} >> {STATE_DIR}/paused", sudo=True, check=False)
        before = set(test.remote.execute(node, STOPPED_PIDS, sudo=True).stdout.split())
        self.paused.add(node)
        self.db.pause(test, node)
        after = test.remote.execute(node, STOPPED_PIDS, sudo=True).stdout.split()
        new = [p for p in after if p not in before]
        if new:
            rec = f"{STATE_DIR}/paused"  # each PID once (the daemon's may be there already)
            test.remote.execute(node, f"mkdir -p {STATE_DIR} && for p in {' '.join(new)}; do "
                                      f"grep -qx \"$p\" {rec} 2>/dev/null || echo \"$p\" >> {rec}; "
                                      "done", sudo=True)
        return new

    def resume(self, test: Test) -> Applied:
        nodes = sorted(self.paused, key=test.nodes.index)

        def resume_one(node: str) -> tuple[bool, str]:
            self.db.resume(test, node)
            test.remote.execute(node, heal_script(["pause"]), sudo=True, timeout=HEAL_TIMEOUT)
            self.paused.discard(node)
            return True, "resumed"

        return account(on_nodes(nodes, resume_one))

    def heal(self, test: Test) -> None:
        """Thaw what this run paused, and any PID a previous run recorded on any node."""
        self.resume(test)
        on_nodes(test.nodes, lambda n: test.remote.execute(n, heal_script(["pause"]), sudo=True,
                                                            timeout=HEAL_TIMEOUT))

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


@declare(*KILL_OPTIONS)
def kill(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis kill``: kill and restart the database every ``nemesis_interval`` seconds."""
    return package(kill_family(opts), float(opts.get("nemesis_interval", 5.0)))


@declare(*PAUSE_OPTIONS)
def pause(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis pause``: freeze and thaw the database every ``nemesis_interval`` seconds."""
    return package(pause_family(opts), float(opts.get("nemesis_interval", 5.0)))
