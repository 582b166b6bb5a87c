"""The rw-register workload: transactions writing unique values to registers and reading them.

Checked by the transactional checker (``rw-register``) against
``consistency_model`` (default ``strict-serializable``).  Generator options:
see ``jepsy.workloads.txn``.
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
    return txn_workload("rw-register", "w", opts)
