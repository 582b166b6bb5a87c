"""A run's checks from its history file, for histories too large to hold (``Run.check``).

An hour of full-rate ``memory`` ops is ~30 M lines: as ``Op`` records, ~9 GB, and the
checkers' own copies on top.  ``check_run_file`` gives the run what
``check_safe(with_availability(checker)).check(history)`` would, reading the file in
chunks instead (``jepsy.checkers.chunks``), with one shared pass feeding every checker:

* ``linearizable`` (per ``[key, value]`` key): ``checkers.linear.streaming``, which
  scans the file first and then checks each key once its last line is read;
* ``stats``: counts;
* availability: each call's invoke and completion times, outcome and node in typed
  arrays (17 bytes a call), and the nemesis ops (few); then the same windows, figures
  and recoveries as ``AvailabilityChecker.check`` (its own helpers, with the per-call
  figures computed over the arrays).

It also keeps what the rest of the run needs from the history: the stats, and the
nemesis ops (the fault tally, the report's fault periods).  The report then draws the
faults and the verdicts but not the millions of ops (``report_note`` says so).

Streamed only above ``STREAM_ABOVE`` ops, and only when every checker of the workload
can be (a ``compose`` of the above): otherwise ``check_run_file`` returns None and the
run reads the history whole as before, so ordinary runs are unchanged.  The same
results as the whole-history check, but for the linearizability budgets (see
``checkers.linear.streaming``) and the time taken; a test compares the two.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jepsy.checkers import merge_valid
from jepsy.checkers.availability import AvailabilityChecker
from jepsy.checkers.linear.checker import Linearizable
from jepsy.history import Op

__all__ = ["STREAM_ABOVE", "Streamed", "check_run_file"]

# Ops (lines) from which a run's history is checked from its file: ~600 MB as Op
# records.  Below it the whole-history checks are as fast and need no second pass.
STREAM_ABOVE = 2_000_000


@dataclass
class Streamed:
    """What a streamed check gives the run in place of the history."""

    verdict: dict[str, Any]  # as check_safe(with_availability(checker)).check(history) gives
    stats: dict[str, Any]  # as stats().check(history)
    nemesis: list[Op]  # the nemesis ops, in order
    ops: int
    report_note: str


class _Stats:
    """``jepsy.checkers.stats`` as counts fed op by op."""

    def __init__(self) -> None:
        self.by_f: dict[str, dict[str, int]] = {}

    def feed(self, op: Op) -> None:
        if op.type != "invoke":
            c = self.by_f.get(op.f)
            if c is None:
                c = self.by_f[op.f] = {"ok": 0, "fail": 0, "info": 0}
            c[op.type] += 1

    def result(self) -> dict[str, Any]:
        """``stats().check(history)``'s result (tests/unit/test_streaming_check.py compares)."""
        ok, fail, info = (sum(c[t] for c in self.by_f.values()) for t in ("ok", "fail", "info"))
        return {
            "valid": True if ok else "unknown",
            "count": ok + fail + info, "ok": ok, "fail": fail, "info": info,
            "by_f": {f: dict(c) for f, c in sorted(self.by_f.items())},
            "never_ok": sorted(f for f, c in self.by_f.items() if not c["ok"]),
        }


class _Calls:
    """The availability checker's view of the client calls: invoke time, completion time
    (-1: none), ok, node index (-1: none), paired as ``history.pair_positions`` loosely
    pairs (a completion without an invoke is a call of its own)."""

    def __init__(self, nodes: Sequence[str] | None, concurrency: int | None) -> None:
        from jepsy.placement import node_of

        self.t0, self.t1 = array("q"), array("q")
        self.ok, self.node = bytearray(), array("b")
        self.open: dict[int, int] = {}
        self.nodes = list(nodes or ())
        self.index = {n: i for i, n in reversed(list(enumerate(self.nodes)))}
        self.concurrency = concurrency or 0
        self.node_of = node_of
        self.cache: dict[int, int] = {}
        self.untimed = False

    def feed(self, op: Op) -> None:
        p: int = op.process  # type: ignore[assignment]
        t = op.time
        if t is None:
            self.untimed = True
            return
        n = self.cache.get(p)
        if n is None:
            node = self.node_of(p, self.nodes, self.concurrency)
            n = self.cache[p] = -1 if node is None else self.index[node]
        if op.type == "invoke":
            self.open[p] = len(self.t0)
            self.t0.append(t)
            self.t1.append(-1)
            self.ok.append(0)
            self.node.append(n)
            return
        k = self.open.pop(p, None)
        if k is None:
            self.t0.append(t)
            self.t1.append(t)
            self.ok.append(op.type == "ok")
            self.node.append(n)
        else:
            self.t1[k] = t
            self.ok[k] = op.type == "ok"


def _availability(avail: AvailabilityChecker, calls: _Calls, nemesis: list[Op],
                  opts: Mapping[str, Any]) -> dict[str, Any]:
    """``avail.check(history)`` from the calls' arrays and the nemesis ops."""
    import numpy as np

    from jepsy.checkers import availability as av
    from jepsy.report.faults import read_faults

    nodes = avail.nodes or (list(opts["nodes"]) if opts.get("nodes") else None)
    conc = avail.concurrency or opts.get("concurrency")
    if not len(calls.t0):
        return {"valid": "unknown" if avail.expects else True, "windows": [], "recoveries": [],
                "text": "this history records no times: no availability figures"}
    order = np.argsort(np.frombuffer(calls.t0, dtype=np.int64), kind="stable")
    t0 = np.frombuffer(calls.t0, dtype=np.int64)[order]
    t1 = np.frombuffer(calls.t1, dtype=np.int64)[order]
    ok = np.frombuffer(calls.ok, dtype=np.uint8)[order].astype(bool)
    node = np.frombuffer(calls.node, dtype=np.int8)[order]
    done = t1 >= 0
    heal = next((op for op in nemesis if op.f in av._END_ALL), None)
    begin = int(t0[0])
    if heal is not None and heal.time is not None:
        before = t0 < heal.time
        horizon = min(heal.time, int(np.where(done, t1, t0)[before].max())
                      if before.any() else heal.time)
    else:
        horizon = max(int(t0.max()), int(t1[done].max()) if done.any() else 0)
    main = t0 < horizon
    if main.any():
        t0, t1, ok, node, done = t0[main], t1[main], ok[main], node[main], done[main]
    periods = [p for p in read_faults(nemesis)[0] if p.error is None]
    windows = avail._windows(periods, begin, horizon)
    grudges = av._grudges(nemesis, periods)
    cols = (t0, t1, ok, node, done)
    result_windows = [_window_result(grudges, w, cols, nodes) for w in windows]
    baseline, base_reason = _baseline(avail, windows, cols)
    heal_done = next((op for op in reversed(nemesis) if op.f in av._END_ALL), None)
    final_heal = heal_done.time if heal_done is not None and heal_done.time is not None \
        else horizon
    oks = array("q")
    oks.frombytes(np.sort(t1[ok & done]).tobytes())
    recoveries = avail._recoveries(windows, baseline, base_reason, oks, final_heal)  # type: ignore[arg-type]
    return avail._verdict(result_windows, recoveries, baseline, base_reason,
                          nodes is not None and bool(conc))


Cols = tuple[Any, Any, Any, Any, Any]  # t0, t1, ok, node, done: numpy arrays sorted by t0


def _figures(t0: Any, t1: Any, ok: Any, done: Any, seconds: float) -> dict[str, Any]:
    """``availability._figures`` over arrays."""
    import numpy as np

    n, n_ok = len(t0), int(np.count_nonzero(ok))
    m = ok & done
    lat = np.sort((t1[m] - t0[m]) / 1e6)

    def q(p: float) -> float | None:
        return round(float(lat[min(len(lat) - 1, int(p * len(lat)))]), 3) if len(lat) else None

    return {"ops": n, "ok": n_ok,
            "ok_fraction": round(n_ok / n, 4) if n else None,
            "throughput": round(n_ok / seconds, 3) if seconds > 0 else None,
            "p50_ms": q(0.5), "p99_ms": q(0.99)}


def _window_result(grudges: dict[int, dict[str, list[str]]], w: Any, cols: Cols,
                   nodes: Sequence[str] | None) -> dict[str, Any]:
    """``AvailabilityChecker._window_result`` over arrays."""
    import numpy as np

    from jepsy.checkers import availability as av

    t0, t1, ok, node, done = cols
    lo, hi = np.searchsorted(t0, w.start, "left"), np.searchsorted(t0, w.end, "left")
    t0, t1, ok, node, done = t0[lo:hi], t1[lo:hi], ok[lo:hi], node[lo:hi], done[lo:hi]
    seconds = (w.end - w.start) / 1e9
    out: dict[str, Any] = {"kind": w.kind, "start_s": av._s(w.start), "end_s": av._s(w.end),
                           "faults": [{"kind": p.kind, "targets": p.targets} for p in w.periods],
                           **_figures(t0, t1, ok, done, seconds)}
    if nodes:
        def of(members: Sequence[int]) -> dict[str, Any]:
            m = np.isin(node, members)
            return _figures(t0[m], t1[m], ok[m], done[m], seconds)

        index = {n: i for i, n in reversed(list(enumerate(nodes)))}
        out["by_node"] = {n: of([index[n]]) for n in nodes}
        grudge = next((grudges[p.start_index] for p in w.periods
                       if p.start_index in grudges), None)
        if grudge is not None:
            sides = av.sides_of(grudge, nodes)
            out["sides"] = {}
            for side in ("majority", "minority", "isolated"):
                members = [n for n in nodes if sides[n] == side]
                if members:
                    out["sides"][side] = {"nodes": members,
                                          **of(sorted({index[n] for n in members}))}
    return out


def _baseline(avail: AvailabilityChecker, windows: list[Any], cols: Cols) -> tuple[float | None, str]:
    """``AvailabilityChecker._baseline`` over arrays."""
    import numpy as np

    from jepsy.checkers import availability as av

    if not windows or windows[0].periods:
        return None, "no calm period before the first fault to take a baseline from"
    w = windows[0]
    if (w.end - w.start) / 1e9 < avail.window:
        return None, (f"the calm period before the first fault ({av._s(w.end - w.start)} s) is "
                      f"shorter than the {avail.window:g} s window")
    _, t1, ok, _, done = cols
    n = int(np.count_nonzero(ok & done & (t1 >= w.start) & (t1 < w.end)))
    if n == 0:
        return None, "no operation succeeded before the first fault: no baseline"
    return n / ((w.end - w.start) / 1e9), ""


def check_run_file(checker: Any, avail: AvailabilityChecker | None, path: str | Path,
                   count: int, opts: Mapping[str, Any],
                   stream_above: int | None = None) -> Streamed | None:
    """The run's checks of the history in ``path`` (``count`` ops), streamed; None when
    the history is small (below ``stream_above``, default ``STREAM_ABOVE``) or a checker
    of ``checker`` (the workload's) cannot be streamed: then check the history whole."""
    from jepsy.checkers.chunks import gc_paused
    from jepsy.checkers.linear import streaming as linear
    from jepsy.checkers.stats import _Stats as StatsChecker

    if count < (STREAM_ABOVE if stream_above is None else stream_above):
        return None
    parts = getattr(checker, "checkers", None)  # a compose()
    if not isinstance(parts, Mapping):
        return None
    lin: dict[str, Linearizable] = {}
    for name, c in parts.items():
        if isinstance(c, Linearizable) and linear.key_of(c.model) is not None:
            lin[name] = c
        elif not isinstance(c, StatsChecker):
            return None
    avail = avail or AvailabilityChecker()
    with gc_paused():
        return _check(parts, lin, avail, Path(path), opts)


def _check(parts: Mapping[str, Any], lin: Mapping[str, Linearizable], avail: AvailabilityChecker,
           path: Path, opts: Mapping[str, Any]) -> Streamed | None:
    from jepsy.checkers.chunks import NotStreamable, line_starts, locate_ops, read_chunks, read_lines
    from jepsy.checkers.linear import streaming as linear
    from jepsy.history import Source

    try:
        scans = {name: linear.Scan(c.model, path) for name, c in lin.items()}
        stats = _Stats()
        nodes = avail.nodes or (list(opts["nodes"]) if opts.get("nodes") else None)
        conc = avail.concurrency or opts.get("concurrency")
        calls = _Calls(nodes, conc if isinstance(conc, int) else None)
        nemesis: list[Op] = []
        source = Source(str(path))
        total = 0
        for ops in read_chunks(path, locate=False):  # pass 1: all but the keys' checks
            for scan in scans.values():
                scan.feed(ops)
            for op in ops:
                if isinstance(op.process, int):
                    stats.feed(op)
                    calls.feed(op)
                else:
                    nemesis.append(op)
            total += len(ops)
        locate_ops(nemesis, source)
        feeds = {name: linear.Feed(c, scans[name], spill_dir=path.parent)
                 for name, c in lin.items()}
        del scans
        try:
            if feeds:
                for data in read_lines(path):  # pass 2: each key checked once it is whole
                    starts = line_starts(data)
                    for feed in feeds.values():
                        feed.feed_block(data, starts)
            results: dict[str, Any] = {}
            for name in parts:
                results[name] = feeds[name].finish() if name in feeds else stats.result()
        finally:
            for feed in feeds.values():
                feed.close()
    except (NotStreamable, linear.NotSplit):
        return None
    if calls.untimed:
        return None
    composed = {"valid": merge_valid([r.get("valid") for r in results.values()]), **results}
    try:
        mine = _availability(avail, calls, nemesis, opts)
    except Exception as e:  # as with_availability: figures must not cost the run its verdict
        mine = {"valid": "unknown" if avail.expects else True,
                "error": f"{type(e).__name__}: {e}", "windows": [], "recoveries": []}
    subs = {k: v for k, v in composed.items() if k != "valid"}
    subs["availability"] = mine
    verdict = {"valid": merge_valid([v.get("valid") for v in subs.values()]), **subs}
    return Streamed(verdict=verdict, stats=stats.result(), nemesis=nemesis, ops=total,
                    report_note=(f"the history's {total} ops were checked from its file, not "
                                 "held in memory; the report draws the faults and the "
                                 "verdicts, not the operations"))
