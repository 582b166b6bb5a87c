"""The rw-register workload: transactions writing unique values to registers and reading them.

Checked by the transactional checker (``rw-register``) against
``consistency_model`` (default ``strict-serializable``).  Generator options:
see ``jepsy.workloads.txn``.
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
    txns = TxnGenerator("w", opts)
    checker = registry.load("checkers", "rw-register")(
        consistency_model=opts.get("consistency_model"), timeout=opts.get("check_timeout"))
    return Workload(name="rw-register", generator=txns,
                    final_generator=gen.each_thread(gen.defer(txns.final_reads)),
                    checker=compose({"rw-register": checker, "stats": stats()}),
                    fs=frozenset({"txn"}), opts=dict(opts))
