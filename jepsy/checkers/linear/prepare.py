"""Turn a Jepsen-style history into the calls a linearizability search works on.

Jepsen's semantics, which Knossos and this checker share:

* Only client ops count: a process that is not an integer (the nemesis) is ignored.
* An invocation is closed by the next completion of the same process.
  ``ok``: it happened, between invocation and completion, with that result.
  ``fail``: it definitely did not happen, so the pair is dropped.
  ``info``, or no completion at all: it crashed, and may have taken effect at
  any time after its invocation, to the end of the history, or never.  Such a
  call gets the output ``CRASHED`` and no return position.
* Real-time order is the order of the history (positions), not the ``time``
  field: Jepsen histories are written in the order events were observed, while
  their clocks may disagree (Knossos's multi-register file has times out of order).

Malformed input (a completion without an invocation, a second invocation while
one is open) raises ``HistoryError`` naming the op, never a traceback
(``jepsy.history.pair``, the one pairing of invocations with completions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jepsy.checkers.linear.models import CRASHED, Call
from jepsy.history import Op, pair

__all__ = ["Prepared", "prepare"]


@dataclass(slots=True)
class Prepared:
    """Calls in invocation order, with their ops and positions (``ret`` None = crashed)."""

    calls: list[Call] = field(default_factory=list)
    invokes: list[Op] = field(default_factory=list)
    completions: list[Op | None] = field(default_factory=list)
    call_pos: list[int] = field(default_factory=list)
    ret_pos: list[int | None] = field(default_factory=list)
    failed: int = 0
    ignored: int = 0


def prepare(history: Sequence[Op]) -> Prepared:
    """Pair invocations with completions (``history.pair``) and apply Jepsen's semantics.

    Positions are indices into ``history`` (ops' ``index`` fields may have gaps or
    be absent; real-time order is the sequence's).
    """
    p = Prepared()
    pairs = pair(history)
    # Positions in the sequence: ops are matched to theirs by identity (an Op may
    # compare equal to another).
    pos_of = {id(op): k for k, op in enumerate(history)}
    calls, p_inv, p_comp, p_call, p_ret = p.calls, p.invokes, p.completions, p.call_pos, p.ret_pos
    completed = 0
    for inv, comp in pairs:
        if comp is None:
            output: Any = CRASHED
            rpos = None
        else:
            completed += 1
            typ = comp.type
            if typ == "ok":
                output = comp.value
                rpos = pos_of[id(comp)]
            elif typ == "info":
                output = CRASHED
                rpos = None
            else:
                p.failed += 1
                continue
        extra = inv.extra
        if comp is not None and comp.extra and comp.extra != extra:
            extra = {**comp.extra, **extra}
        calls.append(Call(len(calls), inv.process, (inv.f, inv.value), output, extra))  # type: ignore[arg-type]
        p_inv.append(inv)
        p_comp.append(comp)
        p_call.append(pos_of[id(inv)])
        p_ret.append(rpos)
    p.ignored = len(history) - len(pairs) - completed
    return p
