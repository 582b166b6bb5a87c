"""The eventual-counter checker: Maelstrom's g-counter and pn-counter, which may read stale.

Ops as for ``counter``: ``add`` of an integer delta, ``read`` of the total.  A
CRDT counter need not show an add to the next read, so reads during the run
are only held to what *could* ever be summed: between the sum of every
negative delta and the sum of every positive delta of the adds invoked before
the read ended (failed adds excluded).

The *final* reads (those that begin after the last fault op and after every
add ended: the final phase, after healing and recovery) must have converged:
each lies between ``certain`` (every ok add) plus the negative deltas of the
indeterminate ones, and ``certain`` plus their positive deltas.  No final
read: ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls
from jepsy.history import Op
from jepsy.options import declare

__all__ = ["EventualCounterChecker", "eventual_counter"]

_SHOW = 10


class EventualCounterChecker:
    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        adds = [c for c in cs if c.f == "add" and c.type != "fail" and isinstance(c.value, int)]
        reads = [c for c in cs if c.f == "read" and c.type == "ok" and isinstance(c.value, int)]
        last_fault = max((i for i, op in enumerate(history) if not op.is_client), default=-1)
        last_add = max((c.pos_done if c.pos_done is not None else len(history) for c in adds),
                       default=-1)
        impossible = []
        for r in reads:
            end = r.pos_done if r.pos_done is not None else len(history)
            before = [c.value for c in adds if c.pos_invoke < end]
            lo, hi = sum(d for d in before if d < 0), sum(d for d in before if d > 0)
            if not lo <= r.value <= hi:
                impossible.append({"op": r.done.index if r.done else None, "read": r.value,
                                   "possible": [lo, hi]})
        certain = sum(c.value for c in adds if c.type == "ok")
        maybe = [c.value for c in adds if c.type != "ok"]
        lo, hi = certain + sum(d for d in maybe if d < 0), certain + sum(d for d in maybe if d > 0)
        final = [r for r in reads if r.pos_invoke > max(last_fault, last_add)]
        wrong = [{"op": r.done.index if r.done else None, "read": r.value, "expected": [lo, hi]}
                 for r in final if not lo <= r.value <= hi]
        valid: bool | str = not impossible and not wrong
        if valid and not final:
            valid = "unknown"
        text = (f"{len(final)} final reads, {len(wrong)} not converged to {lo}..{hi}; "
                f"{len(impossible)} of {len(reads)} reads impossible")
        return {"valid": valid, "text": text, "final_reads": len(final), "expected": [lo, hi],
                "wrong_final_reads": wrong[:_SHOW], "impossible_reads": impossible[:_SHOW],
                "impossible_count": len(impossible)}


@declare()
def eventual_counter(**_: Any) -> EventualCounterChecker:
    return EventualCounterChecker()
