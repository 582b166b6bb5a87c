"""Register histories whose version orders are unknown: is there *any* acyclic choice?

Elle's rw-register checker finds a cycle only in the version orders it can
prove.  Some anomalies live entirely in the *choice*: two transactions both
write keys x and y, and a reader sees x from one and y from the other.
Whichever order the writes took, one of the reader's reads is stale, and
the graph has a cycle; but no single cycle can be proven (Plume's
"non-monotonic read, arbitration order" pattern; PolySI's polygraphs).

For every pair of versions of one key whose order is unknown and at least one
of which was read, the two orders give two sets of edges.  We look for one
choice per pair that keeps the graph free of the cycles we care about:

* all cycles (``max_rw=None``): serializability;
* cycles with at most one rw edge (``max_rw=1``: G0, G1c, G-single), which
  snapshot isolation forbids too.

Reachability is kept as bit sets (Python ints), in two layers: through paths
with no rw edge, and with at most one.  An option closes a cycle when one of
its edges ``a -> b`` has ``a`` reachable from ``b`` (edges of one option all
end at the same writer, so two of them never sit on one simple cycle).
First, unit propagation: a pair with one closing option is forced to the
other, and its edges join the graph; a pair with both options closing proves
the violation.  What stays undecided goes to a small backtracking search.
Small histories only (``max_nodes``): this complements the cycle search, it
is not a SAT solver.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from jepsy.checkers.elle.graph import RW_ANY

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Choice", "every_order_cyclic"]

Edge = tuple[int, int]
Choice = tuple[list[Edge], list[Edge]]

_RW = RW_ANY


class _Reach:
    """Two-layer transitive closure: ``r0[v]`` without rw edges, ``r1[v]`` with at most one."""

    def __init__(self, r0: list[int], r1: list[int], bounded: bool) -> None:
        self.r0 = r0
        self.r1 = r1
        self.bounded = bounded

    @classmethod
    def build(cls, out: Sequence[dict[int, int]], n: int, mask: int, bounded: bool) -> _Reach:
        r0 = [0] * n
        r1 = [0] * n
        for s in range(n):
            seen = {(s, 0)}
            queue = deque([(s, 0)])
            while queue:
                v, used = queue.popleft()
                for w, m in out[v].items():  # time points (>= n) are passed through
                    if not m & mask:
                        continue
                    options = []
                    if m & ~_RW & mask:
                        options.append(used)
                    if m & _RW:
                        options.append(used + 1 if bounded else 0)
                    for u in options:
                        if u <= 1 and (w, u) not in seen:
                            seen.add((w, u))
                            queue.append((w, u))
            for v, used in seen:
                if (v, used) == (s, 0) or v >= n:
                    continue
                if used == 0:
                    r0[s] |= 1 << v
                r1[s] |= 1 << v
        return cls(r0, r1, bounded)

    def copy(self) -> _Reach:
        return _Reach(list(self.r0), list(self.r1), self.bounded)

    def closes(self, a: int, b: int, rw: bool) -> bool:
        """Would ``a -> b`` close a counted cycle?"""
        if a == b:
            return False
        bit = 1 << a
        if not self.bounded:
            return bool(self.r1[b] & bit)
        return bool((self.r0[b] if rw else self.r1[b]) & bit)

    def add(self, a: int, b: int, rw: bool) -> None:
        """Insert ``a -> b``: every node reaching ``a`` now reaches ``b`` and what ``b`` reaches,
        in the layer its rw count allows."""
        if a == b:
            return
        bit_a = 1 << a
        new0 = (1 << b) | self.r0[b]
        new1 = (1 << b) | self.r1[b]
        r0, r1 = self.r0, self.r1
        for u in range(len(r0)):
            if u == a or r0[u] & bit_a:
                if rw and self.bounded:
                    r1[u] |= new0
                else:
                    r0[u] |= new0
                    r1[u] |= new1
            elif r1[u] & bit_a and (not rw or not self.bounded):
                r1[u] |= new0 if self.bounded else new1
        if not self.bounded:
            for u in range(len(r0)):
                r0[u] = r1[u]


def every_order_cyclic(out: Sequence[dict[int, int]], mask: int, choices: list[Choice], n: int,
                       max_rw: int | None = None, max_nodes: int = 600,
                       max_undecided: int = 24, max_tries: int = 20_000) -> bool | None:
    """True if every combination of choices closes a counted cycle, False if one does not,
    None when the history is too big or too undecided to tell.

    Edges of a choice are rw when their source read a version (all but the
    first, which is the ww edge between the two writers).
    """
    if n > max_nodes:
        return None
    reach = _Reach.build(out, n, mask, bounded=max_rw == 1)

    def rws(option: list[Edge]) -> list[tuple[int, int, bool]]:
        return [(a, b, i > 0) for i, (a, b) in enumerate(option)]

    pending = [(rws(x), rws(y)) for x, y in choices]
    changed = True
    while changed:
        changed = False
        rest = []
        for x, y in pending:
            cx = any(reach.closes(a, b, rw) for a, b, rw in x)
            cy = any(reach.closes(a, b, rw) for a, b, rw in y)
            if cx and cy:
                return True
            if cx or cy:
                for a, b, rw in (y if cx else x):
                    reach.add(a, b, rw)
                changed = True
            else:
                rest.append((x, y))
        pending = rest
    if not pending:
        return False
    if len(pending) > max_undecided:
        return None

    tries = [0]

    def solve(i: int, r: _Reach) -> bool:
        if i == len(pending):
            return True
        tries[0] += 1
        if tries[0] > max_tries:
            raise _OutOfTries
        for option in pending[i]:
            if any(r.closes(a, b, rw) for a, b, rw in option):
                continue
            r2 = r.copy()
            for a, b, rw in option:
                r2.add(a, b, rw)
            if solve(i + 1, r2):
                return True
        return False

    try:
        return not solve(0, reach)
    except _OutOfTries:
        return None


class _OutOfTries(Exception):
    """The backtracking search tried ``max_tries`` partial choices without an answer."""
