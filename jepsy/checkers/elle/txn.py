"""Transactions extracted from a history: the nodes of the dependency graph.

A transaction is one client ``txn`` operation: its invoke and its completion.
Which micro-ops we trust depends on how it ended (Elle's conventions):

* ``ok``: committed; the completion's micro-ops, with the values it read.
* ``fail``: definitely aborted; the invoke's micro-ops (its writes must never
  be observed by anyone).
* ``info`` or no completion: indeterminate; the invoke's micro-ops.  Its
  writes may or may not have taken effect, now or later; its reads are unknown.

Transactions are numbered ``0..n-1`` in invoke order; ``Txn.index`` is the
history index of the completion (or of the invoke when there is none), which
is what explanations show, since that is the op that carries the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jepsy.errors import HistoryError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jepsy.history import Op

__all__ = ["Txn", "extract_txns", "norm_key"]


@dataclass(slots=True)
class Txn:
    """One transaction; ``mops`` is a list of ``(f, key, value)`` triples (tuples or lists).

    The triples may be the history's own lists: read them, never mutate them.
    """

    id: int
    index: int
    invoke_index: int
    process: int | str
    type: str
    mops: list[tuple[str, Any, Any]]
    invoke_time: int | None
    complete_time: int | None

    @property
    def ok(self) -> bool:
        return self.type == "ok"

    def describe(self) -> str:
        """A short human name: ``T12 (op 34, process 3)``."""
        return f"T{self.id} (op {self.index}, process {self.process})"


def norm_key(k: Any) -> Any:
    """Keys must be hashable; EDN vectors arrive as lists, so make them tuples."""
    if isinstance(k, list):
        return tuple(norm_key(x) for x in k)
    return k


def _mops(op: Op) -> list[tuple[str, Any, Any]]:
    value = op.value
    if not isinstance(value, list):
        raise HistoryError(f"op {op.index}: a txn value must be a list of micro-ops, not {value!r}")
    # The fast path: well-formed micro-ops with hashable keys are used as they
    # are, shared with the history (no copy: a million transactions would
    # otherwise cost hundreds of megabytes).  Checkers must not mutate them.
    if all(m.__class__ is list and len(m) == 3 and m[0].__class__ is str and m[1].__class__ is not list
           for m in value):
        shared: list[tuple[str, Any, Any]] = value
        return shared
    out: list[tuple[str, Any, Any]] = []
    for m in value:
        if not isinstance(m, (list, tuple)) or len(m) != 3:
            raise HistoryError(f"op {op.index}: malformed micro-op {m!r} (want [f, key, value])")
        out.append((str(m[0]), norm_key(m[1]), m[2]))
    return out


def extract_txns(history: Sequence[Op]) -> list[Txn]:
    """Pair invokes with completions and build the transactions, in invoke order.

    Non-client ops (nemesis) and ops whose ``f`` is not ``txn`` are skipped.
    A completion without an invoke is taken alone (some published histories
    hold only completions).  Raises ``HistoryError`` on malformed micro-ops.

    This pairs by itself rather than through ``jepsy.history.pair``, which
    rejects a completion without an invoke and a second invoke while one is
    open: Elle's published histories hold both, and their verdicts must stay.
    ``columns.py`` pairs the same way while it streams a file.
    """
    txns: list[Txn] = []
    open_: dict[int | str, int] = {}
    raw: dict[int, Op] = {}  # invokes whose micro-ops are parsed only if the completion lacks them
    for op in history:
        if not op.is_client or op.f != "txn":
            continue
        if op.type == "invoke":
            prev = open_.pop(op.process, None)
            if prev is not None:  # invoked again without completing: treat as indeterminate
                txns[prev].type = "info"
            open_[op.process] = len(txns)
            raw[len(txns)] = op
            txns.append(Txn(id=len(txns), index=op.index, invoke_index=op.index,
                            process=op.process, type="info", mops=[],
                            invoke_time=op.time, complete_time=None))
            continue
        i = open_.pop(op.process, None)
        if i is None:
            txns.append(Txn(id=len(txns), index=op.index, invoke_index=op.index,
                            process=op.process, type=op.type, mops=_mops(op),
                            invoke_time=None, complete_time=op.time if op.type == "ok" else None))
            continue
        t = txns[i]
        t.type = op.type
        t.index = op.index
        if op.type == "ok":
            del raw[i]
            t.mops = _mops(op)
            t.complete_time = op.time
    for i, op in raw.items():
        txns[i].mops = _mops(op)
    return txns
