"""The counter checker: every read lies between what must and what may have been added.

Ops: ``add`` with an integer delta and ``read`` returning the counter.  For a
read that ran over ``[invoke, completion]`` (positions in the history, which
is real-time order):

* adds that completed ``ok`` before the read began *must* be counted;
* adds invoked before the read completed, not failed and not already certain,
  *may* be counted: ok ones still in flight and indeterminate (``info``) ones.

So the read must lie in ``[certain + sum of negative possible deltas, certain
+ sum of positive possible deltas]``.  Deltas may be negative (decrements).
One sweep over the history with running sums: O(n log n).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls
from jepsy.history import Op
from jepsy.options import Option, declare, integer

__all__ = ["CounterChecker", "counter"]

_MAX_ERRORS = 50


class CounterChecker:
    """Checks ``add``/``read`` counter histories; the counter starts at ``initial``."""

    def __init__(self, initial: int = 0) -> None:
        self.initial = initial

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        events: list[tuple[int, int, int]] = []  # (position, order, call index)
        for i, c in enumerate(cs):
            if c.f == "add" and c.type != "fail":
                events.append((c.pos_invoke, 1, i))
                if c.type == "ok" and c.pos_done is not None:
                    events.append((c.pos_done, 0, i))
            elif c.f == "read" and c.type == "ok" and c.pos_done is not None:
                events.append((c.pos_invoke, 2, i))
                events.append((c.pos_done, 3, i))
        events.sort()
        certain = self.initial
        inv_pos = inv_neg = 0  # deltas of adds invoked so far (not failed)
        cert_pos = cert_neg = 0  # deltas of ok adds completed so far
        at_invoke: dict[int, tuple[int, int, int]] = {}
        errors: list[dict[str, Any]] = []
        reads = bad = 0
        for _, kind, i in events:
            c = cs[i]
            if kind == 1:
                d = _delta(c.value)
                inv_pos += max(d, 0)
                inv_neg += min(d, 0)
            elif kind == 0:
                d = _delta(c.value)
                certain += d
                cert_pos += max(d, 0)
                cert_neg += min(d, 0)
            elif kind == 2:
                at_invoke[i] = (certain, cert_pos, cert_neg)
            else:
                reads += 1
                base, cp, cn = at_invoke.pop(i)
                lower = base + (inv_neg - cn)
                upper = base + (inv_pos - cp)
                value = c.value
                if isinstance(value, int) and lower <= value <= upper:
                    continue
                bad += 1
                if len(errors) < _MAX_ERRORS:
                    op = c.done
                    errors.append({
                        "op": op.index if op else None, "value": value, "lower": lower, "upper": upper,
                        "text": f"read at op {op.index if op else '?'} returned {value}, but the counter "
                                f"could only have been between {lower} and {upper} then"})
        # No reads means nothing contradicts the adds: valid, as Jepsen says, with a note.
        out: dict[str, Any] = {"valid": not errors, "reads": reads, "errors": errors,
                               "error_count": bad}
        if not reads:
            out["note"] = "no successful reads: nothing to check the adds against"
        out["text"] = (f"{reads} reads, all within bounds." if not errors else
                       f"{bad} of {reads} reads out of bounds; first: {errors[0]['text']}")
        return out


def _delta(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


@declare(Option("initial", 0, "the counter's value before the history", parse=integer))
def counter(initial: int = 0, **_: Any) -> CounterChecker:
    """Factory for ``--checker counter``."""
    return CounterChecker(initial)
