"""The SQL core of the PostgreSQL and Galera clients: tables, transaction bodies, bank set-up.

A SQL client runs every operation as one transaction: ``begin``, a body that
issues the workload's statements, ``COMMIT``.  The bodies are written once,
against a ``Session`` (``rows(sql, **params)``, statements in PyMySQL's
``%(name)s`` parameter style), and a ``Dialect`` holds what differs between the
servers: the upserts, the insert that keeps an existing row, the statement that
begins a transaction, and how a bank transfer computes its writes.

Outcomes follow from when an error comes (see ``SqlClient``): before COMMIT was
sent, the server rolls the transaction back, so it is ``fail``; while COMMIT is
in flight, it may have committed, so a lost connection is ``info``.  Which
driver errors are answers and which are lost connections is each client's
``outcomes``.

Tables (created by ``setup``): ``jepsy_append(k, v)`` holds a list as
comma-separated values, ``jepsy_register(k, v)``, ``jepsy_bank(account,
balance)``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jepsy.dbs.client import DatabaseClient, Definite
from jepsy.errors import ConfigError
from jepsy.protocols import Test

__all__ = ["MYSQL", "POSTGRES", "SCHEMA", "Dialect", "Session", "SqlClient", "bodies"]

SCHEMA = {
    "list-append": "CREATE TABLE IF NOT EXISTS jepsy_append (k int PRIMARY KEY, v text NOT NULL)",
    "rw-register": "CREATE TABLE IF NOT EXISTS jepsy_register (k int PRIMARY KEY, v bigint)",
    "bank": "CREATE TABLE IF NOT EXISTS jepsy_bank (account int PRIMARY KEY, balance bigint NOT NULL)",
}


class Session(Protocol):
    """One connection as the bodies see it: run a statement, get its rows (``[]`` if none)."""

    def rows(self, sql: str, **params: Any) -> Sequence[Sequence[Any]]: ...


class Pg8000Session:
    """pg8000's native interface, whose parameters are ``:name``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def rows(self, sql: str, **params: Any) -> Sequence[Sequence[Any]]:
        got = self.conn.run(re.sub(r"%\((\w+)\)s", r":\1", sql), **params)
        return list(got or [])


class PyMySqlSession:
    """PyMySQL: a cursor per statement (PyMySQL's cursors only hold results)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def rows(self, sql: str, **params: Any) -> Sequence[Sequence[Any]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall() or [])


def transfer_relative(s: Session, value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check the source's balance, then move the amount with relative updates."""
    amount = int(value["amount"])
    rows = s.rows("SELECT balance FROM jepsy_bank WHERE account = %(a)s", a=value["from"])
    if not rows:
        raise Definite("no such account")
    if rows[0][0] < amount:
        raise Definite("insufficient funds")
    s.rows("UPDATE jepsy_bank SET balance = balance - %(n)s WHERE account = %(a)s",
           n=amount, a=value["from"])
    s.rows("UPDATE jepsy_bank SET balance = balance + %(n)s WHERE account = %(a)s",
           n=amount, a=value["to"])
    return value


def transfer_computed(s: Session, value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Read both balances and write the values computed from them, as an application
    doing a read-modify-write would (the pattern whose updates Jepsen found lost on
    Galera in 2015)."""
    amount, src, dst = int(value["amount"]), value["from"], value["to"]
    balances = {a: int(b) for a, b in s.rows(
        "SELECT account, balance FROM jepsy_bank WHERE account IN (%(s)s, %(d)s)", s=src, d=dst)}
    if src not in balances or dst not in balances:
        raise Definite("no such account")
    if balances[src] < amount:
        raise Definite("insufficient funds")
    s.rows("UPDATE jepsy_bank SET balance = %(b)s WHERE account = %(a)s", b=balances[src] - amount, a=src)
    s.rows("UPDATE jepsy_bank SET balance = %(b)s WHERE account = %(a)s", b=balances[dst] + amount, a=dst)
    return value


@dataclass(frozen=True)
class Dialect:
    """What differs between servers; statements take ``%(k)s`` and ``%(v)s``."""

    name: str
    append: str  # append ",v" to k's list, creating it
    write: str  # set k to v, creating it
    seed: str  # create account a with balance b unless it exists
    transfer: Callable[[Session, Mapping[str, Any]], Mapping[str, Any]]
    session: Callable[[Any], Session]


POSTGRES = Dialect(
    "PostgreSQL",
    append="INSERT INTO jepsy_append AS t (k, v) VALUES (%(k)s, %(v)s) "
           "ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || %(v)s",
    write="INSERT INTO jepsy_register AS t (k, v) VALUES (%(k)s, %(v)s) "
          "ON CONFLICT (k) DO UPDATE SET v = %(v)s",
    seed="INSERT INTO jepsy_bank VALUES (%(a)s, %(b)s) ON CONFLICT DO NOTHING",
    transfer=transfer_relative,
    session=Pg8000Session,
)
MYSQL = Dialect(
    "Galera",
    append="INSERT INTO jepsy_append (k, v) VALUES (%(k)s, %(v)s) "
           "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))",
    write="INSERT INTO jepsy_register (k, v) VALUES (%(k)s, %(v)s) "
          "ON DUPLICATE KEY UPDATE v = VALUES(v)",
    seed="INSERT IGNORE INTO jepsy_bank VALUES (%(a)s, %(b)s)",
    transfer=transfer_computed,
    session=PyMySqlSession,
)

Body = Callable[[Session, Any], Any]


def bodies(d: Dialect) -> dict[tuple[str, str], Body]:
    """``(workload, f) -> body(session, value)``: the transaction bodies in dialect ``d``."""

    def append_txn(s: Session, mops: list[list[Any]]) -> list[list[Any]]:
        out = []
        for f, k, v in mops:
            if f == "r":
                rows = s.rows("SELECT v FROM jepsy_append WHERE k = %(k)s", k=k)
                out.append(["r", k, [int(x) for x in rows[0][0].split(",")] if rows else []])
            elif f == "append":
                s.rows(d.append, k=k, v=str(v))
                out.append([f, k, v])
            else:
                raise ConfigError(f"unknown list-append micro-op {f!r}")
        return out

    def register_txn(s: Session, mops: list[list[Any]]) -> list[list[Any]]:
        out = []
        for f, k, v in mops:
            if f == "r":
                rows = s.rows("SELECT v FROM jepsy_register WHERE k = %(k)s", k=k)
                out.append(["r", k, rows[0][0] if rows else None])
            elif f == "w":
                s.rows(d.write, k=k, v=v)
                out.append([f, k, v])
            else:
                raise ConfigError(f"unknown rw-register micro-op {f!r}")
        return out

    def bank_read(s: Session, _: Any) -> dict[int, int]:
        return {int(a): int(b) for a, b in s.rows("SELECT account, balance FROM jepsy_bank ORDER BY account")}

    return {("list-append", "txn"): append_txn, ("rw-register", "txn"): register_txn,
            ("bank", "read"): bank_read, ("bank", "transfer"): d.transfer}


def create(s: Session, d: Dialect, workload: str, opts: Mapping[str, Any]) -> None:
    """The workload's table, and for bank its accounts (kept if they exist: a rerun)."""
    s.rows(SCHEMA[workload])
    if workload == "bank":
        accounts = list(opts.get("accounts") or range(5))
        total = int(opts.get("total_amount", 100))
        share, extra = divmod(total, len(accounts))
        for i, a in enumerate(accounts):
            s.rows(d.seed, a=a, b=share + (extra if i == 0 else 0))


class SqlClient(DatabaseClient):
    """One connection; every op one transaction.  Subclasses give the dialect, the
    outcome rules, ``begin`` and which node to talk to.

    ``harmless`` is true until COMMIT is sent: an error before it leaves nothing
    (the server rolls back), so ``maybe`` rules are ``fail`` then, ``info`` after.
    An error the server answered (``answered``) is followed by a ROLLBACK, and a
    connection whose ROLLBACK fails is dropped.
    """

    dialect: Dialect

    def __init__(self, db: Any, workload: str, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.db, self.workload = db, workload
        self.conn: Any = None
        self.committing = False
        self.bodies = bodies(self.dialect)

    def fresh(self) -> SqlClient:
        return type(self)(self.db, self.workload, self.opts)

    def setup_host(self, test: Test) -> str:
        """The node whose server creates the tables."""
        raise NotImplementedError

    def connect(self) -> Any:
        assert self.host is not None, "invoke before open"
        return self.db.connect(self.host)

    def begin(self) -> str:
        raise NotImplementedError

    def answered(self, e: BaseException) -> bool:
        """Whether ``e`` is the server's answer (the transaction is to be rolled back)."""
        raise NotImplementedError

    def setup(self, test: Test) -> None:
        conn = self.db.connect(self.setup_host(test))
        try:
            create(self.dialect.session(conn), self.dialect, self.workload, self.opts)
        finally:
            conn.close()

    def drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def harmless(self, op: Mapping[str, Any]) -> bool:
        return not self.committing

    def do(self, f: str, value: Any) -> Any:
        body = self.bodies.get((self.workload, f))
        if body is None:
            raise ConfigError(f"{self.dialect.name} {self.workload} client cannot do {f!r}")
        self.committing = False
        try:
            if self.conn is None:
                self.conn = self.connect()
            s = self.dialect.session(self.conn)
            s.rows(self.begin())
            result = body(s, value)
            self.committing = True
            s.rows("COMMIT")
            return result
        except Exception as e:
            if isinstance(e, Definite) or self.answered(e):
                self.rollback()
            raise

    def rollback(self) -> None:
        try:
            self.dialect.session(self.conn).rows("ROLLBACK")
        except Exception:
            self.drop()
