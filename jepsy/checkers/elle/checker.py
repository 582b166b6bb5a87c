"""The transactional checker: analysis, graph, cycle search, verdict, as one Checker.

The pipeline for one history:

1. extract transactions (``txn.py``);
2. the workload's analysis (``list_append.py`` or ``rw_register.py``) finds
   the anomalies that need no cycle and adds ww/wr/rw edges;
3. process order and real-time order join the graph (``graph.py``);
4. cycles are searched in its strongly connected components, within a budget
   (``cycles.py``), and explained (``explain.py``);
5. the anomalies map to the consistency models they rule out (``models.py``),
   and the chosen model decides ``valid``: False if it is ruled out, else
   "unknown" if part of the cycle search was cut short, else True.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jepsy.checkers.elle.cycles import search_causal, search_cycles
from jepsy.checkers.elle.explain import explain_cycle
from jepsy.checkers.elle.graph import DATA, PROCESS_LEVEL, REALTIME_LEVEL, Graph
from jepsy.checkers.elle.list_append import ListAppend
from jepsy.checkers.elle.models import boundary, canonical_model, impossible_models
from jepsy.checkers.elle.polygraph import every_order_cyclic
from jepsy.checkers.elle.rw_register import RWRegister
from jepsy.checkers.elle.txn import Txn, extract_txns
from jepsy.history import Op, read_history

if TYPE_CHECKING:
    from jepsy.checkers.elle.columns import TxnColumns

__all__ = ["TxnChecker"]

_MOPS = {"list-append": frozenset({"append", "r"}), "rw-register": frozenset({"w", "r"})}
_MAX_CYCLES_PER_TYPE = 20
# The columnar fast path costs NumPy's and SciPy's imports (~0.2 s): below this many ops
# (or bytes, for ``check_file``) the general path is done sooner.
FAST_FROM_OPS = 20_000
FAST_FROM_BYTES = 2_000_000


class TxnChecker:
    """Checks list-append or rw-register histories against one consistency model.

    ``timeout`` (seconds) and ``max_steps`` bound the cycle search only; the
    analysis before it is linear in the history.  ``opts`` passed to ``check``
    may override ``consistency_model`` (or ``consistency-model``).
    """

    def __init__(self, workload: str, consistency_model: str = "strict-serializable",
                 timeout: float | None = None, max_steps: int = 20_000_000) -> None:
        if workload not in _MOPS:
            raise ValueError(f"unknown transactional workload {workload!r}")
        self.workload = workload
        self.model = canonical_model(consistency_model)
        self.timeout = timeout
        self.max_steps = max_steps

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        return _no_gc(self._fast_or_full, history, opts)

    def check_file(self, path: str | os.PathLike[str], opts: Mapping[str, Any]) -> dict[str, Any]:
        """Check a stored history, streaming a JSONL file into columns when it can.

        A list-append history in jepsy's JSONL (or a JSON array of ops) goes
        from the file to columns (``columns.from_file``) without a list of
        ``Op`` records, which is most of the memory at millions of
        transactions; if the fast path cannot vouch for it, or the file is
        another format (Jepsen's EDN), the file is read with ``read_history``
        and checked as ``check`` would (the ops to columns, then the general path).
        """
        path = Path(path)

        def run() -> dict[str, Any]:
            if self.workload == "list-append" and _size(path) >= FAST_FROM_BYTES:
                from jepsy.checkers.elle.columns import from_file

                result = self._try_fast(lambda: from_file(path), opts)
                if result is not None:
                    return result
            return self._fast_or_full(read_history(path), opts)

        return _no_gc(run)

    def _fast_or_full(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        if self.workload == "list-append" and len(history) >= FAST_FROM_OPS:
            from jepsy.checkers.elle.columns import from_ops

            result = self._try_fast(lambda: from_ops(history), opts)
            if result is not None:
                return result
        return self._check(history, opts)

    def _try_fast(self, build: Callable[[], TxnColumns | None],
                  opts: Mapping[str, Any]) -> dict[str, Any] | None:
        """The fast path's result on the columns ``build`` makes (timed from the start of
        building), or None when they cannot be built or do not prove the history clean.
        The columns are dropped on return, before any general path reads the history."""
        started = time.monotonic()
        cols = build()
        return None if cols is None else self._fast(cols, opts, started)

    def _fast(self, cols: TxnColumns, opts: Mapping[str, Any], started: float) -> dict[str, Any] | None:
        """The general path's result for a history ``fastpath`` proves clean, else None."""
        import numpy as np

        from jepsy.checkers.elle.columns import FAIL, INFO, OK
        from jepsy.checkers.elle.fastpath import clean_list_append

        model = canonical_model(str(opts.get("consistency_model") or opts.get("consistency-model")
                                    or self.model))
        clean = clean_list_append(cols)
        if clean is None:
            return None
        types = np.bincount(cols.type, minlength=3) if len(cols) else [0, 0, 0]
        return {
            "valid": True,
            "text": _summary(True, model, [], {}, {}, []),
            "consistency_model": model,
            "anomaly_types": [],
            "anomalies": {},
            "anomaly_counts": {},
            "not": [],
            "also_not": [],
            "stats": {
                "txns": len(cols), "ok": int(types[OK]), "fail": int(types[FAIL]), "info": int(types[INFO]),
                "edges": clean["edges"], "scc_sizes": [], "cycle_search_steps": 0,
                "analysis_seconds": round(time.monotonic() - started, 3), "search_seconds": 0.0,
            },
        }

    def _check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        model = opts.get("consistency_model") or opts.get("consistency-model") or self.model
        model = canonical_model(str(model))
        txns = extract_txns(history)
        bad = sorted({f for t in txns for f, _, _ in t.mops} - _MOPS[self.workload])
        if bad:
            return {"valid": "unknown", "consistency_model": model,
                    "error": f"{self.workload} histories hold only {sorted(_MOPS[self.workload])} "
                             f"micro-ops; this one has {bad}"}
        problem = _check_values(self.workload, txns)
        if problem:
            return {"valid": "unknown", "consistency_model": model, "error": problem}
        analysis: ListAppend | RWRegister = (ListAppend(txns) if self.workload == "list-append"
                                             else RWRegister(txns))
        analysis.analyze()
        graph = Graph(len(txns))
        analysis.add_edges(graph)
        graph.add_process_order(txns)
        graph.add_realtime_order(txns)
        analysed = time.monotonic()
        budget = self.timeout
        found = search_cycles(graph, max_steps=self.max_steps, timeout=budget)
        anomalies: dict[str, list[dict[str, Any]]] = {
            k: list(v) for k, v in analysis.found.anomalies.items() if v}
        counts = dict(analysis.found.counts)
        for cyc in found.cycles:
            name = cyc.name
            counts[name] = counts.get(name, 0) + 1
            if len(anomalies.get(name, [])) < _MAX_CYCLES_PER_TYPE:
                anomalies.setdefault(name, []).append(explain_cycle(name, cyc, txns, analysis))
        if isinstance(analysis, RWRegister) and found.scc_sizes:  # no component, no causal cycle
            for cyc in search_causal(graph, timeout=budget)[:_MAX_CYCLES_PER_TYPE]:
                counts["causal-stale-read"] = counts.get("causal-stale-read", 0) + 1
                case = explain_cycle("causal-stale-read", cyc, txns, analysis)
                anomalies.setdefault("causal-stale-read", []).append(case)
        if isinstance(analysis, RWRegister) and not found.unsearched:
            forced = _forced_cycle(analysis, graph, [c.name for c in found.cycles])
            if forced is not None:
                anomalies[forced["type"]] = [forced]
        if found.unsearched:
            anomalies["cycle-search-timeout"] = [{
                "unsearched": found.unsearched, "steps": found.steps,
                "text": f"the cycle search budget ran out after {found.steps} steps; "
                        f"{len(found.unsearched)} component searches were not done, so cycles "
                        f"may remain unreported there"}]
        types = sorted(anomalies)
        real = [t for t in types if t != "cycle-search-timeout"]
        is_not, also_not = boundary(real)
        valid: bool | str
        if model in impossible_models(real):
            valid = False
        elif found.unsearched:
            valid = "unknown"
        else:
            valid = True
        return {
            "valid": valid,
            "text": _summary(valid, model, types, anomalies, counts, is_not),
            "consistency_model": model,
            "anomaly_types": types,
            "anomalies": anomalies,
            "anomaly_counts": {t: counts.get(t, 1) for t in types},
            "not": is_not,
            "also_not": also_not,
            "stats": {
                "txns": len(txns),
                "ok": sum(1 for t in txns if t.type == "ok"),
                "fail": sum(1 for t in txns if t.type == "fail"),
                "info": sum(1 for t in txns if t.type == "info"),
                "edges": graph.edge_count(),
                "scc_sizes": found.scc_sizes[:20],
                "cycle_search_steps": found.steps,
                "analysis_seconds": round(analysed - started, 3),
                "search_seconds": round(time.monotonic() - analysed, 3),
            },
        }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read_history says what is wrong with it


def _no_gc(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn`` with the cyclic garbage collector paused.

    The general path allocates millions of small, acyclic objects; the
    collector would rescan them all again and again (a third of the time at a
    million transactions) and can free none of them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return fn(*args)
    finally:
        if was_enabled:
            gc.enable()


def _forced_cycle(analysis: RWRegister, graph: Graph, found: list[str]) -> dict[str, Any] | None:
    """Whether *every* order of the unproven register versions closes a cycle.

    Level by level (data, then process, then real-time order), and only where
    the proven cycles do not already say as much: ``forced-G-single`` when
    every order closes a cycle with at most one rw edge (ruling out snapshot
    isolation at that level), else ``forced-G2`` when every order closes some
    cycle (ruling out serializability).
    """
    n = len(analysis.txns)
    if n > 600:
        return None
    suffixes = ("", "-process", "-realtime")
    masks = (DATA, PROCESS_LEVEL, REALTIME_LEVEL)
    for level, (mask, suffix) in enumerate(zip(masks, suffixes, strict=True)):
        below = {name.removesuffix("-realtime").removesuffix("-process") for name in found
                 if not any(name.endswith(s) for s in suffixes[level + 1:] if s)}
        si_broken = bool(below & {"G0", "G1c", "G-single", "G-nonadjacent"})
        ser_broken = si_broken or "G2-item" in below
        if ser_broken and si_broken:
            continue
        choices = analysis.choices(level, limit=20_000)
        if not choices:
            continue
        tests: list[tuple[str, int | None]] = [] if si_broken else [("forced-G-single", 1)]
        if not ser_broken:
            tests.append(("forced-G2", None))
        for name, max_rw in tests:
            if every_order_cyclic(graph.out, mask, choices, n, max_rw=max_rw) is not True:
                continue
            cycle = "a cycle with at most one rw edge" if max_rw == 1 else "a cycle"
            where = {"": "", "-process": " (with process order)", "-realtime": " (with real-time order)"}
            return {"type": name + suffix, "unordered_pairs": len(choices),
                    "pairs": [{"writers": [a[0][0], a[0][1]]} for a, _ in choices[:50]],
                    "text": f"the order of {len(choices)} pairs of writes to the same key is not proven, "
                            f"and every way to order them closes {cycle} in the dependency graph"
                            f"{where[suffix]}: for instance a reader saw one key from each of two "
                            f"transactions that both wrote both keys; whichever wrote last, one of "
                            f"its reads was stale"}
    return None


def _summary(valid: bool | str, model: str, types: list[str], anomalies: dict[str, list[dict[str, Any]]],
             counts: dict[str, int], is_not: list[str]) -> str:
    """A few lines for the terminal: the verdict, what was found, and the worst case explained."""
    if not types:
        return f"No anomalies: consistent with {model}."
    found = ", ".join(f"{t} ({counts.get(t, 1)})" for t in types)
    head = {True: f"Consistent with {model}, though the anomalies found rule out other models",
            False: f"Not {model}",
            "unknown": f"Could not decide {model}"}[valid if isinstance(valid, bool) else "unknown"]
    lines = [f"{head}. Found: {found}."]
    if is_not:
        lines.append(f"Rules out: {', '.join(is_not)} (and every stronger model).")
    first = next((t for t in types if t != "cycle-search-timeout"), types[0])
    lines.append(f"{first}: {anomalies[first][0]['text']}")
    return "\n".join(lines)


def _check_values(workload: str, txns: list[Txn]) -> str | None:
    """Reject values the analyses cannot use, with the op that holds one; freeze list values.

    List-append reads must be lists (or None: nothing yet); register values
    must be hashable, so a list value becomes a tuple (EDN vectors arrive as lists).
    """
    copied: set[int] = set()
    for t in txns:
        for i, (f, k, v) in enumerate(list(t.mops)):
            if workload == "list-append":
                if f == "r" and t.ok and v is not None and not isinstance(v, list):
                    return f"op {t.index}: a list-append read must return a list, not {v!r}"
            elif isinstance(v, (list, dict)):
                if t.id not in copied:  # never touch the history's own lists
                    copied.add(t.id)
                    t.mops = list(t.mops)
                t.mops[i] = (f, k, _freeze(v))
    return None


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(a), _freeze(b)) for a, b in v.items()))
    return v
