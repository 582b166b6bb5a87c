"""Fault periods and clock offsets read back from the nemesis ops of a history.

The runner records every nemesis op twice, as ``info`` ops of process
``"nemesis"``: once when it is requested (value: what was asked) and once when
it completed (value: what was done, e.g. a partition grudge
``{"n1": ["n3", "n4"], ...}``; ``error`` set if it failed).  ``heal`` is
recorded once, after every fault has ended.  Jepsen histories use the same
shape with bare ``start``/``stop`` (and ``kill``/``pause``...).

A fault is drawn from its request to the completion of the op that ends it:
the fault may be in force anywhere in that interval, and a report that showed
less would hide the window in which an anomaly could have been caused.

Vocabulary understood (anything else becomes an instantaneous event):

* ``start-X`` ... ``stop-X``; bare ``start`` ... ``stop`` (family ``fault``);
* ``kill`` ... ``restart`` or ``start-kill``; ``pause`` ... ``resume``;
* ``heal``, ``heal-all``, ``reset``, ``stop-all``: end every open fault.

Clock offsets: a completion of an op whose ``f`` mentions ``clock`` and whose
value maps nodes to numbers (or to ``{"offset": seconds, ...}``, as the clock
nemesis records them, or holds such a map under ``offsets``/``clock-offsets``)
is one sample per node; ending a clock fault or healing without a measurement
sets every known node back to 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jepsy.history import Op

__all__ = ["ClockSample", "Event", "FaultPeriod", "describe_targets", "read_faults"]

_END_ALL = frozenset({"heal", "heal-all", "reset", "stop-all"})
_BEGIN_BARE = {"start": "fault", "kill": "kill", "pause": "pause"}
_END_BARE = {"stop": "fault", "restart": "kill", "resume": "pause"}
_MAX_TEXT = 300


@dataclass
class FaultPeriod:
    """One fault in force from ``start`` to ``end`` (ns; ``end`` None: never ended)."""

    kind: str
    start: int
    end: int | None = None
    targets: str = ""
    nodes: list[str] = field(default_factory=list)
    error: str | None = None
    start_index: int = 0
    end_index: int | None = None


@dataclass
class Event:
    """A nemesis op that is not the start or end of a period (e.g. ``bump-clock``)."""

    time: int
    index: int
    f: str
    text: str


@dataclass
class ClockSample:
    time: int
    node: str
    offset: float


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


def describe_targets(value: Any) -> tuple[str, list[str]]:
    """Words for what a fault op touched, and the node names it names.

    A grudge ``{"n1": ["n3"], "n3": ["n1"], "n2": []}`` reads
    ``"n1 -x- n3; n3 -x- n1"``; a list of nodes reads as the nodes; a map of
    numbers (clock offsets) as ``"n1 +120, n2 -40"``.
    """
    if value is None:
        return "", []
    if isinstance(value, str):
        return _short(value).strip('"'), [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)[:_MAX_TEXT], [str(v) for v in value]
    if isinstance(value, dict) and value:
        keys = [str(k) for k in value]
        if all(isinstance(v, list) for v in value.values()):
            cut = [f"{k} -x- {','.join(str(x) for x in v)}" for k, v in value.items() if v]
            text = "; ".join(cut) if cut else "no links cut"
            return (text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"), keys
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            return ", ".join(f"{k} {v:+g}" for k, v in value.items())[:_MAX_TEXT], keys
        offs = _offsets(value)
        if offs and len(offs) == len(value):
            return ", ".join(f"{k} {v:+g} s" for k, v in offs.items())[:_MAX_TEXT], keys
        if all(isinstance(v, str) for v in value.values()):
            text = "; ".join(f"{k}: {v}" for k, v in value.items())
            return (text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"), keys
        return _short(value), keys
    return _short(value), []


def _offsets(value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        for name in ("offsets", "clock-offsets", "clock_offsets"):
            if isinstance(value.get(name), dict):
                return _offsets(value[name])
        out: dict[str, float] = {}
        for k, v in value.items():
            if isinstance(v, dict):
                v = v.get("offset", v.get("offset_ms", v.get("offset-ms")))
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                out[str(k)] = float(v)
        return out
    return {}


def _classify(f: str) -> tuple[str, str]:
    """("begin" | "end" | "end-all" | "event", family)."""
    if f in _END_ALL:
        return "end-all", ""
    if f.startswith("start-"):
        return "begin", f[len("start-"):]
    if f.startswith("stop-"):
        return "end", f[len("stop-"):]
    if f in _BEGIN_BARE:
        return "begin", _BEGIN_BARE[f]
    if f in _END_BARE:
        return "end", _END_BARE[f]
    return "event", f


def _nemesis_pairs(history: Sequence[Op]) -> list[tuple[Op, Op]]:
    """(request, completion) for each nemesis op; a lone record is both."""
    out: list[tuple[Op, Op]] = []
    pending: Op | None = None
    for op in history:
        if op.is_client:
            continue
        if pending is not None and op.f == pending.f and op.process == pending.process:
            out.append((pending, op))
            pending = None
            continue
        if pending is not None:
            out.append((pending, pending))
        pending = None if op.f in _END_ALL else op
        if op.f in _END_ALL:
            out.append((op, op))
    if pending is not None:
        out.append((pending, pending))
    return out


def read_faults(history: Sequence[Op], time_of: Any = None) -> tuple[
        list[FaultPeriod], list[Event], list[ClockSample]]:
    """Fault periods, other nemesis events and clock samples of ``history``.

    ``time_of(op) -> int`` gives an op's time (default ``op.time``, or its
    position when the history has no times).
    """
    def when(op: Op) -> int:
        if time_of is not None:
            return int(time_of(op))
        return op.time if op.time is not None else op.index

    periods: list[FaultPeriod] = []
    events: list[Event] = []
    clock: list[ClockSample] = []
    open_: dict[str, FaultPeriod] = {}
    clock_nodes: set[str] = set()

    measured = False  # the op that ends a clock fault may itself report the offsets

    def close(kind: str, end: int, index: int) -> None:
        p = open_.pop(kind, None)
        if p is not None:
            p.end, p.end_index = end, index
        if "clock" in kind and clock_nodes and not measured:
            clock.extend(ClockSample(end, n, 0.0) for n in sorted(clock_nodes))

    for req, done in _nemesis_pairs(history):
        action, kind = _classify(req.f)
        measured = False
        if "clock" in req.f and done is not req:
            offs = _offsets(done.value)
            clock.extend(ClockSample(when(done), n, v) for n, v in offs.items())
            clock_nodes.update(offs)
            measured = bool(offs)
        if action == "begin":
            value = done.value if done is not req and done.value is not None else req.value
            text, nodes = describe_targets(value)
            err = done.error if done is not req else None
            if kind in open_:  # a second start: the first one ends where the new one begins
                close(kind, when(req), req.index)
            period = FaultPeriod(kind, when(req), None, text, nodes,
                                 None if err is None else _short(err), req.index)
            periods.append(period)
            if err is None:
                open_[kind] = period
            else:
                period.end, period.end_index = when(done), done.index
        elif action == "end":
            close(kind, when(done), done.index)
        elif action == "end-all":
            had_clock = any("clock" in k for k in open_)
            for k in list(open_):
                close(k, when(done), done.index)
            if clock_nodes and not had_clock:
                clock.extend(ClockSample(when(done), n, 0.0) for n in sorted(clock_nodes))
        else:
            text, _ = describe_targets(done.value if done.value is not None else req.value)
            events.append(Event(when(req), req.index, req.f, text))
    return periods, events, clock
