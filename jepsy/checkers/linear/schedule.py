"""Scheduling the search of a history's partitions: horizons, portfolios, a racing process.

A history is split into independent partitions (keys, by the model's
``partition``); ``run`` searches them interleaved, one slice of steps at a time
to the least served key, advancing all keys through the history by doubling
horizons (``prefix``) so that an early violation in one key is found before the
others are finished; within a key, ``portfolio`` runs searches in several
candidate orders over one shared cache of failures; ``run_racing`` forks a
second process racing this one in another order once a check takes a while.
The search itself is the ``Engine`` the caller passes (``search.ENGINE`` or
``native.ENGINE``): nothing here knows which.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Generator, Hashable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from jepsy.checkers.linear.engine import ORDERS, Budget, Engine, Outcome
from jepsy.checkers.linear.models import CRASHED, Call, Model
from jepsy.checkers.linear.prepare import Prepared

__all__ = ["SLICE_ITERS", "Part", "horizons", "partition", "portfolio", "prefix", "run", "run_racing"]


class Part(msgspec.Struct):
    key: Hashable
    calls: list[Call]
    originals: list[int]  # position of each call in Prepared
    call_pos: list[int]
    ret_pos: list[int | None]

    @property
    def cost(self) -> int:
        return len(self.calls)


def partition(prep: Prepared, model: Model) -> list[Part]:
    groups = model.partition(prep.calls) if model.partition else {None: list(prep.calls)}
    parts = []
    for key, calls in groups.items():
        calls = sorted(calls, key=attrgetter("id"))
        originals = [c.id for c in calls]
        if len(calls) == len(prep.calls):  # the whole history: its lists serve as they are
            parts.append(Part(key, calls, originals, prep.call_pos, prep.ret_pos))
            continue
        parts.append(Part(key, calls, originals, [prep.call_pos[i] for i in originals],
                           [prep.ret_pos[i] for i in originals]))
    parts.sort(key=lambda p: p.cost)
    return parts


def prefix(part: Part, horizon: int) -> tuple[list[Call], list[int], list[int | None], bool]:
    """The part of ``part`` seen before history position ``horizon``: a relaxation of it.

    Calls invoked before the horizon, those that had not returned by then made
    crashed (they may take effect at any later time, or never).  Returns the
    calls, their positions, and whether this is the whole partition.

    If the prefix has no linearization, neither has the whole: in a linearization
    of the whole, the calls up to the last one that returned before the horizon
    are all prefix calls (a call invoked later must follow it), and crashing a
    call only relaxes it.  So a violation found in a prefix is a violation, and a
    configuration that failed in a prefix fails in the whole (numbering the calls
    alike, which a prefix does): the cache of failures carries over.
    """
    m = bisect_left(part.call_pos, horizon)
    calls = part.calls[:m]
    ret_pos = part.ret_pos[:m]
    if m == len(part.calls) and all(r is None or r < horizon for r in ret_pos):
        return part.calls, part.call_pos, part.ret_pos, True
    calls = [c if r is None or r < horizon else Call(c.id, c.process, c.input, CRASHED, c.extra)
             for c, r in zip(calls, ret_pos, strict=True)]
    ret_pos = [r if r is None or r < horizon else None for r in ret_pos]
    return calls, part.call_pos[:m], ret_pos, False


SLICE_ITERS = 512  # search steps between two turns of the scheduler
_FIRST_HORIZON = 256
_LEVEL_SLICES = 32
# A check still running after this many slices (some 10,000 search steps, tens of
# milliseconds) is worth a second process; most finish before and never fork.
_RACE_AFTER_SLICES = 40


def horizons(parts: Sequence[Part]) -> list[int]:
    """History positions to check every key up to, doubling, the last one past the end."""
    end = 1 + max((max(p.call_pos[-1], max((r for r in p.ret_pos if r is not None), default=0))
                   for p in parts if p.calls), default=0)
    out = []
    h = _FIRST_HORIZON
    while h < end:
        out.append(h)
        h *= 2
    out.append(end)
    return out


def run(parts: Sequence[Part], which: Sequence[int], model: Model, budget: Budget,
         all_keys: bool, *, engine: Engine, orders: Sequence[str] = ORDERS,
         descending: bool = False,
         done: Any = None, stop: Any = None,
         known: dict[int, Any] | None = None,
         race: Callable[[list[int], dict[int, Any]], tuple[Any, Any, Any]] | None = None,
         helping: Any = None) -> dict[int, Outcome]:
    """Search the partitions ``which``, interleaved: one slice at a time to the least served.

    Equal shares (ties to the cheapest, or with ``descending`` the dearest): a key
    with a cheap proof of a violation is found after at most one such proof's
    worth of work on each other key, not after finishing them.

    When the check stops at the first violation and there are several keys, the
    keys advance through the history together: every key's prefix up to position
    256 is checked, then up to 512, and so on to the end (``prefix``: a
    violation in a prefix is a violation, and the failures found there are kept
    for the next horizon).  A key at a further horizon waits until the others
    have spent ``_LEVEL_SLICES`` more slices per horizon than it, so a key whose
    history goes wrong early is caught before the others are finished, even if
    its search is no cheaper than theirs, and a hard key holds the others back
    for a bounded time only.  (Favouring the key whose search lags furthest
    behind in real time was tried first, and lost on Porcupine's c50-bad, where
    the laggard is an expensive invalid key.)  ``done`` (shared flags, one per partition) and
    ``stop`` (an event) coordinate with a process racing the same keys in another
    order; ``known`` gives failures already proven per key; ``race``, called once
    the search has run ``_RACE_AFTER_SLICES`` slices, starts such a process and
    returns ``(done, stop, effort)``, where this process then publishes the slices
    it spent on each key.  The racer gets that array as ``helping`` and favours
    the keys this process finds hard: it counts the other's slices against its own.
    """
    results: dict[int, Outcome] = {}
    levels = horizons(parts) if not all_keys and len(which) > 1 else [-1]
    caches: dict[int, Any] = {}
    level: dict[int, int] = {}
    final: dict[int, bool] = {}
    live: dict[int, Any] = {}

    def start(i: int, lv: int) -> None:
        part = parts[i]
        while levels[lv] >= 0 and part.call_pos and part.call_pos[0] >= levels[lv]:
            lv += 1  # nothing of this key before that horizon: start where it starts
        if levels[lv] < 0:
            calls, call_pos, ret_pos, whole = part.calls, part.call_pos, part.ret_pos, True
        else:
            calls, call_pos, ret_pos, whole = prefix(part, levels[lv])
        level[i], final[i] = lv, whole
        live[i] = portfolio(calls, call_pos, ret_pos, model, budget, engine, orders, caches[i])

    spent = dict.fromkeys(which, 0)
    sign = -1 if descending else 1

    def priority(i: int) -> tuple[int, int, int]:
        p = spent[i] + _LEVEL_SLICES * level[i]
        if helping is not None:
            p -= helping[i]
        return p, sign * parts[i].cost, i

    for i in which:
        caches[i] = known[i] if known and i in known else engine.new_cache(parts[i].calls)
        start(i, 0)
    # Priorities only change for the key that just ran, so a heap serves the least
    # served key in O(log keys) (Jepsen's independent tests have thousands of keys).
    heap = [priority(i) for i in which]
    heapq.heapify(heap)
    turns = 0
    effort: Any = None
    while heap:
        i = heapq.heappop(heap)[2]
        if done is not None and done[i]:  # decided by the other process
            live.pop(i).close()
            del caches[i]
            continue
        try:
            next(live[i])
            spent[i] += 1
            turns += 1
            if effort is not None:
                effort[i] = spent[i]
            if race is not None and turns == _RACE_AFTER_SLICES:
                done, stop, effort = race(list(live), caches)
                for k, n in spent.items():
                    effort[k] = n
            heapq.heappush(heap, priority(i))
        except StopIteration as finished:
            out: Outcome = finished.value
            if out.valid is True and not final[i]:
                start(i, level[i] + 1)  # this prefix is fine: on to the next horizon
                heapq.heappush(heap, priority(i))
                continue
            del live[i], caches[i]
            results[i] = out
            if done is not None and out.valid != "unknown":
                done[i] = 1
            if out.valid is False and not all_keys:
                if stop is not None:
                    stop.set()
                return results
        if stop is not None and not all_keys and stop.is_set():
            return results
    return results


def run_racing(parts: Sequence[Part], model: Model, budget: Budget,
                all_keys: bool, engine: Engine) -> dict[int, Outcome]:
    """Search in this process, and race a second one over the keys if it takes a while.

    This process tries the earliest deadline first and takes the cheapest keys
    first.  If the check is not over after ``_RACE_AFTER_SLICES`` slices, it forks
    a child that inherits everything (the partitions, the model, which need not
    be picklable: users' models are often lambdas, and the failures proven so
    far) and searches the keys still open in Porcupine's invocation order,
    favouring those this process spends most on (the hard ones: where a
    different order may be what they need).  A key decided by one is dropped by
    the other.  On easy keys this shares the work; on a key whose search is hard
    in one order and easy in the other (as happens on Porcupine's c50
    histories), it gets the better of the two.  The memory budget is halved
    between them at the fork.
    """
    child: dict[str, Any] = {}

    def race(open_keys: list[int], known: dict[int, Any]) -> tuple[Any, Any, Any]:
        # Imported only when a check runs long enough to fork: most never do, and the
        # import was a tenth of ``jepsy check``'s start-up on a small history.
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        stop = ctx.Event()
        done = ctx.Array("b", len(parts), lock=False)
        effort = ctx.Array("q", len(parts), lock=False)
        receive, send = ctx.Pipe(duplex=False)
        if budget.max_bytes is not None:
            budget.max_bytes //= 2

        def run_child() -> None:
            try:
                outs: Any = run(parts, open_keys, model, budget, all_keys, engine=engine,
                                 orders=ORDERS[1:2], descending=True, done=done, stop=stop,
                                 known=known, helping=effort)
            except BaseException as e:  # reported to the parent, which raises it
                outs = e
            send.send(outs)
            send.close()

        proc = ctx.Process(target=run_child, daemon=True)
        proc.start()
        send.close()
        child.update(proc=proc, receive=receive, stop=stop)
        return done, stop, effort

    try:
        results = run(parts, range(len(parts)), model, budget, all_keys, engine=engine,
                       orders=ORDERS[:1], race=race)
    except BaseException:
        if child:
            child["stop"].set()
            child["proc"].kill()
        raise
    if not child:
        return results
    child["stop"].set()  # we are done: every key decided, or a violation found
    try:
        theirs = child["receive"].recv()
    except EOFError:
        theirs = {}  # the child died (killed, out of memory): our verdicts stand
    child["proc"].join()
    if isinstance(theirs, BaseException):
        raise theirs
    for i, out in theirs.items():
        if i not in results or results[i].valid == "unknown":
            results[i] = out
    return results


def portfolio(calls: Sequence[Call], call_pos: Sequence[int], ret_pos: Sequence[int | None],
              model: Model, budget: Budget, engine: Engine, orders: Sequence[str] = ORDERS,
              failed: Any = None) -> Generator[int, None, Outcome]:
    """Several searches of one partition, each trying candidates in its own order.

    The first to finish decides: a linearization found by any is one, and a
    search that runs out of candidates has proved there is none.  They share
    their cache of failed configurations (a configuration with no linearization
    has none whatever the order that reached it), so each prunes for the others.
    The first order runs alone while its search goes straight (about two steps
    per call), which is how most valid histories go; beyond that they alternate.
    ``failed`` may carry failures proven earlier (see ``prefix``), in a cache
    ``engine`` made; ``engine`` is the search that runs.
    """
    if failed is None:
        failed = engine.new_cache(calls)
    gens = [engine.search(calls, call_pos, ret_pos, model, budget, order, failed) for order in orders]
    solo = 1 + (2 * len(calls) + 1024) // budget.slice_iters
    turn = 0
    frontier = -1
    while True:
        i = 0 if turn < solo else turn % len(gens)
        turn += 1
        try:
            frontier = max(frontier, next(gens[i]))
        except StopIteration as done:
            for g in gens:
                g.close()
            budget.usage.pop(id(failed), None)  # this cache is freed now
            out: Outcome = done.value
            return out
        yield frontier
