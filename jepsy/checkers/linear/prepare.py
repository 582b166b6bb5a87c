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
from operator import is_

import msgspec

from jepsy.checkers.linear.models import CRASHED, Call
from jepsy.history import Op, pair

__all__ = ["Prepared", "prepare"]


class Prepared(msgspec.Struct):
    """Calls in invocation order, with their ops and positions (``ret`` None = crashed)."""

    calls: list[Call] = msgspec.field(default_factory=list)
    invokes: list[Op] = msgspec.field(default_factory=list)
    completions: list[Op | None] = msgspec.field(default_factory=list)
    call_pos: list[int] = msgspec.field(default_factory=list)
    ret_pos: list[int | None] = msgspec.field(default_factory=list)
    failed: int = 0
    ignored: int = 0


def _positions(history: Sequence[Op], ops: list[Op]) -> list[int]:
    """The position of each of ``ops`` in ``history``.

    Usually an op's ``index`` is its position, which is checked (the op found
    there is that very op) rather than trusted; otherwise ops are found by
    identity (an Op may compare equal to another).
    """
    idx = [op.index for op in ops]
    try:
        if (not idx or min(idx) >= 0) and all(map(is_, map(history.__getitem__, idx), ops)):
            return idx
    except (IndexError, TypeError):
        pass
    pos_of = {id(op): k for k, op in enumerate(history)}
    return [pos_of[id(op)] for op in ops]


def prepare(history: Sequence[Op]) -> Prepared:
    """Pair invocations with completions (``history.pair``) and apply Jepsen's semantics.

    Positions are indices into ``history`` (ops' ``index`` fields may have gaps or
    be absent; real-time order is the sequence's).
    """
    pairs = pair(history)
    completed = len([comp for _, comp in pairs if comp is not None])  # (list.count compares Ops)
    kept = [(inv, comp) for inv, comp in pairs if comp is None or comp.type != "fail"]
    invokes = [inv for inv, _ in kept]
    comps = [comp for _, comp in kept]
    ok_comp = [comp if comp is not None and comp.type == "ok" else None for comp in comps]
    # One comprehension per list: much cheaper than appending in a loop, and this
    # is most of a small history's fixed cost.  (pair gives client ops only: int processes.)
    calls = [Call(k, inv.process, (inv.f, inv.value),  # type: ignore[arg-type]
                  CRASHED if done is None else done.value,
                  inv.extra if comp is None or not comp.extra or comp.extra == inv.extra  # type: ignore[arg-type]
                  else {**comp.extra, **inv.extra})
             for k, (inv, comp, done) in enumerate(zip(invokes, comps, ok_comp, strict=True))]
    call_pos = _positions(history, invokes)
    returned = [done for done in ok_comp if done is not None]
    rets = iter(_positions(history, returned))
    return Prepared(calls=calls, invokes=invokes, completions=comps, call_pos=call_pos,
                    ret_pos=[None if done is None else next(rets) for done in ok_comp],
                    failed=len(pairs) - len(kept), ignored=len(history) - len(pairs) - completed)
