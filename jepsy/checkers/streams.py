"""The ``stream`` checker: an append-only log's acknowledged messages, kept once, in order.

Ops (the ``stream`` workload; every published value is unique)::

    publish  invoke v                ok [v, seq]: the log acknowledged v at sequence seq
    consume  invoke null             ok [v, ...]: delivered by the durable consumer and
                                     acknowledged, the acknowledgement confirmed
    read     invoke null             ok [[v, seq], ...]: the whole log, in order (final phase)

Found, each invalid:

* *lost*: an acknowledged publish whose value the final read does not hold (how
  many of those a consumer had received before is counted too: the log once
  had them);
* *unexpected*: a value read or consumed that no publish sent;
* *duplicated*: a value the final read holds more than once; and a value
  consumed (ack confirmed) more than once, unless ``at_least_once``;
* *reordered*: acknowledged publishes A and B where A's acknowledgement came
  before B was invoked, yet the final read holds B before A (the log's order
  must respect real time: a later message cannot jump ahead of one already
  acknowledged);
* *misplaced*: an acknowledged publish that the final read holds at another
  sequence number than the acknowledgement named (the log renumbered it).

Without an ``ok`` final read the verdict is ``unknown``: nothing can be said about
what the log kept.  The last ``ok`` read counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls, freeze
from jepsy.history import Op
from jepsy.options import Option, boolean, declare

__all__ = ["StreamChecker", "stream"]

_SHOW = 20

AT_LEAST_ONCE = Option("at_least_once", False,
                       "a value consumed twice is not invalid (consumers that redeliver)",
                       parse=boolean)


def _pair(value: Any) -> tuple[Any, int | None]:
    """``(v, seq)`` of a read entry or publish completion; tolerant of a bare ``v``."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return freeze(value[0]), (int(value[1]) if value[1] is not None else None)
    return freeze(value), None


class StreamChecker:
    def __init__(self, at_least_once: bool = False) -> None:
        self.at_least_once = at_least_once

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        attempted: set[Any] = set()
        acked: dict[Any, tuple[int | None, int, int]] = {}  # v -> (seq, pos_invoke, pos_done)
        consumed: Counter[Any] = Counter()
        final: list[tuple[Any, int | None]] | None = None
        for c in cs:
            if c.f == "publish":
                v = freeze(c.invoke.value if c.invoke is not None else _pair(c.value)[0])
                attempted.add(v)
                if c.type == "ok" and c.pos_done is not None:
                    acked[v] = (_pair(c.value)[1], c.pos_invoke, c.pos_done)
            elif c.f == "consume" and c.type == "ok" and isinstance(c.value, list):
                consumed.update(freeze(v) for v in c.value)
            elif c.f == "read" and c.type == "ok" and isinstance(c.value, list):
                final = [_pair(e) for e in c.value]
        base = {"attempt_count": len(attempted), "acknowledged_count": len(acked),
                "consumed_count": sum(consumed.values())}
        if final is None:
            return {**base, "valid": "unknown",
                    "text": "no complete final read: what the log kept is unknown"}
        position: dict[Any, int] = {}
        stored: Counter[Any] = Counter()
        for i, (v, _) in enumerate(final):
            stored[v] += 1
            position.setdefault(v, i)
        read_seq = {v: s for v, s in reversed(final)}
        lost = sorted((v for v in acked if v not in stored), key=repr)
        lost_consumed = [v for v in lost if consumed[v]]
        unexpected = sorted({v for v in [*stored, *consumed] if v not in attempted}, key=repr)
        stored_twice = sorted((v for v, n in stored.items() if n > 1), key=repr)
        consumed_twice = sorted((v for v, n in consumed.items() if n > 1), key=repr)
        misplaced = sorted(((v, s, read_seq[v]) for v, (s, _, _) in acked.items()
                            if v in read_seq and s is not None and read_seq[v] is not None
                            and s != read_seq[v]), key=repr)
        reordered = self._reordered(acked, position)
        duplicated = len(stored_twice) + (0 if self.at_least_once else len(consumed_twice))
        valid = not (lost or unexpected or duplicated or reordered or misplaced)
        text = (f"{len(lost)} lost ({len(lost_consumed)} of them consumed before), "
                f"{len(unexpected)} unexpected, {len(stored_twice)} stored twice, "
                f"{len(consumed_twice)} consumed twice"
                f"{' (allowed: at least once)' if self.at_least_once and consumed_twice else ''}, "
                f"{len(reordered)} reordered, {len(misplaced)} misplaced "
                f"(of {len(acked)} acknowledged, {len(final)} in the log)")
        return {
            **base, "valid": valid, "text": text, "log_length": len(final),
            "lost_count": len(lost), "lost": lost[:_SHOW],
            "lost_consumed_count": len(lost_consumed),
            "unexpected_count": len(unexpected), "unexpected": unexpected[:_SHOW],
            "stored_twice_count": len(stored_twice), "stored_twice": stored_twice[:_SHOW],
            "consumed_twice_count": len(consumed_twice), "consumed_twice": consumed_twice[:_SHOW],
            "reordered_count": len(reordered), "reordered": reordered[:_SHOW],
            "misplaced_count": len(misplaced),
            "misplaced": [{"value": v, "acknowledged_seq": s, "read_seq": r}
                          for v, s, r in misplaced[:_SHOW]],
        }

    @staticmethod
    def _reordered(acked: Mapping[Any, tuple[int | None, int, int]],
                   position: Mapping[Any, int]) -> list[dict[str, Any]]:
        """Each acknowledged B read before some A acknowledged before B's invoke.

        One sweep in history order: acknowledgements raise the highest log
        position seen so far; an invoke whose value sits below it in the log
        was overtaken.
        """
        events: list[tuple[int, int, Any]] = []  # (history position, 0 = done / 1 = invoke, v)
        for v, (_, inv, done) in acked.items():
            if v in position:
                events.append((inv, 1, v))
                events.append((done, 0, v))
        events.sort(key=lambda e: (e[0], e[1]))
        best: Any = None
        found: list[dict[str, Any]] = []
        for _, kind, v in events:
            if kind == 0:
                if best is None or position[v] > position[best]:
                    best = v
            elif best is not None and position[best] > position[v]:
                found.append({"earlier": best, "later": v,
                              "text": f"{best!r} was acknowledged before {v!r} was published, "
                                      f"yet the log holds {v!r} at {position[v]} before "
                                      f"{best!r} at {position[best]}"})
        return found


@declare(AT_LEAST_ONCE)
def stream(at_least_once: Any = False, **_: Any) -> StreamChecker:
    """Factory for ``--checker stream`` (``--opt at_least_once=true``)."""
    return StreamChecker(boolean(at_least_once))
