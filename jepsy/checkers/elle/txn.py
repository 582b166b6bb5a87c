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
from jepsy.history import pair_positions

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
    Pairing is ``history.pair_positions``' loose one, which Elle's published
    histories need: a completion without an invoke is taken alone (some hold
    only completions), and an invoke while its process has one open leaves the
    earlier one indeterminate (``info``).  ``columns.py`` pairs the same way
    while it streams a file, without ``Op`` records.  Raises ``HistoryError`` on
    malformed micro-ops.
    """
    ops = [op for op in history if op.f == "txn" and op.is_client]
    txns: list[Txn] = []
    for i, j in pair_positions(ops):
        inv = ops[i]
        if j == i:  # a completion alone
            txns.append(Txn(id=len(txns), index=inv.index, invoke_index=inv.index,
                            process=inv.process, type=inv.type, mops=_mops(inv),
                            invoke_time=None, complete_time=inv.time if inv.type == "ok" else None))
            continue
        done = None if j is None else ops[j]
        if done is not None and done.type == "ok":
            mops, complete_time = _mops(done), done.time
        else:
            mops, complete_time = _mops(inv), None
        txns.append(Txn(id=len(txns), index=inv.index if done is None else done.index,
                        invoke_index=inv.index, process=inv.process,
                        type="info" if done is None else done.type,
                        mops=mops, invoke_time=inv.time, complete_time=complete_time))
    return txns
