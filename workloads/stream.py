"""The stream workload: publish unique values to a log, consume them, read the whole log at the end.

Ops: ``publish`` (value: a fresh integer; ``ok`` with ``[v, seq]``, the
sequence the log acknowledged it at), ``consume`` (one fetch from a durable
consumer, acknowledging what it got: ``ok`` with the values whose
acknowledgement the server confirmed) and, after the faults are healed, one
``read`` of the whole log in order (worker 0).  Checked by ``stream`` (lost,
unexpected, duplicated, reordered and renumbered acknowledged messages:
``jepsy.checkers.streams``).

Options: ``consume_fraction`` (default 0.3) and ``at_least_once`` (default
false: a value consumed twice, its acknowledgement confirmed both times, is
invalid; true for consumers that may redeliver).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy import registry
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.options import Option, boolean, declare, number, read
from jepsy.protocols import Workload

__all__ = ["workload"]


OPTIONS = (
    Option("consume_fraction", 0.3, "share of operations that consume", parse=number),
    Option("at_least_once", False, "a value consumed twice is not invalid (consumers that redeliver)",
           parse=boolean),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    fraction = float(opts["consume_fraction"])
    counter = iter(range(1, 2**62))

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < fraction:
            return {"f": "consume", "value": None}
        return {"f": "publish", "value": next(counter)}

    final = gen.each_thread(gen.defer(lambda ctx: {"f": "read", "value": None}
                                      if ctx.thread == 0 else None))
    return Workload(name="stream", generator=ops, final_generator=final,
                    checker=compose({"stream": registry.load("checkers", "stream")(
                                         at_least_once=bool(opts["at_least_once"])),
                                     "stats": stats()}),
                    fs=frozenset({"publish", "consume", "read"}), opts=dict(opts))
