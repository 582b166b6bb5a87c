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
from jepsy import registry
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.protocols import Workload

__all__ = ["workload"]


def workload(opts: Mapping[str, Any]) -> Workload:
    accounts = list(range(int(opts.get("accounts", 5))))
    total = int(opts.get("total_amount", 100))
    max_transfer = int(opts.get("max_transfer", 5))
    read_fraction = float(opts.get("read_fraction", 0.3))

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": None}
        a, b = ctx.rng.sample(accounts, 2)
        return {"f": "transfer", "value": {"from": a, "to": b,
                                           "amount": ctx.rng.randint(1, max_transfer)}}

    negative = str(opts.get("negative_balances", "false")).lower() in ("1", "true", "yes")
    checker = registry.load("checkers", "bank")(total_amount=total, accounts=accounts,
                                                negative_balances=negative)
    return Workload(name="bank", generator=ops,
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"bank": checker, "stats": stats()}),
                    fs=frozenset({"transfer", "read"}),
                    opts={**opts, "accounts": accounts, "total_amount": total})
