"""PostgreSQL clients (pg8000): list-append, rw-register and bank as SQL transactions.

Every operation is one transaction ``BEGIN ISOLATION LEVEL <level>`` ...
``COMMIT`` on the connection the client opened to the primary; the bodies are
``jepsy.dbs.sql``'s.  Outcomes:

* an error before COMMIT was sent (serialization failure 40001, deadlock
  40P01, any SQL error, a refused connection) is ``fail``: the server rolls
  the transaction back;
* an error or timeout while COMMIT is in flight is ``info``: it may have
  committed;
* a committed transaction is ``ok`` with what it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jepsy.dbs.client import Definite, Outcome
from jepsy.dbs.sql import POSTGRES, SCHEMA, SqlClient
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.postgres import ExistingPostgres, PostgresDB

__all__ = ["PostgresClient", "client_for"]


def _code(e: BaseException) -> str:
    """The SQLSTATE of a pg8000 error (its first argument is the server's fields)."""
    return e.args[0].get("C", "") if e.args and isinstance(e.args[0], dict) else ""


def _answer(e: BaseException) -> str:
    code = _code(e)
    return {"40001": "serialization failure", "40P01": "deadlock"}.get(code, f"{code} {e}".strip())


class PostgresClient(SqlClient):
    """One connection to the primary (``db.primary``), at ``db.level``."""

    dialect = POSTGRES

    def __init__(self, db: PostgresDB | ExistingPostgres, workload: str, opts: Mapping[str, Any]) -> None:
        super().__init__(db, workload, opts)

    def open(self, test: Test, node: str) -> Client:
        c = self.fresh()
        c.host = test.address(self.db.primary(test))
        return c

    def setup_host(self, test: Test) -> str:
        return test.address(self.db.primary(test))

    def begin(self) -> str:
        return f"BEGIN ISOLATION LEVEL {self.db.level}"

    def answered(self, e: BaseException) -> bool:
        import pg8000.exceptions

        return isinstance(e, pg8000.exceptions.DatabaseError)

    def rules(self) -> Sequence[Outcome]:
        import pg8000.exceptions

        def lost(e: BaseException) -> str:
            return f"connection lost during commit: {e}" if self.committing else f"connection: {e}"

        return (
            Outcome((Definite,), "fail"),
            Outcome((pg8000.exceptions.DatabaseError,), "fail", _answer),
            Outcome((ConnectionRefusedError,), "fail", lambda e: f"connection: {e}", drop="always"),
            Outcome((OSError, pg8000.exceptions.InterfaceError), "maybe", lost, drop="always"),
        )


def client_for(workload: str, db: PostgresDB | ExistingPostgres, opts: Mapping[str, Any]) -> Client:
    if workload not in SCHEMA:
        raise ConfigError(f"postgres has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(SCHEMA))})")
    return PostgresClient(db, workload, opts)
