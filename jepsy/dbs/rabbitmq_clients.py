"""RabbitMQ clients (pika, AMQP 0-9-1) for the ``queue`` workload.

Every client holds one blocking connection to its own node and one channel in
confirm mode.  ``enqueue`` publishes a persistent message and waits for the
broker's confirm: ``ok`` means RabbitMQ took responsibility for it (for a
quorum queue: a majority has it in its log; for a mirrored queue: every
mirror in sync has it).  A nack, an unroutable return, a timeout or a lost
connection is ``info``: the message may still be there.  ``dequeue`` is
``basic.get`` without auto-ack, then ``basic.ack``: ``ok`` with the value once
the ack was sent, ``ok`` with null when the queue was empty, ``fail`` when no
message reached us (the broker requeues what it delivered on a connection
that dies unacknowledged), ``info`` when the ack may not have landed.
``drain`` (final phase) gets and acks until the queue stays empty, reconnecting
after errors (to the next node: its own may be paused by ``pause_minority``) so
that nothing it acknowledged is forgotten.

Every operation runs under ``op_timeout`` seconds (default 5): pika's blocking
connection would otherwise wait for a confirm from a stalled cluster as long as
the partition lasts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jepsy.dbs.client import DatabaseClient, Indefinite, Outcome
from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

if TYPE_CHECKING:
    from jepsy.dbs.rabbitmq import RabbitMQDB

__all__ = ["QueueClient", "client_for"]


class AckLost(Exception):
    """A message was taken from the queue, and its ``basic.ack`` failed (``__cause__``)."""


def _said(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:200]


class QueueClient(DatabaseClient):
    """The ``queue`` workload over one AMQP connection to one node."""

    default_timeout = 5.0
    # A dequeue that failed before its ack took nothing: the broker requeues what it
    # delivered on a connection that dies unacknowledged.
    reads = frozenset({"dequeue"})
    outcomes = (
        Outcome((ConfigError,), "raise"),
        Outcome((Indefinite,), "info"),
        # nack, unroutable, timeout, connection lost: an enqueue may be there.
        Outcome((Exception,), "maybe", _said, drop="always"),
    )

    def __init__(self, db: RabbitMQDB, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.db = db
        self.node: str | None = None
        self.others: list[str] = []  # the other nodes' addresses: a drain moves on to them
        self.conn: Any = None
        self.channel: Any = None

    def fresh(self) -> QueueClient:
        return QueueClient(self.db, self.opts)

    def open(self, test: Test, node: str) -> QueueClient:
        c = self.fresh()
        c.node, c.host = node, test.address(node)
        c.others = [test.address(n) for n in test.nodes if n != node]
        return c

    def _connect(self) -> Any:
        import pika

        from jepsy.dbs.rabbitmq import AMQP_PORT

        if self.channel is None:
            params = pika.ConnectionParameters(
                host=self.host, port=AMQP_PORT, credentials=pika.PlainCredentials("guest", "guest"),
                connection_attempts=1, socket_timeout=self.timeout, stack_timeout=self.timeout,
                blocked_connection_timeout=self.timeout, heartbeat=max(2, int(self.timeout)))
            self.conn = pika.BlockingConnection(params)
            self.channel = self.conn.channel()
            self.channel.confirm_delivery()
        return self.channel

    def drop(self) -> None:
        conn, self.conn, self.channel = self.conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: closing is best effort
                conn.close()

    def _timed(self, fn: Any) -> Any:
        """``fn(channel)``, its connection cut if it outlives ``op_timeout``.

        pika's blocking connection runs its own timers only inside
        ``process_data_events``, never while it waits for a confirm or a
        ``basic.get`` answer, so a watchdog thread shuts the socket down
        instead: the waiting call then fails at once (and the caller records
        the op as unknown and reconnects).
        """
        ch = self._connect()
        conn = self.conn
        timer = threading.Timer(self.timeout, self._abort, args=(conn,))
        timer.daemon = True
        timer.start()
        try:
            return fn(ch)
        finally:
            timer.cancel()

    @staticmethod
    def _abort(conn: Any) -> None:
        with contextlib.suppress(Exception):  # pika keeps its socket in its transport
            conn._impl._transport._sock.shutdown(socket.SHUT_RDWR)

    def setup(self, test: Test) -> None:
        """Declare the durable queue (and the mirroring policy for classic mirrored queues)."""
        from jepsy.dbs.rabbitmq import QUEUE

        if self.db.queue_type == "classic-mirrored":
            got = self.db.ctl(test, self.node or test.nodes[0],
                              "set_policy --apply-to queues jepsy-ha '^jepsy\\.' "
                              "'{\"ha-mode\":\"all\",\"ha-sync-mode\":\"automatic\"}'", check=False)
            if not got.ok:
                raise ConfigError(f"setting the mirroring policy failed: {got.describe()}")
            args: dict[str, Any] = {}
        else:
            args = {"x-queue-type": "quorum"}
        ch = self._connect()
        ch.queue_declare(QUEUE, durable=True, arguments=args)

    def do(self, f: str, value: Any) -> Any:
        if f == "enqueue":
            import pika

            from jepsy.dbs.rabbitmq import QUEUE

            self._timed(lambda ch: ch.basic_publish(
                "", QUEUE, str(value).encode(), pika.BasicProperties(delivery_mode=2), mandatory=True))
            return value
        if f == "dequeue":
            try:
                got, taken = self._get_one()
            except AckLost as e:
                self.drop()
                raise Indefinite(_said(e.__cause__ or e)) from None
            return taken if got else None
        if f == "drain":
            return self._drain()
        raise ConfigError(f"RabbitMQ queue client cannot do {f!r}")

    def _get_one(self) -> tuple[bool, int | None]:
        """(got a message, its value), acknowledged; ``AckLost`` if the ack failed."""
        from jepsy.dbs.rabbitmq import QUEUE

        method, _, body = self._timed(lambda ch: ch.basic_get(QUEUE, auto_ack=False))
        if method is None:
            return False, None
        try:
            self._timed(lambda ch: ch.basic_ack(method.delivery_tag))
        except Exception as e:
            raise AckLost() from e
        return True, int(body)

    def _drain(self) -> list[int]:
        """Get and ack until the queue stays empty; ``Indefinite`` with what it got if not."""
        values: list[int] = []
        empties, errors, last = 0, 0, ""
        deadline = time.monotonic() + 30 * self.timeout
        while empties < 3 and time.monotonic() < deadline:
            try:
                got, value = self._get_one()
            except AckLost as e:
                raise Indefinite(f"ack failed: {e.__cause__}"[:200], values) from None
            except Exception as e:
                errors, last = errors + 1, f"{type(e).__name__}: {e}"
                self.drop()
                if self.others:  # this node may be paused (pause_minority) or down: try the next
                    self.others.append(str(self.host))
                    self.host = self.others.pop(0)
                time.sleep(0.5)
                continue
            if got and value is not None:
                values.append(value)
                empties = 0
            else:
                empties += 1
                time.sleep(0.2)
        if empties < 3:
            raise Indefinite(f"drain unfinished ({errors} errors: {last})", values)
        return values

    def teardown(self, test: Test) -> None:
        """The queue goes with the cluster at teardown."""


def client_for(workload: str, db: RabbitMQDB, opts: Mapping[str, Any]) -> Client:
    if workload != "queue":
        raise ConfigError(f"RabbitMQ has no client for workload {workload!r} (it speaks: queue)")
    return QueueClient(db, opts)
