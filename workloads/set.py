"""The set workload: add unique elements, read the whole set, follow every element.

Adds and reads are mixed through the run (``read_fraction``, default 0.2), and
every worker reads once more after healing, so the ``set-full`` checker can say
for each element whether it was lost, stale (and for how long) or stable.
Option ``linearizable`` (default false) also counts stale reads as violations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.sets import set_full
from jepsy.checkers.stats import stats
from jepsy.options import Option, boolean, declare, number, read
from jepsy.protocols import Workload

__all__ = ["workload"]


class _Adds:
    def __init__(self, read_fraction: float) -> None:
        self.next = 0
        self.read_fraction = read_fraction

    def __call__(self, ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < self.read_fraction:
            return {"f": "read", "value": None}
        self.next += 1
        return {"f": "add", "value": self.next}


OPTIONS = (
    Option("read_fraction", 0.2, "share of operations that read the whole set", parse=number),
    Option("linearizable", False, "check that an element, once read, is read ever after",
           parse=boolean),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    checker = set_full(linearizable=bool(opts["linearizable"]))
    return Workload(name="set", generator=_Adds(float(opts["read_fraction"])),
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"set-full": checker, "stats": stats()}),
                    fs=frozenset({"add", "read"}), opts=dict(opts))
