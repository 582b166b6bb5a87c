"""An explicit fault schedule: faults, times and targets as plain data (``--nemesis-schedule FILE``).

A schedule file is JSON (or YAML, its superset), for users to read, edit and
replay::

    {"version": 1,
     "faults": [
       {"family": "partition", "at": 4.0, "duration": 4.0,
        "value": {"n1": ["n3", "n4", "n5"], "n2": ["n3", "n4", "n5"], "n3": ["n1", "n2"], ...}},
       {"family": "kill", "at": 8.0, "duration": 3.5, "value": ["n2"]},
       {"family": "packet", "at": 9.0, "duration": null,
        "value": {"behaviours": {"loss": {}}, "targets": ["n1", "n5"]}},
       {"family": "clock", "at": 12.0, "duration": 2.0,
        "value": {"mode": "bump", "targets": ["n3"], "deltas": {"n3": -12.5}}}]}

* ``at``: seconds after the main phase starts (its first operation) that the
  fault is requested; ``duration``: seconds until its ``stop-<family>`` is
  requested, or ``null`` for "until the run ends" (the final heal ends it).
* ``value``: the request op's value, as its family reads it.  Recorded
  schedules name nodes explicitly (the grudge applied, the nodes killed), so a
  replay does not depend on random draws.  A value may also be what the
  family draws from (``"one"``, ``"halves"``): then the seeded rng decides.
* Faults of one family must not overlap (a family has one fault in force at a
  time: its ``stop`` ends all of it); faults of different families may.

``from_history`` reads the schedule a run actually had out of its history (the
request and completion ops of process ``nemesis``); the test run writes it to
``schedule.json`` in every run directory, so any run can be replayed exactly
with ``--nemesis-schedule RUN_DIR/schedule.json``.  ``replay`` turns a schedule
into the nemesis generator.  Known limit: a ``scramble`` clock fault records
only its mode (the offsets it drew are in the history, not replayed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from jepsy import generator as gen
from jepsy.errors import ConfigError
from jepsy.history import Op

__all__ = ["FAMILIES", "Fault", "Schedule", "dumps", "from_history", "load", "parse", "replay", "write"]

FAMILIES = ("partition", "packet", "clock", "kill", "pause")
VERSION = 1


@dataclass(frozen=True)
class Fault:
    """One fault: ``family`` requested at ``at`` s with ``value``, stopped ``duration`` s later."""

    family: str
    at: float
    value: Any = None
    duration: float | None = None

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.at + self.duration

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "at": round(self.at, 3),
                "duration": None if self.duration is None else round(self.duration, 3),
                "value": self.value}

    def describe(self) -> str:
        how = "to the end" if self.duration is None else f"for {self.duration:.1f} s"
        return f"{self.family} at {self.at:.1f} s {how}: {_short(self.value)}"


@dataclass(frozen=True)
class Schedule:
    faults: tuple[Fault, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def families(self) -> list[str]:
        """Families in first-use order."""
        return list(dict.fromkeys(f.family for f in self.faults))

    def last_event(self) -> float:
        """When the last start or stop is requested (0 for an empty schedule)."""
        return max((f.end if f.end is not None else f.at for f in self.faults), default=0.0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": VERSION, "faults": [f.to_json() for f in self.faults]}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def with_faults(self, faults: Iterable[Fault]) -> Schedule:
        return replace(self, faults=tuple(sorted(faults, key=lambda f: f.at)))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 70 else text[:67] + "..."


# ---- reading and checking ---------------------------------------------------------

def _nodes_in(family: str, value: Any) -> list[str]:
    """Every node name a concrete value names (shape names and target specs name none)."""
    if family == "partition" and isinstance(value, Mapping):
        return [str(k) for k in value] + [str(x) for v in value.values() for x in (v or [])]
    if family in ("kill", "pause") and isinstance(value, list):
        return [str(x) for x in value]
    if isinstance(value, Mapping):
        names: list[str] = []
        targets = value.get("targets")
        if isinstance(targets, list):
            names += [str(x) for x in targets]
        deltas = value.get("deltas")
        if isinstance(deltas, Mapping):
            names += [str(x) for x in deltas]
        return names
    return []


def parse(data: Any, nodes: Sequence[str] | None = None, where: str = "schedule") -> Schedule:
    """A checked ``Schedule`` from plain data; any problem is one ``ConfigError`` line.

    ``nodes`` (when given) are the run's node names: a value naming any other
    node is refused, before anything touches a node.
    """
    if isinstance(data, list):
        data = {"faults": data}
    if not isinstance(data, Mapping) or not isinstance(data.get("faults"), list):
        raise ConfigError(f"{where}: a schedule is {{\"faults\": [...]}}")
    if data.get("version", VERSION) != VERSION:
        raise ConfigError(f"{where}: schedule version {data.get('version')!r} is not {VERSION}")
    faults = []
    for i, raw in enumerate(data["faults"]):
        at = f"{where}: fault {i + 1}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{at}: not a mapping")
        extra = sorted(set(raw) - {"family", "at", "duration", "value"})
        if extra:
            raise ConfigError(f"{at}: unknown field {extra[0]!r} (fields: family, at, duration, value)")
        family = raw.get("family")
        if family not in FAMILIES:
            raise ConfigError(f"{at}: unknown fault {family!r}; known: {', '.join(FAMILIES)}")
        try:
            start = float(raw.get("at", -1))
            duration = None if raw.get("duration") is None else float(raw["duration"])
        except (TypeError, ValueError):
            raise ConfigError(f"{at}: 'at' and 'duration' are seconds") from None
        if start < 0 or (duration is not None and duration <= 0):
            raise ConfigError(f"{at}: 'at' must be >= 0 and 'duration' > 0 (or null)")
        value = raw.get("value")
        if family in ("kill", "pause") and value == []:
            raise ConfigError(f"{at}: an empty target list")
        if nodes is not None:
            unknown = sorted(set(_nodes_in(str(family), value)) - set(nodes))
            if unknown:
                raise ConfigError(f"{at}: unknown node(s) {', '.join(unknown)}; "
                                  f"the nodes are {', '.join(nodes)}")
        faults.append(Fault(str(family), start, value, duration))
    faults.sort(key=lambda f: f.at)
    last: dict[str, Fault] = {}
    for f in faults:
        prev = last.get(f.family)
        if prev is not None and (prev.end is None or prev.end > f.at):
            raise ConfigError(f"{where}: two {f.family} faults overlap (at {prev.at:g} s and "
                              f"{f.at:g} s); one family has one fault at a time")
        last[f.family] = f
    notes = data.get("notes") or ()
    return Schedule(tuple(faults), tuple(str(n) for n in notes))


def load(path: str | Path, nodes: Sequence[str] | None = None) -> Schedule:
    """Read and check a schedule file (JSON or YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such schedule file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{p}: not JSON or YAML ({first})") from None
    return parse(data, nodes, str(p))


def dumps(schedule: Schedule) -> str:
    """JSON with one fault per line, so that a person can read, reorder and delete faults."""
    data = schedule.to_json()
    faults = ",\n".join("  " + json.dumps(f, default=str) for f in data.pop("faults"))
    head = json.dumps(data, default=str)[:-1]
    return f'{head}, "faults": [\n{faults}\n]}}\n' if faults else f'{head}, "faults": []}}\n'


def write(path: str | Path, schedule: Schedule) -> None:
    Path(path).write_text(dumps(schedule))


# ---- from a history ---------------------------------------------------------------

def _concrete(family: str, request: Any, done: Any) -> Any:
    """The value that repeats what the completion says was done, else the request's value."""
    if family == "partition" and isinstance(done, Mapping):
        return {str(k): sorted(str(x) for x in v) for k, v in done.items()}
    if family in ("kill", "pause"):
        if isinstance(done, list) and all(isinstance(x, str) for x in done):
            return list(done)
        if isinstance(done, Mapping):
            return [str(k) for k in done]
    if family == "packet" and isinstance(done, Mapping) and isinstance(request, Mapping):
        return {"behaviours": request.get("behaviours"), "targets": [str(k) for k in done]}
    if family == "clock" and isinstance(done, Mapping):
        mode = request.get("mode") if isinstance(request, Mapping) else request
        entries = {str(n): e for n, e in done.items() if isinstance(e, Mapping)}
        if mode == "bump":
            deltas = {n: float(e["bumped"]) for n, e in entries.items() if "bumped" in e}
            if deltas:
                return {"mode": "bump", "targets": list(deltas), "deltas": deltas}
        if mode == "strobe":
            strobes = {n: e["strobe"] for n, e in entries.items() if isinstance(e.get("strobe"), Mapping)}
            if strobes:
                first = next(iter(strobes.values()))
                return {"mode": "strobe", "targets": list(strobes), **dict(first)}
        return request if isinstance(request, Mapping) else {"mode": mode}
    return request if done is None else done


def _empty(family: str, value: Any) -> bool:
    return family in ("kill", "pause") and value == []


def from_history(history: Sequence[Op], origin_ns: int | None = None) -> Schedule:
    """The faults a run had: each successful ``start-F`` until its ``stop-F`` (or the end).

    Times are relative to ``origin_ns`` (default: the first client operation,
    which the main phase issues within milliseconds of its start).  A start
    whose completion carries an error did not happen, and is left out; a kill
    or pause that reached no node (no primary at that moment) too.
    """
    origin = origin_ns if origin_ns is not None else next(
        (op.time for op in history if op.is_client and op.time is not None), 0)

    def sec(op: Op) -> float:
        return max(0.0, ((op.time or 0) - origin) / 1e9)
    requests: dict[str, Op] = {}
    open_: dict[str, tuple[float, Any]] = {}
    faults: list[Fault] = []
    notes: list[str] = []

    def close(family: str, t: float | None) -> None:
        got = open_.pop(family, None)
        if got is not None:
            start, value = got
            faults.append(Fault(family, start, value, None if t is None else max(0.001, t - start)))

    for op in history:
        if op.is_client or op.process != "nemesis":
            continue
        verb, _, family = op.f.partition("-")
        if verb not in ("start", "stop") or not family:
            continue
        t = sec(op)
        if op.f not in requests:
            requests[op.f] = op
            if verb == "stop":
                close(family, t)
            continue
        req = requests.pop(op.f)
        if verb == "start":
            value = _concrete(family, req.value, op.value)
            if op.error is not None:
                notes.append(f"{family} at {sec(req):.1f} s failed: {op.error}")
            elif not _empty(family, value):
                close(family, sec(req))
                open_[family] = (sec(req), value)
    for family in list(open_):
        close(family, None)
    return Schedule(tuple(sorted(faults, key=lambda f: f.at)), tuple(notes))


# ---- replay -----------------------------------------------------------------------

class _Replay(gen.Gen):
    """The schedule's starts and stops, each at its time after the first ask."""

    def __init__(self, schedule: Schedule) -> None:
        events: list[tuple[float, int, dict[str, Any]]] = []
        for i, f in enumerate(schedule.faults):
            events.append((f.at, 2 * i + 1, {"f": f"start-{f.family}", "value": f.value}))
            if f.end is not None:
                events.append((f.end, 2 * i, {"f": f"stop-{f.family}"}))
        # A stop and a start at the same time: the stop first (ordering key 2i < 2j+1 for i<j).
        self.events = sorted(events, key=lambda e: (e[0], e[1]))
        self.origin: float | None = None

    def next(self, ctx: gen.Context) -> gen.Next:
        if not ctx.is_nemesis:
            return None
        if self.origin is None:
            self.origin = ctx.time
        if not self.events:
            return None
        at, _, op = self.events[0]
        due = self.origin + at
        if ctx.time < due:
            return gen.Pending(due - ctx.time)
        self.events.pop(0)
        return dict(op)


def replay(schedule: Schedule) -> Any:
    """The schedule as a nemesis generator spec (fresh state every time it is built)."""
    return gen.defer(lambda ctx: _Replay(schedule))
