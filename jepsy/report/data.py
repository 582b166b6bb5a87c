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
     "t0": [...], "t1": [...],    # invoke / completion time (in time_unit; t1 -1 if none)
     "inv": [...], "cmp": [...],  # history index of invoke / completion (-1 if none)
     "val": [...], "out": [...],  # string index of the invoke value / a different
                                  # completion value (-1 if the same or none)
     "err": [...],                # string index of the error (-1 if none)
     "strings": [...], "fs": [...], "lanes": [...], "time_unit": "us" | "ns" | "op"}

Ops are ordered by invoke.  Times are microseconds, or nanoseconds for
histories that span less than 10 ms (hand-written ones); when the history has
no times (Plume text) the position in the history stands in for time and
``time_unit`` is ``"op"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from jepsy.history import Op, pair_positions
from jepsy.placement import node_of
from jepsy.report.faults import read_faults

__all__ = ["faults_data", "json_safe", "ops_columns", "prune", "time_divisor",
           "value_text"]

MAX_VALUE_CHARS = 160
_TYPES = {"ok": 0, "fail": 1, "info": 2}
# Above this many processes, lanes are workers (process mod concurrency): a
# worker that crashes continues under a new process number, and one row per
# process would make thousands of nearly empty rows.
_MAX_PROCESS_LANES = 32


_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def value_text(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as short JSON text for display (truncated with an ellipsis)."""
    if value is None:
        return "null"
    try:
        text = _ENCODE(value)  # history values are plain JSON data: the fast path
    except (TypeError, ValueError, RecursionError):
        try:
            text = _ENCODE(json_safe(value))
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def json_safe(v: Any, depth: int = 0) -> Any:
    """A copy of ``v`` that ``json.dumps(allow_nan=False)`` accepts (NaN and oddities as text)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if depth > 50:
        return "…"
    if isinstance(v, dict):
        return {str(k): json_safe(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [json_safe(x, depth + 1) for x in v]
    return repr(v)


def prune(v: Any, max_items: int = 500, max_chars: int = 4000, depth: int = 0) -> Any:
    """``json_safe(v)`` with long lists/maps cut (a marker string says how many were left out).

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
    return json_safe(v, depth)


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


def time_divisor(history: Sequence[Op]) -> int:
    """Nanoseconds per page time unit: 1000 (microseconds), or 1 for histories so short
    (a hand-written one with times 1, 2, 3...) that microseconds would merge their ops;
    0 when the history has no times, or only one (positions stand in)."""
    times = [op.time for op in history if op.time is not None]
    if not times or max(times) == min(times):  # no times, or all the same: no order in them
        return 0
    return 1000 if max(times) - min(times) >= 10_000_000 else 1


def _unit(divisor: int) -> str:
    return {0: "op", 1: "ns"}.get(divisor, "us")


def ops_columns(history: Sequence[Op], concurrency: int | None = None,
                nodes: Sequence[str] = ()) -> dict[str, Any]:
    """The client operations of ``history`` as columns (see the module docstring).

    Never raises on a malformed history: a completion without an invoke is
    shown as an op that starts and ends at its completion, and an invoke whose
    process invokes again is closed as never completed.
    """
    div = time_divisor(history)
    strings = _Strings()
    fs: dict[str, int] = {}
    cols: dict[str, list[int]] = {k: [] for k in
                                  ("proc", "f", "type", "t0", "t1", "inv", "cmp", "val", "out", "err")}
    proc, fcol, typ, t0, t1 = cols["proc"], cols["f"], cols["type"], cols["t0"], cols["t1"]
    inv, cmp, val, outc, err = cols["inv"], cols["cmp"], cols["val"], cols["out"], cols["err"]
    add = strings.add
    for i, j in pair_positions(history):
        first = history[i]
        assert isinstance(first.process, int)  # pair_positions: client ops only
        t = (first.time or 0) // div if div else i
        proc.append(first.process)
        fcol.append(fs.setdefault(first.f, len(fs)))
        typ.append(3)
        # A completion with no invoke (Elle histories of completions only): by position,
        # give it the slot before it, so it is drawn with a width.
        t0.append(t if first.type == "invoke" or div else t - 1)
        t1.append(-1)
        inv.append(first.index)
        cmp.append(-1)
        val.append(add(value_text(first.value)))
        outc.append(-1)
        err.append(-1)
        if j is None:
            continue
        op, k = history[j], len(proc) - 1
        typ[k] = _TYPES.get(op.type, 2)
        t1[k] = (op.time or 0) // div if div else j
        cmp[k] = op.index
        if op.value is not None:
            out = value_text(op.value)
            if strings.table[val[k]] != out:
                outc[k] = add(out)
        if op.error is not None:
            err[k] = add(value_text(op.error))
    procs = cols["proc"]
    distinct = sorted(set(procs))
    def on(p: int) -> str:  # the node a row's worker talks to, when the run says
        node = node_of(p, nodes, concurrency or 0)
        return f" ({node})" if node else ""

    if concurrency and len(distinct) > _MAX_PROCESS_LANES:
        lanes = [f"worker {w}{on(w)}" for w in range(concurrency)]
        lane = [p % concurrency for p in procs]
    else:
        rank = {p: i for i, p in enumerate(distinct)}
        lanes = [f"p{p}{on(p)}" for p in distinct]
        lane = [rank[p] for p in procs]
    return {"n": len(procs), "lane": lane, **cols, "strings": strings.table, "fs": list(fs),
            "lanes": lanes, "time_unit": _unit(div)}


def faults_data(history: Sequence[Op]) -> dict[str, Any]:
    """Fault periods, events and clock offsets in the page's time unit (see ``faults``)."""
    div = time_divisor(history)
    pos = {id(op): i for i, op in enumerate(history)} if not div else {}

    def time_of(op: Op) -> int:
        return (op.time or 0) // div if div else pos.get(id(op), op.index)

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
