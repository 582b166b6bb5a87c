"""Queue checkers: ``queue`` (every dequeue came from an enqueue) and ``total-queue``.

Ops: ``enqueue`` with a value, ``dequeue`` returning one (None when empty),
``drain`` returning a list of everything left.

``queue`` replays the history against an unordered queue (a multiset): an
enqueue counts from its invoke unless it failed (it may take effect any time
after), a successful dequeue or drain removes its values when it completes.
A dequeued value not in the multiset then was never enqueued, or was
dequeued twice: invalid.

``total-queue`` compares totals at the end: *lost* (acknowledged enqueues
never dequeued), *duplicated* (dequeued more often than enqueued),
*unexpected* (dequeued, never enqueued) and *recovered* (indeterminate
enqueues that were dequeued).  Lost, duplicated or unexpected is invalid.

``at_least_once=True`` (both checkers) is for queues that promise
at-least-once delivery, as AMQP brokers with manual acknowledgements do (a
message whose ack was lost is delivered again): a value dequeued more often
than enqueued is then counted and shown but not invalid, as in Jepsen's
``total-queue``; lost and unexpected values still are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import OpPair, calls, freeze
from jepsy.history import Op
from jepsy.options import Option, boolean, declare

AT_LEAST_ONCE = Option("at_least_once", False,
                       "a value delivered twice is not invalid (brokers that redeliver)",
                       parse=boolean)

__all__ = ["QueueChecker", "TotalQueueChecker", "queue", "total_queue"]

_SHOW = 20


def _dequeued(c: OpPair) -> list[Any]:
    if c.type != "ok" or c.done is None:
        return []
    if c.f == "dequeue":
        return [] if c.done.value is None else [freeze(c.done.value)]
    if c.f == "drain" and isinstance(c.done.value, list):
        return [freeze(v) for v in c.done.value]
    return []


class QueueChecker:
    def __init__(self, at_least_once: bool = False) -> None:
        self.at_least_once = at_least_once

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        events: list[tuple[int, int, OpPair]] = []
        for i, c in enumerate(cs):
            if c.f == "enqueue" and c.type != "fail":
                events.append((c.pos_invoke, i, c))
            elif c.f in ("dequeue", "drain") and c.type == "ok" and c.pos_done is not None:
                events.append((c.pos_done, i, c))
        events.sort(key=lambda e: (e[0], e[1]))
        pending: Counter[Any] = Counter()
        seen: set[Any] = set()
        errors: list[dict[str, Any]] = []
        for _, _, c in events:
            if c.f == "enqueue":
                pending[freeze(c.value)] += 1
                seen.add(freeze(c.value))
                continue
            for v in _dequeued(c):
                if pending[v] > 0:
                    pending[v] -= 1
                elif self.at_least_once and v in seen:
                    continue  # delivered again: allowed at least once
                elif len(errors) < _SHOW:
                    idx = c.done.index if c.done else None
                    errors.append({"op": idx, "value": v,
                                   "text": f"{c.f} at op {idx} returned {v!r}, which no enqueue could "
                                           f"have provided (never enqueued, or already dequeued)"})
        return {"valid": not errors, "errors": errors,
                "text": errors[0]["text"] if errors else "every dequeued value was enqueued first"}


class TotalQueueChecker:
    def __init__(self, at_least_once: bool = False) -> None:
        self.at_least_once = at_least_once

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        attempted: Counter[Any] = Counter()
        acked: Counter[Any] = Counter()
        for c in cs:
            if c.f == "enqueue":
                attempted[freeze(c.value)] += 1
                if c.type == "ok":
                    acked[freeze(c.value)] += 1
        got: Counter[Any] = Counter()
        for c in cs:
            got.update(_dequeued(c))
        lost = acked - got
        unexpected = Counter({v: n for v, n in got.items() if v not in attempted})
        duplicated = Counter({v: n - attempted[v] for v, n in got.items()
                              if v in attempted and n > attempted[v]})
        recovered = Counter({v: n for v, n in got.items() if v in attempted and v not in acked})
        return {
            "valid": not lost and not unexpected and (self.at_least_once or not duplicated),
            "text": f"{sum(lost.values())} lost, {sum(duplicated.values())} duplicated, "
                    f"{sum(unexpected.values())} unexpected, {sum(recovered.values())} recovered "
                    f"(of {sum(attempted.values())} enqueues attempted)",
            "attempt_count": sum(attempted.values()), "acknowledged_count": sum(acked.values()),
            "ok_count": sum((got & acked).values()),
            "lost_count": sum(lost.values()), "lost": sorted(lost, key=repr)[:_SHOW],
            "unexpected_count": sum(unexpected.values()), "unexpected": sorted(unexpected, key=repr)[:_SHOW],
            "duplicated_count": sum(duplicated.values()), "duplicated": sorted(duplicated, key=repr)[:_SHOW],
            "recovered_count": sum(recovered.values()), "recovered": sorted(recovered, key=repr)[:_SHOW],
        }


@declare(AT_LEAST_ONCE)
def queue(at_least_once: Any = False, **_: Any) -> QueueChecker:
    """Factory for ``--checker queue`` (``--opt at_least_once=true``)."""
    return QueueChecker(boolean(at_least_once))


@declare(AT_LEAST_ONCE)
def total_queue(at_least_once: Any = False, **_: Any) -> TotalQueueChecker:
    """Factory for ``--checker total-queue`` (``--opt at_least_once=true``)."""
    return TotalQueueChecker(boolean(at_least_once))
