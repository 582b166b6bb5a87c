"""How the Redis, ZooKeeper and Galera clients turn their driver's errors into ``fail``
or ``info``: the exceptions are the drivers' own, raised where the driver would raise
them (the lab tests exercise the same clients against the real servers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymysql  # type: ignore[import-untyped]
import pytest
import redis
from kazoo import exceptions as kz  # type: ignore[import-untyped]

from jepsy.dbs import galera_clients, redis_clients, zookeeper_clients
from jepsy.dbs.galera import GaleraDB

# -- Redis -----------------------------------------------------------------------------------------


class _Raising:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def sadd(self, *args: Any) -> None:
        raise self.error

    def smembers(self, *args: Any) -> None:
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("error", "f", "expected"), [
    (redis.ResponseError("READONLY You can't write against a read only replica."), "add", "fail"),
    (redis.TimeoutError("Timeout reading from socket"), "add", "info"),
    (redis.ConnectionError("Connection closed by server."), "add", "info"),
    (redis.ConnectionError("Error 111 connecting to 10.0.0.11:6379. Connection refused."), "add", "fail"),
    (redis.TimeoutError("Timeout reading from socket"), "read", "fail"),
])
def test_redis_outcomes(error: BaseException, f: str, expected: str,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    c = redis_clients.SetClient({})
    monkeypatch.setattr(c, "primary", lambda: _Raising(error))
    got = c.invoke(None, {"f": f, "value": 1})  # type: ignore[arg-type]
    assert got["type"] == expected, got


def test_redis_no_primary_known_is_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    c = redis_clients.SetClient({})
    c.sentinels = []
    got = c.invoke(None, {"f": "add", "value": 1})  # type: ignore[arg-type]
    assert got == {"type": "fail", "error": "no sentinel named a primary"}


# -- ZooKeeper -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "f", "expected"), [
    (kz.BadVersionError(), "cas", "fail"),
    (kz.ConnectionLoss(), "write", "info"),
    (kz.SessionExpiredError(), "cas", "info"),
    (kz.ConnectionLoss(), "read", "fail"),
])
def test_zookeeper_outcomes(error: BaseException, f: str, expected: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    c = zookeeper_clients.RegisterClient({}, zookeeper_clients.ReadSessions())

    def do(f: str, value: Any) -> Any:
        raise error

    monkeypatch.setattr(c, "do", do)
    value = {"read": [1, None], "write": [1, 2], "cas": [1, [2, 3]]}[f]
    assert c.invoke(None, {"f": f, "value": value})["type"] == expected  # type: ignore[arg-type]


# -- Galera ----------------------------------------------------------------------------------------


class _Cursor:
    """Answers SQL statements from a script: statement prefix -> exception to raise."""

    def __init__(self, script: dict[str, BaseException]) -> None:
        self.script = script

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, args: Any = None) -> None:
        for prefix, error in self.script.items():
            if sql.startswith(prefix):
                raise error

    def fetchall(self) -> list[tuple[int, int]]:
        return [(0, 50), (1, 50)]


class _Conn:
    def __init__(self, script: dict[str, BaseException]) -> None:
        self.script = script

    def cursor(self) -> _Cursor:
        return _Cursor(self.script)

    def close(self) -> None:
        pass


def _galera(script: dict[str, BaseException]) -> Callable[[], Any]:
    c = galera_clients.GaleraClient(GaleraDB({}), "bank", {})
    c.conn = _Conn(script)
    return lambda: c.invoke(None, {"f": "transfer",  # type: ignore[arg-type]
                                   "value": {"from": 0, "to": 1, "amount": 5}})


@pytest.mark.parametrize(("script", "expected"), [
    ({}, "ok"),
    ({"COMMIT": pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")}, "fail"),
    ({"UPDATE": pymysql.err.OperationalError(1020, "Record has changed since last read")}, "fail"),
    ({"COMMIT": pymysql.err.OperationalError(2013, "Lost connection to server during query")}, "info"),
    ({"UPDATE": pymysql.err.OperationalError(2013, "Lost connection to server during query")}, "fail"),
    ({"START": pymysql.err.OperationalError(1047, "WSREP has not yet prepared node")}, "fail"),
])
def test_galera_outcomes(script: dict[str, BaseException], expected: str) -> None:
    assert _galera(script)()["type"] == expected
