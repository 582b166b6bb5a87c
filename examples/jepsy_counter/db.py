"""A database: ``CounterDB`` (the ``DB`` protocol) and its client (the ``Client`` protocol).

The counter lives in this process, so setup and teardown touch no node.  What
a real module adds is in its ``setup`` (install, configure, start, wait until
the node answers, through ``test.remote``) and ``teardown`` (stop and wipe).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from jepsy.errors import ConfigError
from jepsy.options import declare
from jepsy.protocols import Client, Test

__all__ = ["CounterDB", "counter_db"]


class CounterDB:
    """One counter shared by every node (so it is linearizable)."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def setup(self, test: Test, node: str) -> None:
        test.log.info("counter ready on %s", node)

    def teardown(self, test: Test, node: str) -> None:
        with self.lock:
            self.value = 0

    def client(self, workload: str, test: Test) -> Client:
        if workload != "increments":
            raise ConfigError(f"the counter database speaks only the increments workload, not {workload!r}")
        return CounterClient(self)


class CounterClient:
    """``add`` (value: the amount) and ``read`` (completion value: the counter)."""

    def __init__(self, db: CounterDB, node: str | None = None) -> None:
        self.db, self.node = db, node

    def open(self, test: Test, node: str) -> CounterClient:
        return CounterClient(self.db, node)

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.lock:
            if op["f"] == "add":
                self.db.value += int(op["value"])
                return {"type": "ok"}
            if op["f"] == "read":
                return {"type": "ok", "value": self.db.value}
        return {"type": "fail", "error": f"unknown operation {op['f']!r}"}

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        pass


@declare()
def counter_db(opts: Mapping[str, Any]) -> CounterDB:
    """``--db counter``: an in-process counter."""
    return CounterDB()
