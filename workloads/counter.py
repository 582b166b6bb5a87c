"""The counter workload: increments (``add`` of 1..``max_delta``) and reads.

The ``counter`` checker bounds every read between the adds that must have
happened and those that may have.  Option ``read_fraction`` (default 0.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.counter import counter
from jepsy.checkers.stats import stats
from jepsy.options import Option, declare, integer, number, read
from jepsy.protocols import Workload

__all__ = ["workload"]


OPTIONS = (
    Option("read_fraction", 0.3, "share of operations that read the counter", parse=number),
    Option("max_delta", 5, "largest increment of one add", parse=integer),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    read_fraction = float(opts["read_fraction"])
    max_delta = int(opts["max_delta"])

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": None}
        return {"f": "add", "value": ctx.rng.randint(1, max_delta)}

    return Workload(name="counter", generator=ops,
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"counter": counter(),
                                     "stats": stats()}),
                    fs=frozenset({"add", "read"}), opts=dict(opts))
