"""Test doubles shipped with jepsy, for testing clients, nemeses and checkers without a cluster.

* ``FakeRemote``: a ``Remote`` that records every command and answers from a
  handler, so a nemesis or DB module can be tested for the commands it sends.
* ``memory_db``: an in-process register store behind one lock: linearizable by
  construction.  Its "nodes" are just names; nothing is installed anywhere.
* ``broken_memory_db``: the same store replicated per node with asynchronous
  replication (writes reach other nodes after a delay): reads on one node miss
  writes acknowledged on another, so its histories are not linearizable.  It
  exists to prove that jepsy catches a broken system end to end.

Both memory databases serve the ``register`` workload (``[key, value]`` ops).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jepsy.control import Result
from jepsy.errors import CommandFailed, ConfigError
from jepsy.options import Option, declare, number
from jepsy.protocols import Client, Test

__all__ = ["FakeRemote", "broken_memory_db", "memory_db"]

Handler = Callable[[str, str], "Result | tuple[int, str, str] | None"]


@dataclass
class FakeRemote:
    """Records ``(node, command, sudo)``; the handler may return a Result, a tuple
    ``(exit_code, stdout, stderr)``, or None for success with no output."""

    handler: Handler | None = None
    commands: list[tuple[str, str, bool]] = field(default_factory=list)
    uploads: list[tuple[str, str, str]] = field(default_factory=list)
    downloads: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def execute(self, node: str, command: str, *, timeout: float = 60.0, sudo: bool = False,
                check: bool = True, stdin: str | None = None) -> Result:
        with self.lock:
            self.commands.append((node, command, sudo))
        answer = self.handler(node, command) if self.handler else None
        if answer is None:
            result = Result(node, command, "", "", 0)
        elif isinstance(answer, Result):
            result = answer
        else:
            code, out, err = answer
            result = Result(node, command, out, err, code)
        if check and not result.ok:
            raise CommandFailed(result.describe(), result)
        return result

    def upload(self, node: str, local: str, remote: str) -> None:
        with self.lock:
            self.uploads.append((node, local, remote))

    def download(self, node: str, remote: str, local: str) -> None:
        with self.lock:
            self.downloads.append((node, remote, local))
        with open(local, "w") as f:
            f.write(f"fake log of {node}:{remote}\n")

    def close(self) -> None:
        self.closed = True

    def on(self, node: str) -> list[str]:
        """Commands sent to ``node``, in order."""
        return [c for n, c, _ in self.commands if n == node]


class _Store:
    """Registers in memory; ``lag`` > 0 replicates writes to other nodes late."""

    def __init__(self, lag: float = 0.0) -> None:
        self.lag = lag
        self.lock = threading.Lock()
        self.replicas: dict[str, dict[Any, Any]] = {}
        self.timers: list[threading.Timer] = []

    def replica(self, node: str) -> dict[Any, Any]:
        with self.lock:
            return self.replicas.setdefault(node if self.lag else "*", {})

    def _replicate(self, origin: str, key: Any, value: Any) -> None:
        def apply() -> None:
            with self.lock:
                for node, data in self.replicas.items():
                    if node != origin:
                        data[key] = value
        t = threading.Timer(self.lag, apply)
        t.daemon = True
        self.timers.append(t)
        t.start()

    def invoke(self, node: str, f: str, key: Any, arg: Any) -> dict[str, Any]:
        data = self.replica(node)
        time.sleep(random.uniform(0, 0.002))  # let operations overlap
        with self.lock:
            if f == "read":
                return {"type": "ok", "value": [key, data.get(key)]}
            if f == "write":
                data[key] = arg
                written = arg
            elif f == "cas":
                old, new = arg
                if data.get(key) != old:
                    return {"type": "fail", "error": "compare failed"}
                data[key] = new
                written = new
            else:
                raise ConfigError(f"memory register cannot do {f!r}")
        if self.lag:
            self._replicate(node, key, written)
        return {"type": "ok"}


class _MemoryClient:
    def __init__(self, store: _Store, node: str | None = None) -> None:
        self.store, self.node = store, node

    def open(self, test: Test, node: str) -> _MemoryClient:
        return _MemoryClient(self.store, node)

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        key, arg = op["value"]
        assert self.node is not None, "invoke before open"
        return self.store.invoke(self.node, str(op["f"]), key, arg)

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        pass


class MemoryDB:
    """A DB that lives in this process; setup and teardown touch no node."""

    def __init__(self, lag: float) -> None:
        self.store = _Store(lag)

    def setup(self, test: Test, node: str) -> None:
        self.store.replica(node)

    def teardown(self, test: Test, node: str) -> None:
        for t in self.store.timers:
            t.cancel()

    def client(self, workload: str, test: Test) -> Client:
        if workload != "register":
            raise ConfigError(f"the memory databases speak only the register workload, not {workload!r}")
        return _MemoryClient(self.store)


@declare()
def memory_db(opts: Mapping[str, Any]) -> MemoryDB:
    """Linearizable in-process registers."""
    return MemoryDB(lag=0.0)


@declare(Option("lag", 0.05, "seconds before a write reaches the other replicas", parse=number))
def broken_memory_db(opts: Mapping[str, Any]) -> MemoryDB:
    """Asynchronously replicated registers: stale reads, so not linearizable."""
    return MemoryDB(lag=float(opts.get("lag", 0.05)))
