"""A history as compact column arrays for the report page.

The page draws up to hundreds of thousands of operations, so it gets them as
columns (one JSON array per field, times in microseconds) rather than one
object per op, and every value or error text once in a string table.  That
keeps a 100k-operation report to a few megabytes and its parsing fast.

``ops_columns(history, concurrency)`` returns::

    {"n": N,                      # client operations (invoke + completion pairs)
     "lane": [...],               # row of the timeline (index into "lanes")
     "proc": [...],               # process number
     "f": [...],                  # index into "fs"
     "type": [...],               # 0 ok, 1 fail, 2 info, 3 never completed
     "t0": [...], "t1": [...],    # invoke / completion time (us; t1 -1 if none)
     "inv": [...], "cmp": [...],  # history index of invoke / completion (-1 if none)
     "val": [...], "out": [...],  # string index of the invoke value / a different
                                  # completion value (-1 if the same or none)
     "err": [...],                # string index of the error (-1 if none)
     "strings": [...], "fs": [...], "lanes": [...], "time_unit": "us" | "op"}

Ops are ordered by invoke.  When the history has no times (Plume text) the
position in the history stands in for time and ``time_unit`` is ``"op"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from jepsy.history import Op
from jepsy.report.faults import read_faults

__all__ = ["faults_data", "jsonable", "ops_columns", "prune", "value_text"]

MAX_VALUE_CHARS = 160
_TYPES = {"ok": 0, "fail": 1, "info": 2}
# Above this many processes, lanes are workers (process mod concurrency): a
# worker that crashes continues under a new process number, and one row per
# process would make thousands of nearly empty rows.
_MAX_PROCESS_LANES = 32


def value_text(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as short JSON text for display (truncated with an ellipsis)."""
    try:
        text = json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def jsonable(v: Any, depth: int = 0) -> Any:
    """A copy of ``v`` that ``json.dumps(allow_nan=False)`` accepts (NaN and oddities as text)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if depth > 50:
        return "…"
    if isinstance(v, dict):
        return {str(k): jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x, depth + 1) for x in v]
    return repr(v)


def prune(v: Any, max_items: int = 500, max_chars: int = 4000, depth: int = 0) -> Any:
    """``jsonable(v)`` with long lists/maps cut (a marker string says how many were left out).

    Checker results can hold whole linearizations; the page only needs enough
    to show, and the full result stays in ``results.json``.
    """
    if isinstance(v, str):
        return v if len(v) <= max_chars else v[:max_chars - 1] + "…"
    if depth > 40:
        return "…"
    if isinstance(v, dict):
        items = list(v.items())
        out = {str(k): prune(x, max_items, max_chars, depth + 1) for k, x in items[:max_items]}
        if len(items) > max_items:
            out["…"] = f"{len(items) - max_items} more entries left out of the report"
        return out
    if isinstance(v, (list, tuple, set, frozenset)):
        seq = list(v)
        out_list = [prune(x, max_items, max_chars, depth + 1) for x in seq[:max_items]]
        if len(seq) > max_items:
            out_list.append(f"… {len(seq) - max_items} more items left out of the report")
        return out_list
    return jsonable(v, depth)


class _Strings:
    def __init__(self) -> None:
        self.table: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def _us(t: int | None, pos: int, timed: bool) -> int:
    if not timed:
        return pos
    return (t or 0) // 1000


def ops_columns(history: Sequence[Op], concurrency: int | None = None) -> dict[str, Any]:
    """The client operations of ``history`` as columns (see the module docstring).

    Never raises on a malformed history: a completion without an invoke is
    shown as an op that starts and ends at its completion, and an invoke whose
    process invokes again is closed as never completed.
    """
    timed = any(op.time is not None for op in history)
    strings = _Strings()
    fs: dict[str, int] = {}
    cols: dict[str, list[int]] = {k: [] for k in
                                  ("proc", "f", "type", "t0", "t1", "inv", "cmp", "val", "out", "err")}
    open_: dict[int | str, int] = {}
    for pos, op in enumerate(history):
        if not op.is_client:
            continue
        t = _us(op.time, pos, timed)
        if op.type == "invoke" or op.process not in open_:
            if op.type == "invoke":
                open_[op.process] = len(cols["proc"])
            fi = fs.setdefault(op.f, len(fs))
            for k, v in (("proc", op.process), ("f", fi), ("type", 3), ("t0", t), ("t1", -1),
                         ("inv", op.index), ("cmp", -1), ("val", strings.add(value_text(op.value))),
                         ("out", -1), ("err", -1)):
                cols[k].append(v)  # type: ignore[arg-type]
            if op.type == "invoke":
                continue
            i = len(cols["proc"]) - 1
        else:
            i = open_.pop(op.process)
        cols["type"][i] = _TYPES.get(op.type, 2)
        cols["t1"][i] = t
        cols["cmp"][i] = op.index
        out = value_text(op.value)
        if op.value is not None and strings.table[cols["val"][i]] != out:
            cols["out"][i] = strings.add(out)
        if op.error is not None:
            cols["err"][i] = strings.add(value_text(op.error))
    procs = cols["proc"]
    distinct = sorted(set(procs), key=lambda p: (not isinstance(p, int), str(p) if not isinstance(p, int)
                                                 else f"{p:012d}"))
    if concurrency and len(distinct) > _MAX_PROCESS_LANES and all(isinstance(p, int) for p in distinct):
        lanes = [f"worker {w}" for w in range(concurrency)]
        lane = [int(p) % concurrency for p in procs]
    else:
        rank = {p: i for i, p in enumerate(distinct)}
        lanes = [f"p{p}" for p in distinct]
        lane = [rank[p] for p in procs]
    return {"n": len(procs), "lane": lane, **cols, "strings": strings.table, "fs": list(fs),
            "lanes": lanes, "time_unit": "us" if timed else "op"}


def faults_data(history: Sequence[Op]) -> dict[str, Any]:
    """Fault periods, events and clock offsets in the page's time unit (see ``faults``)."""
    timed = any(op.time is not None for op in history)
    pos = {id(op): i for i, op in enumerate(history)} if not timed else {}

    def time_of(op: Op) -> int:
        return _us(op.time, pos.get(id(op), op.index), timed)

    periods, events, clock = read_faults(history, time_of)
    series: dict[str, list[list[float]]] = {}
    for s in clock:
        series.setdefault(s.node, []).append([s.time, s.offset])
    return {
        "periods": [{"kind": p.kind, "start": p.start, "end": p.end, "targets": p.targets,
                     "nodes": p.nodes, "error": p.error, "start_index": p.start_index,
                     "end_index": p.end_index} for p in periods],
        "events": [{"t": e.time, "index": e.index, "f": e.f, "text": e.text} for e in events],
        "clock": series,
    }
