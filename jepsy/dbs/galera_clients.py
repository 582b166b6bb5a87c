"""MariaDB Galera clients (PyMySQL, pure Python): list-append, rw-register and bank over SQL.

Every operation is one transaction at the chosen isolation level, on the
worker's own node (Galera is multi-primary), with ``wsrep_sync_wait`` set
for the session.  A bank transfer reads both balances and writes the values
it computed (``UPDATE ... SET balance = <computed>``), as an application
doing a read-modify-write would: that is the pattern whose updates Jepsen
(2015) found lost.

Outcomes, the contract of ``Client.invoke`` (see ``jepsy.protocols``):

* ``fail`` when the transaction certainly did not commit: an error reply
  before or at COMMIT (a deadlock or Galera certification failure, 1213; a
  lock wait timeout; a node not ready, 1047; a record changed since it was
  read, 1020), a refused or impossible connection;
* ``info`` when the connection was lost or timed out while COMMIT was in
  flight (it may have committed);
* ``ok`` with what the transaction read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.galera import GaleraDB

__all__ = ["client_for"]

SCHEMA = {
    "list-append": "CREATE TABLE IF NOT EXISTS jepsy_append (k INT PRIMARY KEY, v TEXT NOT NULL)",
    "rw-register": "CREATE TABLE IF NOT EXISTS jepsy_register (k INT PRIMARY KEY, v BIGINT)",
    "bank": "CREATE TABLE IF NOT EXISTS jepsy_bank (account INT PRIMARY KEY, balance BIGINT NOT NULL)",
}
# Server error codes that are answers (the transaction was rolled back), not lost connections.
_LOST = {2006, 2013, 2014, 2055}


class _Abort(Exception):
    """The transaction certainly did not commit."""


class GaleraClient:
    def __init__(self, db: GaleraDB, workload: str, opts: Mapping[str, Any]) -> None:
        self.db, self.workload, self.opts = db, workload, dict(opts)
        self.host: str | None = None
        self.conn: Any = None

    def open(self, test: Test, node: str) -> Client:
        c = GaleraClient(self.db, self.workload, self.opts)
        c.host = test.address(node)
        return c

    def setup(self, test: Test) -> None:
        conn = self.db.connect(test.address(test.nodes[0]))
        try:
            with conn.cursor() as cur:
                cur.execute(SCHEMA[self.workload])
                if self.workload == "bank":
                    accounts = list(self.opts.get("accounts") or range(5))
                    total = int(self.opts.get("total_amount", 100))
                    share, extra = divmod(total, len(accounts))
                    for i, a in enumerate(accounts):
                        cur.execute("INSERT IGNORE INTO jepsy_bank VALUES (%s, %s)",
                                    (a, share + (extra if i == 0 else 0)))
        finally:
            conn.close()

    def teardown(self, test: Test) -> None:
        """The cluster is wiped at teardown."""

    def close(self, test: Test) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def _connect(self) -> Any:
        assert self.host is not None, "invoke before open"
        conn = self.db.connect(self.host)
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION wsrep_sync_wait = {int(self.db.sync_wait)}")
            cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {self.db.level}")
        return conn

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        import pymysql  # type: ignore[import-untyped]

        f, value = str(op["f"]), op.get("value")
        body = BODIES.get((self.workload, f))
        if body is None:
            raise ConfigError(f"Galera {self.workload} client cannot do {f!r}")
        committing = False
        try:
            if self.conn is None:
                self.conn = self._connect()
            with self.conn.cursor() as cur:
                cur.execute("START TRANSACTION")
                result = body(cur, value)
                committing = True
                cur.execute("COMMIT")
            return {"type": "ok", "value": result}
        except _Abort as e:
            self._rollback()
            return {"type": "fail", "error": str(e)}
        except pymysql.err.MySQLError as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
            if code == 2003:  # could not connect: nothing was sent
                self.close(test)
                return {"type": "fail", "error": f"{code} {e}"}
            if code in _LOST or isinstance(e, pymysql.err.InterfaceError):
                self.close(test)
                return {"type": "info" if committing else "fail", "error": f"connection lost: {e}"}
            # An error reply: the server rolled this transaction back.
            self._rollback()
            return {"type": "fail", "error": f"{code} {e.args[1] if len(e.args) > 1 else e}"}
        except OSError as e:
            self.close(test)
            return {"type": "info" if committing else "fail", "error": f"connection: {e}"}

    def _rollback(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")
        except Exception:
            self.close(None)  # type: ignore[arg-type]


def _append_txn(cur: Any, mops: list[list[Any]]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            cur.execute("SELECT v FROM jepsy_append WHERE k = %s", (k,))
            row = cur.fetchone()
            out.append(["r", k, [int(x) for x in row[0].split(",")] if row else []])
        elif f == "append":
            cur.execute("INSERT INTO jepsy_append (k, v) VALUES (%s, %s) "
                        "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))", (k, str(v)))
            out.append([f, k, v])
        else:
            raise ConfigError(f"unknown list-append micro-op {f!r}")
    return out


def _register_txn(cur: Any, mops: list[list[Any]]) -> list[list[Any]]:
    out = []
    for f, k, v in mops:
        if f == "r":
            cur.execute("SELECT v FROM jepsy_register WHERE k = %s", (k,))
            row = cur.fetchone()
            out.append(["r", k, row[0] if row else None])
        elif f == "w":
            cur.execute("INSERT INTO jepsy_register (k, v) VALUES (%s, %s) "
                        "ON DUPLICATE KEY UPDATE v = VALUES(v)", (k, v))
            out.append([f, k, v])
        else:
            raise ConfigError(f"unknown rw-register micro-op {f!r}")
    return out


def _bank_read(cur: Any, _: Any) -> dict[int, int]:
    cur.execute("SELECT account, balance FROM jepsy_bank ORDER BY account")
    return {int(a): int(b) for a, b in cur.fetchall()}


def _bank_transfer(cur: Any, value: Mapping[str, Any]) -> Mapping[str, Any]:
    amount, src, dst = int(value["amount"]), value["from"], value["to"]
    cur.execute("SELECT account, balance FROM jepsy_bank WHERE account IN (%s, %s)", (src, dst))
    balances = {a: int(b) for a, b in cur.fetchall()}
    if src not in balances or dst not in balances:
        raise _Abort("no such account")
    if balances[src] < amount:
        raise _Abort("insufficient funds")
    cur.execute("UPDATE jepsy_bank SET balance = %s WHERE account = %s", (balances[src] - amount, src))
    cur.execute("UPDATE jepsy_bank SET balance = %s WHERE account = %s", (balances[dst] + amount, dst))
    return value


BODIES: dict[tuple[str, str], Callable[[Any, Any], Any]] = {
    ("list-append", "txn"): _append_txn,
    ("rw-register", "txn"): _register_txn,
    ("bank", "read"): _bank_read,
    ("bank", "transfer"): _bank_transfer,
}


def client_for(workload: str, db: GaleraDB, opts: Mapping[str, Any]) -> Client:
    if workload not in SCHEMA:
        raise ConfigError(f"Galera has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(SCHEMA))})")
    return GaleraClient(db, workload, opts)
