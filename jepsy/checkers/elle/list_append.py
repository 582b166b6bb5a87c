"""List-append: version orders from list prefixes, the anomalies they reveal, and edges.

Every key is a list; transactions append unique values and read whole lists.
Because each read returns the entire history of its key, every committed read
is a prefix of the key's one true version order, and the longest read *is*
that order as far as anyone saw it.  From it:

* ``ww``: the writers of consecutive elements, in order;
* ``wr``: the writer of the last element of a read, to the reader;
* ``rw``: a reader, to the writer of the element right after what it read.

One inference goes beyond Elle: a *committed* append that no read ever shows
must sit after every element anyone read (were it earlier, every read that
shows a later element would show it too).  So the writer of the last observed
element precedes it (ww), and so does every reader of the longest version
(rw).  Indeterminate (``info``) appends never read may not have happened and
give no edges.

Anomalies found without cycles: ``internal`` (a read disagrees with the
transaction's own earlier reads and appends), ``future-read`` (a read shows
an append its own transaction makes later), ``duplicate-elements``,
``incompatible-order`` (two reads that are not prefixes of one another),
``G1a`` (an aborted append was read), ``G1b`` (a read ended on an append that
its writer followed with another append to the same key), ``dirty-update``
(an aborted append followed by a committed one in the version order),
``lost-update`` (two committed transactions read the same version of a key
and both appended to it) and ``thin-air-read`` (a read shows a value no
transaction ever appended).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from jepsy.checkers.elle.findings import Findings
from jepsy.checkers.elle.graph import RW, WR, WW, Graph
from jepsy.checkers.elle.txn import Txn

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ListAppend", "external_reads"]



def _short(xs: Sequence[Any], n: int = 6) -> str:
    if len(xs) <= n:
        return "[" + " ".join(map(str, xs)) + "]"
    return "[... " + " ".join(map(str, xs[-n:])) + f"] ({len(xs)} elements)"


def external_reads(t: Txn) -> tuple[dict[Any, list[Any]], list[dict[str, Any]]]:
    """The version of each key ``t`` read from others, and its internal anomalies.

    A transaction's first read of a key, minus any of its own appends made
    before that read, is what it saw of the database.  Later reads must equal
    that plus the transaction's own appends in between; a read that shows an
    append the transaction only makes later is a future read.
    """
    if all(f == "r" for f, _, _ in t.mops):
        # Read-only, the common case: each key's first read is what it saw.
        fast: dict[Any, list[Any]] = {}
        for _, k, v in t.mops:
            read = [] if v is None else v
            if k not in fast:
                fast[k] = read
            elif read != fast[k]:
                break
        else:
            return fast, []
    seen: dict[Any, list[Any]] = {}
    state: dict[Any, list[Any]] = {}  # known full state of the key inside the txn
    own: dict[Any, list[Any]] = defaultdict(list)
    bad: list[dict[str, Any]] = []
    later_appends: dict[Any, set[Any]] = defaultdict(set)
    for f, k, v in t.mops:
        if f == "append":
            later_appends[k].add(v)
    for i, (f, k, v) in enumerate(t.mops):
        if f == "append":
            later_appends[k].discard(v)
            own[k].append(v)
            if k in state:
                state[k] = [*state[k], v]
            continue
        if f != "r":
            continue
        read = [] if v is None else list(v)
        if k in state:
            if read != state[k]:
                bad.append({"type": "internal", "key": k, "mop": i, "expected": state[k],
                            "read": read})
            state[k] = read
            continue
        mine = own.get(k, [])
        if mine and read[len(read) - len(mine):] != mine:
            bad.append({"type": "internal", "key": k, "mop": i, "expected_suffix": mine, "read": read})
            state[k] = read
            continue
        ext = read[: len(read) - len(mine)] if mine else read
        future = [x for x in ext if x in later_appends[k]]
        if future:
            bad.append({"type": "future-read", "key": k, "mop": i, "read": read, "values": future})
        seen[k] = ext
        state[k] = read
    return seen, bad


class ListAppend:
    """The list-append analysis of one history's transactions."""

    def __init__(self, txns: Sequence[Txn]) -> None:
        self.txns = txns
        self.writer: dict[tuple[Any, Any], int] = {}
        self.appends: dict[int, dict[Any, list[Any]]] = {}
        self.order: dict[Any, list[Any]] = {}  # longest read per key
        self.pos: dict[Any, dict[Any, int]] = {}
        self.unseen: dict[Any, list[tuple[Any, int]]] = {}  # committed appends never read
        self.stray: dict[Any, set[Any]] = {}  # elements seen only in reads incompatible with the order
        self.ext: dict[int, dict[Any, list[Any]]] = {}
        self.found = Findings()

    def analyze(self) -> None:
        """Build the version orders and find every anomaly that needs no cycle."""
        txns = self.txns
        dup_appends: set[tuple[Any, Any]] = set()
        for t in txns:
            per_key: dict[Any, list[Any]] = {}
            for f, k, v in t.mops:
                if f == "append":
                    if (k, v) in self.writer:
                        dup_appends.add((k, v))
                    self.writer[(k, v)] = t.id
                    per_key.setdefault(k, []).append(v)
            if per_key:
                self.appends[t.id] = per_key
        reads: dict[Any, list[tuple[int, list[Any]]]] = defaultdict(list)
        for t in txns:
            if not t.ok:
                continue
            ext, bad = external_reads(t)
            for case in bad:
                kind = case.pop("type")
                self.found.report(kind, {"txn": t.id, "op": t.index, **case,
                                    "text": _internal_text(kind, t, case)})
            if ext:
                self.ext[t.id] = ext
            for f, k, v in t.mops:
                if f == "r":
                    r = [] if v is None else v
                    if len(r) > 1 and _has_duplicates(r):
                        self.found.report("duplicate-elements", {
                            "txn": t.id, "op": t.index, "key": k, "read": list(r),
                            "text": f"T{t.id} read key {k} = {_short(r, 12)}, which holds an element twice"})
                    reads[k].append((t.id, r))
        for k, rs in reads.items():
            longest = max((r for _, r in rs), key=len)
            for tid, r in rs:
                if len(r) and longest[: len(r)] != r:
                    # Elements only such a read shows still count as read (not "unseen").
                    self.stray.setdefault(k, set()).update(r)
                    self.found.report("incompatible-order", {
                        "key": k, "txn": tid, "op": self.txns[tid].index, "read": list(r),
                        "other": list(longest),
                        "text": f"T{tid} read key {k} = {_short(r)} but another txn read {_short(longest)}; "
                                f"neither is a prefix of the other, so they come from different orders"})
            self.order[k] = longest
            self.pos[k] = {v: i for i, v in enumerate(longest)}
            for tid, r in rs:
                for v in r:
                    if (k, v) not in self.writer:
                        self.found.report("thin-air-read", {
                            "key": k, "value": v, "txn": tid, "op": self.txns[tid].index,
                            "text": f"T{tid} read key {k} = {_short(r)}, but no transaction ever "
                                    f"appended {v} to key {k}"})
                        break
        self._aborted_and_intermediate()
        self._unseen_and_dirty()
        self._lost_updates()

    def _aborted_and_intermediate(self) -> None:
        txns = self.txns
        for tid, ext in self.ext.items():
            for k, r in ext.items():
                for v in r:
                    w = self.writer.get((k, v))
                    if w is not None and txns[w].type == "fail":
                        self.found.report("G1a", {
                            "key": k, "value": v, "writer": w, "txn": tid, "op": txns[tid].index,
                            "text": f"T{tid} read key {k} = {_short(r)}, including {v}, appended by "
                                    f"T{w} (op {txns[w].index}) which aborted"})
                if r:
                    w = self.writer.get((k, r[-1]))
                    if w is not None and w != tid and txns[w].type != "fail":
                        mine = self.appends[w][k]
                        if mine[-1] != r[-1]:
                            self.found.report("G1b", {
                                "key": k, "value": r[-1], "writer": w, "txn": tid,
                                "op": txns[tid].index,
                                "text": f"T{tid} read key {k} = {_short(r)}, ending at {r[-1]}, an "
                                        f"intermediate state of T{w}, which went on to append "
                                        f"{mine[mine.index(r[-1]) + 1]}"})

    def _unseen_and_dirty(self) -> None:
        txns = self.txns
        for (k, v), w in self.writer.items():
            if txns[w].ok and v not in self.pos.get(k, ()) and v not in self.stray.get(k, ()):
                self.unseen.setdefault(k, []).append((v, w))
        for k, order in self.order.items():
            aborted: tuple[Any, int] | None = None
            for v in order:
                wv = self.writer.get((k, v))
                if wv is None:
                    continue
                if txns[wv].type == "fail":
                    aborted = aborted or (v, wv)
                elif aborted is not None:
                    self.found.report("dirty-update", {
                        "key": k, "aborted_value": aborted[0], "aborted_writer": aborted[1],
                        "value": v, "writer": wv,
                        "text": f"key {k}: T{wv} appended {v} after {aborted[0]}, which T{aborted[1]} "
                                f"appended and then aborted"})
                    break

    def _lost_updates(self) -> None:
        groups: dict[tuple[Any, int], list[int]] = defaultdict(list)
        for tid, ext in self.ext.items():
            mine = self.appends.get(tid, {})
            for k, r in ext.items():
                if k in mine and self.order[k][: len(r)] == r:
                    groups[(k, len(r))].append(tid)
        for (k, n), tids in groups.items():
            if len(tids) > 1:
                self.found.report("lost-update", {
                    "key": k, "read": self.order[k][:n], "txns": tids,
                    "text": f"{', '.join(f'T{t}' for t in tids)} all read key {k} = "
                            f"{_short(self.order[k][:n])} and all appended to it: "
                            f"all but one of those appends was lost to the others"})

    def add_edges(self, g: Graph) -> None:
        """ww, wr and rw edges between non-aborted transactions."""
        txns = self.txns

        def live(w: int | None) -> bool:
            return w is not None and txns[w].type != "fail"

        last_writer: dict[Any, int] = {}
        for k, order in self.order.items():
            prev: int | None = None
            for v in order:
                w = self.writer.get((k, v))
                if w is None or not live(w):
                    continue
                if prev is not None:
                    g.add(prev, w, WW)
                prev = w
            if prev is not None:
                last_writer[k] = prev
        for k, unseen in self.unseen.items():
            lw = last_writer.get(k)
            if lw is not None:
                for _, w in unseen:
                    g.add(lw, w, WW)
        for tid, ext in self.ext.items():
            for k, r in ext.items():
                order = self.order[k]
                if r:
                    w = self.writer.get((k, r[-1]))
                    if w is not None and live(w):
                        g.add(w, tid, WR)
                if order[: len(r)] != r:
                    continue
                nxt = None
                for v in order[len(r):]:
                    w = self.writer.get((k, v))
                    if w is not None and live(w):
                        nxt = w
                        break
                if nxt is not None:
                    g.add(tid, nxt, RW)
                else:
                    for _, w in self.unseen.get(k, ()):
                        g.add(tid, w, RW)

    def explain(self, a: int, b: int, kind: int) -> dict[str, Any]:
        """Why the edge ``a -> b`` of ``kind`` exists, as data and a sentence."""
        txns = self.txns
        if kind == WR:
            for k, r in self.ext.get(b, {}).items():
                if r and self.writer.get((k, r[-1])) == a:
                    return {"key": k, "value": r[-1], "read": list(r),
                            "text": f"T{b} read key {k} = {_short(r)}, which ends with T{a}'s "
                                    f"append of {r[-1]}, so T{a} < T{b}"}
        if kind == WW:
            for k, vs in self.appends.get(b, {}).items():
                pos = self.pos.get(k, {})
                mine = self.appends.get(a, {}).get(k)
                if not mine:
                    continue
                pairs = [(pos[y] - pos[x], x, y) for x in mine if x in pos for y in vs
                         if y in pos and pos[y] > pos[x]]
                if pairs:
                    _, va, vb = min(pairs, key=lambda p: p[0])
                else:
                    va = max(mine, key=lambda v: pos.get(v, -1))
                    vb = next((v for v in vs if v not in pos), vs[0])
                if vb in pos and va in pos and pos[va] < pos[vb]:
                    window = self.order[k][pos[va]: pos[vb] + 1]
                    shown = " ".join(map(str, window)) if len(window) <= 6 else f"{va} ... {vb}"
                    return {"key": k, "values": [va, vb],
                            "text": f"key {k} holds T{a}'s {va} before T{b}'s {vb} (its longest read "
                                    f"shows [... {shown} ...]), so T{a} < T{b}"}
                if vb not in pos and va in pos:
                    return {"key": k, "values": [va, vb],
                            "text": f"T{b} committed its append of {vb} to key {k} but no read shows it, "
                                    f"so it comes after every element ever read, including T{a}'s {va}; "
                                    f"so T{a} < T{b}"}
        if kind == RW:
            for k, r in self.ext.get(a, {}).items():
                mine = self.appends.get(b, {}).get(k)
                if not mine:
                    continue
                pos = self.pos.get(k, {})
                after = [v for v in mine if pos.get(v, -1) >= len(r)]
                vb = (min(after, key=lambda v: pos[v]) if after
                      else min(mine, key=lambda v: pos.get(v, 1 << 62)))
                if vb in pos and pos[vb] >= len(r):
                    return {"key": k, "value": vb, "read": list(r),
                            "text": f"T{a} read key {k} = {_short(r)}, without T{b}'s append of {vb} "
                                    f"which comes after it, so T{a} < T{b}"}
                if vb not in pos:
                    return {"key": k, "value": vb, "read": list(r),
                            "text": f"T{a} read key {k} = {_short(r)}, the longest version anyone read; "
                                    f"T{b}'s committed append of {vb} was never read, so it comes later, "
                                    f"and T{a} < T{b}"}
        return {"text": f"T{a} < T{b} ({txns[a].describe()} before {txns[b].describe()})"}


def _has_duplicates(xs: list[Any]) -> bool:
    try:
        return len(set(xs)) != len(xs)
    except TypeError:  # unhashable elements (lists): compare their tuple forms
        return len({tuple(x) if isinstance(x, list) else x for x in xs}) != len(xs)


def _internal_text(kind: str, t: Txn, case: dict[str, Any]) -> str:
    k = case["key"]
    read = case["read"]
    if kind == "future-read":
        return (f"T{t.id} read key {k} = {_short(read)}, which shows {case['values']}, appended by "
                f"T{t.id} itself only later in the transaction")
    if "expected" in case:
        return (f"T{t.id} read key {k} = {_short(read)}, but its own earlier reads and appends say it "
                f"must be {_short(case['expected'])}")
    return (f"T{t.id} read key {k} = {_short(read)}, which does not end with its own appends "
            f"{_short(case['expected_suffix'])}")
