"""The search for a linearization of one partition: Wing & Gong's, with Lowe's cache.

A set of calls is an ``int`` bitset; a configuration is ``(linearized set, model
state)``.  From a configuration, the candidates for the next linearization point
are the calls not yet linearized that were invoked before the earliest completion
among the ``ok`` calls still to linearize (an op cannot take effect after one
that had already returned before it was invoked).  Depth-first; a configuration
from which the search found no way through is remembered in a set of failures and
never explored again (Lowe's cache, as in Porcupine).  Failures are recorded when
the search backtracks out of a configuration, so the set holds facts that do not
depend on the order candidates were tried in: ``portfolio`` runs searches with
different candidate orders over one shared set, and the checker carries it from
a prefix of the history to the next (see ``schedule.prefix``).

Candidates are tried in the order of their "slots": ``"return"`` numbers the
calls by completion (earliest deadline first), ``"call"`` by invocation (as
Porcupine does); a second bitset numbered by invocation keys the cache, so that
every order shares it.

Three reductions on top, all exact:

* **Legal reads are linearized greedily.**  If an ``ok`` candidate is read-only
  (``read_only_of``: it leaves unchanged every state it is legal in)
  and legal in the current state, some linearization exists from here iff one
  exists that takes it first: moving it earlier changes no other op's state and
  breaks no real-time edge (everything that returned before it was invoked is
  already linearized).  So that child is the only one explored.  On read-heavy
  histories this removes most of the branching.  (Being state-preserving in the
  current state is not enough: a write of the current value is, but moved
  earlier it would lose its effect on a later state.)
* **Crashed twins are interchangeable.**  Two crashed calls with equal inputs,
  both invoked and both pending, can swap places in any linearization (neither
  has a return to meet), so of such twins only the earliest pending one is tried
  (``twins``).  Without this, every pending crashed write was tried at every
  configuration, and a long history's crashed calls piled up.
* **Crashed calls are optional.**  A crashed call (``info``, or never completed)
  may take effect any time after its invocation, or never; it never blocks the
  search, which succeeds once every ``ok`` call is linearized, and a crashed call
  that would leave the state unchanged is never tried.

The search is a generator: it yields every ``slice_iters`` steps so that the
caller can interleave partitions, and it enforces the budgets (a deadline, a cap
on cached configurations, an estimate of their memory), after which the verdict
is "unknown".  It yields its frontier: the history position of the furthest
completion it has got past.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from sys import getsizeof
from typing import Any

import msgspec

from jepsy.checkers.linear.engine import (
    ORDERS,
    Budget,
    Engine,
    Outcome,
    StepError,
    invalid,
    read_only_of,
    stepper,
    unknown,
)
from jepsy.checkers.linear.models import CRASHED, Call, Model

__all__ = ["ENGINE", "Layout", "layout", "search"]

_MAX_STUCK_STATES = 16


# Up to this many calls in a partition, every candidate mask is built up front
# (n masks of n bits: 8 MB at this size); beyond, they are built as needed.
_DENSE_MASKS = 8192


class _LazyMasks:
    """``masks[r]`` built on demand from its predecessor, a bounded number kept.

    For a partition of n calls the masks take n²/8 bytes, too much for a long
    single-key history (450 MB at 60,000 calls).  The search moves r by small
    steps, so the mask it needs next is a few additions away from one it had.
    """

    def __init__(self, ok_by_ret: list[int], call_pos: Sequence[int],
                 ret_pos: Sequence[int | None], slot_of: list[int], bits: list[int]) -> None:
        self.bits = bits
        # added[r]: the slots invoked after the return of ok call r-1, before that of r.
        self.added: list[list[int]] = []
        k = 0
        n = len(call_pos)
        for i in ok_by_ret:
            rp = ret_pos[i]
            new = []
            while k < n and call_pos[k] < rp:  # type: ignore[operator]
                new.append(slot_of[k])
                k += 1
            self.added.append(new)
        self.kept: dict[int, int] = {}

    def __getitem__(self, r: int) -> int:
        kept = self.kept
        mask = kept.get(r)
        if mask is not None:
            return mask
        base = max((q for q in kept if q < r), default=-1)
        mask = kept[base] if base >= 0 else 0
        bits = self.bits
        for q in range(base + 1, r + 1):
            for slot in self.added[q]:
                mask |= bits[slot]
        if len(kept) >= 256:
            kept.pop(next(iter(kept)))
        kept[r] = mask
        return mask


class Layout(msgspec.Struct):
    """One partition's calls as a search sees them, numbered by slot.

    Slot ``j`` is call ``perm[j]``; candidates are tried lowest slot first.
    ``rslot[r]`` is the slot of the r-th ok call to return (then -1);
    ``masks[r]`` the slots invoked before that return, i.e. the candidates
    while it is the first ok call pending; ``slot_ret[r]`` its history position.
    ``cbit[j]`` is slot j's bit in the canonical numbering (the call's position)
    that keys the cache, so that searches in every order share it.  ``step`` and
    ``init`` wrap the model's for a model with ``state_key``.  ``twin[j]`` is, for a
    crashed slot, the nearest lower crashed slot with an equal input (else -1).
    """

    perm: list[int]
    inputs: list[Any]
    outputs: list[Any]
    romask: int
    crashed_mask: int
    masks: Any  # list[int], or _LazyMasks beyond _DENSE_MASKS calls
    rslot: list[int]
    retbit: list[int]
    slot_ret: list[int]
    cbit: list[int]
    bits: list[int]
    twin: list[int]
    n_ok: int
    step: Any
    init: Any


def layout(calls: Sequence[Call], call_pos: Sequence[int], ret_pos: Sequence[int | None],
           model: Model, order: str) -> Layout:
    """Number ``calls`` (one partition, in invocation order) by slot for ``order``."""
    n = len(calls)
    outs = [c.output for c in calls]
    ok_by_ret = sorted([i for i in range(n) if outs[i] is not CRASHED],
                       key=ret_pos.__getitem__)  # type: ignore[arg-type]
    n_ok = len(ok_by_ret)
    # Slots: the order in which candidates are tried (lowest bit first).
    if order == "call":
        perm = list(range(n))  # calls come in invocation order
        slot_of = perm
        rslot = ok_by_ret.copy()
    elif order == "return":
        perm = ok_by_ret + [i for i in range(n) if outs[i] is CRASHED]
        slot_of = [0] * n
        for j, i in enumerate(perm):
            slot_of[i] = j
        rslot = list(range(n_ok))
    else:
        raise ValueError(f"unknown candidate order {order!r}; known: {', '.join(ORDERS)}")
    inputs = [calls[i].input for i in perm]
    outputs = [outs[i] for i in perm]
    crashed = [o is CRASHED for o in outputs]
    bits = [1 << j for j in range(n)]
    ro = read_only_of(model)
    romask = 0
    if ro is not None:
        romask = sum([bits[j] for j in range(n) if not crashed[j] and ro(inputs[j], outputs[j])])
    masks: Any
    if n <= _DENSE_MASKS:
        masks = []
        mask = 0
        k = 0
        for i in ok_by_ret:
            rp = ret_pos[i]
            while k < n and call_pos[k] < rp:  # type: ignore[operator]
                mask |= bits[slot_of[k]]
                k += 1
            masks.append(mask)
    else:
        masks = _LazyMasks(ok_by_ret, call_pos, ret_pos, slot_of, bits)
    retbit = [bits[j] for j in rslot]
    retbit.append(0)
    rslot.append(-1)
    slot_ret: list[int] = [ret_pos[i] for i in ok_by_ret]  # type: ignore[misc]
    slot_ret.append(0)
    step, init = stepper(model)
    return Layout(perm=perm, inputs=inputs, outputs=outputs, romask=romask,
                  crashed_mask=sum([bits[j] for j in range(n) if crashed[j]]), masks=masks,
                  twin=twins(inputs, crashed),
                  rslot=rslot, retbit=retbit, slot_ret=slot_ret, cbit=[bits[i] for i in perm], bits=bits,
                  n_ok=n_ok, step=step, init=init)


def twins(inputs: Sequence[Any], crashed: Sequence[bool]) -> list[int]:
    """For each crashed slot, the nearest lower crashed slot with an equal input, or -1.

    Equal as a dict key is (identity, else hash and ``==``); inputs that cannot be
    hashed are compared with earlier ones by identity, else ``==``.  The C search
    computes the same (``_linear.c``, ``lay_out``).
    """
    twin = [-1] * len(inputs)
    last: dict[Any, int] = {}
    for j, inp in enumerate(inputs):
        if not crashed[j]:
            continue
        try:
            twin[j] = last.get(inp, -1)
            last[inp] = j
        except TypeError:  # an unhashable input: the nearest equal one before it
            for q in range(j - 1, -1, -1):
                if crashed[q] and (inputs[q] is inp or inputs[q] == inp):
                    twin[j] = q
                    break
    return twin


def search(calls: Sequence[Call], call_pos: Sequence[int], ret_pos: Sequence[int | None],
           model: Model, budget: Budget, order: str = "return",
           failed: set[tuple[int, Any]] | None = None) -> Generator[int, None, Outcome]:
    """Search a linearization of ``calls`` (one partition, in invocation order).

    ``call_pos``/``ret_pos`` are the calls' positions in the history (``None``:
    crashed, no return).  Yields its frontier now and then (see the module
    docstring); the generator's return value is the ``Outcome``.
    """
    lay = layout(calls, call_pos, ret_pos, model, order)
    if failed is None:
        failed = set()
    perm, inputs, outputs, masks = lay.perm, lay.inputs, lay.outputs, lay.masks
    rslot, retbit, slot_ret, n_ok = lay.rslot, lay.retbit, lay.slot_ret, lay.n_ok
    step, state = lay.step, lay.init
    romask, crashed_mask, cbit = lay.romask, lay.crashed_mask, lay.cbit
    twin = lay.twin
    bits = lay.bits
    lin = 0  # the linearized set
    r = 0  # slot of the first ok call not yet linearized
    # The path is a linked list of (call, state before, r before, candidates left or -1
    # when forced, parent) so that
    # remembering the furthest path (for the explanation) costs O(1).
    path: Any = None
    cache = failed
    best_r = -1
    best_states: dict[Any, None] = {}
    best_path: Any = None
    best_lin = 0
    clin = 0  # the linearized set again, numbered canonically (calls' positions) for the cache
    slice_iters = budget.slice_iters
    countdown = slice_iters + 1  # budgets are checked every slice_iters steps, as native.py does
    slices = 0
    deadline = budget.deadline
    max_configs = budget.max_configs
    max_bytes = budget.max_bytes
    usage = budget.usage
    me = id(cache)
    nonro = ~romask
    rest = -1  # -1: a new configuration; else the candidates it has left to try
    nxt: Any = None
    key: tuple[int, Any] = (0, None)

    while True:
        if r == n_ok:
            return Outcome(True, order=_order(path, perm), configs=len(cache),
                           steps=slices * slice_iters + slice_iters + 1 - countdown)
        countdown -= 1
        if not countdown:
            countdown = slice_iters + 1  # budgets are checked every slice_iters steps, as native.py does
            slices += 1
            steps = slices * slice_iters
            front, front_path = (r, path) if r > best_r else (best_r, best_path)
            if deadline is not None and time.monotonic() > deadline:
                return unknown("timeout", _order(front_path, perm), perm, rslot[front], cache, steps)
            if max_configs is not None and len(cache) > max_configs:
                return unknown("max-configs", _order(front_path, perm), perm, rslot[front], cache, steps)
            if max_bytes is not None:
                usage[me] = len(cache) * (160 + getsizeof(clin) + getsizeof(state))
                if sum(usage.values()) > max_bytes:
                    usage.pop(me, None)
                    return unknown("memory", _order(front_path, perm), perm, rslot[front], cache, steps)
            yield slot_ret[front]
        j = -1
        if rest < 0:  # a configuration seen for the first time
            cand = masks[r] & ~lin
            # A legal read-only candidate is taken alone (see the module docstring);
            # if that configuration is known to fail, so does this one.
            ro_cand = cand & romask
            while ro_cand:
                low = ro_cand & -ro_cand
                ro_cand ^= low
                j = low.bit_length() - 1
                try:
                    ok, nxt = step(state, inputs[j], outputs[j])
                except Exception as e:  # a model that cannot take this op's values
                    raise StepError(calls[perm[j]].id, e) from e
                if ok:
                    break
            else:
                j = -1
            if j >= 0:
                key = (clin | cbit[j], nxt)
                cand = -1  # forced: no alternative to come back to
                try:
                    if key in cache:
                        j = -2
                except Exception as e:  # a state that cannot be hashed or compared
                    raise StepError(calls[perm[j]].id, e) from e
            else:
                # Read-only candidates are not legal here (else one was forced).
                cand &= nonro
        else:  # back at a configuration: the candidates it had left
            cand = rest
        if j == -1:
            while cand:
                low = cand & -cand
                cand ^= low
                j = low.bit_length() - 1
                if low & crashed_mask:  # a crashed twin before it still pending: that one serves
                    q = twin[j]
                    while q >= 0 and lin & bits[q]:
                        q = twin[q]
                    if q >= 0:
                        continue
                try:
                    ok, nxt = step(state, inputs[j], outputs[j])
                    if not ok or (low & crashed_mask and nxt == state):
                        continue
                    key = (clin | cbit[j], nxt)
                    if key not in cache:
                        break
                except Exception as e:  # a model (or a state) that cannot take this op's values
                    raise StepError(calls[perm[j]].id, e) from e
            else:
                j = -2
        if j >= 0:
            path = (j, state, r, cand, path)
            lin |= bits[j]
            clin = key[0]
            state = nxt
            if j == rslot[r]:
                r += 1
                while lin & retbit[r]:
                    r += 1
            rest = -1
            continue
        # Backtrack: undo the last choice and go on with the candidates left at that
        # configuration; a forced (greedy) choice had no alternative, so undo through it.
        # The furthest configurations are noted here, when they fail, not on the way
        # forward: a search that never backtracks pays nothing for its explanation.
        while True:
            cache.add((clin, state))  # explored, and no linearization from here
            if r >= best_r:
                if r > best_r:
                    best_r = r
                    best_states = {}
                    best_path = path
                    best_lin = lin
                if len(best_states) < _MAX_STUCK_STATES:
                    best_states[state] = None
            if path is None:
                return invalid(perm, best_r, rslot[best_r], _order(best_path, perm),
                               list(best_states), best_lin, masks, cache,
                               slices * slice_iters + slice_iters + 1 - countdown)
            j, state, r, rest, path = path
            lin ^= bits[j]
            clin ^= cbit[j]
            if rest > 0:
                break


def _order(path: Any, perm: list[int]) -> list[int]:
    """The calls (original positions) of a path, first linearized first."""
    order = []
    while path is not None:
        order.append(perm[path[0]])
        path = path[4]
    order.reverse()
    return order


def _new_set(calls: Sequence[Call]) -> set[tuple[int, Any]]:
    return set()


ENGINE = Engine("python", _new_set, search)
