"""A workload: the ops to run and how their history is judged (a ``Workload``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.options import Option, declare, number, read
from jepsy.protocols import Workload

from .checker import monotonic_reads

__all__ = ["workload"]

OPTIONS = (Option("read_fraction", 0.5, "share of reads among the ops", parse=number),)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    """``--workload increments``: adds of 1 and reads, then one final read per worker."""
    opts = read(OPTIONS, opts)
    fraction = float(opts["read_fraction"])

    def op(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < fraction:
            return {"f": "read", "value": None}
        return {"f": "add", "value": 1}

    return Workload(name="increments", generator=gen.repeat(op),
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"monotonic-reads": monotonic_reads(), "stats": stats()}),
                    fs=frozenset({"add", "read"}), opts=dict(opts))
