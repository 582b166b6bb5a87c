"""Test doubles shipped with jepsy, for testing clients, nemeses and checkers without a cluster.

* ``FakeRemote``: a ``Remote`` that records every command and answers from a
  handler, so a nemesis or DB module can be tested for the commands it sends.
* ``memory_db``: an in-process register store behind one lock: linearizable by
  construction.  Its "nodes" are just names; nothing is installed anywhere.
* ``broken_memory_db``: the same store replicated per node with asynchronous
  replication (writes reach other nodes after a delay): reads on one node miss
  writes acknowledged on another, so its histories are not linearizable.  It
  exists to prove that jepsy catches a broken system end to end.

Both memory databases serve the ``register`` workload (``[key, value]`` ops).  They
keep every value written (``Registers``: small integer values compactly) and log what
they hold once a minute ("memory db holds N keys, B bytes"), so that a soak can tell
the database's data from jepsy's own memory.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jepsy.control import Result
from jepsy.errors import CommandFailed, ConfigError
from jepsy.options import Option, declare, number
from jepsy.protocols import Client, Test

__all__ = ["FakeRemote", "broken_memory_db", "memory_db"]

REPORT_EVERY_S = 60.0  # how often the memory databases log what they hold

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


class Registers:
    """One replica's registers: every value ever written is kept (a database keeps its data),
    compactly.

    The register workload writes small integers to integer keys numbered from 0, so such
    a value sits in one byte of an array indexed by the key (``_ABSENT`` = never written);
    any other key or value goes to a dict.  An hour at full rate writes ~140k keys: a dict
    of them took 9.3 MiB (tracemalloc), the array takes 137 KiB.
    """

    _ABSENT = -1
    _MAX_SLOT = 1 << 24  # keys beyond this go to the dict, not a 16 MiB array

    def __init__(self) -> None:
        self.small = array("b")
        self.other: dict[Any, Any] = {}

    @classmethod
    def _compact(cls, key: Any, value: Any) -> bool:
        return (type(key) is int and 0 <= key < cls._MAX_SLOT
                and type(value) is int and 0 <= value < 128)

    def get(self, key: Any) -> Any:
        if type(key) is int and 0 <= key < len(self.small) and self.small[key] != self._ABSENT:
            return self.small[key]
        return self.other.get(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._compact(key, value):
            if key >= len(self.small):
                self.small.extend([self._ABSENT] * (key + 1 - len(self.small)))
            self.small[key] = value
            self.other.pop(key, None)
            return
        if type(key) is int and 0 <= key < len(self.small):
            self.small[key] = self._ABSENT
        self.other[key] = value

    def __len__(self) -> int:
        return len(self.small) - self.small.count(self._ABSENT) + len(self.other)

    def nbytes(self) -> int:
        """What the values take: the array's bytes and the dict's table (its keys and
        values are counted by ``sys.getsizeof`` of the dict only: an estimate)."""
        return self.small.buffer_info()[1] * self.small.itemsize + sys.getsizeof(self.other)


class _Store:
    """Registers in memory; ``lag`` > 0 replicates writes to other nodes late."""

    def __init__(self, lag: float = 0.0) -> None:
        self.lag = lag
        self.lock = threading.Lock()
        self.replicas: dict[str, Registers] = {}
        self.timers: list[threading.Timer] = []
        self.reported = time.monotonic()

    def replica(self, node: str) -> Registers:
        with self.lock:
            return self.replicas.setdefault(node if self.lag else "*", Registers())

    def held(self) -> str:
        """What the store holds, in words: ``"N keys, B bytes"`` over all replicas."""
        with self.lock:
            regs = list(self.replicas.values())
        return f"{sum(map(len, regs))} keys, {sum(r.nbytes() for r in regs)} bytes"

    def report(self, test: Test) -> None:
        """Log what the store holds, at most once a minute (``benchmarks/soak.py`` reads
        it to tell the database's data from jepsy's own memory)."""
        now = time.monotonic()
        if now - self.reported >= REPORT_EVERY_S:
            self.reported = now
            test.log.info("memory db holds %s", self.held())

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
        self.store.report(test)
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
