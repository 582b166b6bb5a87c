"""Availability and recovery as a checked result: was the cluster up, and did it come back?

Run beside every workload's checkers (its result is ``checker.availability`` in
``results.json``) and by ``jepsy check HISTORY --checker availability``.  It
needs only what every history has: op times and outcomes, the nemesis ops with
their targets, and (for the split by node and side) which node each process
talked to.

**Which node a process talked to.**  Worker *i* talks to node ``nodes[i mod n]``,
and a process retired after an ``info`` continues its worker as process
``p + concurrency``; so process *p* talked to ``nodes[(p mod concurrency) mod n]``.
That needs ``nodes`` and ``concurrency``: the runner passes both; ``jepsy check``
reads them from ``test.json`` next to the history when it is there (every stored
run has one), or takes ``--opt nodes=n1,n2,... --opt concurrency=N``.  Without
them, the figures by node and side are left out and the result says so.

**Windows.**  The main phase (from the first client invoke until the last
operation invoked before the final ``heal`` completed: the time limit stops the
clients, and the heal may wait for a fault being applied; the final reads after
it are another workload and are left out) is cut at every
fault start and end into windows: ``calm`` ones and fault ones (named by the
faults in force, e.g. ``partition``).  An operation belongs to the window in
which it was invoked.  Per window, and per node and side of a partition: ``ops``
(completed: ok, fail or info; an op never completed counts as info),
``ok_fraction`` (ok / ops), ``throughput`` (ok ops per second of window) and the
latency of ok ops (``p50_ms``, ``p99_ms``, nearest rank).  A partition's grudge
gives the sides: a node whose two-way links reach more than half the cluster
(itself included) is on the ``majority`` side, a node that reaches no one is
``isolated``, any other is on a ``minority`` side.

**Recoveries: how "recovered" is decided.**  The baseline is the throughput of
ok operations in the calm window before the first fault.  After each heal (each
fault window followed by a calm one), throughput is measured over a sliding
window of ``window`` seconds (default 1 s) whose start moves in 10 ms steps from
the heal.  The cluster has recovered at the first step from which every such
window inside the next ``hold`` seconds (default 2 s) holds at least
``fraction`` (default 0.8) of the baseline's ok operations; ``recovered_after_s``
is the time from the heal to the first ok op of that first window.  Throughput
counts ok ops only: a database that answers every request with an error is not
available.  When the next fault starts, or the run ends, before that happens,
``recovered_after_s`` is null and ``reason`` says why, with ``below_for_s``, the
time it was seen not recovered (a lower bound).  A run that ends during a
fault gets a recovery entry too: its clients stopped before the final heal, so
it was never measured.

**Expectations** make the checker a judge; without them it is informational
(``valid`` true) but its figures are always there.  ``expect_recovery`` (s):
every recovery within it; a recovery not seen within the calm time available
breaks it only when that time already exceeds the bound.  ``expect_availability``
(a fraction): in every window with a partition, the ok fraction of the majority
side's operations at least this.  A broken one makes ``valid`` false with one
sentence per breach in ``broken`` (the first is ``explanation.text``); an
expectation that cannot be judged at all (no calm baseline, no node mapping)
makes it "unknown".
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jepsy.checkers._util import calls
from jepsy.errors import ConfigError
from jepsy.history import Op
from jepsy.options import Option, declare, integer, names, number
from jepsy.placement import node_of
from jepsy.report.faults import FaultPeriod, read_faults

__all__ = ["AvailabilityChecker", "availability", "mapping_from_run_dir", "parse_expectation",
           "sides_of"]

DEFAULT_FRACTION = 0.8
DEFAULT_HOLD_S = 2.0
DEFAULT_WINDOW_S = 1.0
STEP_NS = 10_000_000  # the sliding window moves in 10 ms steps
_END_ALL = frozenset({"heal", "heal-all", "reset", "stop-all"})


def parse_expectation(name: str, value: Any, *, fraction: bool = False) -> float | None:
    """An expectation given on the command line or in a matrix: None, or a checked number.

    Raises ``ConfigError`` (one line, exit 254) for text that is not a number, a
    negative or non-finite number, and (``fraction``) a number outside [0, 1].
    """
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} wants a number, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x) or x < 0:
        raise ConfigError(f"{name} wants a non-negative number, not {value!r}")
    if fraction and x > 1:
        raise ConfigError(f"{name} wants a fraction between 0 and 1, not {value!r}")
    return x


def sides_of(grudge: Mapping[str, Sequence[str]], nodes: Sequence[str]) -> dict[str, str]:
    """Each node's side of a partition: ``majority``, ``minority`` or ``isolated``.

    A link counts only when neither end drops the other (a request needs its
    answer back).  A node's side is judged from the nodes it reaches directly,
    itself included, so in a ring of overlapping majorities every node is on a
    majority side, as Jepsen's majorities-ring intends.
    """
    n = len(nodes)
    drops = {str(k): {str(x) for x in v} for k, v in grudge.items()}
    out: dict[str, str] = {}
    for a in nodes:
        reach = 1 + sum(1 for b in nodes if b != a and b not in drops.get(a, ())
                        and a not in drops.get(b, ()))
        out[a] = "majority" if reach * 2 > n else "isolated" if reach == 1 and n > 1 else "minority"
    return out


def mapping_from_run_dir(history_path: str | Path) -> dict[str, Any]:
    """``nodes`` and ``concurrency`` from the ``test.json`` next to a stored history ({} if none)."""
    path = Path(history_path).parent / "test.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict):
        return {}
    out: dict[str, Any] = {}
    nodes = info.get("nodes")
    if isinstance(nodes, list) and nodes and all(isinstance(x, str) for x in nodes):
        out["nodes"] = nodes
    options = info.get("options")
    conc = options.get("concurrency") if isinstance(options, dict) else None
    if isinstance(conc, int) and conc > 0:
        out["concurrency"] = conc
    return out


@dataclass(slots=True)
class _Op:
    t0: int
    t1: int | None
    ok: bool
    node: str | None


@dataclass
class _Window:
    start: int
    end: int
    periods: list[FaultPeriod] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "+".join(sorted({p.kind for p in self.periods})) or "calm"


def _s(ns: float) -> float:
    return round(ns / 1e9, 3)


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _figures(ops: Sequence[_Op], seconds: float) -> dict[str, Any]:
    done = len(ops)
    oks = [o for o in ops if o.ok]
    lat = sorted((o.t1 - o.t0) / 1e6 for o in oks if o.t1 is not None)

    def q(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None

    return {"ops": done, "ok": len(oks),
            "ok_fraction": round(len(oks) / done, 4) if done else None,
            "throughput": round(len(oks) / seconds, 3) if seconds > 0 else None,
            "p50_ms": q(0.5), "p99_ms": q(0.99)}


def _node_of(nodes: Sequence[str] | None, concurrency: int | None) -> Callable[[int], str | None]:
    """``jepsy.placement.node_of`` bound to this run's nodes and concurrency."""
    return lambda process: node_of(process, nodes or (), concurrency or 0)


def _silence(h: int, c: int, oks: list[int]) -> dict[str, Any]:
    """The longest time without any ok op in the calm period ``[h, c)`` after a heal (from
    the heal to the first ok op, between two, or from the last to ``c``), and where it
    began: unlike the throughput ratio, it tells an outage from a slow or noisy service."""
    lo, hi = bisect.bisect_left(oks, h), bisect.bisect_left(oks, c)
    points = [h, *oks[lo:hi], c]
    gap, at = max((b - a, a) for a, b in itertools.pairwise(points))
    return {"longest_silence_s": _s(gap), "silence_at_s": _s(at)}


def _grudges(history: Sequence[Op], periods: Sequence[FaultPeriod]) -> dict[int, dict[str, list[str]]]:
    """The grudge each partition period applied, by its request's index (the completion's
    value, which is what was done; else the request's, when it named a grudge)."""
    where = {op.index: i for i, op in enumerate(history) if not op.is_client}
    out: dict[int, dict[str, list[str]]] = {}
    for p in periods:
        i = where.get(p.start_index)
        if "partition" not in p.kind or i is None:
            continue
        req = history[i]
        value = req.value
        done = next((history[j] for j in range(i + 1, len(history)) if not history[j].is_client),
                    None)
        if done is not None and done.f == req.f and done.value is not None:
            value = done.value
        if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
            out[p.start_index] = {str(k): [str(x) for x in v] for k, v in value.items()}
    return out


class AvailabilityChecker:
    """See the module docstring; options are keyword-only and checked at construction."""

    def __init__(self, *, fraction: float = DEFAULT_FRACTION, hold: float = DEFAULT_HOLD_S,
                 window: float = DEFAULT_WINDOW_S, expect_recovery: float | None = None,
                 expect_availability: float | None = None,
                 nodes: Sequence[str] | str | None = None, concurrency: int | None = None) -> None:
        self.fraction = parse_expectation("fraction", fraction, fraction=True) or 0.0
        self.hold = parse_expectation("hold", hold) or 0.0
        self.window = parse_expectation("window", window) or 0.0
        if self.window * 1e9 < STEP_NS:
            raise ConfigError(f"window wants at least {STEP_NS / 1e9} s, not {window!r}")
        self.expect_recovery = parse_expectation("expect_recovery", expect_recovery)
        self.expect_availability = parse_expectation("expect_availability", expect_availability,
                                                     fraction=True)
        if isinstance(nodes, str):
            nodes = [n.strip() for n in nodes.split(",") if n.strip()]
        self.nodes = list(nodes) if nodes else None
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise ConfigError(f"concurrency wants a positive integer, not {concurrency!r}")
        self.concurrency = concurrency

    @property
    def expects(self) -> bool:
        return self.expect_recovery is not None or self.expect_availability is not None

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        nodes = self.nodes or (list(opts["nodes"]) if opts.get("nodes") else None)
        conc = self.concurrency or opts.get("concurrency")
        if not any(op.time is not None for op in history if op.is_client):
            return {"valid": "unknown" if self.expects else True, "windows": [], "recoveries": [],
                    "text": "this history records no times: no availability figures"}
        node_at = _node_of(nodes, conc if isinstance(conc, int) else None)
        ops = [_Op(c.invoke_time if c.invoke_time is not None else c.done_time or 0, c.done_time,
                   c.type == "ok", node_at(int((c.invoke or c.done).process)))  # type: ignore[union-attr]
               for c in calls(history)]
        ops.sort(key=lambda o: o.t0)
        if not ops:
            return {"valid": "unknown" if self.expects else True, "windows": [], "recoveries": [],
                    "text": "no client operations: no availability figures"}
        heal = next((op for op in history if not op.is_client and op.f in _END_ALL), None)
        begin = ops[0].t0
        if heal is not None and heal.time is not None:
            # The time limit stops the clients; the heal comes after any fault being applied
            # has landed, which may take a while.  Between the two nobody asks anything, and
            # that is no outage: the main phase ends when its last operation completed.
            horizon = min(heal.time, max((o.t1 if o.t1 is not None else o.t0 for o in ops
                                          if o.t0 < heal.time), default=heal.time))
        else:
            horizon = max(max(o.t0 for o in ops),
                          max((o.t1 for o in ops if o.t1 is not None), default=0))
        main = [o for o in ops if o.t0 < horizon] or ops
        periods = [p for p in read_faults(history)[0] if p.error is None]
        windows = self._windows(periods, begin, horizon)
        grudges = _grudges(history, periods)
        result_windows = [self._window_result(grudges, w, main, nodes) for w in windows]
        baseline, base_reason = self._baseline(windows, main)
        heal_done = next((op for op in reversed(history) if not op.is_client and op.f in _END_ALL),
                         None)
        final_heal = heal_done.time if heal_done is not None and heal_done.time is not None \
            else horizon
        oks = sorted(o.t1 for o in main if o.ok and o.t1 is not None)
        recoveries = self._recoveries(windows, baseline, base_reason, oks, final_heal)
        return self._verdict(result_windows, recoveries, baseline, base_reason, nodes is not None
                             and bool(conc))

    # ---- windows -------------------------------------------------------------

    def _windows(self, periods: list[FaultPeriod], begin: int, horizon: int) -> list[_Window]:
        cuts = {begin, horizon}
        for p in periods:
            for t in (p.start, p.end if p.end is not None else horizon):
                if begin < t < horizon:
                    cuts.add(t)
        edges = sorted(cuts)
        out: list[_Window] = []
        for a, b in itertools.pairwise(edges):
            active = [p for p in periods if p.start <= a and (p.end is None or p.end >= b)]
            if out and {id(p) for p in out[-1].periods} == {id(p) for p in active}:
                out[-1].end = b
            else:
                out.append(_Window(a, b, active))
        return out

    def _window_result(self, grudges: dict[int, dict[str, list[str]]], w: _Window, ops: Sequence[_Op],
                       nodes: Sequence[str] | None) -> dict[str, Any]:
        lo = bisect.bisect_left(ops, w.start, key=lambda o: o.t0)
        hi = bisect.bisect_left(ops, w.end, key=lambda o: o.t0)
        inside = ops[lo:hi]
        seconds = (w.end - w.start) / 1e9
        out: dict[str, Any] = {"kind": w.kind, "start_s": _s(w.start), "end_s": _s(w.end),
                               "faults": [{"kind": p.kind, "targets": p.targets} for p in w.periods],
                               **_figures(inside, seconds)}
        if nodes:
            by_node = {n: [o for o in inside if o.node == n] for n in nodes}
            out["by_node"] = {n: _figures(v, seconds) for n, v in by_node.items()}
            grudge = next((grudges[p.start_index] for p in w.periods
                           if p.start_index in grudges), None)
            if grudge is not None:
                sides = sides_of(grudge, nodes)
                out["sides"] = {}
                for side in ("majority", "minority", "isolated"):
                    members = [n for n in nodes if sides[n] == side]
                    if members:
                        out["sides"][side] = {"nodes": members, **_figures(
                            [o for n in members for o in by_node[n]], seconds)}
        return out

    # ---- recoveries ----------------------------------------------------------

    def _baseline(self, windows: list[_Window], ops: Sequence[_Op]) -> tuple[float | None, str]:
        if not windows or windows[0].periods:
            return None, "no calm period before the first fault to take a baseline from"
        w = windows[0]
        if (w.end - w.start) / 1e9 < self.window:
            return None, (f"the calm period before the first fault ({_s(w.end - w.start)} s) is "
                          f"shorter than the {self.window:g} s window")
        n = sum(1 for o in ops if o.ok and o.t1 is not None and w.start <= o.t1 < w.end)
        if n == 0:
            return None, "no operation succeeded before the first fault: no baseline"
        return n / ((w.end - w.start) / 1e9), ""

    def _recoveries(self, windows: list[_Window], baseline: float | None, base_reason: str,
                    oks: list[int], final_heal: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, w in enumerate(windows):
            if not w.periods:
                continue
            healed = sorted({p.kind for p in w.periods})
            if i + 1 == len(windows):  # the run ended during this fault
                out.append({"heal_at_s": _s(final_heal), "healed": healed, "recovered_after_s": None,
                            "recovered_at_s": None, "below_for_s": 0.0, "censored": "end",
                            "reason": "the run ended during the fault: the clients stopped "
                                      "before the final heal, so recovery was not measured"})
                continue
            calm = windows[i + 1]
            if calm.periods:  # one fault ended while another went on: not a heal
                continue
            h, c = calm.start, calm.end
            entry: dict[str, Any] = {"heal_at_s": _s(h), "healed": healed}
            if baseline is None:
                entry.update(recovered_after_s=None, recovered_at_s=None, below_for_s=None,
                             censored="baseline", reason=base_reason)
            else:
                entry.update(self._recover(h, c, baseline, oks, last=i + 2 == len(windows)))
            entry.update(_silence(h, c, oks))
            out.append(entry)
        return out

    def _recover(self, h: int, c: int, baseline: float, oks: list[int], last: bool) -> dict[str, Any]:
        """The recovery after the heal at ``h`` within the calm period that ends at ``c``,
        and any relapse after it: a later window below the threshold, from the last ok op
        of the window before it (the last that held) until the first ok op of the window
        from which it holds again (for ``hold`` seconds, as after a heal).  A shortfall
        whose end comes before that start is shorter than the windows can place, and
        is not reported."""
        w_ns = round(self.window * 1e9)
        hold_ns = max(round(self.hold * 1e9), w_ns)
        # ok ops a window must hold (a hair under, so that 0.8 x 100 counts 80 as enough)
        need = self.fraction * baseline * self.window - 1e-9
        steps = (hold_ns - w_ns) // STEP_NS  # further windows inside the hold
        kmax = (c - w_ns - h) // STEP_NS  # the last window start that ends by c

        def count(k: int) -> tuple[int, int]:
            u = h + k * STEP_NS
            return bisect.bisect_left(oks, u), bisect.bisect_left(oks, u + w_ns)

        def passes(k: int) -> bool:
            lo, hi = count(k)
            return hi - lo >= need

        def first_ok(k: int) -> int:
            lo, hi = count(k)
            return oks[lo] if need > 0 and lo < hi else h + k * STEP_NS

        def recover_from(k0: int) -> int | None:
            run, k = 0, k0
            while k <= kmax:
                run = run + 1 if passes(k) else 0
                if run == steps + 1:
                    return k - steps
                k += 1
            return None

        until = "the run ended" if last else "the next fault began"
        kr = recover_from(0)
        if kr is None:
            return {"recovered_after_s": None, "recovered_at_s": None, "below_for_s": _s(c - h),
                    "censored": "end" if last else "next-fault", "relapses": [],
                    "reason": (f"throughput did not hold {_pct(self.fraction)} of its baseline "
                               f"({baseline:.1f} ok ops/s) for {self.hold:g} s before {until} "
                               f"{_s(c - h):g} s after the heal")}
        at = first_ok(kr)
        relapses: list[dict[str, Any]] = []
        k = kr + steps + 1
        while k <= kmax and len(relapses) < 20:
            if passes(k):
                k += 1
                continue
            lo, hi = count(k - 1)  # the last window that held: its last ok op
            start = oks[hi - 1] if hi > lo else h + k * STEP_NS
            back = recover_from(k)
            end = first_ok(back) if back is not None else c
            if end > start:  # else a shortfall shorter than the windows can place
                relapses.append({"at_s": _s(start), "below_for_s": _s(end - start),
                                 "censored": None if back is not None else
                                 "end" if last else "next-fault"})
            if back is None:
                break
            k = back + steps + 1
        return {"recovered_after_s": _s(at - h), "recovered_at_s": _s(at),
                "below_for_s": _s(at - h), "censored": None, "relapses": relapses}

    # ---- verdict -------------------------------------------------------------

    def _verdict(self, windows: list[dict[str, Any]], recoveries: list[dict[str, Any]],
                 baseline: float | None, base_reason: str, mapped: bool) -> dict[str, Any]:
        broken: list[str] = []
        undecided: list[str] = []
        base_text = f"{_pct(self.fraction)} of its baseline ({baseline or 0:.1f} ok ops/s)"
        if self.expect_recovery is not None:
            bound = self.expect_recovery
            for r in recoveries:
                after, below = r["recovered_after_s"], r.get("below_for_s")
                if after is not None and after > bound:
                    broken.append(f"after the heal at {r['heal_at_s']:g} s, throughput stayed "
                                  f"below {base_text} for {after:g} s (expected at most {bound:g} s)")
                elif after is None and below is not None and below > bound:
                    broken.append(f"after the heal at {r['heal_at_s']:g} s, throughput stayed "
                                  f"below {base_text} for at least {below:g} s, until "
                                  f"{'the run ended' if r['censored'] == 'end' else 'the next fault'}"
                                  f" (expected at most {bound:g} s)")
                for lapse in r.get("relapses") or []:
                    if lapse["below_for_s"] > bound:
                        broken.append(
                            f"after the heal at {r['heal_at_s']:g} s, throughput was back after "
                            f"{after:g} s but fell below {base_text} again at {lapse['at_s']:g} s "
                            f"for {'at least ' if lapse['censored'] else ''}"
                            f"{lapse['below_for_s']:g} s (expected at most {bound:g} s)")
                if after is None and not (below is not None and below > bound):
                    undecided.append(f"recovery after the heal at {r['heal_at_s']:g} s: {r['reason']}")
        if self.expect_availability is not None:
            if not mapped and any(w["faults"] for w in windows):
                undecided.append("availability by side needs the node of each process "
                                 "(nodes and concurrency)")
            for w in windows:
                major = (w.get("sides") or {}).get("majority")
                if not major or major["ok_fraction"] is None:
                    continue
                if major["ok_fraction"] < self.expect_availability:
                    broken.append(
                        f"in the {w['kind']} window {w['start_s']:g}–{w['end_s']:g} s, the majority "
                        f"side ({', '.join(major['nodes'])}) had {_pct(major['ok_fraction'])} of its "
                        f"{major['ops']} operations ok (expected at least "
                        f"{_pct(self.expect_availability)})")
        judged = [r for r in recoveries if r["recovered_after_s"] is not None]
        unjudgeable = (self.expect_recovery is not None and baseline is None and recoveries) or \
            (self.expect_availability is not None and not mapped and any(w["faults"] for w in windows))
        valid: bool | str = False if broken else "unknown" if unjudgeable else True
        afters = [r["recovered_after_s"] for r in judged]
        worst = max(judged, key=lambda r: r["recovered_after_s"], default=None)
        lapses = [(r, x) for r in judged for x in r.get("relapses") or []]
        parts = [f"baseline {baseline:.1f} ok ops/s" if baseline is not None else base_reason]
        heals = [r for r in recoveries if r.get("censored") != "end" or r.get("below_for_s")]
        if heals:
            span = f"{min(afters):g}–{max(afters):g} s" if afters and min(afters) != max(afters) \
                else f"{afters[0]:g} s" if afters else ""
            parts.append(f"{len(heals)} heal{'s' if len(heals) > 1 else ''}: "
                         + (f"{len(afters)} recovered after {span}" if afters else "none recovered"))
            if worst is not None and min(afters) != max(afters):
                parts[-1] += f" (worst after the heal at {worst['heal_at_s']:g} s)"
            missed = [r for r in heals if r["recovered_after_s"] is None]
            if missed:
                parts.append(f"{len(missed)} not recovered within the calm time that followed "
                             f"(up to {max(r.get('below_for_s') or 0 for r in missed):g} s)")
            if lapses:
                r, x = max(lapses, key=lambda p: p[1]["below_for_s"])
                parts.append(f"{len(lapses)} relapse{'s' if len(lapses) > 1 else ''} after "
                             f"recovering (longest: {x['below_for_s']:g} s from {x['at_s']:g} s, "
                             f"after the heal at {r['heal_at_s']:g} s)")
        silences = [r for r in recoveries if r.get("longest_silence_s")]
        if silences:
            r = max(silences, key=lambda r: r["longest_silence_s"])
            parts.append(f"longest time without an ok op after a heal: {r['longest_silence_s']:g} s "
                         f"(from {r['silence_at_s']:g} s)")
        majority = [w["sides"]["majority"]["ok_fraction"] for w in windows
                    if (w.get("sides") or {}).get("majority", {}).get("ok_fraction") is not None]
        if majority:
            parts.append(f"majority side ok {_pct(min(majority))}–{_pct(max(majority))} in "
                         f"partition windows")
        if not any(w["faults"] for w in windows):
            parts.append("no faults in this run")
        if not mapped:
            parts.append("no node mapping: figures by node and side left out")
        out: dict[str, Any] = {
            "valid": valid, "text": "; ".join(parts),
            "settings": {"fraction": self.fraction, "hold_s": self.hold, "window_s": self.window,
                         "step_s": STEP_NS / 1e9, "expect_recovery_s": self.expect_recovery,
                         "expect_availability": self.expect_availability},
            "baseline_throughput": round(baseline, 3) if baseline is not None else None,
            "worst_recovery_s": max(afters) if afters else None,
            # the longest time below the threshold after any heal: recovery or relapse
            "longest_below_s": max([*afters, *(x["below_for_s"] for _, x in lapses)], default=None),
            "longest_silence_s": max((r["longest_silence_s"] for r in silences), default=None),
            "not_recovered": sum(1 for r in heals if r["recovered_after_s"] is None),
            "windows": windows, "recoveries": recoveries,
        }
        if broken:
            out["broken"] = broken
            out["explanation"] = {"text": broken[0][0].upper() + broken[0][1:] + "."}
        if undecided:
            out["undecided"] = undecided
        return out


def _fraction(value: Any) -> float:
    x = number(value)
    if not 0 <= x <= 1:
        raise ValueError("expected a fraction between 0 and 1")
    return x


def _seconds(value: Any) -> float:
    x = number(value)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError("expected a non-negative number of seconds")
    return x


@declare(
    Option("fraction", DEFAULT_FRACTION, "share of the baseline throughput that counts as "
           "recovered", parse=_fraction),
    Option("hold", DEFAULT_HOLD_S, "seconds throughput must stay there", parse=_seconds),
    Option("window", DEFAULT_WINDOW_S, "seconds of the sliding throughput window", parse=_seconds),
    Option("expect_recovery", None, "seconds within which every heal must be recovered from",
           parse=_seconds),
    Option("expect_availability", None, "least ok fraction of a majority side in a partition",
           parse=_fraction),
    Option("nodes", None, "node names in order (default: from test.json next to the history)",
           parse=names),
    Option("concurrency", None, "client workers of the run (default: from test.json)",
           parse=integer),
)
def availability(**opts: Any) -> AvailabilityChecker:
    """The registry's factory (``jepsy check --checker availability --opt fraction=0.9``)."""
    return AvailabilityChecker(**opts)


class _Beside:
    """A workload's composed checker with the availability checker beside it."""

    def __init__(self, checker: Any, avail: AvailabilityChecker) -> None:
        self.checker, self.avail = checker, avail

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        from jepsy.checkers import merge_valid

        result = dict(self.checker.check(history, opts))
        try:
            mine = self.avail.check(history, opts)
        except Exception as e:  # informational figures must not cost the run its verdict
            mine = {"valid": "unknown" if self.avail.expects else True,
                    "error": f"{type(e).__name__}: {e}", "windows": [], "recoveries": []}
        subs = {k: v for k, v in result.items() if k != "valid"}
        if not (subs and all(isinstance(v, dict) and "valid" in v for v in subs.values())):
            subs = {"workload": result}  # a single checker's result: name it
        subs["availability"] = mine
        return {"valid": merge_valid([v.get("valid") for v in subs.values()]), **subs}


def with_availability(checker: Any, avail: AvailabilityChecker | None = None) -> Any:
    """``checker`` (a workload's) whose result also holds ``availability`` (``avail``, or one
    with the defaults and no expectation).  A crash of the availability checker is an
    ``error`` in its result, and "unknown" only when an expectation was given."""
    return _Beside(checker, avail or AvailabilityChecker())
