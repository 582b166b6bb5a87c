"""NATS JetStream clients (nats-py) for the ``stream`` and ``register`` workloads.

nats-py is asyncio-only; jepsy's workers are threads.  Every client therefore
owns one event loop running in a daemon thread of its own, holding one
connection to its own node (no reconnects to other servers: a worker talks to
its node, as in every jepsy module), and ``invoke`` runs one coroutine there
under ``op_timeout`` seconds.  A timeout cancels the coroutine and drops the
connection; the next operation reconnects.

``stream`` (stream ``jepsy``, subject ``jepsy.log``, file storage, ``replicas``
replicas):

* ``publish`` v: a JetStream publish, ``ok`` with ``[v, sequence]`` once the
  stream acknowledged it (a majority of its replicas have it); ``fail`` only
  on *no responders* (no server took the request: no stream leader got it);
  anything else, a timeout or an error answer, is ``info``: it may be stored.
* ``consume``: fetch up to 10 messages from the durable pull consumer
  ``jepsy`` (explicit acks), acknowledge each with a double ack (``ack_sync``:
  the server confirms the ack).  ``ok`` with the values whose ack the server
  confirmed, in delivery order (a message whose ack is unconfirmed is not
  claimed: it may be delivered again, legitimately); ``fail`` when the fetch
  itself errs (no message was acknowledged by us).
* ``read`` (final phase, one worker): every message of the stream, in stream
  order, through an ephemeral consumer that delivers all without acks;
  ``ok`` with ``[[v, sequence], ...]``, ``info`` when it could not finish.
  ``ok`` with nothing when the cluster's meta leader says, five times over
  ten seconds, that the stream does not exist (power loss can make JetStream
  forget it): the log holds nothing then.

``register`` (key-value bucket ``jepsy``, history 1, ``replicas`` replicas):
``read`` is a get (absent and deleted keys read null; an error is ``fail``:
reads change nothing); ``write`` is a put (``fail`` on no responders, else
``info`` on any error); ``cas [old, new]`` gets the key and, if its value is
``old``, updates it with the revision it read as the expected last revision
(JetStream refuses the update if the key changed since).  A value other than
``old``, or a refused revision (``wrong last sequence``), is ``fail``: nothing
was written.  An error or timeout after the update was sent is ``info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from jepsy.dbs.client import named
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.nats import NatsDB

__all__ = ["KVRegisterClient", "StreamClient", "client_for"]

T = TypeVar("T")
CONSUMER = "jepsy"
FETCH = 10


def _error(e: BaseException) -> str:
    """The skeleton's ``Type: text``, cut to 200 characters (nats-py's texts can be long)."""
    return named(e)[:200]


class _Loop:
    """One asyncio loop in a daemon thread, and one nats-py connection on it."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="nats-client-loop")
        self.thread.start()
        self.nc: Any = None
        self.cache: dict[str, Any] = {}  # per connection: bound subscriptions, buckets

    def run(self, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """``await make()`` on the loop; ``TimeoutError`` (and a dropped connection) after
        ``timeout`` (default ``op_timeout``) seconds."""
        limit = self.timeout if timeout is None else timeout

        async def bounded() -> T:
            return await asyncio.wait_for(make(), limit)

        fut = asyncio.run_coroutine_threadsafe(bounded(), self.loop)
        try:
            return fut.result(limit + 2)
        except BaseException:
            fut.cancel()
            self.drop()
            raise

    async def connection(self) -> Any:
        import nats

        if self.nc is None or self.nc.is_closed:
            self.nc = await nats.connect(
                self.url, connect_timeout=self.timeout, allow_reconnect=False,
                max_reconnect_attempts=0, ping_interval=5, max_outstanding_pings=2)
        return self.nc

    async def js(self) -> Any:
        return (await self.connection()).jetstream(timeout=self.timeout)

    def drop(self) -> None:
        nc, self.nc = self.nc, None
        self.cache = {}
        if nc is not None:
            async def close() -> None:
                with contextlib.suppress(Exception):  # already broken: best effort
                    await asyncio.wait_for(nc.close(), 2)
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self.loop).result(4)

    def close(self) -> None:
        """Close the connection, then end what nats-py left on the loop (subscriptions of a
        connection that closed uncleanly), so that no pending task is destroyed with it."""
        self.drop()
        if self.loop.is_running():
            async def cancel_rest() -> None:
                rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in rest:
                    task.cancel()
                await asyncio.wait_for(asyncio.gather(*rest, return_exceptions=True), 2)
            with contextlib.suppress(Exception):  # best effort: the loop ends either way
                asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(3)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


class _NatsClient:
    """Shared by both clients: one loop and connection per opened client."""

    def __init__(self, db: NatsDB, opts: Mapping[str, Any], url: str | None = None) -> None:
        self.db = db
        self.opts = dict(opts)
        self.timeout = float(self.opts.get("op_timeout", 5.0))
        self.url = url
        self._io: _Loop | None = None

    @property
    def io(self) -> _Loop:
        if self._io is None:
            if self.url is None:
                raise ConfigError("NATS client used before open()")
            self._io = _Loop(self.url, self.timeout)
        return self._io

    def open(self, test: Test, node: str) -> Any:
        from jepsy.dbs.nats import CLIENT_PORT

        return type(self)(self.db, self.opts, f"nats://{test.address(node)}:{CLIENT_PORT}")

    def _retry(self, make: Callable[[], Awaitable[None]], what: str) -> None:
        """Creating the stream, consumer or bucket right after start-up may meet a leader election."""
        deadline = time.monotonic() + self.db.ready_timeout
        while True:
            try:
                self.io.run(make, timeout=max(10.0, self.timeout))
                return
            except Exception as e:
                if time.monotonic() > deadline:
                    raise ConfigError(f"{what} failed: {_error(e)}") from e
                time.sleep(1)

    def teardown(self, test: Test) -> None:
        """The stream and bucket go with the cluster at teardown."""

    def close(self, test: Test) -> None:
        io, self._io = self._io, None
        if io is not None:
            io.close()


def _no_responders(e: BaseException) -> bool:
    from nats.errors import NoRespondersError
    from nats.js.errors import NoStreamResponseError

    return isinstance(e, (NoRespondersError, NoStreamResponseError))


class StreamClient(_NatsClient):
    """The ``stream`` workload: publish, consume through a durable consumer, read all."""

    def setup(self, test: Test) -> None:
        """Create the stream and the durable consumer (idempotent: a second setup finds them)."""
        from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

        from jepsy.dbs.nats import STREAM, SUBJECT

        async def create() -> None:
            js = await self.io.js()
            await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT],
                                             storage=StorageType.FILE,
                                             num_replicas=self.db.replicas))
            await js.add_consumer(STREAM, ConsumerConfig(durable_name=CONSUMER,
                                                         ack_policy=AckPolicy.EXPLICIT,
                                                         ack_wait=2 * self.timeout,
                                                         max_ack_pending=-1))

        self._retry(create, "creating the stream")

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        f = op["f"]
        if f == "publish":
            return self._publish(op["value"])
        if f == "consume":
            return self._consume()
        if f == "read":
            return self._read()
        raise ConfigError(f"NATS stream client cannot do {f!r}")

    def _publish(self, value: Any) -> dict[str, Any]:
        from jepsy.dbs.nats import SUBJECT

        async def publish() -> Any:
            js = await self.io.js()
            return await js.publish(SUBJECT, str(value).encode(), timeout=self.timeout)

        try:
            ack = self.io.run(publish)
        except Exception as e:
            return {"type": "fail" if _no_responders(e) else "info", "error": _error(e)}
        return {"type": "ok", "value": [value, int(ack.seq)]}

    def _consume(self) -> dict[str, Any]:
        from jepsy.dbs.nats import STREAM

        acked: list[int] = []
        failure: list[str] = []

        async def consume() -> None:
            import nats.errors

            js = await self.io.js()
            sub = self.io.cache.get("sub")
            if sub is None:
                sub = self.io.cache["sub"] = await js.pull_subscribe_bind(CONSUMER, STREAM)
            try:
                msgs = await sub.fetch(FETCH, timeout=min(1.0, self.timeout / 2))
            except nats.errors.TimeoutError:
                return  # nothing to deliver now
            for msg in msgs:
                try:
                    await msg.ack_sync(timeout=self.timeout / 2)
                except Exception as e:  # unconfirmed ack: not claimed, may come again
                    failure.append(_error(e))
                    return
                acked.append(int(msg.data))

        try:
            self.io.run(consume)
        except Exception as e:
            if acked:  # the confirmed acks stand; what followed is unclaimed
                return {"type": "ok", "value": acked, "error": _error(e)}
            return {"type": "fail", "error": _error(e)}
        if failure:
            return {"type": "ok", "value": acked, "error": failure[0]}
        return {"type": "ok", "value": acked}

    def _read(self) -> dict[str, Any]:
        """Every message, in order, by an ephemeral consumer that delivers all without acks."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        from jepsy.dbs.nats import STREAM, SUBJECT

        got: list[list[int]] = []

        async def read_all() -> None:
            js = await self.io.js()
            last = int((await js.stream_info(STREAM)).state.last_seq)
            sub = await js.pull_subscribe(SUBJECT, durable=None, stream=STREAM, config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE,
                inactive_threshold=60.0))
            seen = 0
            while seen < last:
                msgs = await sub.fetch(500, timeout=5)
                for msg in msgs:
                    seen = int(msg.metadata.sequence.stream)
                    got.append([int(msg.data), seen])
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

        from nats.js.errors import NotFoundError

        err, missing = "", 0
        for _attempt in range(10):  # a leader election may interrupt it: start over
            got.clear()
            try:
                self.io.run(read_all, timeout=30 * self.timeout)
                return {"type": "ok", "value": list(got)}
            except NotFoundError as e:
                # The meta leader answers that the stream does not exist (without one the
                # request times out).  Asked again after a while, in case it was still
                # catching up; if it says so every time, the log holds nothing.
                err, missing = _error(e), missing + 1
                if missing >= 5:
                    return {"type": "ok", "value": [], "error": f"the stream is gone: {err}"}
            except Exception as e:
                err = _error(e)
            time.sleep(2)
        return {"type": "info", "value": list(got), "error": f"read unfinished: {err}"}


class KVRegisterClient(_NatsClient):
    """The ``register`` workload over the key-value bucket, cas by revision."""

    def setup(self, test: Test) -> None:
        from nats.js.api import KeyValueConfig, StorageType

        from jepsy.dbs.nats import BUCKET

        async def create() -> None:
            js = await self.io.js()
            await js.create_key_value(KeyValueConfig(
                bucket=BUCKET, history=1, replicas=self.db.replicas, storage=StorageType.FILE,
                direct=self.db.kv_direct))

        self._retry(create, "creating the key-value bucket")

    async def _kv(self) -> Any:
        from jepsy.dbs.nats import BUCKET

        kv = self.io.cache.get("kv")
        if kv is None:
            js = await self.io.js()
            kv = self.io.cache["kv"] = await js.key_value(BUCKET)
        return kv

    async def _get(self, key: str) -> tuple[int | None, int]:
        """(value, revision); (None, 0) when absent or deleted."""
        from nats.js.errors import KeyNotFoundError

        kv = await self._kv()
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # KeyDeletedError is one too
            return None, 0
        if entry.value is None or entry.operation in ("DEL", "PURGE"):
            return None, int(entry.revision or 0)
        return int(entry.value), int(entry.revision)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        f = op["f"]
        key, arg = op["value"]
        name = f"k{key}"
        if f == "read":
            try:
                value, _ = self.io.run(lambda: self._get(name))
            except Exception as e:
                return {"type": "fail", "error": _error(e)}
            return {"type": "ok", "value": [key, value]}
        if f == "write":
            async def put() -> None:
                await (await self._kv()).put(name, str(arg).encode())
            try:
                self.io.run(put)
            except Exception as e:
                return {"type": "fail" if _no_responders(e) else "info", "error": _error(e)}
            return {"type": "ok", "value": [key, arg]}
        if f == "cas":
            return self._cas(key, name, arg)
        raise ConfigError(f"NATS key-value client cannot do {f!r}")

    def _cas(self, key: Any, name: str, arg: Any) -> dict[str, Any]:
        from nats.js.errors import KeyWrongLastSequenceError

        old, new = arg
        sent = False

        async def cas() -> bool:
            nonlocal sent
            value, revision = await self._get(name)
            if value != old:
                return False
            kv = await self._kv()
            sent = True
            await kv.update(name, str(new).encode(), last=revision)
            return True

        try:
            done = self.io.run(cas)
        except KeyWrongLastSequenceError as e:  # the key changed since we read it: refused
            return {"type": "fail", "error": _error(e)}
        except Exception as e:
            if not sent or _no_responders(e):
                return {"type": "fail", "error": _error(e)}
            return {"type": "info", "error": _error(e)}
        if not done:
            return {"type": "fail", "error": "value differs"}
        return {"type": "ok", "value": [key, [old, new]]}


def client_for(workload: str, db: NatsDB, opts: Mapping[str, Any]) -> Client:
    if workload == "stream":
        return StreamClient(db, opts)
    if workload == "register":
        return KVRegisterClient(db, opts)
    raise ConfigError(f"NATS has no client for workload {workload!r} (it speaks: stream, register)")
