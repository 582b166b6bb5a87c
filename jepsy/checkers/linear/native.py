"""The compiled search: ``search``'s loop, in C (``_linear.c``), when it was built.

The C module is optional: ``pip install`` builds it when a C compiler and
Python's headers are there (Debian: gcc, python3-dev) and skips it otherwise;
``AVAILABLE`` says which.  It runs the same search as ``search.search``
(same layout, candidate order, greedy reads, cache and explanation data), so the
two give the same verdicts; tests/property/test_linear/native.py holds them to
it.  Why it exists: the Python loop costs about 2 µs per search step, most of
it interpreter overhead, where Porcupine's Go costs a tenth of that.

The checker runs this search when it is given ``ENGINE`` (its caches are
``FailCache``s, from ``new_cache``).  A cache holds each configuration as the
words of its bitset around the search's frontier (those before it are all
linearized, those after none) plus the crashed calls' bits apart, and the
model's state: some tens of bytes where a Python set costs about 250, and
where the whole bitset of a 128k-call history would cost kilobytes.

Models run without calling Python when they describe their calls as plain-data
instructions (``Model.native_op``, see ``models``): every built-in register,
the mutex and Porcupine's kv do.  Other models run too, the loop calling their
``step``; models with ``state_key`` always do.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Sequence
from sys import getsizeof
from time import monotonic
from types import ModuleType
from typing import Any

from jepsy.checkers.linear.engine import (
    ORDERS,
    Budget,
    Engine,
    Outcome,
    StepError,
    invalid,
    stepper,
    unknown,
)
from jepsy.checkers.linear.models import CRASHED, Call, Model

_linear: ModuleType | None
try:
    from jepsy.checkers.linear import _linear
except ImportError:  # built without a C compiler: the Python search serves alone
    _linear = None

__all__ = ["AVAILABLE", "ENGINE", "MAX_CALLS", "invalid_outcome", "new_cache", "search"]

AVAILABLE: bool = _linear is not None
# Any partition: the C search keeps one candidate mask and no per-depth copies (its
# memory grows with the calls, not their square), so it has no size limit of its own.
MAX_CALLS = sys.maxsize

def new_cache(n_calls: int, crashed: Sequence[int] = ()) -> Any:
    """An empty failure cache for a partition of ``n_calls`` calls (needs ``AVAILABLE``).

    ``crashed``: the indices of the partition's crashed calls; the cache stores
    their bits apart from the others', which keeps each configuration to the few
    words around the search's frontier (see ``_linear.c``, ``encode``).  Only
    memory depends on it, never an answer.
    """
    if _linear is None:
        raise RuntimeError("jepsy's compiled search is not built (a C compiler and Python "
                           "headers are needed at install time)")
    return _linear.FailCache(max(1, (n_calls + 63) // 64), crashed)


def _cache_for(calls: Sequence[Call]) -> Any:
    return new_cache(len(calls), [k for k, c in enumerate(calls) if c.output is CRASHED])


def search(calls: Sequence[Call], call_pos: Sequence[int], ret_pos: Sequence[int | None],
           model: Model, budget: Budget, order: str, failed: Any) -> Generator[int, None, Outcome]:
    """``search.search`` with the loop in C; ``failed`` is a ``new_cache`` of the partition.

    The C side lays the calls out itself (``search.layout`` is the
    reference): building that in Python cost more than the search on most
    Knossos histories.
    """
    assert _linear is not None
    if order not in ORDERS:
        raise ValueError(f"unknown candidate order {order!r}; known: {', '.join(ORDERS)}")
    step, init = stepper(model)
    calls = calls if isinstance(calls, list) else list(calls)
    op = model.native_op
    if op is None or model.state_key is not None:
        instructions: list[Any] = [None] * len(calls)
    else:
        instructions = [op(c.input, c.output) for c in calls]
    # Calls with an instruction are read-only or not by the instruction itself (a read,
    # an any, a cas to the same value); the model's read_only is asked for the others.
    ro = model.read_only
    read_only: list[bool] | None = None
    if None in instructions:
        read_only = ([False] * len(calls) if ro is None
                     else [c.output is not CRASHED and ro(c.input, c.output) for c in calls])
    s = _linear.Search(failed, step, order == "call", calls, instructions, read_only,
                       call_pos if isinstance(call_pos, list) else list(call_pos),
                       ret_pos if isinstance(ret_pos, list) else list(ret_pos), init)
    perm, rslot, slot_ret = s.layout()
    slice_iters = budget.slice_iters
    deadline, max_configs, max_bytes = budget.deadline, budget.max_configs, budget.max_bytes
    usage = budget.usage
    me = id(failed)
    while True:
        try:
            status = s.run(slice_iters)
        except Exception as e:  # the model (or a state's hash) could not take a call's values
            if s.err_slot >= 0:
                raise StepError(calls[perm[s.err_slot]].id, e) from e
            raise
        if status == 1:
            return Outcome(True, order=[perm[j] for j in s.order(False)], configs=len(failed),
                           steps=s.steps)
        if status == 2:
            return invalid_outcome(s, failed, perm, rslot)
        r, best_r = s.r, s.best_r
        front, best = (r, False) if r > best_r else (best_r, True)
        reason = None
        if deadline is not None and monotonic() > deadline:
            reason = "timeout"
        elif max_configs is not None and len(failed) > max_configs:
            reason = "max-configs"
        elif max_bytes is not None:
            # The states are counted as if each configuration held its own (as in the
            # Python search's estimate): about right for states that rarely repeat.
            usage[me] = failed.nbytes + len(failed) * getsizeof(s.state)
            if sum(usage.values()) > max_bytes:
                usage.pop(me, None)
                reason = "memory"
        if reason:
            return unknown(reason, [perm[j] for j in s.order(best)], perm, rslot[front], failed,
                           s.steps)
        yield slot_ret[front]


def invalid_outcome(s: Any, failed: Any, perm: list[int], rslot: list[int]) -> Outcome:
    """The ``Outcome`` of a ``_linear.Search`` that ended invalid (``perm``, ``rslot``: its layout)."""
    best_r = s.best_r
    return invalid(perm, best_r, rslot[best_r], s.path_items(True, None),
                   s.best_states(), int.from_bytes(s.best_lin(), "little"),
                   {best_r: int.from_bytes(s.mask(best_r), "little")}, failed, s.steps)


ENGINE = Engine("c", _cache_for, search)
