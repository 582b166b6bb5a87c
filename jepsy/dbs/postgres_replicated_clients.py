"""Clients of a replicated PostgreSQL: the single-node clients, with read-only transactions
routed to the worker's own node when ``--db-opt reads=replicas``.

Writes (and every transaction when reads stay on the primary) go to the
primary through ``jepsy.dbs.postgres_clients``, with its outcome mapping.  A
read-only transaction routed to a hot standby runs at repeatable read, the
strongest level a standby offers (serializable is refused there).  A read
that fails is ``fail`` (reads change nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jepsy.dbs.postgres_clients import PostgresClient
from jepsy.dbs.postgres_clients import client_for as single_client_for
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.postgres_replicated import ReplicatedPostgresDB

__all__ = ["ReplicaRouter", "client_for"]


@dataclass
class _OnNode:
    """The view of the database a PostgresClient needs, bound to one node and level."""

    db: ReplicatedPostgresDB
    node: str
    level: str

    def primary(self, test: Test) -> str:
        return self.node

    def connect(self, host: str, timeout: float | None = None) -> Any:
        return self.db.connect(host, timeout)


def read_only(workload: str, op: Mapping[str, Any]) -> bool:
    if workload == "bank":
        return bool(op["f"] == "read")
    return all(m[0] == "r" for m in op.get("value") or [])


class ReplicaRouter:
    """Sends read-only transactions to ``reader`` (own node) and the rest to ``writer`` (primary)."""

    def __init__(self, db: ReplicatedPostgresDB, workload: str, opts: Mapping[str, Any]) -> None:
        self.db, self.workload, self.opts = db, workload, dict(opts)
        self.writer: Client | None = None
        self.reader: Client | None = None

    def open(self, test: Test, node: str) -> Client:
        c = ReplicaRouter(self.db, self.workload, self.opts)
        c.writer = single_client_for(self.workload, self.db, self.opts).open(test, node)  # type: ignore[arg-type]
        level = self.db.level if node == self.db.primary(test) else "REPEATABLE READ"
        if self.db.level in ("READ COMMITTED", "READ UNCOMMITTED"):
            level = self.db.level
        reader = PostgresClient(_OnNode(self.db, node, level), self.workload, self.opts)  # type: ignore[arg-type]
        c.reader = reader.open(test, node)
        return c

    def setup(self, test: Test) -> None:
        assert self.writer is not None
        self.writer.setup(test)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        assert self.writer is not None and self.reader is not None, "invoke before open"
        if self.db.reads == "replicas" and read_only(self.workload, op):
            return self.reader.invoke(test, op)
        return self.writer.invoke(test, op)

    def teardown(self, test: Test) -> None:
        """The cluster is wiped at teardown."""

    def close(self, test: Test) -> None:
        for c in (self.writer, self.reader):
            if c is not None:
                c.close(test)


def client_for(workload: str, db: ReplicatedPostgresDB, opts: Mapping[str, Any]) -> Client:
    single_client_for(workload, db, opts)  # type: ignore[arg-type]  # the same workloads, same errors
    return ReplicaRouter(db, workload, opts)
