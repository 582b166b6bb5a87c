"""The roles of a test, one small protocol each, and the ``Test`` they all receive.

A run wires together a ``DB`` (what is installed on the nodes), a ``Client`` per
worker (how operations reach the database), a ``Nemesis`` (what faults are
injected), a ``Workload`` (which operations, and how their history is checked)
and the ``Remote`` that reaches the nodes.  Optional powers of a DB are their
own tiny protocols, tested with ``isinstance``.

Operations cross these interfaces as plain dicts: ``{"f": "write", "value": 3}``
in, ``{"type": "ok" | "fail" | "info", "value": ..., "error": ...}`` out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from jepsy.checkers import Checker
    from jepsy.control import Remote
    from jepsy.inventory import Node

__all__ = [
    "DB", "Client", "HasDataDir", "HasLogFiles", "HasPrimaries", "HasVersion", "Killable", "Nemesis",
    "NemesisPackage", "Pausable", "Preflights", "PreparesNodes", "Test", "Workload",
]


@dataclass
class Test:
    """Everything a role may need to know about the run it is part of.

    ``nodes`` are node names in inventory order; ``node_specs`` how to reach
    them; ``opts`` the user's options (``time_limit``, ``concurrency``, ``rate``,
    ``seed``, plus any ``--db-opt``/``--workload-opt``); ``rng`` is seeded from
    ``opts["seed"]`` so that a run's random choices can be repeated.
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    nodes: list[str]
    node_specs: dict[str, Node]
    remote: Remote
    opts: dict[str, Any] = field(default_factory=dict)
    store_dir: Path | None = None
    rng: random.Random = field(default_factory=random.Random)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jepsy"))

    def address(self, node: str) -> str:
        """The address other nodes (and clients) reach ``node`` at.

        ``jepsy_ip`` in the inventory wins (for hosts reached through a jump
        host whose cluster address differs), else the SSH host.
        """
        spec = self.node_specs[node]
        return str(spec.vars.get("jepsy_ip") or spec.host)


@runtime_checkable
class DB(Protocol):
    """A database on the nodes.

    ``setup`` installs (when absent), configures and starts the database on one
    node and returns once that node answers; it is called on all nodes in
    parallel, so members can find each other.  ``teardown`` stops it and wipes
    its data; it must succeed on a node where setup never ran or half ran.
    """

    def setup(self, test: Test, node: str) -> None: ...

    def teardown(self, test: Test, node: str) -> None: ...

    def client(self, workload: str, test: Test) -> Client:
        """A not-yet-opened client speaking ``workload``'s operations.

        Raises ``ConfigError`` if this database has no client for it.
        """
        ...


@runtime_checkable
class Killable(Protocol):
    """Can be killed hard (SIGKILL) and started again on one node."""

    def kill(self, test: Test, node: str) -> None: ...

    def start(self, test: Test, node: str) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    """Can be frozen (SIGSTOP) and thawed (SIGCONT) on one node."""

    def pause(self, test: Test, node: str) -> None: ...

    def resume(self, test: Test, node: str) -> None: ...


@runtime_checkable
class HasLogFiles(Protocol):
    """Names the files to collect from a node into the store (also after a crash)."""

    def log_files(self, test: Test, node: str) -> list[str]: ...


@runtime_checkable
class HasPrimaries(Protocol):
    """Can say which nodes currently lead (for faults aimed at primaries)."""

    def primaries(self, test: Test) -> list[str]: ...


@runtime_checkable
class HasVersion(Protocol):
    """Can say which version of the database runs on one node.

    Asked once the database is up on every node; the answers go to the run's
    ``test.json`` as ``db_version`` (so a run can be repeated on the same build).
    Asked of the running program (or the binary it runs), not of the package
    manager, since a module may run a build of its own.
    """

    def version(self, test: Test, node: str) -> str: ...


@runtime_checkable
class Preflights(Protocol):
    """Can say, before any run, what would stop its setup on one node (``jepsy doctor``).

    Returns one actionable line per problem (``"etcd is not installed: apt-get
    install etcd-server"``), empty when the node is ready.  Must not change the
    node.  ``test`` is a doctor's ``Test``: its ``remote``, ``nodes`` and
    ``node_specs`` (with the inventory's variables) are real, its ``opts`` empty
    and ``store_dir`` None.
    """

    def preflight(self, test: Test, node: str) -> list[str]: ...


@runtime_checkable
class HasDataDir(Protocol):
    """Keeps everything it must not lose under ``data_dir`` on each node (an absolute path).

    The power nemesis mounts its filesystem there before ``setup`` runs, so
    ``setup`` must create its files inside the directory and never replace the
    directory itself (``rm -rf`` of it may fail harmlessly: it is a mount point).
    """

    data_dir: str


@runtime_checkable
class Client(Protocol):
    """How one worker talks to the database.

    ``open`` returns a new client bound to ``node`` and must not change the
    database's logical state (it may be called again after a crash).  ``setup``
    runs once per test on one opened client (create tables, keys).  ``invoke``
    performs one operation and returns its completion: ``ok`` when it happened,
    ``fail`` only when it certainly did not (a refusal, a failed compare, a read
    that errored), ``info`` when it may have (timeouts, lost connections).  An
    exception escaping ``invoke`` is recorded as ``info``.  ``close`` releases
    connections and must be safe to call twice.
    """

    def open(self, test: Test, node: str) -> Client: ...

    def setup(self, test: Test) -> None: ...

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]: ...

    def teardown(self, test: Test) -> None: ...

    def close(self, test: Test) -> None: ...


@runtime_checkable
class Nemesis(Protocol):
    """Injects faults.

    ``fs`` are the operation names it handles (``start-partition`` ...).
    ``invoke`` applies one fault op and returns its completion value (what was
    actually done, with targets, so the history says it).  ``heal`` ends every
    fault it may have started, is idempotent, and is called on every exit path
    (normal end, exception, Ctrl-C, SIGTERM); ``teardown`` releases anything else.
    """

    fs: frozenset[str]

    def setup(self, test: Test) -> None: ...

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any: ...

    def heal(self, test: Test) -> None: ...

    def teardown(self, test: Test) -> None: ...


@runtime_checkable
class PreparesNodes(Protocol):
    """A nemesis that must act on the nodes before the database is set up.

    The runner calls ``prepare`` once, before ``DB.setup``; ``teardown`` (after
    ``DB.teardown``) undoes it.  The power nemesis mounts its filesystem under
    the database's data directory here.
    """

    def prepare(self, test: Test) -> None: ...


@dataclass(frozen=True)
class Workload:
    """What a workload contributes to a test.

    ``generator`` yields client ops for the main phase, ``final_generator``
    (optional) runs on every worker after faults are healed (final reads),
    ``checker`` judges the history, ``fs`` is the op vocabulary its clients
    must speak.
    """

    name: str
    generator: Any
    checker: Checker
    fs: frozenset[str]
    final_generator: Any = None
    opts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NemesisPackage:
    """A nemesis with the schedule of fault ops it should receive (a generator spec)."""

    nemesis: Nemesis
    generator: Any
