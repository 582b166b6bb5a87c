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

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Choice", "every_order_cyclic"]

Edge = tuple[int, int]
Choice = tuple[list[Edge], list[Edge]]


class _Out(Exception):
    pass


def every_order_cyclic(out: Sequence[dict[int, int]], mask: int, choices: list[Choice],
                       budget: int = 200_000) -> bool | None:
    """True if every combination of choices makes a cycle, False if one is acyclic,
    None if the budget (reachability steps) ran out first."""
    extra: dict[int, list[int]] = {}
    steps = [0]

    def reaches(src: int, dst: int) -> bool:
        seen = {src}
        stack = [src]
        while stack:
            v = stack.pop()
            if v == dst:
                return True
            steps[0] += 1
            if steps[0] > budget:
                raise _Out
            for w, m in out[v].items():
                if m & mask and w not in seen:
                    seen.add(w)
                    stack.append(w)
            for w in extra.get(v, ()):
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        return False

    def try_add(edges: list[Edge]) -> list[Edge] | None:
        added: list[Edge] = []
        for a, b in edges:
            if a == b or reaches(b, a):
                for x, _ in reversed(added):
                    extra[x].pop()
                return None
            extra.setdefault(a, []).append(b)
            added.append((a, b))
        return added

    def solve(i: int) -> bool:
        if i == len(choices):
            return True
        for option in choices[i]:
            added = try_add(option)
            if added is None:
                continue
            ok = solve(i + 1)
            for x, _ in reversed(added):
                extra[x].pop()
            if ok:
                return True
        return False

    try:
        return not solve(0)
    except _Out:
        return None
