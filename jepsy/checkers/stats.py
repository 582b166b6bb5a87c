"""Operation statistics as a checker: counts by function and outcome.

Valid unless no client operation succeeded at all, in which case the run
measured nothing and the verdict is "unknown" (a database that was down for the
whole test has not shown that it is consistent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.history import Op

__all__ = ["stats"]


class _Stats:
    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        by_f: dict[str, Counter[str]] = {}
        for op in history:
            if op.is_client and op.type != "invoke":
                by_f.setdefault(op.f, Counter())[op.type] += 1
        total: Counter[str] = Counter()
        for c in by_f.values():
            total.update(c)
        never_ok = sorted(f for f, c in by_f.items() if not c["ok"])
        return {
            "valid": True if total["ok"] else "unknown",
            "count": sum(total.values()),
            "ok": total["ok"], "fail": total["fail"], "info": total["info"],
            "by_f": {f: {t: c[t] for t in ("ok", "fail", "info")} for f, c in sorted(by_f.items())},
            "never_ok": never_ok,
        }


def stats() -> _Stats:
    return _Stats()
