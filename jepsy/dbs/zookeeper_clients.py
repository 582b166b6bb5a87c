"""ZooKeeper clients (kazoo, pure Python) for the register and set workloads.

Clients talk to the server on their own node only, so what they read is what
that server has applied: a follower cut off from its leader keeps answering
until it notices (``sync_limit`` ticks).  Reads go over one long-lived session
per node, shared by the clients of that node (``ReadSessions``), and writes
over each client's own session.  That is how an application that caches
reads would use ZooKeeper, and it matters: ZooKeeper answers a session's
requests in order, so a read queued behind a write that waits for an
unreachable leader would wait too; and after a write ends in ``info`` the
worker's client is replaced, and a new session cannot be created without the
leader.  With a session per client, a cut-off follower's reads would
therefore hardly ever be observed.  With
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
import functools
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.dbs.client import DatabaseClient, Definite, Outcome, named, pick
from jepsy.dbs.zookeeper import CLIENT_PORT
from jepsy.errors import ConfigError
from jepsy.options import boolean
from jepsy.protocols import Client, Test

__all__ = ["CLIENTS", "Definite", "client_for"]

ROOT = "/jepsy"


def start_session(host: str, timeout: float) -> Any:
    """A connected kazoo client for ``host``; ``Definite`` if no session could be made."""
    from kazoo.client import KazooClient  # type: ignore[import-untyped]

    zk = KazooClient(hosts=f"{host}:{CLIENT_PORT}", timeout=max(4.0, 2 * timeout))
    try:
        zk.start(timeout=timeout)
    except Exception as e:  # kazoo raises its own timeout type, or socket errors
        with contextlib.suppress(Exception):
            zk.stop()
            zk.close()
        raise Definite(f"no session with {host}: {e or type(e).__name__}") from None
    return zk


class ReadSessions:
    """One read session per node, shared by every client of that node (kazoo is thread-safe).

    A session kazoo reports lost (expired) is replaced on next use; one that is
    merely disconnected is left to kazoo, which reconnects it by itself.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, Any] = {}

    def get(self, host: str, timeout: float) -> Any:
        from kazoo.protocol.states import KazooState  # type: ignore[import-untyped]

        with self.lock:
            zk = self.sessions.get(host)
            if zk is not None and zk.state == KazooState.LOST:
                self._drop(host)
                zk = None
            if zk is None:
                zk = self.sessions[host] = start_session(host, timeout)
            return zk

    def _drop(self, host: str) -> None:
        zk = self.sessions.pop(host, None)
        if zk is not None:
            with contextlib.suppress(Exception):
                zk.stop()
                zk.close()

    def close(self) -> None:
        with self.lock:
            for host in list(self.sessions):
                self._drop(host)


@functools.cache
def outcomes() -> tuple[Outcome, ...]:
    """The outcome rules, made once kazoo is imported (jepsy imports drivers late)."""
    from kazoo.exceptions import BadVersionError, NoNodeError  # type: ignore[import-untyped]

    return (
        Outcome((Definite,), "fail"),
        Outcome((BadVersionError,), "fail", lambda e: "version moved: compare failed"),
        Outcome((NoNodeError,), "fail", lambda e: "no such znode"),
        # kazoo's connection loss, session expiry, timeouts: a write's session is
        # closed (the next op starts one), the node's shared read session is kazoo's.
        Outcome((Exception,), "maybe", named, drop="info"),
    )


class _Base(DatabaseClient):
    def __init__(self, opts: Mapping[str, Any], readers: ReadSessions) -> None:
        super().__init__(opts)
        self.readers = readers
        self.sync = boolean(self.opts.get("sync", False))
        self.zk: Any = None

    def fresh(self) -> _Base:
        return type(self)(self.opts, self.readers)

    def rules(self) -> Sequence[Outcome]:
        return outcomes()

    def session(self) -> Any:
        """This client's own session (for writes), started if there is none."""
        if self.zk is None:
            assert self.host is not None, "invoke before open"
            self.zk = start_session(self.host, self.timeout)
        return self.zk

    def reader(self) -> Any:
        """The node's shared read session."""
        assert self.host is not None, "invoke before open"
        return self.readers.get(self.host, self.timeout)

    def setup(self, test: Test) -> None:
        zk = self.session()
        for sub in ("register", "set"):
            zk.ensure_path(f"{ROOT}/{sub}")

    def drop(self) -> None:
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


class RegisterClient(_Base):
    """Registers as znodes; cas by version."""

    def do(self, f: str, value: Any) -> Any:
        from kazoo.exceptions import NodeExistsError, NoNodeError

        k, arg = value
        path = f"{ROOT}/register/{k}"
        if f == "read":
            zk = self.reader()
            self.synced(zk, path)
            try:
                data, _ = self.wait(zk.get_async(path))
            except NoNodeError:
                return [k, None]
            return [k, json.loads(data)]
        zk = self.session()
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
            raise Definite("the znode kept appearing and vanishing")
        if f == "cas":
            old, new = arg
            try:
                data, stat = self.wait(zk.get_async(path))
            except NoNodeError:
                raise Definite("compare failed: absent") from None
            if json.loads(data) != old:
                raise Definite("compare failed")
            self.wait(zk.set_async(path, json.dumps(new).encode(), version=stat.version))
            return value
        raise ConfigError(f"the ZooKeeper register client cannot do {f!r}")


class SetClient(_Base):
    """A set as the children of one znode."""

    def do(self, f: str, value: Any) -> Any:
        from kazoo.exceptions import NodeExistsError

        if f == "add":
            zk = self.session()
            with contextlib.suppress(NodeExistsError):  # a retry of an add whose answer was lost
                self.wait(zk.create_async(f"{ROOT}/set/e{int(value)}", b""))
            return value
        if f == "read":
            zk = self.reader()
            self.synced(zk, f"{ROOT}/set")
            return sorted(int(c[1:]) for c in self.wait(zk.get_children_async(f"{ROOT}/set")))
        raise ConfigError(f"the ZooKeeper set client cannot do {f!r}")


CLIENTS: dict[str, type[_Base]] = {"register": RegisterClient, "set": SetClient}


def client_for(workload: str, opts: Mapping[str, Any], readers: ReadSessions) -> Client:
    return pick(CLIENTS, workload, "ZooKeeper")(opts, readers)
