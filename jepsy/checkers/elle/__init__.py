"""Elle-class checking of transactional isolation, in Python.

``list_append`` and ``rw_register`` are the checker factories ``jepsy check
--checker list-append|rw-register`` loads.  Both return a ``Checker`` whose
result holds ``valid``, ``anomaly_types``, ``anomalies`` (type -> instances,
each with data and a ``text`` explanation; cycles also with their
transactions and reasoned edges), ``not`` / ``also_not`` (the consistency
models ruled out) and ``stats``.  The modules, one concept each:

``txn`` (transactions from a history), ``list_append`` / ``rw_register``
(version orders, non-cycle anomalies, dependency edges), ``graph`` (the
dependency graph, components), ``cycles`` (bounded cycle search and
classification), ``polygraph`` (register histories: does *any* order of the
unproven versions avoid a cycle?), ``models`` (anomalies -> ruled-out models), ``explain``
(prose and data for each cycle), ``checker`` (the pipeline), ``synth``
(histories for tests and benchmarks), ``columns`` (a history as NumPy
columns, streamed from JSONL) and ``fastpath`` (proving a list-append history
clean with array operations, else handing it to the general path).
"""

from __future__ import annotations

from typing import Any

from jepsy.checkers.elle.checker import TxnChecker
from jepsy.options import Option, declare, integer, number

__all__ = ["TxnChecker", "list_append", "rw_register"]


def _budget(opts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if opts.get("max_steps") is not None:
        out["max_steps"] = int(opts["max_steps"])
    return out


@declare(
    Option("consistency_model", None, "the model the history is held to (default: "
           "strict-serializable)"),
    Option("timeout", None, "seconds the cycle search may take (default: no limit)", parse=number),
    Option("max_steps", None, "steps the cycle search may take (default: no limit)", parse=integer),
)
def list_append(consistency_model: str | None = None, timeout: float | None = None,
                **opts: Any) -> TxnChecker:
    """The list-append checker; ``timeout`` bounds the cycle search (seconds)."""
    return TxnChecker("list-append", consistency_model or "strict-serializable", timeout, **_budget(opts))


@declare(
    Option("consistency_model", None, "the model the history is held to (default: "
           "strict-serializable)"),
    Option("timeout", None, "seconds the cycle search may take (default: no limit)", parse=number),
    Option("max_steps", None, "steps the cycle search may take (default: no limit)", parse=integer),
)
def rw_register(consistency_model: str | None = None, timeout: float | None = None,
                **opts: Any) -> TxnChecker:
    """The rw-register checker; ``timeout`` bounds the cycle search (seconds)."""
    return TxnChecker("rw-register", consistency_model or "strict-serializable", timeout, **_budget(opts))
