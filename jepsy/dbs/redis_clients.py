"""Redis clients that follow Sentinel to the current primary (set and register workloads).

Each client is bound to a node, as an application running there would be: it
asks that node's sentinel for the primary's address first, the others only if
that one does not answer, connects, and checks with ``ROLE`` that the server
it reached calls itself master (redis-py's Sentinel pool does the same).  It
asks again before every operation, and a connection that fails, times out or
meets a ``READONLY`` replica is dropped.

Outcome mapping, the contract of ``Client.invoke`` (see ``jepsy.protocols``):

* ``fail`` when the operation certainly did not take effect: no primary known
  or reachable (nothing was sent), an error reply (``READONLY`` from a
  demoted primary, a cas whose compare did not match), any error of a read;
* ``info`` when it may have: a timeout or a connection lost after sending;
* ``ok`` when the primary acknowledged it.  Replication is asynchronous, so an
  acknowledged write can still be lost in a failover: that is what the set
  workload under partitions shows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.dbs.client import DatabaseClient, Definite, Outcome, pick, timeout_or_reason
from jepsy.dbs.existing import is_existing, run_prefix
from jepsy.dbs.redis import MASTER_NAME, PORT, SENTINEL_PORT
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

__all__ = ["CLIENTS", "Definite", "NotSent", "client_for"]

CAS = """local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0"""


class NotSent(Definite):
    """The operation never left the client (no primary found or reachable)."""


@functools.cache
def outcomes() -> tuple[Outcome, ...]:
    """The outcome rules, made once redis-py is imported (jepsy imports drivers late)."""
    import redis

    said = timeout_or_reason(redis.TimeoutError)
    return (
        Outcome((Definite,), "fail"),  # NotSent, a cas whose compare did not match
        # An error reply (READONLY, NOSCRIPT ...): nothing was done.
        Outcome((redis.ResponseError,), "fail", drop="always"),
        Outcome((redis.ConnectionError,), "fail", said, drop="always",
                when=lambda e: "refused" in str(e).lower()),
        Outcome((redis.RedisError, OSError), "maybe", said, drop="always"),
    )


class _Base(DatabaseClient):
    default_timeout = 1.0

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.sentinels: list[str] = []
        self.conn: Any = None
        self.where: tuple[str, int] | None = None
        self.sentinel_conns: dict[str, Any] = {}
        # Where to ask and what to write: jepsy's own deployment unless existing=true,
        # where the inventory's endpoint variables say it and keys carry the run's name.
        self.sentinel_port, self.master, self.port = SENTINEL_PORT, MASTER_NAME, PORT
        self.direct: str | None = None  # no Sentinel: this node's own server
        self.prefix = "jepsy-"

    def open(self, test: Test, node: str) -> Client:
        c = self.fresh()
        own = test.address(node)
        c.sentinels = [own] + [test.address(n) for n in test.nodes if n != node]
        if is_existing(self.opts):
            v = test.node_specs[node].vars
            c.port = int(v.get("jepsy_db_client_port") or PORT)
            c.master = str(v.get("jepsy_db_master_name") or "mymaster")
            if v.get("jepsy_db_sentinel_port"):
                c.sentinel_port = int(v["jepsy_db_sentinel_port"])
            else:
                c.sentinels, c.direct = [], own
            c.prefix = f"jepsy:{run_prefix(test)}:"
        return c

    def rules(self) -> Sequence[Outcome]:
        return outcomes()

    def drop(self) -> None:
        """Close the connection to the primary (Sentinel is asked again next time)."""
        if self.conn is not None:
            self.conn.close()
            self.conn, self.where = None, None

    def close(self, test: Test) -> None:
        self.drop()
        for conn in self.sentinel_conns.values():
            conn.close()
        self.sentinel_conns.clear()

    def primary(self) -> Any:
        """A connection to the server Sentinel names as primary now, checked with ROLE.

        Sentinel is asked before every operation (one round trip on the same
        network), so a client moves to a new primary as soon as its sentinel
        knows of the failover, and stays with the old one exactly as long as
        its sentinel does, as an application that asks Sentinel would.
        """
        import redis

        addr: Any = [self.direct, self.port] if self.direct else None
        for host in self.sentinels:
            try:
                if host not in self.sentinel_conns:
                    self.sentinel_conns[host] = redis.Redis(
                        host=host, port=self.sentinel_port, socket_timeout=self.timeout,
                        socket_connect_timeout=self.timeout, decode_responses=True)
                addr = self.sentinel_conns[host].execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master)
            except redis.RedisError:
                dead = self.sentinel_conns.pop(host, None)
                if dead is not None:
                    dead.close()
                continue
            if addr:
                break
        if not addr:
            raise NotSent("no sentinel named a primary")
        where = (str(addr[0]), int(addr[1] or self.port))
        if self.conn is not None and self.where == where:
            return self.conn
        self.drop()
        conn: Any = redis.Redis(host=where[0], port=where[1], socket_timeout=self.timeout,
                           socket_connect_timeout=self.timeout, decode_responses=True)
        try:
            role = conn.execute_command("ROLE")
        except redis.RedisError as e:
            conn.close()
            raise NotSent(f"primary {where[0]} unreachable: {e}") from None
        if not role or role[0] != "master":
            conn.close()
            raise NotSent(f"{where[0]} is not a master (sentinel out of date)")
        self.conn, self.where = conn, where
        return conn


class SetClient(_Base):
    """``add e``: SADD to one set key; ``read``: SMEMBERS, sorted."""

    def do(self, f: str, value: Any) -> Any:
        conn = self.primary()
        if f == "add":
            conn.sadd(f"{self.prefix}set", int(value))
            return value
        if f == "read":
            return sorted(int(x) for x in conn.smembers(f"{self.prefix}set"))
        raise ConfigError(f"the Redis set client cannot do {f!r}")


class RegisterClient(_Base):
    """Registers ``[k, v]``: GET, SET, and cas as a Lua script (atomic on the primary)."""

    def do(self, f: str, value: Any) -> Any:
        conn = self.primary()
        k, arg = value
        key = f"{self.prefix}register-{k}"
        if f == "read":
            got = conn.get(key)
            return [k, None if got is None else json.loads(got)]
        if f == "write":
            conn.set(key, json.dumps(arg))
            return value
        if f == "cas":
            if not conn.eval(CAS, 1, key, json.dumps(arg[0]), json.dumps(arg[1])):
                raise Definite("compare failed")
            return value
        raise ConfigError(f"the Redis register client cannot do {f!r}")


CLIENTS: dict[str, type[_Base]] = {"set": SetClient, "register": RegisterClient}


def client_for(workload: str, opts: Mapping[str, Any]) -> Client:
    return pick(CLIENTS, workload, "Redis")(opts)
