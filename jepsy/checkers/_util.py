"""Small helpers shared by the simple checkers (counter, sets, bank, queues, ...).

``calls`` pairs each client invoke with its completion (through
``history.pair_positions``, tolerating the loose histories other tools
publish: completions without invokes); ``plain_key`` makes JSON's string
keys ("0") and EDN's integer keys (0) compare equal; ``quantiles``
summarises latencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jepsy.history import pair_positions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jepsy.history import Op

__all__ = ["OpPair", "calls", "freeze", "plain_key", "quantiles"]


@dataclass(slots=True)
class OpPair:
    """One client operation: its invoke (if recorded) paired with its completion (None while
    pending).  Not ``jepsy.checkers.linear.models.Call``, the linearizability checker's
    prepared operation."""

    invoke: Op | None
    done: Op | None
    pos_invoke: int
    pos_done: int | None

    @property
    def f(self) -> str:
        op = self.invoke or self.done
        assert op is not None
        return op.f

    @property
    def type(self) -> str:
        return "info" if self.done is None else self.done.type

    @property
    def value(self) -> Any:
        """The completion's value when it has one, else the invoke's."""
        if self.done is not None and self.done.value is not None:
            return self.done.value
        return self.invoke.value if self.invoke is not None else None

    @property
    def invoke_time(self) -> int | None:
        return self.invoke.time if self.invoke is not None else None

    @property
    def done_time(self) -> int | None:
        return self.done.time if self.done is not None else None


def calls(history: Sequence[Op]) -> list[OpPair]:
    """Client calls in invoke order; positions are indexes into ``history`` (real-time order).

    Loose histories are taken as ``history.pair_positions`` takes them: a
    completion without an invoke is a call with ``invoke`` None.
    """
    out: list[OpPair] = []
    for i, j in pair_positions(history):
        if i == j:
            out.append(OpPair(None, history[j], j, j))
        else:
            out.append(OpPair(history[i], None if j is None else history[j], i, j))
    return out


def plain_key(k: Any) -> Any:
    """JSON object keys are strings; turn integer-looking ones back into ints."""
    if isinstance(k, str):
        s = k[1:] if k.startswith("-") else k
        if s.isdigit():
            return int(k)
    return k


def freeze(x: Any) -> Any:
    """A hashable form of a value (lists become tuples, dicts sorted item tuples)."""
    if isinstance(x, list):
        return tuple(freeze(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in x.items()))
    return x


def quantiles(xs: Sequence[float]) -> dict[str, float]:
    """min, median, p95, max of ``xs`` (empty dict for no data)."""
    if not xs:
        return {}
    s = sorted(xs)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {"min": s[0], "median": q(0.5), "p95": q(0.95), "max": s[-1]}
