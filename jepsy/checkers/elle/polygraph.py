"""Small histories whose register version orders are unknown: try every order.

Elle's rw-register checker finds a cycle only in the version orders it can
prove.  Some anomalies live entirely in the *choice*: two transactions both
write keys x and y, and a reader sees x from one and y from the other.
Whichever order the writes took, one of the reader's reads is stale, and
the graph has a cycle; but no single cycle can be proven (Plume's
"non-monotonic read, arbitration order" pattern; PolySI's polygraphs).

For every pair of versions of one key whose order is unknown and at least one
of which was read, the two orders give two sets of edges.  A backtracking
search looks for one choice per pair that keeps the graph acyclic.  When
there is none, every version order yields a cycle and the history is not
serializable at that level of the graph.  The search runs only after the
ordinary cycle search found nothing, and only within a node budget: it is a
complement for small histories, not a SAT solver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jepsy.checkers.elle.graph import RW, RW_P

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Choice", "every_order_cyclic"]

Edge = tuple[int, int]
Choice = tuple[list[Edge], list[Edge]]


_RW = RW | RW_P


class _Out(Exception):
    pass


def every_order_cyclic(out: Sequence[dict[int, int]], mask: int, choices: list[Choice],
                       budget: int = 200_000, max_rw: int | None = None) -> bool | None:
    """True if every combination of choices closes a cycle, False if one is acyclic,
    None if the budget (search steps) ran out first.

    With ``max_rw``, only cycles with at most that many rw edges count as
    closing (``1``: every order has a G0, G1c or G-single cycle); edges in a
    choice are rw when their source read a version (all but the first).
    """
    extra: dict[int, list[tuple[int, int]]] = {}
    steps = [0]

    def reaches(src: int, dst: int, rw_left: int | None) -> bool:
        start = (src, 0)
        seen = {start}
        stack = [start]
        while stack:
            v, used = stack.pop()
            if v == dst:
                return True
            steps[0] += 1
            if steps[0] > budget:
                raise _Out
            nexts = [(w, 1 if m & _RW else 0) for w, m in out[v].items() if m & mask]
            nexts.extend(extra.get(v, ()))
            for w, rw in nexts:
                u = used + rw if rw_left is not None else 0
                if rw_left is not None and u > rw_left:
                    continue
                if (w, u) not in seen:
                    seen.add((w, u))
                    stack.append((w, u))
        return False

    def try_add(edges: list[Edge]) -> list[int] | None:
        added: list[int] = []
        for i, (a, b) in enumerate(edges):
            rw = 0 if i == 0 else 1
            left = None if max_rw is None else max_rw - rw
            if a == b:  # a reader that also wrote: no order between a txn and itself
                continue
            if (left is None or left >= 0) and reaches(b, a, left):
                for x in reversed(added):
                    extra[x].pop()
                return None
            extra.setdefault(a, []).append((b, rw))
            added.append(a)
        return added

    def solve(i: int) -> bool:
        if i == len(choices):
            return True
        for option in choices[i]:
            added = try_add(option)
            if added is None:
                continue
            ok = solve(i + 1)
            for x in reversed(added):
                extra[x].pop()
            if ok:
                return True
        return False

    try:
        return not solve(0)
    except _Out:
        return None
