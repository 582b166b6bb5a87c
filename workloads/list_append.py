"""The list-append workload: transactions appending unique values to lists and reading them.

Checked by the transactional checker (``list-append``) against
``consistency_model`` (default ``strict-serializable``; e.g.
``--workload-opt consistency_model=serializable``).  Generator options: see
``jepsy.workloads.txn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy.options import declare
from jepsy.protocols import Workload

from .txn import OPTIONS, txn_workload

__all__ = ["workload"]


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    return txn_workload("list-append", "append", opts)
