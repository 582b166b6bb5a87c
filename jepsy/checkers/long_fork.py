"""The long-fork checker: reads of a key group must agree on the order of inserts.

Jepsen's long-fork workload inserts each key once (``["w", k, v]``) and reads
whole groups of keys in one transaction (``["r", k, v]``, None when absent).
Under snapshot isolation (and even parallel SI with a prefix order) the
states reads observe of one group are totally ordered by inclusion.  Two
reads that each see an insert the other does not are a *long fork*: they
saw the inserts happen in different orders.

Reads are grouped by ``k // group_size`` when ``group_size`` is given and
keys are integers, else by the set of keys read.  Per group we sort the
distinct observed states by size; since a chain has each state inside the
next, any consecutive pair that is not nested is a fork, found in O(n log n).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from jepsy.checkers._util import calls, freeze
from jepsy.history import Op
from jepsy.options import Option, declare, integer

__all__ = ["LongForkChecker", "long_fork"]

_SHOW = 20


class LongForkChecker:
    def __init__(self, group_size: int | None = None) -> None:
        self.group_size = group_size

    def _group(self, keys: list[Any]) -> Any:
        if self.group_size and all(isinstance(k, int) for k in keys):
            groups = {k // self.group_size for k in keys}
            if len(groups) == 1:
                return groups.pop()
        return frozenset(keys)

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        states: dict[Any, dict[frozenset[tuple[Any, Any]], int | None]] = defaultdict(dict)
        reads = 0
        for c in calls(history):
            if c.type != "ok" or c.done is None or not isinstance(c.done.value, list):
                continue
            mops = [m for m in c.done.value if isinstance(m, list) and len(m) == 3 and m[0] == "r"]
            if not mops:
                continue
            reads += 1
            keys = [freeze(m[1]) for m in mops]
            state = frozenset((freeze(m[1]), freeze(m[2])) for m in mops if m[2] is not None)
            states[self._group(keys)].setdefault(state, c.done.index)
        forks: list[dict[str, Any]] = []
        count = 0
        for group, seen in states.items():
            ordered = sorted(seen, key=len)
            for a, b in pairwise(ordered):
                if a <= b:
                    continue
                count += 1
                if len(forks) < _SHOW:
                    only_a = sorted(dict(a - b).items(), key=repr)
                    only_b = sorted(dict(b - a).items(), key=repr)
                    ia, ib = seen[a], seen[b]
                    sa, sb = _show(only_a), _show(only_b)
                    forks.append({
                        "group": sorted(group, key=repr) if isinstance(group, frozenset) else group,
                        "ops": [ia, ib], "only_first": only_a, "only_second": only_b,
                        "text": f"the read at op {ia} saw {sa} but not {sb}, while the read at op {ib} "
                                f"saw {sb} but not {sa}: the inserts were seen in two different orders"})
        if not reads:
            return {"valid": "unknown", "error": "no successful reads", "reads": 0}
        return {"valid": not forks, "reads": reads, "groups": len(states),
                "text": forks[0]["text"] if forks else f"{reads} reads in {len(states)} groups, no fork",
                "fork_count": count, "forks": forks}


def _show(items: list[tuple[Any, Any]]) -> str:
    return ", ".join(f"key {k} = {v}" for k, v in items) or "nothing"


@declare(Option("group_size", None, "keys per group, as in Jepsen (default: group reads by "
                "the keys they read)", parse=integer))
def long_fork(group_size: int | None = None, **_: Any) -> LongForkChecker:
    """Factory for ``--checker long-fork``; ``group_size`` as in Jepsen (keys per group)."""
    return LongForkChecker(group_size)
