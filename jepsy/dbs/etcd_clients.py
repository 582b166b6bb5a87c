"""etcd clients for every workload, over etcd's v3 JSON gateway (plain HTTP, no gRPC stack).

Outcome mapping, the contract of ``Client.invoke`` (see ``jepsy.protocols``):

* ``fail`` when the operation certainly did not take effect: a refused
  connection (nothing was sent), an error before anything was written (reads,
  the read phase of a transaction), a compare that did not match (etcd applied
  nothing), a transfer refused for lack of funds;
* ``info`` when it may have: a timeout or lost connection during a write;
* ``ok`` otherwise, with what was read.

Multi-key operations use optimistic concurrency: read the keys in one
read-only transaction (one consistent revision), compute, then commit with a
transaction that compares every key's ``mod_revision`` to what was read.  A
failed compare aborts without writing, so committed transactions are strictly
serializable.  Values are stored as JSON.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.dbs.client import DatabaseClient, Definite, Outcome, pick, refused, timeout_or_reason
from jepsy.dbs.existing import is_existing, run_prefix
from jepsy.errors import ConfigError, JepsyError
from jepsy.options import boolean
from jepsy.protocols import Client, Test

__all__ = ["CLIENTS", "Definite", "EtcdError", "client_for", "port_of"]

CLIENT_PORT = 2379
_RETRIES = 10


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str) -> str:
    return base64.b64decode(s).decode()


def _get(d: Mapping[str, Any], snake: str) -> Any:
    """Read a gateway field by its proto name or its camelCase JSON name."""
    if snake in d:
        return d[snake]
    head, *rest = snake.split("_")
    return d.get(head + "".join(w.title() for w in rest))


class EtcdError(JepsyError):
    """etcd answered with an error (gRPC code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd error {code}: {message}")
        self.code = code


def post(conn: http.client.HTTPConnection, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    if resp.status != 200 or "error" in data:
        raise EtcdError(int(data.get("code", 0)),
                        str(data.get("error") or data.get("message") or f"HTTP {resp.status}"))
    result: dict[str, Any] = data
    return result


class _Base(DatabaseClient):
    """Connection handling and the outcome mapping; subclasses implement ``do``."""

    prefix = "jepsy/"
    outcomes = (
        Outcome((Definite,), "fail"),
        Outcome((ConnectionRefusedError,), "fail", refused),
        # A lost answer; ``reads`` (the fs that never write) are then ``fail``.
        Outcome((OSError, http.client.HTTPException, EtcdError, ValueError), "maybe",
                timeout_or_reason()),
    )

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.serializable = boolean(self.opts.get("serializable", False))
        self.port = CLIENT_PORT
        self.conn: http.client.HTTPConnection | None = None

    def open(self, test: Test, node: str) -> Client:
        c = self.fresh()
        c.host = test.address(node)
        c.port = port_of(test, node)
        if is_existing(self.opts):
            # On a deployment jepsy did not create: only under this run's own prefix.
            c.prefix = f"jepsy/{run_prefix(test)}/"
        return c

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        assert self.host is not None, "invoke before open"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            return post(self.conn, path, body)
        except BaseException:
            self.drop()
            raise

    # -- building blocks ------------------------------------------------------
    def key(self, *parts: Any) -> str:
        return self.prefix + "/".join(str(p) for p in parts)

    def read_keys(self, keys: Sequence[str]) -> dict[str, tuple[Any, int]]:
        """``{key: (JSON value or None, mod_revision)}`` at one revision."""
        if not keys:
            return {}
        res = self.call("/v3/kv/txn", {"success": [
            {"request_range": {"key": b64(k), "serializable": self.serializable}} for k in keys]})
        out: dict[str, tuple[Any, int]] = {}
        for k, r in zip(keys, res.get("responses") or [], strict=False):
            kvs = (_get(r, "response_range") or {}).get("kvs") or []
            if kvs:
                out[k] = (json.loads(unb64(kvs[0].get("value", ""))), int(_get(kvs[0], "mod_revision")))
            else:
                out[k] = (None, 0)
        return out

    def commit(self, seen: Mapping[str, int], writes: Mapping[str, Any],
               deletes: Sequence[str] = ()) -> bool:
        """Write iff no key in ``seen`` changed since it was read; True if applied."""
        res = self.call("/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": rev}
                        for k, rev in seen.items()],
            "success": [{"request_put": {"key": b64(k), "value": b64(json.dumps(v))}}
                        for k, v in writes.items()]
                       + [{"request_delete_range": {"key": b64(k)}} for k in deletes],
        })
        return bool(res.get("succeeded"))

    def range_prefix(self, prefix: str, limit: int = 0) -> list[tuple[str, Any, int]]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        res = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end), "limit": limit,
                                         "serializable": self.serializable})
        return [(unb64(kv["key"]), json.loads(unb64(kv.get("value", ""))), int(_get(kv, "mod_revision")))
                for kv in res.get("kvs") or []]

class RegisterClient(_Base):
    """Independent registers: ``read [k, None]``, ``write [k, v]``, ``cas [k, [old, new]]``."""

    def do(self, f: str, value: Any) -> Any:
        k, arg = value
        key = self.key("register", k)
        if f == "read":
            return [k, self.read_keys([key])[key][0]]
        if f == "write":
            self.call("/v3/kv/put", {"key": b64(key), "value": b64(json.dumps(arg))})
            return value
        if f == "cas":
            old, new = arg
            res = self.call("/v3/kv/txn", {
                "compare": [{"key": b64(key), "target": "VALUE", "result": "EQUAL",
                             "value": b64(json.dumps(old))}],
                "success": [{"request_put": {"key": b64(key), "value": b64(json.dumps(new))}}]})
            if not res.get("succeeded"):
                raise Definite("compare failed")
            return value
        raise ConfigError(f"etcd register client cannot do {f!r}")


class TxnClient(_Base):
    """rw-register transactions (optimistic, strictly serializable); see ``AppendClient``."""

    reads = frozenset()
    appends = False  # a list-append read returns a list, [] for an absent key

    def do(self, f: str, value: Any) -> Any:
        mops: list[list[Any]] = value
        keys = sorted({self.key("txn", k) for _, k, _ in mops}, key=str)
        try:
            state = self.read_keys(keys)
        except (OSError, http.client.HTTPException, EtcdError, ValueError) as e:
            if isinstance(e, ConnectionRefusedError):
                raise
            raise Definite(f"read phase failed: {e}") from None  # nothing was written yet
        local = {k: v for k, (v, _) in state.items()}
        writes: dict[str, Any] = {}
        out = []
        for op, k, v in mops:
            key = self.key("txn", k)
            if op == "r":
                cur = local[key]
                out.append(["r", k, list(cur or []) if self.appends else cur])
            elif op == "append":
                local[key] = [*(local[key] or []), v]
                writes[key] = local[key]
                out.append([op, k, v])
            elif op == "w":
                local[key] = v
                writes[key] = v
                out.append([op, k, v])
            else:
                raise ConfigError(f"unknown micro-op {op!r}")
        if writes and not self.commit({k: rev for k, (_, rev) in state.items()}, writes):
            raise Definite("conflict: a key changed since it was read")
        return out


class AppendClient(TxnClient):
    """list-append transactions: lists stored as JSON, appends are read-modify-write."""

    appends = True


class SetClient(_Base):
    """``add v`` puts a key per element; ``read`` lists the elements."""

    def do(self, f: str, value: Any) -> Any:
        if f == "add":
            self.call("/v3/kv/put", {"key": b64(self.key("set", f"{value:020d}")), "value": b64("1")})
            return value
        if f == "read":
            return sorted(int(k.rsplit("/", 1)[1]) for k, _, _ in self.range_prefix(self.key("set", "")))
        raise ConfigError(f"etcd set client cannot do {f!r}")


class CounterClient(_Base):
    """``add n`` by compare-and-swap on one key (retried on conflict); ``read``."""

    def do(self, f: str, value: Any) -> Any:
        key = self.key("counter")
        if f == "read":
            return self.read_keys([key])[key][0] or 0
        if f == "add":
            for _ in range(_RETRIES):
                cur, rev = self.read_keys([key])[key]
                if self.commit({key: rev}, {key: (cur or 0) + int(value)}):
                    return value
            raise Definite(f"gave up after {_RETRIES} conflicts")
        raise ConfigError(f"etcd counter client cannot do {f!r}")


class BankClient(_Base):
    """Accounts as keys; a transfer reads both and commits both or neither."""

    def setup(self, test: Test) -> None:
        accounts = list(self.opts.get("accounts") or range(5))
        total = int(self.opts.get("total_amount", 100))
        share, extra = divmod(total, len(accounts))
        first = self.key("bank", accounts[0])
        balances = {self.key("bank", a): share + (extra if i == 0 else 0) for i, a in enumerate(accounts)}
        # Create all accounts at once, only if they do not exist yet (a rerun keeps them).
        self.call("/v3/kv/txn", {
            "compare": [{"key": b64(first), "target": "VERSION", "result": "EQUAL", "version": 0}],
            "success": [{"request_put": {"key": b64(k), "value": b64(json.dumps(v))}}
                        for k, v in balances.items()]})

    def do(self, f: str, value: Any) -> Any:
        if f == "read":
            accounts = list(self.opts.get("accounts") or range(5))
            keys = [self.key("bank", a) for a in accounts]
            got = self.read_keys(keys)
            return {a: got[k][0] for a, k in zip(accounts, keys, strict=True)}
        if f == "transfer":
            src, dst = self.key("bank", value["from"]), self.key("bank", value["to"])
            amount = int(value["amount"])
            try:
                state = self.read_keys([src, dst])
            except (OSError, http.client.HTTPException, EtcdError, ValueError) as e:
                if isinstance(e, ConnectionRefusedError):
                    raise
                raise Definite(f"read phase failed: {e}") from None
            (a, ra), (b, rb) = state[src], state[dst]
            if a is None or b is None:
                raise Definite("no such account")
            if a - amount < 0 and not boolean(self.opts.get("negative_balances", False)):
                raise Definite("insufficient funds")
            if not self.commit({src: ra, dst: rb}, {src: a - amount, dst: b + amount}):
                raise Definite("conflict: a balance changed since it was read")
            return value
        raise ConfigError(f"etcd bank client cannot do {f!r}")


class QueueClient(_Base):
    """A queue of keys ordered by value; dequeue takes the lowest with a guarded delete."""

    reads = frozenset()

    def _take(self) -> Any:
        for _ in range(_RETRIES):
            head = self.range_prefix(self.key("queue", ""), limit=1)
            if not head:
                return None
            k, v, rev = head[0]
            if self.commit({k: rev}, {}, deletes=[k]):
                return v
        raise Definite(f"gave up after {_RETRIES} conflicts")

    def do(self, f: str, value: Any) -> Any:
        if f == "enqueue":
            self.call("/v3/kv/put", {"key": b64(self.key("queue", f"{value:020d}")),
                                     "value": b64(json.dumps(value))})
            return value
        if f == "dequeue":
            return self._take()
        if f == "drain":
            out = []
            while (v := self._take()) is not None:
                out.append(v)
            return out
        raise ConfigError(f"etcd queue client cannot do {f!r}")


class UniqueIdsClient(_Base):
    """``generate``: a put's cluster revision, which etcd never hands out twice."""

    def do(self, f: str, value: Any) -> Any:
        if f == "generate":
            res = self.call("/v3/kv/put", {"key": b64(self.key("ids")), "value": b64("x")})
            return int(res["header"]["revision"])
        raise ConfigError(f"etcd unique-ids client cannot do {f!r}")


CLIENTS: dict[str, type[_Base]] = {
    "register": RegisterClient,
    "list-append": AppendClient,
    "rw-register": TxnClient,
    "set": SetClient,
    "counter": CounterClient,
    "bank": BankClient,
    "queue": QueueClient,
    "unique-ids": UniqueIdsClient,
}


def port_of(test: Test, node: str) -> int:
    """The client port of ``node``: ``jepsy_db_client_port`` in the inventory, else 2379."""
    spec = test.node_specs.get(node)
    return int((spec.vars.get("jepsy_db_client_port") if spec else None) or CLIENT_PORT)


def client_for(workload: str, opts: Mapping[str, Any]) -> Client:
    return pick(CLIENTS, workload, "etcd")(opts)
