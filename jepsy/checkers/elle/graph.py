"""The dependency graph between transactions: edges with kinds, orders, components.

Nodes ``0..n-1`` are transactions (``Txn.id``).  An edge ``a -> b`` means "a
must come before b in any order the checked model allows", and carries a bit
mask of the reasons it exists:

* ``WW``, ``WR``, ``RW``: Adya's write-write, write-read and read-write
  (anti-)dependencies, proven from the values alone.
* ``WW_P``, ``RW_P``: the same, but proven only with the help of process
  (session) order, e.g. a register version order learnt because one session
  wrote 1 and later 2.  A cycle that needs such an edge is a ``-process``
  anomaly, like one through a ``PROCESS`` edge.
* ``WW_R``, ``RW_R``: the same, proven only with real-time order (a write
  that completed before another began precedes it, under strict models).
* ``PROCESS``: the two transactions ran on one process, in that order.
* ``REALTIME``: the first completed before the second began.

Real-time order is an interval order with up to n * concurrency edges; rather
than store them, we add one auxiliary *time point* node per completion,
chained in time order: ``T -> point(T's completion) -> ... -> point(last
completion before U's invoke) -> U``.  A path through points is exactly one
real-time edge; ``Graph.is_point`` tells them apart and the cycle search
collapses them (see ``cycles.py``).  Completions with no invoke between them
share one point, which about halves the points.  This keeps the graph linear in the
history, which is what makes a million transactions fit in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from jepsy.checkers.elle.txn import Txn

__all__ = [
    "DATA",
    "PROCESS",
    "PROCESS_LEVEL",
    "REALTIME",
    "REALTIME_LEVEL",
    "RW",
    "RW_P",
    "RW_R",
    "WR",
    "WW",
    "WW_P",
    "WW_R",
    "Graph",
    "sccs",
]

WW = 1
WR = 2
RW = 4
WW_P = 8
RW_P = 16
PROCESS = 32
REALTIME = 64
WW_R = 128
RW_R = 256

DATA = WW | WR | RW
PROCESS_LEVEL = DATA | WW_P | RW_P | PROCESS
REALTIME_LEVEL = PROCESS_LEVEL | REALTIME | WW_R | RW_R
RW_ANY = RW | RW_P | RW_R

KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", WW_P: "ww", RW_P: "rw", WW_R: "ww", RW_R: "rw",
              PROCESS: "process",
              REALTIME: "realtime"}


class Graph:
    """Adjacency maps ``out[a] = {b: mask}`` over transactions and time points."""

    __slots__ = ("n", "out", "points")

    def __init__(self, n: int) -> None:
        self.n = n
        self.points = 0
        self.out: list[dict[int, int]] = [{} for _ in range(n)]

    def add(self, a: int, b: int, kind: int) -> None:
        """Add ``a -> b`` with ``kind``; self-edges carry no order and are dropped."""
        if a != b:
            d = self.out[a]
            d[b] = d.get(b, 0) | kind

    def add_point(self) -> int:
        """A new time point node (see the module docstring); returns its number."""
        self.out.append({})
        self.points += 1
        return len(self.out) - 1

    def is_point(self, v: int) -> bool:
        return v >= self.n

    def edge_count(self) -> int:
        return sum(len(d) for d in self.out)

    def add_process_order(self, txns: Sequence[Txn]) -> None:
        """Consecutive transactions of one process, aborted ones excluded."""
        last: dict[int | str, int] = {}
        for t in txns:
            if t.type == "fail":
                continue
            prev = last.get(t.process)
            if prev is not None:
                self.add(prev, t.id, PROCESS)
            last[t.process] = t.id

    def add_realtime_order(self, txns: Sequence[Txn]) -> None:
        """Real-time order through a chain of time points (see the module docstring).

        Only transactions with both times known take part as sources, and a
        completion must be strictly before an invoke: equal times (e.g. the
        all-zero times of Plume's examples) order nothing.
        """
        events: list[tuple[int, int, int]] = []  # (time, 0 invoke / 1 completion, txn)
        for t in txns:
            if t.type == "fail" or t.invoke_time is None:
                continue
            events.append((t.invoke_time, 0, t.id))
            if t.type == "ok" and t.complete_time is not None:
                events.append((t.complete_time, 1, t.id))
        if not any(kind == 1 for _, kind, _ in events):
            return
        # At equal times invokes sort first, so a completion at time x is not
        # before an invoke at time x.
        events.sort()
        point = -1
        fresh = False  # no invoke since ``point`` was made: completions can share it
        for _, kind, tid in events:
            if kind == 1:
                if not fresh:
                    p = self.add_point()
                    if point >= 0:
                        self.add(point, p, REALTIME)
                    point = p
                    fresh = True
                self.add(tid, point, REALTIME)
            elif point >= 0:
                self.add(point, tid, REALTIME)
                fresh = False


def sccs(out: Sequence[dict[int, int]], mask: int, nodes: Iterable[int] | None = None,
         within: set[int] | None = None) -> list[list[int]]:
    """Strongly connected components of size > 1, using only edges whose kind meets ``mask``.

    ``nodes`` are the roots to start from (all by default); ``within``, if
    given, restricts the walk to that set.  Iterative Tarjan, so that long
    chains (a million transactions of one process) do not hit the recursion limit.
    """
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    result: list[list[int]] = []
    counter = 0
    roots = range(len(out)) if nodes is None else nodes
    for root in roots:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(out[root].items()))]
        while work:
            v, it = work[-1]
            advanced = False
            for w, m in it:
                if not m & mask or (within is not None and w not in within):
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(out[w].items())))
                    advanced = True
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    result.append(comp)
    return result
