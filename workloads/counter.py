"""The counter workload: increments (``add`` of 1..``max_delta``) and reads.

The ``counter`` checker bounds every read between the adds that must have
happened and those that may have.  Option ``read_fraction`` (default 0.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy import registry
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.protocols import Workload

__all__ = ["workload"]


def workload(opts: Mapping[str, Any]) -> Workload:
    read_fraction = float(opts.get("read_fraction", 0.3))
    max_delta = int(opts.get("max_delta", 5))

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": None}
        return {"f": "add", "value": ctx.rng.randint(1, max_delta)}

    return Workload(name="counter", generator=ops,
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"counter": registry.load("checkers", "counter")(),
                                     "stats": stats()}),
                    fs=frozenset({"add", "read"}), opts=dict(opts))
