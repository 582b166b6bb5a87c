"""Read-write registers: the version orders that can be proven, anomalies, and edges.

A register read returns one value, not a history, so unlike list-append the
version order of a key must be pieced together.  Writers use unique values
per key (the workload's contract), so a read names its writer.  We prove
``v1 < v2`` on a key from:

* the initial state: ``None`` (never written) precedes every write;
* writes follow reads, inside one transaction: it read ``v1`` from another
  transaction, then wrote ``v2``;
* process (session) order: a process saw ``v1`` (read or wrote it) and in a
  later transaction read or wrote ``v2``.  Such facts hold only for models
  with session guarantees, so their edges are marked ``WW_P`` / ``RW_P`` and
  any cycle that needs them is named as a ``-process`` anomaly;
* real-time order: the write of ``v1`` completed before a transaction that
  read or wrote ``v2`` began (it must see ``v1`` or later).  For strict
  models only: ``WW_R`` / ``RW_R``, ``-realtime`` anomalies.  To stay linear
  we use, per key and transaction, the latest write completed before it
  began; any completed write would do, so this is sound, if not complete.

From ``v1 < v2``: ``ww`` from the writer of v1 to the writer of v2, and
``rw`` from every reader of v1 to the writer of v2 (v2 need not be the very
next version: the path through the versions between has the same single rw
edge, so the shortcut changes no classification).  Readers of the initial
state get ``rw`` edges only to the first writes proven, to stay linear.

Only committed writes, and indeterminate ones somebody read, are versions:
an ``info`` write nobody saw may never have happened.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from jepsy.checkers.elle.findings import Findings
from jepsy.checkers.elle.graph import RW, RW_P, RW_R, WR, WW, WW_P, WW_R, Graph
from jepsy.checkers.elle.txn import Txn

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["RWRegister"]

DATA_FACT, PROCESS_FACT, REALTIME_FACT = 0, 1, 2
_WW_KIND = (WW, WW_P, WW_R)
_RW_KIND = (RW, RW_P, RW_R)



class RWRegister:
    """The rw-register analysis of one history's transactions."""

    def __init__(self, txns: Sequence[Txn]) -> None:
        self.txns = txns
        self.writer: dict[tuple[Any, Any], int] = {}
        self.final: dict[int, dict[Any, Any]] = {}  # txn -> key -> its last write
        self.ext: dict[int, dict[Any, Any]] = {}  # txn -> key -> value read from others
        self.readers: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        # key -> (v1, v2) -> (what proves it: DATA_FACT, PROCESS_FACT or REALTIME_FACT, reason)
        self.cons: dict[Any, dict[tuple[Any, Any], tuple[int, str]]] = defaultdict(dict)
        self.found = Findings()

    def analyze(self) -> None:
        """Index the writes, scan committed transactions, collect version facts and lost updates."""
        txns = self.txns
        for t in txns:
            fin: dict[Any, Any] = {}
            for f, k, v in t.mops:
                if f == "w":
                    self.writer[(k, v)] = t.id
                    fin[k] = v
            if fin:
                self.final[t.id] = fin
        for t in txns:
            if t.ok:
                self._scan(t)
        self._version_facts()
        self._lost_updates()

    def _scan(self, t: Txn) -> None:
        """Internal consistency, future reads, and what the txn read from others."""
        known: dict[Any, Any] = {}
        ext: dict[Any, Any] = {}
        for i, (f, k, v) in enumerate(t.mops):
            if f == "w":
                known[k] = v
                continue
            if f != "r":
                continue
            if k in known:
                if v != known[k]:
                    self.found.report("internal", {
                        "txn": t.id, "op": t.index, "key": k, "mop": i, "expected": known[k], "read": v,
                        "text": f"T{t.id} read key {k} = {v}, but its own earlier read or write "
                                f"says it must be {known[k]}"})
                continue
            known[k] = v
            ext[k] = v
            if v is None:
                self.readers[(k, None)].append(t.id)
                continue
            w = self.writer.get((k, v))
            if w == t.id:
                self.found.report("future-read", {
                    "txn": t.id, "op": t.index, "key": k, "mop": i, "read": v,
                    "text": f"T{t.id} read key {k} = {v}, a value it only writes later itself"})
                continue
            self.readers[(k, v)].append(t.id)
            if w is None:
                self.found.report("thin-air-read", {
                    "txn": t.id, "op": t.index, "key": k, "value": v,
                    "text": f"T{t.id} read key {k} = {v}, but no transaction ever wrote {v} to key {k}"})
            elif self.txns[w].type == "fail":
                self.found.report("G1a", {
                    "txn": t.id, "op": t.index, "key": k, "value": v, "writer": w,
                    "text": f"T{t.id} read key {k} = {v}, written by T{w} (op {self.txns[w].index}) "
                            f"which aborted"})
            elif self.final[w][k] != v:
                self.found.report("G1b", {
                    "txn": t.id, "op": t.index, "key": k, "value": v, "writer": w,
                    "text": f"T{t.id} read key {k} = {v}, an intermediate value of T{w}, which "
                            f"went on to write {self.final[w][k]}"})
        if ext:
            self.ext[t.id] = ext

    def _is_version(self, k: Any, v: Any) -> bool:
        w = self.writer.get((k, v))
        if w is None or self.final[w].get(k) != v:
            return False
        typ = self.txns[w].type
        return typ == "ok" or (typ == "info" and (k, v) in self.readers)

    def _fact(self, k: Any, v1: Any, v2: Any, level: int, reason: str) -> None:
        if v1 == v2 or not self._is_version(k, v2):
            return
        if v1 is not None and not self._is_version(k, v1):
            return
        old = self.cons[k].get((v1, v2))
        if old is None or level < old[0]:
            self.cons[k][(v1, v2)] = (level, reason)

    def _version_facts(self) -> None:
        """Collect every ``v1 < v2`` we can prove, per key, with the reason."""
        txns = self.txns
        for tid, ext in self.ext.items():
            fin = self.final.get(tid, {})
            for k, v in ext.items():
                if k in fin and v is not None:
                    self._fact(k, v, fin[k], DATA_FACT,
                               f"T{tid} read key {k} = {v} and then wrote {fin[k]}")
        seen: dict[int | str, dict[Any, tuple[Any, int]]] = defaultdict(dict)
        for t in txns:
            if not t.ok:
                continue
            mine = seen[t.process]
            ext = self.ext.get(t.id, {})
            fin = self.final.get(t.id, {})
            for k, v in ext.items():
                prev = mine.get(k)
                if prev is not None and prev[0] != v:
                    if v is None:
                        # A later read of the initial state: it must precede prev's writer.
                        self._fact(k, None, prev[0], PROCESS_FACT,
                                   f"T{prev[1]} saw {k} = {prev[0]} before T{t.id} read the initial state "
                                   f"on the same process")
                    else:
                        self._fact(k, prev[0], v, PROCESS_FACT,
                                   f"process {t.process} saw key {k} = {prev[0]} (T{prev[1]}) before "
                                   f"it read {v} (T{t.id})")
            for k, v in fin.items():
                prev = mine.get(k)
                if prev is not None and prev[0] is not None and prev[0] != v and k not in ext:
                    self._fact(k, prev[0], v, PROCESS_FACT,
                               f"process {t.process} saw key {k} = {prev[0]} (T{prev[1]}) before "
                               f"T{t.id} wrote {v}")
            for k, v in ext.items():
                mine[k] = (v, t.id)
            for k, v in fin.items():
                mine[k] = (v, t.id)
        self._realtime_facts()

    def _realtime_facts(self) -> None:
        """``v1 < v2`` when v1's write completed before a txn reading or writing v2 began."""
        txns = self.txns
        done: dict[Any, list[tuple[int, Any, int]]] = defaultdict(list)  # key -> (completed, v, txn)
        for tid, fin in self.final.items():
            t = txns[tid]
            if t.ok and t.complete_time is not None:
                for k, v in fin.items():
                    done[k].append((t.complete_time, v, tid))
        if not done:
            return
        times: dict[Any, list[int]] = {}
        for k, ws in done.items():
            ws.sort(key=lambda w: w[0])
            times[k] = [w[0] for w in ws]
        for t in txns:
            if not t.ok or t.invoke_time is None:
                continue
            for verb, seen in (("read", self.ext.get(t.id, {})), ("wrote", self.final.get(t.id, {}))):
                for k, v in seen.items():
                    if v is None or k not in times:
                        continue
                    i = bisect_left(times[k], t.invoke_time) - 1
                    if i < 0:
                        continue
                    _, v1, w = done[k][i]
                    if w != t.id and v1 != v:
                        self._fact(k, v1, v, REALTIME_FACT,
                                   f"T{w} completed its write of {k} = {v1} before T{t.id} began, "
                                   f"and T{t.id} {verb} {v}")

    def _lost_updates(self) -> None:
        groups: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        for tid, ext in self.ext.items():
            fin = self.final.get(tid, {})
            for k, v in ext.items():
                if k in fin:
                    groups[(k, v)].append(tid)
        for (k, v), tids in groups.items():
            if len(tids) > 1:
                self.found.report("lost-update", {
                    "key": k, "read": v, "txns": tids,
                    "text": f"{', '.join(f'T{t}' for t in tids)} all read key {k} = {v} and all wrote "
                            f"key {k}: all but one of those writes was lost"})

    def add_edges(self, g: Graph) -> None:
        """wr from each writer to its readers; ww and rw from every proven ``v1 < v2``."""
        txns = self.txns
        for (k, v), rs in self.readers.items():
            if v is None:
                continue
            w = self.writer.get((k, v))
            if w is not None and txns[w].type != "fail":
                for r in rs:
                    g.add(w, r, WR)
        versions: dict[Any, list[Any]] = defaultdict(list)
        for (k, v) in self.writer:
            if self._is_version(k, v):
                versions[k].append(v)
        for k in set(self.cons) | set(versions):
            cons = self.cons.get(k, {})
            has_data_pred = {v2 for (v1, v2), (lv, _) in cons.items() if v1 is not None and lv == DATA_FACT}
            for (v1, v2), (lv, _) in cons.items():
                w2 = self.writer[(k, v2)]
                if v1 is not None:
                    g.add(self.writer[(k, v1)], w2, _WW_KIND[lv])
                for r in self.readers.get((k, v1), ()):
                    g.add(r, w2, _RW_KIND[lv])
            init_readers = self.readers.get((k, None), [])
            if init_readers:
                for v in versions.get(k, ()):
                    if v not in has_data_pred:
                        w = self.writer[(k, v)]
                        for r in init_readers:
                            g.add(r, w, RW)

    def explain(self, a: int, b: int, kind: int) -> dict[str, Any]:
        """Why the edge ``a -> b`` of ``kind`` exists: the read, or the fact ordering two versions."""
        txns = self.txns
        if kind == WR:
            for k, v in self.ext.get(b, {}).items():
                if v is not None and self.writer.get((k, v)) == a:
                    return {"key": k, "value": v,
                            "text": f"T{b} read key {k} = {v}, written by T{a}, so T{a} < T{b}"}
        if kind in _WW_KIND:
            for k, v2 in self.final.get(b, {}).items():
                v1 = self.final.get(a, {}).get(k)
                fact = self.cons.get(k, {}).get((v1, v2))
                if v1 is not None and fact is not None:
                    return {"key": k, "values": [v1, v2], "text":
                            f"T{a} wrote key {k} = {v1} and T{b} wrote {v2}, and {v1} < {v2} because "
                            f"{fact[1]}; so T{a} < T{b}"}
        if kind in _RW_KIND:
            for k, v1 in self.ext.get(a, {}).items():
                v2 = self.final.get(b, {}).get(k)
                if v2 is None:
                    continue
                fact = self.cons.get(k, {}).get((v1, v2))
                if v1 is None and fact is None:
                    return {"key": k, "values": [None, v2], "text":
                            f"T{a} read key {k} in its initial state, before T{b}'s write of {v2}, "
                            f"so T{a} < T{b}"}
                if fact is not None:
                    return {"key": k, "values": [v1, v2], "text":
                            f"T{a} read key {k} = {v1}, which precedes T{b}'s write of {v2} because "
                            f"{fact[1]}; so T{a} < T{b}"}
        return {"text": f"T{a} < T{b} ({txns[a].describe()} before {txns[b].describe()})"}

    def choices(self, level: int, limit: int = 40) -> list[tuple[list[tuple[int, int]],
                                                                 list[tuple[int, int]]]] | None:
        """For each pair of read versions of a key in no proven order, the edges of both orders.

        ``level`` admits facts proven up to it (``DATA_FACT``, ``PROCESS_FACT``,
        ``REALTIME_FACT``).  None when there are more than ``limit`` such pairs.
        """
        out: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
        versions: dict[Any, list[Any]] = defaultdict(list)
        for (k, v) in self.writer:
            if self._is_version(k, v):
                versions[k].append(v)
        for k, vs in versions.items():
            after: dict[Any, set[Any]] = defaultdict(set)
            for (v1, v2), (lv, _) in self.cons.get(k, {}).items():
                if v1 is not None and lv <= level:
                    after[v1].add(v2)
            closed = {v: _reach(after, v) for v in vs}
            for i, v1 in enumerate(vs):
                for v2 in vs[i + 1:]:
                    if v2 in closed[v1] or v1 in closed[v2]:
                        continue
                    if not self.readers.get((k, v1)) and not self.readers.get((k, v2)):
                        continue
                    w1, w2 = self.writer[(k, v1)], self.writer[(k, v2)]
                    fwd = [(w1, w2)] + [(r, w2) for r in self.readers.get((k, v1), ())]
                    back = [(w2, w1)] + [(r, w1) for r in self.readers.get((k, v2), ())]
                    out.append((fwd, back))
                    if len(out) > limit:
                        return None
        return out


def _reach(after: dict[Any, set[Any]], v: Any) -> set[Any]:
    seen: set[Any] = set()
    todo = list(after.get(v, ()))
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(after.get(x, ()))
    return seen
