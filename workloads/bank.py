"""The bank workload: transfers between accounts, and reads of every balance.

Money is conserved under snapshot isolation or stronger: the ``bank`` checker
verifies that every read sums to the total and (unless ``negative_balances``)
that no balance is negative.  Options: ``accounts`` (default 5),
``total_amount`` (default 100, spread evenly; the client's setup creates the
accounts), ``max_transfer`` (default 5), ``read_fraction`` (default 0.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.bank import bank
from jepsy.checkers.stats import stats
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Workload

__all__ = ["workload"]


OPTIONS = (
    Option("accounts", 5, "number of accounts", parse=integer),
    Option("total_amount", 100, "money in the bank, spread over the accounts", parse=integer),
    Option("max_transfer", 5, "largest amount one transfer moves", parse=integer),
    Option("read_fraction", 0.3, "share of operations that read every balance", parse=number),
    Option("negative_balances", False, "allow balances below zero", parse=boolean),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    accounts = list(range(int(opts["accounts"])))
    total = int(opts["total_amount"])
    max_transfer = int(opts["max_transfer"])
    read_fraction = float(opts["read_fraction"])

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": None}
        a, b = ctx.rng.sample(accounts, 2)
        return {"f": "transfer", "value": {"from": a, "to": b,
                                           "amount": ctx.rng.randint(1, max_transfer)}}

    negative = bool(opts["negative_balances"])
    checker = bank(total_amount=total, accounts=accounts, negative_balances=negative)
    return Workload(name="bank", generator=ops,
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"bank": checker, "stats": stats()}),
                    fs=frozenset({"transfer", "read"}),
                    opts={**opts, "accounts": accounts, "total_amount": total})
