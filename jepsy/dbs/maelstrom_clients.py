"""Workers' clients for ``--db maelstrom``: jepsy ops as Maelstrom requests to a node's router.

Each client holds one TCP connection to the router on the node it is bound
to (the router names it ``cN``, a Maelstrom client) and sends one request at
a time as a line ``{"body": {"type": ..., "msg_id": ...}}``; the answer is the
line whose ``in_reply_to`` is that ``msg_id`` (late answers to earlier
requests are skipped).

Outcomes, the contract of ``Client.invoke`` read with Maelstrom's own rules:
an answer ``X_ok`` is ``ok``; an ``error`` with a *definite* code (1, 10, 11,
12, 14, 20, 21, 22, 30) is ``fail``; any other code (0 timeout, 13 crash,
1000 and above, unknown ones), no answer within ``op_timeout`` seconds, or a
lost connection is ``info``, except for operations that only read, which
are then ``fail`` (they changed nothing).  A refused connection is ``fail``.
For ``read`` on lin-kv, error 20 (key-does-not-exist) is an ``ok`` read of
an absent key (``null``), as jepsy's register model has it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from typing import Any, ClassVar

from jepsy.dbs.client import DatabaseClient, Outcome, pick, refused, timeout_or_reason
from jepsy.errors import ConfigError
from jepsy.protocols import Client

__all__ = ["CLIENTS", "DEFINITE", "MaelstromClient", "MaelstromError", "client_for"]

DEFINITE = frozenset({1, 10, 11, 12, 14, 20, 21, 22, 30})
KEY_DOES_NOT_EXIST = 20


class MaelstromError(Exception):
    """An ``error`` answer: its code and text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


def _code(e: BaseException) -> str:
    assert isinstance(e, MaelstromError)
    return f"{e.code} {e.text}".strip()


class MaelstromClient(DatabaseClient):
    """One worker's connection to one node's router; subclasses map ops in ``do``."""

    workload: ClassVar[str] = ""
    outcomes = (
        Outcome((MaelstromError,), "fail", _code, when=lambda e: e.code in DEFINITE),
        Outcome((MaelstromError,), "maybe", _code),
        Outcome((ConnectionRefusedError,), "fail", refused),
        Outcome((OSError, ValueError), "maybe", timeout_or_reason()),
    )

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.port = int(self.opts.get("port", 8070))
        self.sock: socket.socket | None = None
        self.buf = b""
        self.msg_id = 0

    def drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def rpc(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request; its answer's body, or ``MaelstromError`` for an ``error``."""
        assert self.host is not None, "invoke before open"
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        self.msg_id += 1
        try:
            self.sock.sendall(json.dumps({"body": {**body, "msg_id": self.msg_id}}).encode() + b"\n")
            while True:
                while b"\n" not in self.buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise ConnectionResetError("the router closed the connection")
                    self.buf += chunk
                line, _, self.buf = self.buf.partition(b"\n")
                reply = json.loads(line).get("body") or {}
                if reply.get("in_reply_to") == self.msg_id:
                    break
        except BaseException:
            self.drop()  # a connection in doubt is never reused
            raise
        if reply.get("type") == "error":
            raise MaelstromError(int(reply.get("code", 13)), str(reply.get("text", "")))
        return dict(reply)


class EchoClient(MaelstromClient):
    workload = "echo"
    reads = frozenset({"echo"})

    def do(self, f: str, value: Any) -> Any:
        return self.rpc({"type": "echo", "echo": value}).get("echo")


class UniqueIdsClient(MaelstromClient):
    workload = "unique-ids"

    def do(self, f: str, value: Any) -> Any:
        return self.rpc({"type": "generate"}).get("id")


class SetClient(MaelstromClient):
    """broadcast (``broadcast``/``read`` of ``messages``) and g-set (``add``/``read`` of ``value``)."""

    workload = "g-set"

    def do(self, f: str, value: Any) -> Any:
        if f == "broadcast":
            self.rpc({"type": "broadcast", "message": value})
            return value
        if f == "add":
            self.rpc({"type": "add", "element": value})
            return value
        if f == "read":
            got = self.rpc({"type": "read"})
            seen = list(got.get("messages", got.get("value")) or [])
            try:
                return sorted(seen)
            except TypeError:  # elements of mixed types
                return sorted(seen, key=json.dumps)
        raise ConfigError(f"the {self.workload} client cannot do {f!r}")


class BroadcastClient(SetClient):
    workload = "broadcast"


class CounterClient(MaelstromClient):
    workload = "pn-counter"

    def do(self, f: str, value: Any) -> Any:
        if f == "add":
            self.rpc({"type": "add", "delta": value})
            return value
        return self.rpc({"type": "read"}).get("value")


class KVClient(MaelstromClient):
    """lin-kv with jepsy's register ops: ``[k, v]`` values, ``cas [k, [old, new]]``."""

    workload = "lin-kv"

    def do(self, f: str, value: Any) -> Any:
        k, arg = value
        if f == "read":
            try:
                return [k, self.rpc({"type": "read", "key": k}).get("value")]
            except MaelstromError as e:
                if e.code == KEY_DOES_NOT_EXIST:
                    return [k, None]
                raise
        if f == "write":
            self.rpc({"type": "write", "key": k, "value": arg})
            return value
        if f == "cas":
            self.rpc({"type": "cas", "key": k, "from": arg[0], "to": arg[1]})
            return value
        raise ConfigError(f"the lin-kv client cannot do {f!r}")


class TxnClient(MaelstromClient):
    """txn-list-append and txn-rw-register: ``txn`` of micro-ops, reads filled in."""

    workload = "txn-list-append"

    def do(self, f: str, value: Any) -> Any:
        return self.rpc({"type": "txn", "txn": value}).get("txn")

    def harmless(self, op: Mapping[str, Any]) -> bool:
        return all(m[0] == "r" for m in op.get("value") or [])


class KafkaClient(MaelstromClient):
    """kafka: ``send [k, msg]`` (ok value ``[k, msg, offset]``), ``poll`` from this client's
    positions (ok value ``{k: [[offset, msg], ...]}``; positions then move past what it
    saw), ``commit`` of those positions, ``list-committed`` of the keys it knows."""

    workload = "kafka"
    reads = frozenset({"poll", "list-committed"})

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.positions: dict[str, int] = {}

    def do(self, f: str, value: Any) -> Any:
        if f == "send":
            k, msg = value
            self.positions.setdefault(str(k), 0)
            return [k, msg, self.rpc({"type": "send", "key": str(k), "msg": msg}).get("offset")]
        if f == "poll":
            for k in value or []:
                self.positions.setdefault(str(k), 0)
            asked = dict(self.positions)
            msgs = self.rpc({"type": "poll", "offsets": asked}).get("msgs") or {}
            for k, pairs in msgs.items():
                if pairs:
                    self.positions[k] = max(self.positions.get(k, 0), int(pairs[-1][0]) + 1)
            return {"from": asked, "msgs": msgs}
        if f == "commit":
            done = {k: p - 1 for k, p in self.positions.items() if p > 0}
            self.rpc({"type": "commit_offsets", "offsets": done})
            return done
        if f == "list-committed":
            return self.rpc({"type": "list_committed_offsets",
                             "keys": sorted(self.positions)}).get("offsets") or {}
        raise ConfigError(f"the kafka client cannot do {f!r}")


CLIENTS: dict[str, type[MaelstromClient]] = {
    "echo": EchoClient, "unique-ids": UniqueIdsClient, "broadcast": BroadcastClient,
    "g-set": SetClient, "set": SetClient, "g-counter": CounterClient, "pn-counter": CounterClient,
    "counter": CounterClient, "lin-kv": KVClient, "register": KVClient,
    "txn-list-append": TxnClient, "txn-rw-register": TxnClient, "list-append": TxnClient,
    "rw-register": TxnClient, "kafka": KafkaClient,
}


def client_for(workload: str, opts: Mapping[str, Any]) -> Client:
    return pick(CLIENTS, workload, "--db maelstrom")(opts)
