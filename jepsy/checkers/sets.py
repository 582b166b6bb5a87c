"""Set checkers: ``set`` (one final read) and ``set-full`` (every read, with timings).

Ops: ``add`` with an element, ``read`` returning a collection of elements.
Elements are compared as whole values (an add of ``[0, 5]`` adds the pair,
as in Jepsen; a history that wraps elements differently in adds and reads
shows every add lost and every read element unexpected).

``set``: the last successful read must hold every element whose add was
``ok`` (else *lost*) and nothing never added (else *unexpected*); elements of
indeterminate adds that show up are *recovered*.

``set-full`` follows each element through every read.  It is *known* from
its add's completion (or, for an indeterminate add, from the first read that
shows it).  Reads that begin after it is known should show it:

* *stable*: every such read from some point on shows it;
* *stale*: some such reads missed it before it became stable (with how long
  it took to become visible: ``stable_latency``);
* *lost*: the last read to begin after it was known missed it;
* *never-read*: no read began after it was known.

Invalid when anything is lost or unexpected (or, with ``linearizable=True``,
stale: a linearizable set shows a completed add to every later read).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from jepsy.checkers._util import OpPair, calls, freeze, quantiles
from jepsy.history import Op
from jepsy.options import Option, boolean, declare

__all__ = ["SetChecker", "SetFullChecker", "set_checker", "set_full"]

_SHOW = 20


def _elements(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [freeze(v) for v in value]
    if isinstance(value, dict):
        return [freeze(v) for v in value]
    return []


def _adds(cs: Sequence[OpPair]) -> dict[Any, OpPair]:
    out: dict[Any, OpPair] = {}
    for c in cs:
        if c.f == "add" and c.type != "fail":
            out.setdefault(freeze(c.value), c)
    return out


def _sample(xs: Any) -> list[Any]:
    items = list(xs)
    with suppress(TypeError):
        items.sort()
    return items[:_SHOW]


class SetChecker:
    """Jepsen's ``set``: judge the final read only."""

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        adds = _adds(cs)
        attempted = {freeze(c.value) for c in cs if c.f == "add"}
        reads = [c for c in cs if c.f == "read" and c.type == "ok"]
        if not reads:
            return {"valid": "unknown", "error": "no successful read to judge the adds by",
                    "attempt_count": len(attempted)}
        final = set(_elements(reads[-1].value))
        ok = {e for e, c in adds.items() if c.type == "ok"}
        lost = ok - final
        unexpected = final - attempted
        recovered = {e for e, c in adds.items() if c.type != "ok"} & final
        return {
            "valid": not lost and not unexpected,
            "text": f"final read: {len(lost)} acknowledged adds lost, {len(unexpected)} unexpected "
                    f"elements, {len(recovered)} indeterminate adds recovered "
                    f"(of {len(attempted)} attempted)",
            "attempt_count": len(attempted), "acknowledged_count": len(ok),
            "ok_count": len(final & ok), "lost_count": len(lost), "lost": _sample(lost),
            "unexpected_count": len(unexpected), "unexpected": _sample(unexpected),
            "recovered_count": len(recovered), "recovered": _sample(recovered),
        }


class SetFullChecker:
    """Jepsen's ``set-full``: every read, every element, with visibility latencies."""

    def __init__(self, linearizable: bool = False) -> None:
        self.linearizable = linearizable

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = calls(history)
        adds = _adds(cs)
        attempted = {freeze(c.value) for c in cs if c.f == "add"}
        reads = sorted((c for c in cs if c.f == "read" and c.type == "ok" and c.pos_done is not None),
                       key=lambda c: c.pos_invoke)
        if not reads:
            return {"valid": "unknown", "error": "no successful reads", "attempt_count": len(attempted)}
        starts = [c.pos_invoke for c in reads]
        n_reads = len(reads)
        # presence[e]: indexes of the reads that show e, ascending.  One pass over
        # the reads: the cost is the size of what they returned, not elements x reads.
        presence: dict[Any, list[int]] = {}
        unexpected: set[Any] = set()
        duplicated: list[dict[str, Any]] = []
        for i, c in enumerate(reads):
            els = _elements(c.value)
            s = set(els)
            unexpected |= s - attempted
            if len(els) != len(s) and len(duplicated) < _SHOW:
                duplicated.append({"op": c.done.index if c.done else None,
                                   "text": "a read returned an element more than once"})
            for e in s:
                presence.setdefault(e, []).append(i)
        outcomes: dict[str, list[Any]] = {"stable": [], "stale": [], "lost": [], "never-read": []}
        stable_lat: list[float] = []
        lost_lat: list[float] = []
        details: list[dict[str, Any]] = []
        for e, add in adds.items():
            present = presence.get(e, [])
            if add.type == "ok" and add.pos_done is not None:
                known_pos, known_time = add.pos_done, add.done_time
            elif present:
                first = reads[present[0]]
                known_pos, known_time = first.pos_done or first.pos_invoke, first.done_time
            else:
                continue  # indeterminate and never seen: nothing to say
            after = bisect_right(starts, known_pos)
            if after == n_reads:
                outcomes["never-read"].append(e)
                continue
            absent = _absent(present, after, n_reads)
            last_present = present[-1] if present else -1
            if absent and absent[-1] > last_present:
                outcomes["lost"].append(e)
                t = reads[absent[0]].invoke_time
                if t is not None and known_time is not None:
                    lost_lat.append((t - known_time) / 1e6)
                if len(details) < _SHOW:
                    details.append({"element": e, "outcome": "lost",
                                    "known_op": _op(add, reads, present),
                                    "last_absent_op": _idx(reads[absent[-1]]),
                                    "text": f"element {e!r} was known by op {_op(add, reads, present)} "
                                            f"but the read at op {_idx(reads[absent[-1]])} (and every "
                                            f"later one) did not show it"})
                continue
            outcome = "stale" if absent else "stable"
            outcomes[outcome].append(e)
            nxt = absent[-1] + 1 if absent else after
            first_ok = nxt if nxt < n_reads else None
            latency: float | None = None
            if first_ok is not None and known_time is not None:
                t = reads[first_ok].invoke_time
                if t is not None:
                    latency = max(0.0, (t - known_time) / 1e6)
                    stable_lat.append(latency)
            if outcome == "stale" and len(details) < _SHOW:
                took = "" if latency is None else f" ({latency:.1f} ms)"
                details.append({"element": e, "outcome": "stale", "latency_ms": latency,
                                "missed_by": [_idx(reads[i]) for i in absent.first(5)],
                                "text": f"element {e!r} was known by op {_op(add, reads, present)} but "
                                        f"{absent.count} later read(s) missed it before it became "
                                        f"visible{took}"})
        lost = outcomes["lost"]
        valid = not lost and not unexpected and not duplicated
        if self.linearizable and outcomes["stale"]:
            valid = False
        return {
            "valid": valid,
            "text": f"{len(attempted)} elements attempted: {len(outcomes['stable'])} stable, "
                    f"{len(outcomes['stale'])} stale, {len(lost)} lost, {len(outcomes['never-read'])} "
                    f"never read, {len(unexpected)} unexpected"
                    + (f"; e.g. {details[0]['text']}" if details else ""),
            "attempt_count": len(attempted),
            "stable_count": len(outcomes["stable"]), "stale_count": len(outcomes["stale"]),
            "lost_count": len(lost), "never_read_count": len(outcomes["never-read"]),
            "unexpected_count": len(unexpected), "duplicated_count": len(duplicated),
            "lost": _sample(lost), "stale": _sample(outcomes["stale"]),
            "never_read": _sample(outcomes["never-read"]), "unexpected": _sample(unexpected),
            "duplicated": duplicated,
            "stable_latency_ms": quantiles(stable_lat), "lost_latency_ms": quantiles(lost_lat),
            "details": details,
        }


class _Absent:
    """The reads in ``[after, n)`` that do not show an element, computed from where it is shown.

    ``present`` is ascending and distinct, so ``present[k] - k`` never
    decreases: the runs of consecutive reads that show the element at the
    start and at the end of the range are found by binary search.  Holds
    ``count``, ``[0]`` (first absent), ``[-1]`` (last absent), and the first
    few for display, without listing every read.
    """

    def __init__(self, present: list[int], after: int, n: int) -> None:
        start = bisect_left(present, after)
        inside = len(present) - start
        self.count = (n - after) - inside
        self.present, self.start, self.after, self.n = present, start, after, n

    def __bool__(self) -> bool:
        return self.count > 0

    def __getitem__(self, i: int) -> int:
        p, start = self.present, self.start
        ks = range(start, len(p))
        if i == 0:  # skip the run of reads right after ``after`` that show it
            k = bisect_right(ks, self.after - start, key=lambda k: p[k] - k)
            return self.after + k
        if i == -1:  # skip the run of reads at the very end that show it
            k = bisect_left(ks, self.n - len(p), key=lambda k: p[k] - k)
            return (p[start + k] if start + k < len(p) else self.n) - 1
        raise IndexError(i)

    def first(self, limit: int) -> list[int]:
        out: list[int] = []
        k = self.start
        for i in range(self.after, self.n):
            if len(out) >= limit:
                break
            if k < len(self.present) and self.present[k] == i:
                k += 1
            else:
                out.append(i)
        return out


def _absent(present: list[int], after: int, n: int) -> _Absent:
    return _Absent(present, after, n)


def _idx(c: OpPair) -> int | None:
    op = c.done or c.invoke
    return op.index if op else None


def _op(add: OpPair, reads: Sequence[OpPair], present: Sequence[int]) -> int | None:
    if add.type == "ok":
        return _idx(add)
    return _idx(reads[present[0]]) if present else None


@declare()
def set_checker(**_: Any) -> SetChecker:
    """Factory for ``--checker set``."""
    return SetChecker()


@declare(Option("linearizable", False, "an element, once read, must be read ever after",
                parse=boolean))
def set_full(linearizable: bool = False, **_: Any) -> SetFullChecker:
    """Factory for ``--checker set-full``; ``linearizable`` makes stale reads invalid."""
    return SetFullChecker(linearizable)
