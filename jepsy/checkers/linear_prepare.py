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
one is open) raises ``HistoryError`` naming the op, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from jepsy.errors import HistoryError
from jepsy.history import Op, location
from jepsy.models import CRASHED, Call

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


def _where(op: Op) -> str:
    return location(op)


def prepare(history: Sequence[Op]) -> Prepared:
    """Pair invocations with completions and apply Jepsen's semantics (module docstring)."""
    p = Prepared()
    open_: dict[int, int] = {}  # process -> slot in the lists below
    invokes: list[Op] = []
    completions: list[Op | None] = []
    call_pos: list[int] = []
    ret_pos: list[int | None] = []
    for pos, op in enumerate(history):
        proc = op.process
        if proc.__class__ is not int:  # the nemesis (bool is no process either)
            p.ignored += 1
            continue
        typ = op.type
        if typ == "invoke":
            if proc in open_:
                prev = invokes[open_[proc]]
                raise HistoryError(f"{_where(op)}: process {proc} invokes {op.f!r} while its "
                                   f"{location(prev)} ({prev.f}) is still open")
            open_[proc] = len(invokes)
            invokes.append(op)
            completions.append(None)
            call_pos.append(pos)
            ret_pos.append(None)
        elif typ == "ok" or typ == "fail" or typ == "info":
            slot = open_.pop(proc, None)
            if slot is None:
                raise HistoryError(f"{_where(op)}: {typ} {op.f!r} of process {proc} "
                                   "completes nothing (no open invocation)")
            completions[slot] = op
            if typ == "ok":
                ret_pos[slot] = pos
        else:
            raise HistoryError(f"{_where(op)}: unknown op type {typ!r}")
    calls, p_inv, p_comp, p_call, p_ret = p.calls, p.invokes, p.completions, p.call_pos, p.ret_pos
    for inv, comp, cpos, rpos in zip(invokes, completions, call_pos, ret_pos, strict=True):
        if comp is None or comp.type == "info":
            output = CRASHED
        elif comp.type == "ok":
            output = comp.value
        else:
            p.failed += 1
            continue
        extra = inv.extra
        if comp is not None and comp.extra and comp.extra != extra:
            extra = {**comp.extra, **extra}
        calls.append(Call(len(calls), inv.process, (inv.f, inv.value), output, extra))  # type: ignore[arg-type]
        p_inv.append(inv)
        p_comp.append(comp)
        p_call.append(cpos)
        p_ret.append(rpos)
    return p
