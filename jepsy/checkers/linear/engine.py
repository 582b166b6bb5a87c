"""What the scheduler and the two search engines agree on: budgets, outcomes, engines.

A search engine searches one partition for a linearization (``search.py`` in
Python, ``native.py`` in C); ``schedule.py`` runs engines over the partitions
within a ``Budget`` and gets an ``Outcome`` from each.  The engine is passed to
the scheduler as an ``Engine`` value, so neither engine imports the other nor
the scheduler: the rules both must follow (which calls are read-only, how a
model with ``state_key`` is stepped, what an invalid or unknown outcome holds)
are here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence, Sized
from typing import TYPE_CHECKING, Any

import msgspec

from jepsy.checkers.linear.models import Call, Model

__all__ = ["ORDERS", "Budget", "Engine", "Outcome", "StepError", "invalid", "read_only_of",
           "stepper", "unknown"]


if TYPE_CHECKING:  # (a Protocol class costs every start-up a millisecond; only types need it)
    from typing import Protocol

    class SearchFn(Protocol):
        """One engine's search of one partition (see ``search.search`` for the contract)."""

        def __call__(self, calls: Sequence[Call], call_pos: Sequence[int],
                     ret_pos: Sequence[int | None], model: Model, budget: Budget, order: str,
                     failed: Any) -> Generator[int, None, Outcome]:
            ...


class Engine(msgspec.Struct, frozen=True):
    """A search engine: its name (``"c"``, ``"python"``), a new failure cache, its search.

    ``new_cache(calls)`` makes the empty cache of failed configurations of a
    partition (all its calls, as its whole history has them: a prefix's search
    uses the cache of its whole partition); ``search`` takes it as ``failed``.  Caches are
    the engine's own (a ``set`` for Python, a ``FailCache`` for C): a cache
    carried from a prefix of the history to the next goes back to the engine
    that made it.
    """

    name: str
    new_cache: Callable[[Sequence[Call]], Any]
    search: SearchFn


class Budget(msgspec.Struct):
    """Limits shared by every partition of one check (``None`` = unlimited).

    ``max_bytes`` bounds the estimated memory of the caches of all the searches
    alive at once (``usage`` holds each one's estimate): a configuration costs a
    set slot and a tracked tuple (about 160 bytes with the set's spare room), its
    bitset and its state, sampled as the search goes.  Counting the state in full
    errs high for models whose states repeat, and is about right for states that
    rarely do (strings grown by appends).
    """

    deadline: float | None = None  # time.monotonic() value
    max_configs: int | None = None
    max_bytes: int | None = None
    slice_iters: int = 512
    usage: dict[int, int] = msgspec.field(default_factory=dict)


class Outcome(msgspec.Struct):
    """What the search of one partition found.

    ``valid``: True, False, or "unknown" (``reason`` says which budget ran out).
    ``order``: the linearization (positions in ``calls``) when valid; for an
    invalid partition the longest prefix found, i.e. the one that got furthest
    through the completions.  ``stuck``: the call whose completion could not be
    passed; ``states``: every state the model was found in just before it (up to
    16); ``pending``: the other calls that could still have taken effect there.
    ``configs``: configurations proven dead (the size of the failure cache,
    shared with the other searches of a portfolio).
    """

    valid: bool | str
    order: list[int] = msgspec.field(default_factory=list)
    stuck: int | None = None
    states: list[Any] = msgspec.field(default_factory=list)
    pending: list[int] = msgspec.field(default_factory=list)
    configs: int = 0
    steps: int = 0
    reason: str | None = None


# Candidate orders.  "return" tries first the call that must take effect soonest
# (earliest deadline first): it guesses that an op took effect just before it
# returned.  "call" (Porcupine's order) guesses that it took effect as soon as it was
# invoked.  Which guess is better depends on where a system is slow (before or after
# applying an op); neither wins on every history.
ORDERS = ("return", "call")


class StepError(Exception):
    """The model's ``step`` raised on the call whose ``id`` is ``call``.

    Usually a history whose values the model cannot take (an ``append`` of a
    number to a string); the checker reports it as a malformed history.
    """

    def __init__(self, call: int, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(call, text)  # (call, text): what pickling between workers keeps
        self.call = call
        self.error = text


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


_READ_ONLY_OPS = frozenset(("read", "any"))


def read_only_of(model: Model) -> Callable[[Any, Any], bool] | None:
    """Which calls the search may linearize greedily (the module docstring), or None.

    A call with an instruction (``Model.native_op``) is read-only by the
    instruction itself: a read, an any, or a cas from a value to that same value.
    The model's ``read_only`` answers for the others.  Both engines use this rule.
    """
    op = model.native_op if model.state_key is None else None
    ro = model.read_only
    if op is None:
        return ro

    def read_only(inp: Any, out: Any) -> bool:
        ins = op(inp, out)
        if ins is None:
            return ro is not None and ro(inp, out)
        return ins[0] in _READ_ONLY_OPS or (ins[0] == "cas" and bool(ins[1] == ins[2]))

    return read_only


def stepper(model: Model) -> tuple[Any, Any]:
    """``model``'s step function and initial state, wrapped in ``_Keyed`` if it has ``state_key``."""
    if model.state_key is None:
        return model.step, model.init()
    skey = model.state_key
    user_step = model.step
    s0 = model.init()

    def step(s: Any, inp: Any, out: Any) -> tuple[bool, Any]:
        ok, nxt = user_step(s.state, inp, out)
        return ok, _Keyed(nxt, skey(nxt)) if ok else None

    return step, _Keyed(s0, skey(s0))


def unknown(reason: str, order: list[int], perm: list[int], stuck_slot: int, cache: Sized,
            steps: int) -> Outcome:
    """The outcome of a search that ran out of budget (``order``: calls linearized so far)."""
    return Outcome("unknown", order=order, configs=len(cache), steps=steps, reason=reason,
                   stuck=perm[stuck_slot] if stuck_slot >= 0 else None)


def invalid(perm: list[int], best_r: int, stuck_slot: int, order: list[int], best_states: list[Any],
            best_lin: int, masks: Any, cache: Sized, steps: int) -> Outcome:
    """The outcome of a search that proved there is no linearization (see ``Outcome``)."""
    pend_mask = masks[best_r] & ~best_lin & ~(1 << stuck_slot)
    pending = []
    while pend_mask:
        low = pend_mask & -pend_mask
        pend_mask ^= low
        pending.append(perm[low.bit_length() - 1])
    pending.sort()
    states = [s.state if isinstance(s, _Keyed) else s for s in best_states]
    return Outcome(False, order=order, stuck=perm[stuck_slot], states=states, pending=pending,
                   configs=len(cache), steps=steps)
