"""The ok/fail/info outcome of every database client, as a table, for every kind of error.

Findings depend on these outcomes (an ``info`` write may have happened, a ``fail``
certainly did not), so the table pins them: each row makes one client's operation
end in one error and states what the run records, the op's type, its value as the
history records it (``done.get("value", invoked value)``, as the runner does), its
error text, and whether the client dropped its connection.  The table was written
against the clients before they shared one skeleton (``jepsy.dbs.client``) and
passes unchanged after.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

import pytest

from jepsy.dbs import (
    etcd_clients,
    http_client,
    maelstrom_clients,
    rabbitmq_clients,
    redis_clients,
    zookeeper_clients,
)
from jepsy.errors import ConfigError

RAISES = "raises"


class FakeConn:
    """Stands for a connection or session; remembers being closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def stop(self) -> None:
        pass


def run(client: Any, attr: str, f: str, value: Any, error: BaseException | Any) -> tuple[Any, ...]:
    """Invoke ``f`` with ``do`` raising ``error`` (or returning it); the recorded outcome."""
    conn = FakeConn()
    setattr(client, attr, conn)

    def do(f: str, value: Any) -> Any:
        if isinstance(error, BaseException):
            raise error
        return error

    client.do = do
    try:
        done = client.invoke(None, {"f": f, "value": value, "process": 0})
    except Exception as e:
        return (RAISES, type(e).__name__)
    dropped = getattr(client, attr) is None or conn.closed
    return (done["type"], done.get("value", value), done.get("error"), dropped)


def etcd(cls: str) -> Any:
    c = getattr(etcd_clients, cls)({})
    c.host = "127.0.0.1"
    return c


ETCD: list[tuple[str, str, Any, Callable[[], Any], tuple[Any, ...]]] = [
    ("RegisterClient", "read", [1, None], lambda: [1, 5], ("ok", [1, 5], None, False)),
    ("RegisterClient", "cas", [1, [1, 2]], lambda: etcd_clients.Definite("compare failed"),
     ("fail", [1, [1, 2]], "compare failed", False)),
    ("RegisterClient", "write", [1, 2], lambda: ConnectionRefusedError(111, "refused"),
     ("fail", [1, 2], "connection refused", False)),
    ("RegisterClient", "write", [1, 2], lambda: TimeoutError("timed out"),
     ("info", [1, 2], "timeout", False)),
    ("RegisterClient", "read", [1, None], lambda: TimeoutError("timed out"),
     ("fail", [1, None], "timeout", False)),
    ("RegisterClient", "write", [1, 2], lambda: http.client.RemoteDisconnected("gone"),
     ("info", [1, 2], "gone", False)),
    ("RegisterClient", "write", [1, 2], lambda: etcd_clients.EtcdError(14, "unavailable"),
     ("info", [1, 2], "etcd error 14: unavailable", False)),
    ("RegisterClient", "read", [1, None], lambda: etcd_clients.EtcdError(14, "unavailable"),
     ("fail", [1, None], "etcd error 14: unavailable", False)),
    ("RegisterClient", "write", [1, 2], lambda: ValueError("bad json"),
     ("info", [1, 2], "bad json", False)),
    ("RegisterClient", "write", [1, 2], lambda: OSError(),
     ("info", [1, 2], "OSError", False)),
    ("RegisterClient", "write", [1, 2], lambda: ConfigError("no"), (RAISES, "ConfigError")),
    ("RegisterClient", "write", [1, 2], lambda: KeyError("x"), (RAISES, "KeyError")),
    ("TxnClient", "txn", [["r", 1, None]], lambda: TimeoutError("t"),
     ("info", [["r", 1, None]], "timeout", False)),
    ("TxnClient", "txn", [["w", 1, 1]], lambda: etcd_clients.Definite("conflict"),
     ("fail", [["w", 1, 1]], "conflict", False)),
    ("QueueClient", "dequeue", None, lambda: TimeoutError(),
     ("info", None, "timeout", False)),
    ("SetClient", "read", None, lambda: TimeoutError(), ("fail", None, "timeout", False)),
    ("BankClient", "read", None, lambda: OSError("reset"), ("fail", None, "reset", False)),
    ("BankClient", "transfer", {"from": 0, "to": 1, "amount": 1}, lambda: OSError("reset"),
     ("info", {"from": 0, "to": 1, "amount": 1}, "reset", False)),
]


@pytest.mark.parametrize(("cls", "f", "value", "error", "want"), ETCD)
def test_etcd(cls: str, f: str, value: Any, error: Callable[[], Any], want: tuple[Any, ...]) -> None:
    assert run(etcd(cls), "conn", f, value, error()) == want


def _redis_errors() -> list[tuple[str, str, Any, Callable[[], Any], tuple[Any, ...]]]:
    import redis

    return [
        ("SetClient", "add", 1, lambda: redis_clients.NotSent("no sentinel named a primary"),
         ("fail", 1, "no sentinel named a primary", False)),
        ("RegisterClient", "cas", [1, [1, 2]], lambda: redis_clients.Definite("compare failed"),
         ("fail", [1, [1, 2]], "compare failed", False)),
        ("SetClient", "add", 1, lambda: redis.ResponseError("READONLY You can't write"),
         ("fail", 1, "READONLY You can't write", True)),
        ("SetClient", "add", 1, lambda: redis.ConnectionError("Error 111 connecting. Connection refused."),
         ("fail", 1, "Error 111 connecting. Connection refused.", True)),
        ("SetClient", "add", 1, lambda: redis.ConnectionError("Connection reset by peer"),
         ("info", 1, "Connection reset by peer", True)),
        ("SetClient", "read", None, lambda: redis.ConnectionError("Connection reset by peer"),
         ("fail", None, "Connection reset by peer", True)),
        ("SetClient", "add", 1, lambda: redis.TimeoutError("Timeout reading"),
         ("info", 1, "timeout", True)),
        ("SetClient", "read", None, lambda: redis.TimeoutError("Timeout reading"),
         ("fail", None, "timeout", True)),
        ("SetClient", "add", 1, lambda: OSError(), ("info", 1, "OSError", True)),
        ("RegisterClient", "write", [1, 2], lambda: redis.RedisError("odd"),
         ("info", [1, 2], "odd", True)),
        ("SetClient", "add", 1, lambda: ValueError("x"), (RAISES, "ValueError")),
        ("SetClient", "add", 1, lambda: ConfigError("x"), (RAISES, "ConfigError")),
    ]


@pytest.mark.parametrize("row", range(12))
def test_redis(row: int) -> None:
    cls, f, value, error, want = _redis_errors()[row]
    client = getattr(redis_clients, cls)({})
    assert run(client, "conn", f, value, error()) == want


def _zk_errors() -> list[tuple[str, str, Any, Callable[[], Any], tuple[Any, ...]]]:
    from kazoo.exceptions import (  # type: ignore[import-untyped]
        BadVersionError,
        ConnectionLoss,
        NoNodeError,
        SessionExpiredError,
    )
    from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

    definite = zookeeper_clients.Definite
    return [
        ("RegisterClient", "cas", [1, [1, 2]], lambda: definite("compare failed"),
         ("fail", [1, [1, 2]], "compare failed", False)),
        ("RegisterClient", "cas", [1, [1, 2]], lambda: BadVersionError(),
         ("fail", [1, [1, 2]], "version moved: compare failed", False)),
        ("RegisterClient", "write", [1, 2], lambda: NoNodeError(),
         ("fail", [1, 2], "no such znode", False)),
        ("RegisterClient", "write", [1, 2], lambda: ConnectionLoss(),
         ("info", [1, 2], "ConnectionLoss", True)),
        ("RegisterClient", "read", [1, None], lambda: ConnectionLoss(),
         ("fail", [1, None], "ConnectionLoss", False)),
        ("SetClient", "add", 1, lambda: SessionExpiredError("gone"),
         ("info", 1, "SessionExpiredError: gone", True)),
        ("SetClient", "read", None, lambda: KazooTimeoutError("slow"),
         ("fail", None, "KazooTimeoutError: slow", False)),
        ("SetClient", "add", 1, lambda: KazooTimeoutError("slow"),
         ("info", 1, "KazooTimeoutError: slow", True)),
        ("SetClient", "add", 1, lambda: ConfigError("cannot"),
         ("info", 1, "ConfigError: cannot", True)),
        ("SetClient", "add", 1, lambda: ValueError("x"), ("info", 1, "ValueError: x", True)),
    ]


@pytest.mark.parametrize("row", range(10))
def test_zookeeper(row: int) -> None:
    cls, f, value, error, want = _zk_errors()[row]
    client = getattr(zookeeper_clients, cls)({}, zookeeper_clients.ReadSessions())
    assert run(client, "zk", f, value, error()) == want


Reply = http_client.Reply
HTTP: list[tuple[str, str, Any, Callable[[], Any], tuple[Any, ...]]] = [
    ("RegisterClient", "read", [1, None], lambda: [1, 3], ("ok", [1, 3], None, False)),
    ("RegisterClient", "cas", [1, [1, 2]], lambda: Reply(409, "mismatch"),
     ("fail", [1, [1, 2]], "409 mismatch", False)),
    ("RegisterClient", "write", [1, 2], lambda: Reply(503, "not leader"),
     ("fail", [1, 2], "503 not leader", False)),
    ("RegisterClient", "write", [1, 2], lambda: Reply(404, "Not Found"),
     ("fail", [1, 2], "404 Not Found", False)),
    ("RegisterClient", "write", [1, 2], lambda: Reply(500, "boom"),
     ("info", [1, 2], "500 boom", False)),
    ("RegisterClient", "read", [1, None], lambda: Reply(500, "boom"),
     ("fail", [1, None], "500 boom", False)),
    ("RegisterClient", "write", [1, 2], lambda: Reply(504, "slow"),
     ("info", [1, 2], "504 slow", False)),
    ("RegisterClient", "write", [1, 2], lambda: ConnectionRefusedError(111, "refused"),
     ("fail", [1, 2], "connection refused", False)),
    ("RegisterClient", "write", [1, 2], lambda: TimeoutError(),
     ("info", [1, 2], "timeout", False)),
    ("RegisterClient", "read", [1, None], lambda: TimeoutError(),
     ("fail", [1, None], "timeout", False)),
    ("RegisterClient", "write", [1, 2], lambda: http.client.RemoteDisconnected("closed"),
     ("info", [1, 2], "closed", False)),
    ("RegisterClient", "write", [1, 2], lambda: ValueError(),
     ("info", [1, 2], "ValueError", False)),
    ("RegisterClient", "write", [1, 2], lambda: ConfigError("x"), (RAISES, "ConfigError")),
    ("SetClient", "read", None, lambda: ConnectionResetError(104, "reset"),
     ("fail", None, "[Errno 104] reset", False)),
    ("TxnClient", "txn", [["r", 1, None]], lambda: Reply(500, "boom"),
     ("fail", [["r", 1, None]], "500 boom", False)),
    ("TxnClient", "txn", [["r", 1, None], ["append", 1, 2]], lambda: Reply(500, "boom"),
     ("info", [["r", 1, None], ["append", 1, 2]], "500 boom", False)),
    ("RwRegisterClient", "txn", [["w", 1, 2]], lambda: Reply(409, "abort"),
     ("fail", [["w", 1, 2]], "409 abort", False)),
]


@pytest.mark.parametrize(("cls", "f", "value", "error", "want"), HTTP)
def test_http(cls: str, f: str, value: Any, error: Callable[[], Any], want: tuple[Any, ...]) -> None:
    assert run(getattr(http_client, cls)({}), "conn", f, value, error()) == want


ME = maelstrom_clients.MaelstromError
MAELSTROM: list[tuple[str, str, Any, Callable[[], Any], tuple[Any, ...]]] = [
    ("KVClient", "cas", [1, [1, 2]], lambda: ME(22, "precondition failed"),
     ("fail", [1, [1, 2]], "22 precondition failed", False)),
    ("KVClient", "write", [1, 2], lambda: ME(11, "temporarily unavailable"),
     ("fail", [1, 2], "11 temporarily unavailable", False)),
    ("KVClient", "write", [1, 2], lambda: ME(0, "timeout"),
     ("info", [1, 2], "0 timeout", False)),
    ("KVClient", "write", [1, 2], lambda: ME(13, ""), ("info", [1, 2], "13", False)),
    ("KVClient", "write", [1, 2], lambda: ME(1000, "custom"),
     ("info", [1, 2], "1000 custom", False)),
    ("KVClient", "read", [1, None], lambda: ME(0, "timeout"),
     ("fail", [1, None], "0 timeout", False)),
    ("KVClient", "write", [1, 2], lambda: ConnectionRefusedError(),
     ("fail", [1, 2], "connection refused", False)),
    ("KVClient", "write", [1, 2], lambda: TimeoutError("timed out"),
     ("info", [1, 2], "timeout", False)),
    ("KVClient", "read", [1, None], lambda: TimeoutError("timed out"),
     ("fail", [1, None], "timeout", False)),
    ("KVClient", "write", [1, 2], lambda: ConnectionResetError("the router closed the connection"),
     ("info", [1, 2], "the router closed the connection", False)),
    ("KVClient", "write", [1, 2], lambda: ValueError("Expecting value"),
     ("info", [1, 2], "Expecting value", False)),
    ("KVClient", "write", [1, 2], lambda: ConfigError("x"), (RAISES, "ConfigError")),
    ("EchoClient", "echo", "hi", lambda: TimeoutError(), ("fail", "hi", "timeout", False)),
    ("UniqueIdsClient", "generate", None, lambda: TimeoutError(),
     ("info", None, "timeout", False)),
    ("CounterClient", "add", 1, lambda: ME(30, "txn conflict"),
     ("fail", 1, "30 txn conflict", False)),
    ("TxnClient", "txn", [["r", 1, None]], lambda: TimeoutError(),
     ("fail", [["r", 1, None]], "timeout", False)),
    ("TxnClient", "txn", [["r", 1, None]], lambda: ME(13, "crash"),
     ("fail", [["r", 1, None]], "13 crash", False)),
    ("TxnClient", "txn", [["append", 1, 1]], lambda: ME(13, "crash"),
     ("info", [["append", 1, 1]], "13 crash", False)),
    ("KafkaClient", "poll", None, lambda: TimeoutError(), ("fail", None, "timeout", False)),
    ("KafkaClient", "list-committed", None, lambda: OSError("x"), ("fail", None, "x", False)),
    ("KafkaClient", "send", [1, 2], lambda: OSError("x"), ("info", [1, 2], "x", False)),
    ("KafkaClient", "commit", None, lambda: ME(1, "node not found"),
     ("fail", None, "1 node not found", False)),
]


@pytest.mark.parametrize(("cls", "f", "value", "error", "want"), MAELSTROM)
def test_maelstrom(cls: str, f: str, value: Any, error: Callable[[], Any], want: tuple[Any, ...]) -> None:
    assert run(getattr(maelstrom_clients, cls)({}), "sock", f, value, error()) == want


class Method:
    delivery_tag = 7


def rabbit(steps: list[Any]) -> tuple[Any, list[str]]:
    """A RabbitMQ queue client whose channel calls give ``steps`` in turn (an exception
    is raised, anything else returned); and the list of its connection drops."""
    c = rabbitmq_clients.QueueClient(None, {"op_timeout": 0.001})  # type: ignore[arg-type]
    drops: list[str] = []
    feed = iter(steps)

    def timed(fn: Any) -> Any:
        step = next(feed)
        if isinstance(step, BaseException):
            raise step
        return step

    c._timed = timed  # type: ignore[method-assign]
    c.drop = lambda: drops.append("drop")  # type: ignore[method-assign]
    return c, drops


RABBIT: list[tuple[str, Any, list[Any], tuple[Any, ...]]] = [
    ("enqueue", 5, [None], ("ok", 5, None, 0)),
    ("enqueue", 5, [RuntimeError("nack")], ("info", 5, "RuntimeError: nack", 1)),
    ("enqueue", 5, [OSError("x" * 300)], ("info", 5, ("OSError: " + "x" * 300)[:200], 1)),
    ("dequeue", None, [(None, None, None)], ("ok", None, None, 0)),
    ("dequeue", None, [(Method(), None, b"4"), None], ("ok", 4, None, 0)),
    ("dequeue", None, [OSError("reset")], ("fail", None, "OSError: reset", 1)),
    ("dequeue", None, [(Method(), None, b"4"), OSError("reset")], ("info", None, "OSError: reset", 1)),
    ("drain", None, [(Method(), None, b"1"), None, (Method(), None, b"2"), None]
     + [(None, None, None)] * 3, ("ok", [1, 2], None, 0)),
    ("drain", None, [(Method(), None, b"1"), None, (Method(), None, b"2"), OSError("reset")],
     ("info", [1], "ack failed: reset", 0)),
    ("drain", None, [OSError("down"), (None, None, None), (None, None, None), (None, None, None)],
     ("ok", [], None, 1)),
]


@pytest.mark.parametrize(("f", "value", "steps", "want"), RABBIT)
def test_rabbitmq(f: str, value: Any, steps: list[Any], want: tuple[Any, ...],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    c, drops = rabbit(steps)
    done = c.invoke(None, {"f": f, "value": value, "process": 0})
    assert (done["type"], done.get("value", value), done.get("error"), len(drops)) == want


def test_rabbitmq_drain_gives_up_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    c, drops = rabbit([OSError("down")] * 100000)
    done = c.invoke(None, {"f": "drain", "value": None, "process": 0})
    assert done["type"] == "info" and done["value"] == []
    assert str(done["error"]).startswith("drain unfinished (") and "OSError: down" in done["error"]
    assert len(drops) == int(str(done["error"]).split("(")[1].split()[0])


def test_rabbitmq_unknown_f_raises() -> None:
    c, _ = rabbit([])
    with pytest.raises(ConfigError):
        c.invoke(None, {"f": "peek", "value": None, "process": 0})


# -- SQL: PostgreSQL (pg8000) and Galera (PyMySQL) ---------------------------------------------


class PgConn:
    """Answers ``run`` from a script (statement prefix -> exception) and canned rows."""

    def __init__(self, script: dict[str, BaseException], rows: dict[str, list[Any]]) -> None:
        self.script, self.rows, self.closed = script, rows, False
        self.log: list[str] = []

    def run(self, sql: str, **params: Any) -> list[Any]:
        self.log.append(sql.split()[0])
        for prefix, error in self.script.items():
            if sql.startswith(prefix):
                raise error
        return next((r for p, r in self.rows.items() if sql.startswith(p)), [])

    def close(self) -> None:
        self.closed = True


class MyCursor:
    def __init__(self, conn: MyConn) -> None:
        self.conn = conn
        self.got: list[Any] = []

    def __enter__(self) -> MyCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, args: Any = None) -> None:
        self.conn.log.append(sql.split()[0])
        for prefix, error in self.conn.script.items():
            if sql.startswith(prefix):
                raise error
        self.got = next((r for p, r in self.conn.rows.items() if sql.startswith(p)), [])

    def fetchone(self) -> Any:
        return self.got[0] if self.got else None

    def fetchall(self) -> Any:
        return tuple(self.got)


class MyConn(PgConn):
    def cursor(self) -> MyCursor:
        return MyCursor(self)


TRANSFER = {"from": 0, "to": 1, "amount": 5}
PG_ROWS: dict[str, list[Any]] = {"SELECT balance": [(50,)], "SELECT account, balance": [(0, 50), (1, 50)],
           "SELECT v FROM jepsy_append": [("1,2",)], "SELECT v FROM jepsy_register": [(7,)]}
MY_ROWS: dict[str, list[Any]] = {"SELECT account, balance": [(0, 50), (1, 50)],
           "SELECT v FROM jepsy_append": [("1,2",)], "SELECT v FROM jepsy_register": [(7,)]}


def _pg_errors() -> list[tuple[str, str, Any, dict[str, Any], tuple[Any, ...]]]:
    import pg8000.exceptions as pe

    def db_error(code: str) -> Any:
        return pe.DatabaseError({"S": "ERROR", "C": code, "M": "msg"})

    return [
        ("bank", "transfer", TRANSFER, {}, ("ok", TRANSFER, None, False)),
        ("bank", "read", None, {}, ("ok", {0: 50, 1: 50}, None, False)),
        ("bank", "transfer", {**TRANSFER, "amount": 500}, {},
         ("fail", {**TRANSFER, "amount": 500}, "insufficient funds", False)),
        ("bank", "transfer", TRANSFER, {"SELECT balance": IndexError("x")}, (RAISES, "IndexError")),
        ("bank", "transfer", TRANSFER, {"COMMIT": db_error("40001")},
         ("fail", TRANSFER, "serialization failure", False)),
        ("bank", "transfer", TRANSFER, {"UPDATE": db_error("40P01")},
         ("fail", TRANSFER, "deadlock", False)),
        ("bank", "transfer", TRANSFER, {"UPDATE": db_error("23505")},
         ("fail", TRANSFER, "23505 {'S': 'ERROR', 'C': '23505', 'M': 'msg'}", False)),
        ("bank", "transfer", TRANSFER, {"UPDATE": db_error("23505"), "ROLLBACK": OSError("x")},
         ("fail", TRANSFER, "23505 {'S': 'ERROR', 'C': '23505', 'M': 'msg'}", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": OSError("reset")},
         ("info", TRANSFER, "connection lost during commit: reset", True)),
        ("bank", "transfer", TRANSFER, {"UPDATE": OSError("reset")},
         ("fail", TRANSFER, "connection: reset", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": ConnectionRefusedError("refused")},
         ("fail", TRANSFER, "connection: refused", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": pe.InterfaceError("network error")},
         ("info", TRANSFER, "connection lost during commit: network error", True)),
        ("bank", "transfer", TRANSFER, {"BEGIN": pe.InterfaceError("network error")},
         ("fail", TRANSFER, "connection: network error", True)),
        ("bank", "peek", None, {}, (RAISES, "ConfigError")),
        ("list-append", "txn", [["r", 1, None], ["append", 1, 3], ["r", 2, None]], {},
         ("ok", [["r", 1, [1, 2]], ["append", 1, 3], ["r", 2, [1, 2]]], None, False)),
        ("list-append", "txn", [["w", 1, 3]], {}, (RAISES, "ConfigError")),
        ("rw-register", "txn", [["r", 1, None], ["w", 1, 3]], {},
         ("ok", [["r", 1, 7], ["w", 1, 3]], None, False)),
        ("rw-register", "txn", [["w", 1, 3]], {"COMMIT": TimeoutError()},
         ("info", [["w", 1, 3]], "connection lost during commit: ", True)),
    ]


@pytest.mark.parametrize("row", range(18))
def test_postgres(row: int) -> None:
    from jepsy.dbs import postgres_clients
    from jepsy.dbs.postgres import PostgresDB

    workload, f, value, script, want = _pg_errors()[row]
    c: Any = postgres_clients.client_for(workload, PostgresDB({}), {})
    c.conn = conn = PgConn(script, PG_ROWS)
    try:
        done = c.invoke(None, {"f": f, "value": value, "process": 0})
    except Exception as e:
        assert want == (RAISES, type(e).__name__)
        return
    assert (done["type"], done.get("value", value), done.get("error"),
            c.conn is None or conn.closed) == want


def _galera_errors() -> list[tuple[str, str, Any, dict[str, Any], dict[str, Any], tuple[Any, ...]]]:
    import pymysql  # type: ignore[import-untyped]

    op = pymysql.err.OperationalError
    return [
        ("bank", "transfer", TRANSFER, {}, MY_ROWS, ("ok", TRANSFER, None, False)),
        ("bank", "read", None, {}, MY_ROWS, ("ok", {0: 50, 1: 50}, None, False)),
        ("bank", "transfer", {**TRANSFER, "amount": 500}, {}, MY_ROWS,
         ("fail", {**TRANSFER, "amount": 500}, "insufficient funds", False)),
        ("bank", "transfer", TRANSFER, {}, {"SELECT account, balance": [(0, 50)]},
         ("fail", TRANSFER, "no such account", False)),
        ("bank", "transfer", TRANSFER, {"COMMIT": op(1213, "Deadlock")}, MY_ROWS,
         ("fail", TRANSFER, "1213 Deadlock", False)),
        ("bank", "transfer", TRANSFER, {"UPDATE": op(1020, "Record has changed"), "ROLLBACK": OSError()},
         MY_ROWS, ("fail", TRANSFER, "1020 Record has changed", True)),
        ("bank", "transfer", TRANSFER, {"START": op(2003, "Can't connect")}, MY_ROWS,
         ("fail", TRANSFER, "2003 (2003, \"Can't connect\")", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": op(2013, "Lost connection")}, MY_ROWS,
         ("info", TRANSFER, "connection lost: (2013, 'Lost connection')", True)),
        ("bank", "transfer", TRANSFER, {"UPDATE": op(2006, "gone away")}, MY_ROWS,
         ("fail", TRANSFER, "connection lost: (2006, 'gone away')", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": pymysql.err.InterfaceError(0, "")}, MY_ROWS,
         ("info", TRANSFER, "connection lost: (0, '')", True)),
        ("bank", "transfer", TRANSFER, {"COMMIT": pymysql.err.InternalError("odd")}, MY_ROWS,
         ("fail", TRANSFER, "0 odd", False)),
        ("bank", "transfer", TRANSFER, {"COMMIT": OSError("reset")}, MY_ROWS,
         ("info", TRANSFER, "connection: reset", True)),
        ("bank", "transfer", TRANSFER, {"SELECT": OSError("reset")}, MY_ROWS,
         ("fail", TRANSFER, "connection: reset", True)),
        ("bank", "peek", None, {}, MY_ROWS, (RAISES, "ConfigError")),
        ("list-append", "txn", [["r", 1, None], ["append", 1, 3]], {}, MY_ROWS,
         ("ok", [["r", 1, [1, 2]], ["append", 1, 3]], None, False)),
        ("rw-register", "txn", [["r", 1, None], ["w", 1, 3], ["r", 3, None]], {}, MY_ROWS,
         ("ok", [["r", 1, 7], ["w", 1, 3], ["r", 3, 7]], None, False)),
        ("rw-register", "txn", [["append", 1, 3]], {}, MY_ROWS, (RAISES, "ConfigError")),
    ]


@pytest.mark.parametrize("row", range(17))
def test_galera(row: int) -> None:
    from jepsy.dbs import galera_clients
    from jepsy.dbs.galera import GaleraDB

    workload, f, value, script, rows, want = _galera_errors()[row]
    c: Any = galera_clients.client_for(workload, GaleraDB({}), {})
    c.conn = conn = MyConn(script, rows)
    try:
        done = c.invoke(None, {"f": f, "value": value, "process": 0})
    except Exception as e:
        assert want == (RAISES, type(e).__name__)
        return
    assert (done["type"], done.get("value", value), done.get("error"),
            c.conn is None or conn.closed) == want
