"""Transaction generators shared by list-append and rw-register (Elle's shapes).

A transaction is a list of micro-ops: ``["r", k, None]`` and, for list-append,
``["append", k, v]``, for rw-register ``["w", k, v]``.  Values are unique per
key (1, 2, 3 ... for each key), which is what lets the checker recover version
orders.  Keys are retired once they have had ``max_writes_per_key`` writes and
replaced by fresh ones, so no key's history grows without bound; with the
``exponential`` distribution low-numbered active keys are hot.

Options: ``key_count`` (active keys, default 8), ``min_txn_length`` (1),
``max_txn_length`` (4), ``max_writes_per_key`` (32), ``key_dist``
(``exponential`` or ``uniform``), ``read_fraction`` (0.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose, elle
from jepsy.checkers.stats import stats
from jepsy.options import Option, choice, integer, number, read
from jepsy.protocols import Workload

__all__ = ["TxnGenerator", "txn_workload"]


OPTIONS = (
    Option("key_count", 8, "keys in use at once", parse=integer),
    Option("min_txn_length", 1, "fewest micro-ops in a transaction", parse=integer),
    Option("max_txn_length", 4, "most micro-ops in a transaction", parse=integer),
    Option("max_writes_per_key", 32, "writes to a key before it is retired", parse=integer),
    Option("key_dist", "exponential", "how keys are drawn",
           parse=choice("exponential", "uniform")),
    Option("read_fraction", 0.5, "share of micro-ops that read", parse=number),
    Option("consistency_model", None, "the model the checker holds the history to "
           "(default: strict-serializable)"),
    Option("check_timeout", None, "seconds the checker may take (default: no limit)",
           parse=number),
)


class TxnGenerator:
    """Endless ``{"f": "txn", "value": [...]}`` ops (a generator function)."""

    def __init__(self, write_f: str, opts: Mapping[str, Any]) -> None:
        self.write_f = write_f
        opts = read(OPTIONS, opts)
        self.key_count = int(opts.get("key_count", 8))
        self.min_len = int(opts.get("min_txn_length", 1))
        self.max_len = max(self.min_len, int(opts.get("max_txn_length", 4)))
        self.max_writes = int(opts.get("max_writes_per_key", 32))
        self.dist = str(opts.get("key_dist", "exponential"))
        if self.dist not in ("exponential", "uniform"):
            raise ValueError(f"key_dist must be exponential or uniform, not {self.dist!r}")
        self.read_fraction = float(opts.get("read_fraction", 0.5))
        self.active = list(range(self.key_count))
        self.next_key = self.key_count
        self.writes: dict[int, int] = {}

    def _slot(self, ctx: gen.Context) -> int:
        if self.dist == "uniform":
            return ctx.rng.randrange(len(self.active))
        # Slot i with probability proportional to 2^-i (hot keys first).
        weights = [2.0 ** -i for i in range(len(self.active))]
        return ctx.rng.choices(range(len(self.active)), weights)[0]

    def __call__(self, ctx: gen.Context) -> dict[str, Any]:
        mops: list[list[Any]] = []
        for _ in range(ctx.rng.randint(self.min_len, self.max_len)):
            slot = self._slot(ctx)
            key = self.active[slot]
            if ctx.rng.random() < self.read_fraction:
                mops.append(["r", key, None])
                continue
            n = self.writes.get(key, 0) + 1
            self.writes[key] = n
            mops.append([self.write_f, key, n])
            if n >= self.max_writes:
                self.active[slot] = self.next_key
                self.next_key += 1
        return {"f": "txn", "value": mops}

    def final_reads(self, ctx: gen.Context) -> list[dict[str, Any]]:
        """One read transaction of every active key (run once, by one thread)."""
        if ctx.thread != 0:
            return []
        return [{"f": "txn", "value": [["r", k, None] for k in sorted(self.active)]}]


# The Elle checker of each transactional workload, by the workload's name.
_CHECKERS = {"list-append": elle.list_append, "rw-register": elle.rw_register}


def txn_workload(name: str, write_f: str, opts: Mapping[str, Any]) -> Workload:
    """A transactional workload: ``name`` is also its checker's (``list-append``,
    ``rw-register``), ``write_f`` its write micro-op (``append``, ``w``); final reads of
    every active key after healing."""
    opts = read(OPTIONS, opts)
    txns = TxnGenerator(write_f, opts)
    checker = _CHECKERS[name](
        consistency_model=opts.get("consistency_model"), timeout=opts.get("check_timeout"))
    return Workload(name=name, generator=txns,
                    final_generator=gen.each_thread(gen.defer(txns.final_reads)),
                    checker=compose({name: checker, "stats": stats()}),
                    fs=frozenset({"txn"}), opts=dict(opts))
