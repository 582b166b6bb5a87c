"""The list-append workload: transactions appending unique values to lists and reading them.

Checked by the transactional checker (``list-append``) against
``consistency_model`` (default ``strict-serializable``; e.g.
``--workload-opt consistency_model=serializable``).  Generator options: see
``jepsy.workloads.txn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy.workloads.txn import TxnGenerator

from jepsy import generator as gen
from jepsy import registry
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.protocols import Workload

__all__ = ["workload"]


def workload(opts: Mapping[str, Any]) -> Workload:
    txns = TxnGenerator("append", opts)
    checker = registry.load("checkers", "list-append")(
        consistency_model=opts.get("consistency_model"), timeout=opts.get("check_timeout"))
    return Workload(name="list-append", generator=txns,
                    final_generator=gen.each_thread(gen.defer(txns.final_reads)),
                    checker=compose({"list-append": checker, "stats": stats()}),
                    fs=frozenset({"txn"}), opts=dict(opts))
