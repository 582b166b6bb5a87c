"""Clients that speak jepsy's small HTTP+JSON protocol, so a user's system needs no Python.

Every operation is one ``POST`` with a JSON body to the node the worker is
bound to (the protocol's full text is in the README, "Testing your own
system")::

    /register/read   {"key": k}                      -> {"value": v or null}
    /register/write  {"key": k, "value": v}          -> {}
    /register/cas    {"key": k, "from": a, "to": b}  -> {}   (409 if the value is not a)
    /set/add         {"element": e}                  -> {}
    /set/read        {}                              -> {"elements": [...]}
    /txn             {"txn": [["append", k, v], ["r", k, null], ["w", k, v]]}
                                                     -> {"txn": [... with reads filled in]}

Outcome mapping, the contract of ``Client.invoke`` (see ``jepsy.protocols``):

* 200: ``ok``, with the values the answer carries;
* 409 (a compare that did not match, an aborted transaction), 503 (refused:
  not the leader, no quorum: nothing was done and nothing will be), any other
  4xx (a request the server rejected): ``fail``;
* any other status (500, 504 ...), a timeout, a reset or closed connection:
  ``info``, the operation may have happened; except for operations that only
  read, which change nothing and are therefore ``fail``;
* a refused connection: ``fail`` (nothing was sent).

The answer's ``error`` field, when present, becomes the op's ``error``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any

from jepsy.dbs.client import DatabaseClient, Outcome, pick, refused, timeout_or_reason
from jepsy.errors import ConfigError
from jepsy.protocols import Client

__all__ = ["CLIENTS", "HttpClient", "Reply", "client_for", "outcome"]


class Reply(Exception):
    """An HTTP answer other than 200: its status and error text."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error


def outcome(status: int) -> str:
    """The op type an HTTP status other than 200 means: ``fail`` or ``info``."""
    if status == 503 or 400 <= status < 500:
        return "fail"
    return "info"


def _status(e: BaseException) -> str:
    assert isinstance(e, Reply)
    return f"{e.status} {e.error}"


class HttpClient(DatabaseClient):
    """One worker's connection to one node; subclasses map ops to requests in ``do``."""

    workload = ""
    outcomes = (
        Outcome((Reply,), "fail", _status, when=lambda e: outcome(e.status) == "fail"),
        Outcome((Reply,), "maybe", _status),
        Outcome((ConnectionRefusedError,), "fail", refused),
        Outcome((OSError, http.client.HTTPException, ValueError), "maybe", timeout_or_reason()),
    )

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.port = int(self.opts.get("port", 8080))
        self.conn: http.client.HTTPConnection | None = None

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``body``; the JSON answer of a 200, else ``Reply`` with the status."""
        assert self.host is not None, "invoke before open"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            raw = resp.read()
        except BaseException:
            self.drop()  # a connection in an unknown state is never reused
            raise
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {"error": raw.decode(errors="replace")[:200]}
        if not isinstance(data, dict):
            data = {"error": f"answer is not a JSON object: {str(data)[:100]}"}
        if resp.status != 200:
            raise Reply(resp.status, str(data.get("error") or resp.reason))
        return data


class RegisterClient(HttpClient):
    """Independent registers: ``read [k, None]``, ``write [k, v]``, ``cas [k, [old, new]]``."""

    workload = "register"

    def do(self, f: str, value: Any) -> Any:
        k, arg = value
        if f == "read":
            return [k, self.post("/register/read", {"key": k}).get("value")]
        if f == "write":
            self.post("/register/write", {"key": k, "value": arg})
            return value
        if f == "cas":
            self.post("/register/cas", {"key": k, "from": arg[0], "to": arg[1]})
            return value
        raise ConfigError(f"the HTTP register client cannot do {f!r}")


class SetClient(HttpClient):
    """``add e`` and ``read`` (the whole set, sorted)."""

    workload = "set"

    def do(self, f: str, value: Any) -> Any:
        if f == "add":
            self.post("/set/add", {"element": value})
            return value
        if f == "read":
            return sorted(self.post("/set/read", {}).get("elements") or [])
        raise ConfigError(f"the HTTP set client cannot do {f!r}")


class TxnClient(HttpClient):
    """list-append and rw-register transactions as one ``/txn`` request each."""

    workload = "list-append"

    def harmless(self, op: Mapping[str, Any]) -> bool:
        return all(m[0] == "r" for m in op.get("value") or [])

    def do(self, f: str, value: Any) -> Any:
        if f != "txn":
            raise ConfigError(f"the HTTP transaction client cannot do {f!r}")
        got = self.post("/txn", {"txn": value}).get("txn")
        if not isinstance(got, list) or len(got) != len(value):
            raise ValueError(f"/txn answered {str(got)[:100]} for {len(value)} micro-ops")
        if self.workload == "list-append":
            # An absent key reads as the empty list, whatever the server says for it.
            got = [[m[0], m[1], list(m[2] or [])] if m[0] == "r" else m for m in got]
        return got


class RwRegisterClient(TxnClient):
    workload = "rw-register"


CLIENTS: dict[str, type[HttpClient]] = {
    "register": RegisterClient,
    "set": SetClient,
    "list-append": TxnClient,
    "rw-register": RwRegisterClient,
}


def client_for(workload: str, opts: Mapping[str, Any]) -> Client:
    return pick(CLIENTS, workload, "the HTTP+JSON protocol")(opts)
