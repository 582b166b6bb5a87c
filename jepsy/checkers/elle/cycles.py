"""Finding and naming the cycles of a dependency graph, within a search budget.

Strategy (Elle's, re-derived): a cycle lives inside one strongly connected
component, and most histories have none, so we first compute the components
of the whole graph and search only inside those.  In each component we look
for one shortest cycle of each class, from the worst down, on three levels:

1. data edges only (ww, wr, rw): ``G0``, ``G1c``, ``G-single``, then
   ``G-nonadjacent`` / ``G2-item``;
2. plus process order (and orders proven with it): the ``-process`` variants,
   each search forced through a process edge so that it finds what level 1
   could not;
3. plus real-time order: the ``-realtime`` variants, forced through a
   real-time edge.

Each class search starts from an edge of the kind the class needs (a ww edge
for G0, a wr edge for G1c, an rw edge for G-single, a process or real-time
edge for the variants) and runs a breadth-first search back to that edge's
source, counting rw edges in the search state; BFS makes the cycle found the
shortest through its start edge.  A variant is not searched in a component
where its base class was already found (it would only restate it).

The budget is counted in BFS steps and wall-clock seconds; when it runs out
the searches not done are returned in ``unsearched``, so the verdict can say
"unknown" instead of hanging.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jepsy.checkers.elle.graph import (
    DATA,
    PROCESS,
    PROCESS_LEVEL,
    REALTIME,
    REALTIME_LEVEL,
    RW,
    RW_ANY,
    RW_P,
    RW_R,
    WR,
    WW,
    WW_P,
    WW_R,
    Graph,
    sccs,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Cycle", "SearchResult", "classify", "search_causal", "search_cycles"]

_RW_ANY = RW_ANY
_SPECIAL_P = PROCESS | WW_P | RW_P
_SPECIAL_R = REALTIME | WW_R | RW_R
# Preference when an edge has several kinds: the one giving the worst anomaly.
_NONRW_PREF = (WW, WR, WW_P, PROCESS, WW_R, REALTIME)
_BASES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")


@dataclass(frozen=True)
class _Want:
    """The cycle class a search looks for, as constraints on its rw edges."""

    rw_min: int
    rw_max: int | None
    nonadjacent: bool = False


_NO_RW = _Want(0, 0)
_ONE_RW = _Want(1, 1)
_NONADJACENT = _Want(2, None, True)
_TWO_RW = _Want(2, None)


@dataclass
class Cycle:
    """A cycle ``txns[0] -> txns[1] -> ... -> txns[0]``; ``kinds[i]`` labels edge i."""

    txns: list[int]
    kinds: list[int]

    @property
    def name(self) -> str:
        return classify(self.kinds)


@dataclass
class SearchResult:
    cycles: list[Cycle] = field(default_factory=list)
    unsearched: list[dict[str, object]] = field(default_factory=list)
    scc_sizes: list[int] = field(default_factory=list)
    steps: int = 0


class _Budget(Exception):
    """Raised inside a search when the step or time budget is spent."""


def classify(kinds: list[int]) -> str:
    """The anomaly a cycle shows, from its edge kinds (Adya's G0/G1c/G2, Elle's refinements)."""
    rws = [bool(k & _RW_ANY) for k in kinds]
    n_rw = sum(rws)
    if n_rw == 0:
        base = "G1c" if any(k & WR for k in kinds) else "G0"
    elif n_rw == 1:
        base = "G-single"
    elif any(rws[i] and rws[(i + 1) % len(rws)] for i in range(len(rws))):
        base = "G2-item"
    else:
        base = "G-nonadjacent"
    if any(k & _SPECIAL_R for k in kinds):
        return base + "-realtime"
    if any(k & _SPECIAL_P for k in kinds):
        return base + "-process"
    return base


def _base_of(name: str) -> str:
    for suffix in ("-realtime", "-process"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


class _Searcher:
    def __init__(self, graph: Graph, max_steps: int, deadline: float | None) -> None:
        self.g = graph
        self.max_steps = max_steps
        self.deadline = deadline
        self.steps = 0

    def _tick(self, n: int) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise _Budget
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Budget

    def bfs(self, start: int, goal: int, mask: int, want: _Want, rw0: int, last0: bool,
            within: set[int]) -> tuple[list[int], list[int]] | None:
        """Shortest path start -> goal over edges of ``mask`` inside ``within``, closing a cycle of ``want``.

        The state counts rw edges (capped at 2) and remembers whether the last
        edge was rw, starting from the cycle's first edge (``rw0``, ``last0``),
        so that the path can respect ``want``: between ``rw_min`` and ``rw_max``
        rw edges in the whole cycle, and with ``nonadjacent`` no two in a row
        (the closing edge and the first edge count as adjacent too).
        Returns (nodes, kinds) with ``nodes[0] == start`` and ``nodes[-1] == goal``.
        """
        out = self.g.out
        rw_max = 2 if want.rw_max is None else want.rw_max
        first = (start, rw0, last0)
        parent: dict[tuple[int, int, bool], tuple[tuple[int, int, bool], int] | None] = {first: None}
        queue = deque([first])
        found: tuple[int, int, bool] | None = None
        steps = 0
        while queue:
            state = queue.popleft()
            v, rw, last = state
            if (v == goal and state != first and rw >= want.rw_min
                    and not (want.nonadjacent and last and rw0)):
                found = state
                break
            steps += 1
            if steps & 1023 == 0:
                self._tick(1024)
            for w, m in out[v].items():
                m &= mask
                if not m or w not in within:
                    continue
                nonrw = m & ~_RW_ANY
                if nonrw:
                    s = (w, rw, False)
                    if s not in parent:
                        parent[s] = (state, _pick(nonrw))
                        queue.append(s)
                if m & _RW_ANY and rw < rw_max + (want.rw_max is None) and not (want.nonadjacent and last):
                    s = (w, min(rw + 1, 2), True)
                    if s not in parent:
                        parent[s] = (state, _pick_rw(m))
                        queue.append(s)
        self._tick(steps & 1023)
        if found is None:
            return None
        nodes: list[int] = []
        kinds: list[int] = []
        cur: tuple[int, int, bool] | None = found
        while cur is not None:
            nodes.append(cur[0])
            p = parent[cur]
            if p is None:
                break
            kinds.append(p[1])
            cur = p[0]
        nodes.reverse()
        kinds.reverse()
        return nodes, kinds

    def through_edges(self, edges: Iterable[tuple[int, int, int]], mask: int, want: _Want,
                      within: set[int]) -> Cycle | None:
        """The first cycle of ``want`` found through one of ``edges`` (a, b, kind of a -> b)."""
        for a, b, kind in edges:
            is_rw = bool(kind & _RW_ANY)
            if want.rw_max is not None and is_rw and want.rw_max < 1:
                continue
            path = self.bfs(b, a, mask, want, int(is_rw), is_rw, within)
            if path is not None:
                nodes, kinds = path
                return self.collapse([a, *nodes[:-1]], [kind, *kinds])
        return None

    def collapse(self, nodes: list[int], kinds: list[int]) -> Cycle:
        """Turn runs through time points into single real-time edges between transactions."""
        g = self.g
        nodes, kinds = _simple(nodes, kinds)
        # Rotate so the cycle starts at a transaction.
        k = next(i for i, v in enumerate(nodes) if not g.is_point(v))
        nodes = nodes[k:] + nodes[:k]
        kinds = kinds[k:] + kinds[:k]
        txns: list[int] = []
        out_kinds: list[int] = []
        for v, kind in zip(nodes, kinds, strict=True):
            if g.is_point(v):
                continue
            txns.append(v)
            out_kinds.append(kind)
        # An edge into a point is a real-time edge to the next transaction.
        for i, v in enumerate(nodes):
            if not g.is_point(v):
                j = txns.index(v)
                if g.is_point(nodes[(i + 1) % len(nodes)]):
                    out_kinds[j] = REALTIME
        return Cycle(txns, out_kinds)


def _simple(nodes: list[int], kinds: list[int]) -> tuple[list[int], list[int]]:
    """Cut a closed walk that visits a node twice down to a simple cycle of the same class.

    The rw-counting BFS may pass a node once before and once after its rw
    edge; the loop between the two visits is then itself a cycle, shorter and
    holding the rw edge, so we keep the part that preserves the class.
    """
    while True:
        seen: dict[int, int] = {}
        for j, v in enumerate(nodes):
            if v in seen:
                i = seen[v]
                inner = (nodes[i:j], kinds[i:j])
                outer = (nodes[:i] + nodes[j:], kinds[:i] + kinds[j:])
                want = _base_of(classify(kinds))
                nodes, kinds = inner if _base_of(classify(inner[1])) == want else outer
                break
            seen[v] = j
        else:
            return nodes, kinds


def _pick_rw(mask: int) -> int:
    return RW if mask & RW else RW_P if mask & RW_P else RW_R


def _pick(mask: int) -> int:
    for k in _NONRW_PREF:
        if mask & k:
            return k
    return mask


def _class_plan(level: int) -> list[tuple[str, int, int, _Want]]:
    """(base class, start-edge kinds, search mask, wanted cycle) for each level."""
    if level == 0:
        return [("G0", WW, WW, _NO_RW), ("G1c", WR, WW | WR, _NO_RW), ("G-single", RW, DATA, _ONE_RW),
                ("G-nonadjacent", RW, DATA, _NONADJACENT), ("G2-item", RW, DATA, _TWO_RW)]
    special = _SPECIAL_P if level == 1 else _SPECIAL_R
    lvl = PROCESS_LEVEL if level == 1 else REALTIME_LEVEL
    nonrw = lvl & ~_RW_ANY & ~WR
    return [("G0", special & ~_RW_ANY, nonrw, _NO_RW), ("G1c", special & ~_RW_ANY, nonrw | WR, _NO_RW),
            ("G-single", special, lvl, _ONE_RW), ("G-nonadjacent", special, lvl, _NONADJACENT),
            ("G2-item", special, lvl, _TWO_RW)]


def _start_edges(g: Graph, comp: list[int], kinds: int, within: set[int]) -> list[tuple[int, int, int]]:
    edges = []
    for a in comp:
        if g.is_point(a):  # a real-time path is started from the transaction that leads into it
            continue
        for b, m in g.out[a].items():
            if m & kinds and b in within:
                km = m & kinds
                kind = _pick(km & ~_RW_ANY) if km & ~_RW_ANY else _pick_rw(km)
                edges.append((a, b, kind))
    return edges


def search_cycles(g: Graph, max_steps: int = 20_000_000, timeout: float | None = None) -> SearchResult:
    """Find one shortest cycle of each class in each strongly connected component."""
    deadline = None if timeout is None else time.monotonic() + timeout
    result = SearchResult()
    s = _Searcher(g, max_steps, deadline)
    comps = sccs(g.out, REALTIME_LEVEL)
    comps.sort(key=len)
    result.scc_sizes = sorted((sum(1 for v in c if not g.is_point(v)) for c in comps), reverse=True)
    pending: list[tuple[int, int, list[int]]] = [(level, ci, c) for level in range(3)
                                                for ci, c in enumerate(comps)]
    found: dict[int, set[str]] = {}
    masks = (DATA, PROCESS_LEVEL, REALTIME_LEVEL)
    done_upto = 0
    try:
        for level, ci, comp in pending:
            if level > 0 and found.get(ci, set()) >= set(_BASES):
                done_upto += 1
                continue
            whole = set(comp)
            subs = sccs(g.out, masks[level], comp, whole) if level < 2 else [comp]
            for sub in subs:
                within = set(sub)
                for base, start_kinds, mask, want in _class_plan(level):
                    done = found.get(ci, set())
                    if base in done or (base == "G2-item" and "G-nonadjacent" in done):
                        continue
                    starts = _start_edges(g, sub, start_kinds, within)
                    cyc = s.through_edges(starts, mask, want, within)
                    if cyc is not None and _base_of(cyc.name) in (base, "G-nonadjacent"):
                        result.cycles.append(cyc)
                        found.setdefault(ci, set()).add(_base_of(cyc.name))
            done_upto += 1
    except _Budget:
        for level, _ci, comp in pending[done_upto:]:
            result.unsearched.append({"level": ("data", "process", "realtime")[level],
                                      "scc_size": sum(1 for v in comp if not g.is_point(v))})
    result.steps = s.steps
    return result


def search_causal(g: Graph, max_steps: int = 2_000_000, timeout: float | None = None) -> list[Cycle]:
    """Cycles of one rw edge closed by write-read and process edges only, one per component.

    Under causal consistency a transaction sees everything in its causal past
    (what it read from, what its process did before, transitively): if ``b``
    reaches ``a`` through wr and process edges, ``a`` saw ``b``'s write, and an
    rw edge ``a -> b`` (``a`` read a version older than ``b``'s) is a stale
    read no causal order explains.  Only sound when the rw edge's version
    order holds under causal consistency too: the register analysis proves its
    orders from reads, writes and sessions, which it does (real-time facts are
    excluded here); list-append prefix reasoning assumes one order for all
    readers, which causal consistency does not promise, so it is not used there.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    s = _Searcher(g, max_steps, deadline)
    mask = WR | PROCESS | RW | RW_P
    out: list[Cycle] = []
    try:
        for comp in sccs(g.out, mask):
            within = set(comp)
            starts = [(a, b, _pick_rw(m)) for a in comp for b, m in g.out[a].items()
                      if m & (RW | RW_P) and b in within]
            cyc = s.through_edges(starts, WR | PROCESS, _ONE_RW, within)
            if cyc is not None:
                out.append(cyc)
    except _Budget:
        pass
    return out
