"""A checker: ``monotonic-reads`` (the ``Checker`` protocol: ``check(history, opts) -> dict``).

For a counter that only grows, a read invoked after another read completed
must not return less.  The result is plain data: ``valid`` and, when not,
each violating pair of reads with their history indices.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.history import Op, pair

__all__ = ["MonotonicReads", "monotonic_reads"]


class MonotonicReads:
    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        reads: list[tuple[Op, Op]] = [(inv, done) for inv, done in pair(history)
                 if inv.f == "read" and done is not None and done.type == "ok"]
        by_end = sorted(reads, key=lambda p: p[1].index)
        ends = [done.index for _, done in by_end]
        highest: list[tuple[int, Op]] = []  # the highest read completed so far, and which
        for _, done in by_end:
            if not highest or done.value > highest[-1][0]:
                highest.append((done.value, done))
            else:
                highest.append(highest[-1])
        anomalies = []
        for inv, done in reads:
            k = bisect_left(ends, inv.index)  # reads that completed before this one began
            if k and done.value < highest[k - 1][0]:
                earlier = highest[k - 1][1]
                anomalies.append({"read": done.index, "value": done.value,
                                  "earlier_read": earlier.index, "earlier_value": earlier.value})
        return {"valid": not anomalies, "reads": len(reads), "anomalies": anomalies[:10]}


def monotonic_reads(**_: Any) -> MonotonicReads:
    """``jepsy check --checker monotonic-reads`` (when registered)."""
    return MonotonicReads()
