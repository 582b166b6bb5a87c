"""The search for a linearization of one partition: Wing & Gong's, with Lowe's cache.

Calls are numbered in invocation order; a set of calls is an ``int`` bitset.  A
configuration is ``(linearized set, model state)``.  From a configuration, the
candidates for the next linearization point are the calls that are not yet
linearized and were invoked before the earliest completion among the ``ok`` calls
still to linearize (an op cannot take effect after a later op has already been
seen to return).  Depth-first, each configuration once: a configuration seen
before is either on the current path (impossible: the set only grows) or was
fully explored and failed, so it is skipped (Lowe's cache, as in Porcupine).

Two reductions on top, both exact:

* **Legal reads are linearized greedily.**  If an ``ok`` candidate is read-only
  (the model's ``read_only``: it leaves unchanged every state it is legal in)
  and legal in the current state, some linearization exists from here iff one
  exists that takes it first: moving it earlier changes no other op's state and
  breaks no real-time edge (everything that returned before it was invoked is
  already linearized).  So that child is the only one explored.  On read-heavy
  histories this removes most of the branching.  (Being state-preserving in the
  current state is not enough: a write of the current value is, but moved
  earlier it would lose its effect on a later state.)
* **Crashed calls are optional.**  A crashed call (``info``, or never completed)
  may take effect any time after its invocation, or never; it never blocks the
  search, which succeeds once every ``ok`` call is linearized, and a crashed call
  that would leave the state unchanged is never tried.

The search is a generator: it yields every ``slice_iters`` steps so that the
caller can interleave partitions (a cheap violation in one key is found before
an expensive valid key is finished), and it enforces the budgets: a deadline
and a cap on cached configurations, after which the verdict is "unknown".
"""

from __future__ import annotations

import time
from collections.abc import Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jepsy.models import CRASHED, Call, Model

__all__ = ["Budget", "Outcome", "search"]

_FAIL: Any = object()
_MISS: Any = object()
_MAX_STUCK_STATES = 16


@dataclass(slots=True)
class Budget:
    """Limits shared by every partition of one check (``None`` = unlimited)."""

    deadline: float | None = None  # time.monotonic() value
    max_configs: int | None = None
    slice_iters: int = 2048


@dataclass(slots=True)
class Outcome:
    """What the search of one partition found.

    ``valid``: True, False, or "unknown" (``reason`` says which budget ran out).
    ``order``: the linearization (positions in ``calls``) when valid; for an
    invalid partition the longest prefix found, i.e. the one that got furthest
    through the completions.  ``stuck``: the call whose completion could not be
    passed; ``states``: every state the model was found in just before it (up to
    16); ``pending``: the other calls that could still have taken effect there.
    """

    valid: bool | str
    order: list[int] = field(default_factory=list)
    stuck: int | None = None
    states: list[Any] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    configs: int = 0
    steps: int = 0
    reason: str | None = None


class _Keyed:
    """Wraps a state whose model supplies ``state_key``, so that sets and dicts use the key."""

    __slots__ = ("hash", "key", "state")

    def __init__(self, state: Any, key: Hashable) -> None:
        self.state = state
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and self.key == other.key


def search(calls: Sequence[Call], call_pos: Sequence[int], ret_pos: Sequence[int | None],
           model: Model, budget: Budget) -> Generator[None, None, Outcome]:
    """Search a linearization of ``calls`` (one partition, in invocation order).

    ``call_pos``/``ret_pos`` are the calls' positions in the history (``None``:
    crashed, no return).  Yields now and then (see the module docstring); the
    generator's return value is the ``Outcome``.
    """
    n = len(calls)
    inputs = [c.input for c in calls]
    outputs = [c.output for c in calls]
    crashed = [c.output is CRASHED for c in calls]
    ro = model.read_only
    greedy = [not crashed[i] and ro is not None and ro(inputs[i], outputs[i]) for i in range(n)]
    oks = sorted((i for i in range(n) if not crashed[i]), key=lambda i: ret_pos[i])  # type: ignore
    n_ok = len(oks)
    rank = [-1] * n
    for r, i in enumerate(oks):
        rank[i] = r
    # masks[r]: calls invoked before the completion of oks[r] (a prefix, calls being in call order).
    masks: list[int] = []
    k = 0
    for i in oks:
        rp = ret_pos[i]
        assert rp is not None
        while k < n and call_pos[k] < rp:
            k += 1
        masks.append((1 << k) - 1)
    retbit = [1 << i for i in oks] + [0]

    step = model.step
    if model.state_key is None:
        state: Any = model.init()

        def apply(j: int, s: Any) -> Any:
            ok, nxt = step(s, inputs[j], outputs[j])
            return nxt if ok else _FAIL
    else:
        skey = model.state_key
        s0 = model.init()
        state = _Keyed(s0, skey(s0))

        def apply(j: int, s: Any) -> Any:
            ok, nxt = step(s.state, inputs[j], outputs[j])
            return _Keyed(nxt, skey(nxt)) if ok else _FAIL

    memo: list[dict[Any, Any]] = [{} for _ in range(n)]
    lin = 0  # the linearized set
    r = 0  # rank of the first ok call not yet linearized
    stack: list[tuple[int, Any, int, bool]] = []  # (call, state before, r before, forced)
    cache: set[tuple[int, Any]] = {(0, state)}
    start = 0  # on resuming a configuration: try candidates from this call on
    best_r = -1
    best_states: dict[Any, None] = {}
    best_stack: list[tuple[int, Any, int, bool]] = []
    best_lin = 0
    steps = 0
    slice_iters = budget.slice_iters
    deadline = budget.deadline
    max_configs = budget.max_configs
    fresh = True

    while True:
        if r == n_ok:
            order = [e[0] for e in stack]
            return Outcome(True, order=order, configs=len(cache), steps=steps)
        steps += 1
        if steps % slice_iters == 0:
            if deadline is not None and time.monotonic() > deadline:
                return _unknown("timeout", best_stack, oks, best_r, cache, steps)
            if max_configs is not None and len(cache) > max_configs:
                return _unknown("max-configs", best_stack, oks, best_r, cache, steps)
            yield None
        if fresh and r >= best_r:
            if r > best_r:
                best_r = r
                best_states = {}
                best_stack = stack.copy()
                best_lin = lin
            if len(best_states) < _MAX_STUCK_STATES:
                best_states[state] = None
        cand = masks[r] & ~lin
        if start:
            cand &= -(1 << start)
        chosen = -1
        forced = False
        nstate: Any = None
        while cand:
            low = cand & -cand
            cand ^= low
            j = low.bit_length() - 1
            m = memo[j]
            nxt = m.get(state, _MISS)
            if nxt is _MISS:
                nxt = apply(j, state)
                m[state] = nxt
            if nxt is _FAIL:
                continue
            if nxt == state:
                if crashed[j]:
                    continue
                if greedy[j]:
                    chosen, forced, nstate = j, True, nxt
                    break
            if chosen < 0 and (lin | low, nxt) not in cache:
                chosen, nstate = j, nxt
                if start:
                    break  # resuming: a greedy candidate would have been taken the first time
        if chosen >= 0:
            key = (lin | (1 << chosen), nstate)
            if key not in cache:
                cache.add(key)
                stack.append((chosen, state, r, forced))
                lin = key[0]
                state = nstate
                if rank[chosen] == r:
                    r += 1
                    while lin & retbit[r]:
                        r += 1
                start = 0
                fresh = True
                continue
        # Backtrack: undo the last choice and try the next candidate after it;
        # forced (greedy) choices have no alternative, so undo through them.
        while True:
            if not stack:
                return _invalid(oks, best_r, best_stack, best_states, best_lin, masks, cache, steps)
            j, state, r, was_forced = stack.pop()
            lin ^= 1 << j
            if not was_forced:
                start = j + 1
                break
        fresh = False


def _unknown(reason: str, best_stack: list[tuple[int, Any, int, bool]], oks: list[int],
             best_r: int, cache: set[tuple[int, Any]], steps: int) -> Outcome:
    return Outcome("unknown", order=[e[0] for e in best_stack], configs=len(cache), steps=steps,
                   reason=reason, stuck=oks[best_r] if 0 <= best_r < len(oks) else None)


def _invalid(oks: list[int], best_r: int, best_stack: list[tuple[int, Any, int, bool]],
             best_states: dict[Any, None], best_lin: int, masks: list[int],
             cache: set[tuple[int, Any]], steps: int) -> Outcome:
    stuck = oks[best_r]
    pend_mask = masks[best_r] & ~best_lin & ~(1 << stuck)
    pending = []
    while pend_mask:
        low = pend_mask & -pend_mask
        pend_mask ^= low
        pending.append(low.bit_length() - 1)
    states = [s.state if isinstance(s, _Keyed) else s for s in best_states]
    return Outcome(False, order=[e[0] for e in best_stack], stuck=stuck, states=states,
                   pending=pending, configs=len(cache), steps=steps)
