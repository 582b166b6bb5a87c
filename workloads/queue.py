"""The queue workload: enqueue unique values, dequeue them, drain what is left at the end.

Checked by ``total-queue`` (nothing acknowledged lost, nothing duplicated or
invented) and ``queue`` (no dequeue of a value not in the queue then).
Options ``dequeue_fraction`` (default 0.5) and ``at_least_once`` (default
false: a value dequeued twice is invalid; true for brokers that redeliver a
message whose acknowledgement was lost, such as RabbitMQ).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.queues import queue, total_queue
from jepsy.checkers.stats import stats
from jepsy.options import Option, boolean, declare, number, read
from jepsy.protocols import Workload

__all__ = ["workload"]


OPTIONS = (
    Option("dequeue_fraction", 0.5, "share of operations that dequeue", parse=number),
    Option("at_least_once", False, "a value delivered twice is not invalid (brokers that redeliver)",
           parse=boolean),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    fraction = float(opts["dequeue_fraction"])
    at_least_once = bool(opts["at_least_once"])
    counter = iter(range(1, 2**62))

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < fraction:
            return {"f": "dequeue", "value": None}
        return {"f": "enqueue", "value": next(counter)}

    drain = gen.each_thread(gen.defer(lambda ctx: {"f": "drain", "value": None}
                                      if ctx.thread == 0 else None))
    return Workload(name="queue", generator=ops, final_generator=drain,
                    checker=compose({"total-queue": total_queue(
                                         at_least_once=at_least_once),
                                     "queue": queue(
                                         at_least_once=at_least_once),
                                     "stats": stats()}),
                    fs=frozenset({"enqueue", "dequeue", "drain"}), opts=dict(opts))
