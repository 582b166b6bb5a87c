"""PostgreSQL clients: list-append, rw-register and bank as SQL transactions.

Every operation is one transaction ``BEGIN ISOLATION LEVEL <level>`` ...
``COMMIT`` on the connection the client opened to the primary.  Outcomes:

* an error before COMMIT was sent (serialization failure 40001, deadlock
  40P01, any SQL error, a refused connection) is ``fail``: the server rolls
  the transaction back;
* an error or timeout while COMMIT is in flight is ``info``: it may have
  committed;
* a committed transaction is ``ok`` with what it read.

Tables (created by ``setup``): ``jepsy_append(k int primary key, v text)``
holds a list as comma-separated values; ``jepsy_register(k int primary key,
v bigint)``; ``jepsy_bank(account int primary key, balance bigint)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.postgres import ExistingPostgres, PostgresDB

__all__ = ["client_for"]

SCHEMA = {
    "list-append": ["CREATE TABLE IF NOT EXISTS jepsy_append (k int PRIMARY KEY, v text NOT NULL)"],
    "rw-register": ["CREATE TABLE IF NOT EXISTS jepsy_register (k int PRIMARY KEY, v bigint)"],
    "bank": ["CREATE TABLE IF NOT EXISTS jepsy_bank (account int PRIMARY KEY, balance bigint NOT NULL)"],
}


class _Abort(Exception):
    """The transaction certainly did not commit (message: why)."""


class PostgresClient:
    """One connection to the primary; ``body(conn, value)`` runs inside the transaction."""

    def __init__(self, db: PostgresDB | ExistingPostgres, workload: str, opts: Mapping[str, Any]) -> None:
        self.db, self.workload, self.opts = db, workload, dict(opts)
        self.conn: Any = None
        self.host: str | None = None

    def open(self, test: Test, node: str) -> Client:
        c = PostgresClient(self.db, self.workload, self.opts)
        c.host = test.address(self.db.primary(test))
        return c

    def setup(self, test: Test) -> None:
        conn = self.db.connect(test.address(self.db.primary(test)))
        try:
            for stmt in SCHEMA[self.workload]:
                conn.run(stmt)
            if self.workload == "bank":
                accounts = list(self.opts.get("accounts") or range(5))
                total = int(self.opts.get("total_amount", 100))
                share, extra = divmod(total, len(accounts))
                for i, a in enumerate(accounts):
                    conn.run("INSERT INTO jepsy_bank VALUES (:a, :b) ON CONFLICT DO NOTHING",
                             a=a, b=share + (extra if i == 0 else 0))
        finally:
            conn.close()

    def teardown(self, test: Test) -> None:
        """The cluster is wiped at teardown."""

    def close(self, test: Test) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        import pg8000.exceptions

        f, value = str(op["f"]), op.get("value")
        body = BODIES.get((self.workload, f))
        if body is None:
            raise ConfigError(f"PostgreSQL {self.workload} client cannot do {f!r}")
        committing = False
        try:
            if self.conn is None:
                assert self.host is not None, "invoke before open"
                self.conn = self.db.connect(self.host)
            self.conn.run(f"BEGIN ISOLATION LEVEL {self.db.level}")
            result = body(self.conn, value)
            committing = True
            self.conn.run("COMMIT")
            return {"type": "ok", "value": result}
        except _Abort as e:
            self._rollback()
            return {"type": "fail", "error": str(e)}
        except pg8000.exceptions.DatabaseError as e:
            # The server answered with an error: nothing of this transaction is committed.
            code = e.args[0].get("C", "") if e.args and isinstance(e.args[0], dict) else ""
            self._rollback()
            return {"type": "fail", "error": {"40001": "serialization failure",
                                              "40P01": "deadlock"}.get(code, f"{code} {e}".strip())}
        except (OSError, pg8000.exceptions.InterfaceError) as e:
            self.close(test)
            if isinstance(e, ConnectionRefusedError) or not committing:
                return {"type": "fail", "error": f"connection: {e}"}
            return {"type": "info", "error": f"connection lost during commit: {e}"}

    def _rollback(self) -> None:
        try:
            self.conn.run("ROLLBACK")
        except Exception:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


def _append_txn(conn: Any, mops: list[list[Any]]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            rows = conn.run("SELECT v FROM jepsy_append WHERE k = :k", k=k)
            out.append(["r", k, [int(x) for x in rows[0][0].split(",")] if rows else []])
        elif f == "append":
            conn.run("INSERT INTO jepsy_append AS t (k, v) VALUES (:k, :v) "
                     "ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || :v", k=k, v=str(v))
            out.append([f, k, v])
        else:
            raise ConfigError(f"unknown list-append micro-op {f!r}")
    return out


def _register_txn(conn: Any, mops: list[list[Any]]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            rows = conn.run("SELECT v FROM jepsy_register WHERE k = :k", k=k)
            out.append(["r", k, rows[0][0] if rows else None])
        elif f == "w":
            conn.run("INSERT INTO jepsy_register AS t (k, v) VALUES (:k, :v) "
                     "ON CONFLICT (k) DO UPDATE SET v = :v", k=k, v=v)
            out.append([f, k, v])
        else:
            raise ConfigError(f"unknown rw-register micro-op {f!r}")
    return out


def _bank_read(conn: Any, _: Any) -> dict[int, int]:
    return {int(a): int(b) for a, b in conn.run("SELECT account, balance FROM jepsy_bank ORDER BY account")}


def _bank_transfer(conn: Any, value: Mapping[str, Any]) -> Mapping[str, Any]:
    amount = int(value["amount"])
    rows = conn.run("SELECT balance FROM jepsy_bank WHERE account = :a", a=value["from"])
    if not rows:
        raise _Abort("no such account")
    if rows[0][0] < amount:
        raise _Abort("insufficient funds")
    conn.run("UPDATE jepsy_bank SET balance = balance - :n WHERE account = :a", n=amount, a=value["from"])
    conn.run("UPDATE jepsy_bank SET balance = balance + :n WHERE account = :a", n=amount, a=value["to"])
    return value


BODIES: dict[tuple[str, str], Callable[[Any, Any], Any]] = {
    ("list-append", "txn"): _append_txn,
    ("rw-register", "txn"): _register_txn,
    ("bank", "read"): _bank_read,
    ("bank", "transfer"): _bank_transfer,
}


def client_for(workload: str, db: PostgresDB | ExistingPostgres, opts: Mapping[str, Any]) -> Client:
    if workload not in SCHEMA:
        raise ConfigError(f"postgres has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(SCHEMA))})")
    return PostgresClient(db, workload, opts)
