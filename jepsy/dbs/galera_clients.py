"""MariaDB Galera clients (PyMySQL, pure Python): list-append, rw-register and bank over SQL.

Every operation is one transaction at the chosen isolation level, on the
worker's own node (Galera is multi-primary), with ``wsrep_sync_wait`` set
for the session; the bodies are ``jepsy.dbs.sql``'s.  A bank transfer reads
both balances and writes the values it computed (``UPDATE ... SET balance =
<computed>``), as an application doing a read-modify-write would: that is the
pattern whose updates Jepsen (2015) found lost.

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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jepsy.dbs.client import Definite, Outcome
from jepsy.dbs.sql import MYSQL, SCHEMA, SqlClient
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.galera import GaleraDB

__all__ = ["GaleraClient", "client_for"]

# Client error codes of a connection that was lost (not an answer: no rollback is known).
_LOST = {2006, 2013, 2014, 2055}
_CANNOT_CONNECT = 2003  # nothing was sent


def _code(e: BaseException) -> int:
    return e.args[0] if e.args and isinstance(e.args[0], int) else 0


def _lost(e: BaseException) -> bool:
    import pymysql  # type: ignore[import-untyped]

    return _code(e) in _LOST or isinstance(e, pymysql.err.InterfaceError)


class GaleraClient(SqlClient):
    dialect = MYSQL

    def __init__(self, db: GaleraDB, workload: str, opts: Mapping[str, Any]) -> None:
        super().__init__(db, workload, opts)

    def setup_host(self, test: Test) -> str:
        return test.address(test.nodes[0])

    def connect(self) -> Any:
        conn = super().connect()
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION wsrep_sync_wait = {int(self.db.sync_wait)}")
            cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {self.db.level}")
        return conn

    def begin(self) -> str:
        return "START TRANSACTION"

    def answered(self, e: BaseException) -> bool:
        import pymysql

        return isinstance(e, pymysql.err.MySQLError) and _code(e) != _CANNOT_CONNECT and not _lost(e)

    def rules(self) -> Sequence[Outcome]:
        import pymysql

        mysql = (pymysql.err.MySQLError,)
        return (
            Outcome((Definite,), "fail"),
            Outcome(mysql, "fail", lambda e: f"{_code(e)} {e}", drop="always",
                    when=lambda e: _code(e) == _CANNOT_CONNECT),
            Outcome(mysql, "maybe", lambda e: f"connection lost: {e}", drop="always", when=_lost),
            # An error reply: the server rolled this transaction back.
            Outcome(mysql, "fail", lambda e: f"{_code(e)} {e.args[1] if len(e.args) > 1 else e}"),
            Outcome((OSError,), "maybe", lambda e: f"connection: {e}", drop="always"),
        )


def client_for(workload: str, db: GaleraDB, opts: Mapping[str, Any]) -> Client:
    if workload not in SCHEMA:
        raise ConfigError(f"Galera has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(SCHEMA))})")
    return GaleraClient(db, workload, opts)
