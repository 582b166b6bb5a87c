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

from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

__all__ = ["CLIENTS", "DEFINITE", "MaelstromClient", "MaelstromError", "client_for"]

DEFINITE = frozenset({1, 10, 11, 12, 14, 20, 21, 22, 30})
KEY_DOES_NOT_EXIST = 20


class MaelstromError(Exception):
    """An ``error`` answer: its code and text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


class MaelstromClient:
    """One worker's connection to one node's router; subclasses map ops in ``do``."""

    workload: ClassVar[str] = ""
    read_fs: ClassVar[frozenset[str]] = frozenset({"read"})

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.port = int(self.opts.get("port", 8070))
        self.timeout = float(self.opts.get("op_timeout", 2.0))
        self.host: str | None = None
        self.sock: socket.socket | None = None
        self.buf = b""
        self.msg_id = 0

    def open(self, test: Test, node: str) -> Client:
        c = type(self)(self.opts)
        c.host = test.address(node)
        return c

    def setup(self, test: Test) -> None:
        """Nothing to create: every workload starts empty."""

    def teardown(self, test: Test) -> None:
        """State goes with the program."""

    def close(self, test: Test) -> None:
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
            self.sock.close()  # a connection in doubt is never reused
            self.sock = None
            raise
        if reply.get("type") == "error":
            raise MaelstromError(int(reply.get("code", 13)), str(reply.get("text", "")))
        return dict(reply)

    def do(self, f: str, value: Any) -> Any:
        raise NotImplementedError

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        maybe = "fail" if op["f"] in self.read_fs else "info"
        value = op.get("value")
        try:
            return {"type": "ok", "value": self.do(str(op["f"]), value)}
        except MaelstromError as e:
            return {"type": "fail" if e.code in DEFINITE else maybe, "value": value,
                    "error": f"{e.code} {e.text}".strip()}
        except ConnectionRefusedError:
            return {"type": "fail", "value": value, "error": "connection refused"}
        except (OSError, ValueError) as e:
            what = "timeout" if isinstance(e, TimeoutError) else str(e) or type(e).__name__
            return {"type": maybe, "value": value, "error": what}


class EchoClient(MaelstromClient):
    workload = "echo"
    read_fs = frozenset({"echo"})

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

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        ro = all(m[0] == "r" for m in op.get("value") or [])
        got = super().invoke(test, op)
        if got["type"] == "info" and ro:
            got["type"] = "fail"
        return got


class KafkaClient(MaelstromClient):
    """kafka: ``send [k, msg]`` (ok value ``[k, msg, offset]``), ``poll`` from this client's
    positions (ok value ``{k: [[offset, msg], ...]}``; positions then move past what it
    saw), ``commit`` of those positions, ``list-committed`` of the keys it knows."""

    workload = "kafka"
    read_fs = frozenset({"poll", "list-committed"})

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
    cls = CLIENTS.get(workload)
    if cls is None:
        raise ConfigError(f"--db maelstrom has no client for workload {workload!r}; "
                          f"it speaks: {', '.join(sorted(CLIENTS))}")
    return cls(opts)
