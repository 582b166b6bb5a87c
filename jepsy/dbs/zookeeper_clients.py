"""ZooKeeper clients (kazoo, pure Python) for the register and set workloads.

Each client has one session with the server on its own node only, so what it
reads is what that server has applied: a follower cut off from its leader
keeps answering until it notices (``sync_limit`` ticks).  With
``--db-opt sync=true`` every read first calls ``sync``, which makes the
server catch up with the leader before answering: reads are then linearizable,
and a cut-off follower's reads time out instead of going stale.

* register ``[k, v]``: one znode per key under ``/jepsy/register``, its data
  the JSON value; ``write`` sets it (creating it if absent); ``cas`` reads it
  with its version and sets it only at that version, so the compare and the
  set are atomic (a version that moved fails the op).
* set: ``add e`` creates ``/jepsy/set/e<e>``; ``read`` lists the children.

Outcomes, the contract of ``Client.invoke`` (see ``jepsy.protocols``):
``fail`` for a compare that did not match or a version that moved, for a
session that could not be established (nothing was sent) and for any error
of a read; ``info`` for a write whose answer was lost (connection loss,
session expiry, timeout); ``ok`` otherwise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from jepsy.dbs.zookeeper import CLIENT_PORT
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

__all__ = ["CLIENTS", "client_for"]

ROOT = "/jepsy"


class _Definite(Exception):
    """The operation certainly did not take effect."""


def _flag(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


class _Base:
    read_only = frozenset({"read"})

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.timeout = float(self.opts.get("op_timeout", 2.0))
        self.sync = _flag(self.opts.get("sync", "false"))
        self.host: str | None = None
        self.zk: Any = None

    def open(self, test: Test, node: str) -> Client:
        c = type(self)(self.opts)
        c.host = test.address(node)
        return c

    def session(self) -> Any:
        """The connected kazoo client, starting a session if there is none."""
        from kazoo.client import KazooClient  # type: ignore[import-untyped]

        if self.zk is not None:
            return self.zk
        zk = KazooClient(hosts=f"{self.host}:{CLIENT_PORT}", timeout=max(4.0, 2 * self.timeout))
        try:
            zk.start(timeout=self.timeout)
        except Exception as e:  # kazoo raises its own timeout type, or socket errors
            with contextlib.suppress(Exception):
                zk.stop()
                zk.close()
            raise _Definite(f"no session with {self.host}: {e or type(e).__name__}") from None
        self.zk = zk
        return zk

    def setup(self, test: Test) -> None:
        zk = self.session()
        for sub in ("register", "set"):
            zk.ensure_path(f"{ROOT}/{sub}")

    def teardown(self, test: Test) -> None:
        """Znodes are wiped with the data directory."""

    def close(self, test: Test) -> None:
        if self.zk is not None:
            with contextlib.suppress(Exception):
                self.zk.stop()
                self.zk.close()
            self.zk = None

    def wait(self, async_result: Any) -> Any:
        return async_result.get(timeout=self.timeout)

    def synced(self, zk: Any, path: str) -> None:
        if self.sync:
            self.wait(zk.sync_async(path))

    def do(self, zk: Any, f: str, value: Any) -> Any:
        raise NotImplementedError

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        from kazoo.exceptions import BadVersionError, NoNodeError  # type: ignore[import-untyped]

        f = str(op["f"])
        try:
            return {"type": "ok", "value": self.do(self.session(), f, op.get("value"))}
        except _Definite as e:
            return {"type": "fail", "error": str(e)}
        except BadVersionError:
            return {"type": "fail", "error": "version moved: compare failed"}
        except NoNodeError:
            return {"type": "fail", "error": "no such znode"}
        except Exception as e:  # kazoo's connection loss, session expiry, timeouts
            self.close(test)
            what = type(e).__name__ + (f": {e}" if str(e) else "")
            return {"type": "fail" if f in self.read_only else "info", "error": what}


class RegisterClient(_Base):
    """Registers as znodes; cas by version."""

    def do(self, zk: Any, f: str, value: Any) -> Any:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        k, arg = value
        path = f"{ROOT}/register/{k}"
        if f == "read":
            self.synced(zk, path)
            try:
                data, _ = self.wait(zk.get_async(path))
            except NoNodeError:
                return [k, None]
            return [k, json.loads(data)]
        if f == "write":
            data = json.dumps(arg).encode()
            for _ in range(3):
                try:
                    self.wait(zk.set_async(path, data))
                    return value
                except NoNodeError:
                    try:
                        self.wait(zk.create_async(path, data))
                        return value
                    except NodeExistsError:
                        continue  # created meanwhile: set it
            raise _Definite("the znode kept appearing and vanishing")
        if f == "cas":
            old, new = arg
            try:
                data, stat = self.wait(zk.get_async(path))
            except NoNodeError:
                raise _Definite("compare failed: absent") from None
            if json.loads(data) != old:
                raise _Definite("compare failed")
            self.wait(zk.set_async(path, json.dumps(new).encode(), version=stat.version))
            return value
        raise ConfigError(f"the ZooKeeper register client cannot do {f!r}")


class SetClient(_Base):
    """A set as the children of one znode."""

    def do(self, zk: Any, f: str, value: Any) -> Any:
        from kazoo.exceptions import NodeExistsError

        if f == "add":
            with contextlib.suppress(NodeExistsError):  # a retry of an add whose answer was lost
                self.wait(zk.create_async(f"{ROOT}/set/e{int(value)}", b""))
            return value
        if f == "read":
            self.synced(zk, f"{ROOT}/set")
            return sorted(int(c[1:]) for c in self.wait(zk.get_children_async(f"{ROOT}/set")))
        raise ConfigError(f"the ZooKeeper set client cannot do {f!r}")


CLIENTS: dict[str, type[_Base]] = {"register": RegisterClient, "set": SetClient}


def client_for(workload: str, opts: Mapping[str, Any]) -> Client:
    cls = CLIENTS.get(workload)
    if cls is None:
        raise ConfigError(f"ZooKeeper has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(CLIENTS))})")
    return cls(opts)
