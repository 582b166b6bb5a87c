"""The report's Availability section: the availability checker's result in page time units.

``availability_data(checker, divisor)`` finds the availability result among a
run's checker results (``checker.availability``, or a lone result that has
``windows`` and ``recoveries``, as ``jepsy check --checker availability
--report`` writes) and returns what ``availability.js`` draws::

    {"valid", "text", "explanation", "broken", "undecided", "settings", "baseline",
     "windows": [{"kind", "t0", "t1", "start_s", "end_s", "overall": {...},
                  "sides": [{"name", "nodes", ...figures}], "nodes": [{"name", ...figures}]}],
     "marks": [{"kind": "heal" | "recovered" | "relapse" | "not-recovered", "t", "t1", "text"}]}

Times ``t``/``t0``/``t1`` are in the page's unit (see ``data.time_divisor``);
the checker's are seconds since the history's time origin.  ``None`` when the
run has no availability result (older runs) or the history has no times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy.report.summary import checker_results

__all__ = ["availability_data", "find_availability"]

_FIGURES = ("ops", "ok", "ok_fraction", "throughput", "p50_ms", "p99_ms")


def find_availability(checker: Any) -> dict[str, Any] | None:
    """The availability checker's result inside ``results["checker"]`` (None if absent)."""
    found = None
    for name, result in checker_results(checker):
        if name.split("/")[-1] == "availability" or ("windows" in result and "recoveries" in result):
            found = result
    return found


def _fig(d: Any) -> dict[str, Any]:
    return {k: d.get(k) for k in _FIGURES} if isinstance(d, Mapping) else {}


def availability_data(checker: Any, divisor: int) -> dict[str, Any] | None:
    """See the module docstring."""
    result = find_availability(checker)
    if result is None or not divisor:
        return None

    def t(seconds: Any) -> float | None:
        return seconds * 1e9 / divisor if isinstance(seconds, (int, float)) else None

    windows = []
    for w in result.get("windows") or []:
        if not isinstance(w, Mapping):
            continue
        sides: Mapping[str, Any] = w["sides"] if isinstance(w.get("sides"), Mapping) else {}
        nodes: Mapping[str, Any] = w["by_node"] if isinstance(w.get("by_node"), Mapping) else {}
        windows.append({
            "kind": str(w.get("kind")), "t0": t(w.get("start_s")), "t1": t(w.get("end_s")),
            "start_s": w.get("start_s"), "end_s": w.get("end_s"), "overall": _fig(w),
            "sides": [{"name": str(k), "nodes": list(v.get("nodes") or []), **_fig(v)}
                      for k, v in sides.items() if isinstance(v, Mapping)],
            "nodes": [{"name": str(k), **_fig(v)} for k, v in nodes.items()],
        })
    marks: list[dict[str, Any]] = []
    for r in result.get("recoveries") or []:
        if not isinstance(r, Mapping):
            continue
        heal = r.get("heal_at_s")
        marks.append({"kind": "heal", "t": t(heal), "text": f"heal at {heal} s"})
        after = r.get("recovered_after_s")
        if after is not None:
            marks.append({"kind": "recovered", "t": t(r.get("recovered_at_s")), "t0": t(heal),
                          "text": f"recovered {after} s after the heal at {heal} s"})
        elif r.get("below_for_s"):
            marks.append({"kind": "not-recovered", "t": t(heal), "t1": t(heal + r["below_for_s"]),
                          "text": f"not recovered: {r.get('reason', '')}"})
        for x in r.get("relapses") or []:
            if isinstance(x, Mapping):
                marks.append({"kind": "relapse", "t": t(x.get("at_s")),
                              "t1": t((x.get("at_s") or 0) + (x.get("below_for_s") or 0)),
                              "text": f"relapse at {x.get('at_s')} s for {x.get('below_for_s')} s"})
    expl = result.get("explanation")
    return {
        "valid": result.get("valid"), "text": result.get("text"),
        "explanation": expl.get("text") if isinstance(expl, Mapping) else None,
        "broken": list(result.get("broken") or []), "undecided": list(result.get("undecided") or []),
        "settings": result.get("settings") if isinstance(result.get("settings"), Mapping) else {},
        "baseline": result.get("baseline_throughput"), "error": result.get("error"),
        "recoveries": [dict(r) for r in result.get("recoveries") or [] if isinstance(r, Mapping)],
        "windows": windows, "marks": [m for m in marks if m["t"] is not None],
    }
