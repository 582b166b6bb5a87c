"""The unique-ids checker: every acknowledged ``generate`` returned a distinct id.

Ops: ``generate`` whose ``ok`` completion carries the id.  Ids are compared
as whole values (lists as tuples).  Reports the duplicated ids with how many
times each was handed out, and the range of ids seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls, freeze
from jepsy.history import Op
from jepsy.options import declare

__all__ = ["UniqueIdsChecker", "unique_ids"]


class UniqueIdsChecker:
    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = [c for c in calls(history) if c.f == "generate"]
        acked = [freeze(c.value) for c in cs if c.type == "ok"]
        counts = Counter(acked)
        dups = {k: n for k, n in counts.items() if n > 1}
        shown = sorted(dups.items(), key=lambda kv: -kv[1])[:20]
        try:
            rng = [min(acked), max(acked)] if acked else None
        except TypeError:
            rng = None
        return {
            "valid": not dups,
            "text": f"{len(acked)} ids acknowledged, {len(dups)} handed out more than once",
            "attempted_count": len(cs),
            "acknowledged_count": len(acked),
            "duplicated_count": len(dups),
            "duplicated": [{"id": k, "times": n, "text": f"id {k!r} was handed out {n} times"}
                           for k, n in shown],
            "range": rng,
        }


@declare()
def unique_ids(**_: Any) -> UniqueIdsChecker:
    """Factory for ``--checker unique-ids``."""
    return UniqueIdsChecker()
