"""The linearizability checker: is there one order of the operations, consistent with real time
and with a sequential model, that explains every result?

``linearizable(model, timeout=..., max_configs=..., all_keys=..., workers=...,
memory_mb=...)`` returns a ``Checker``; ``check_history(history, model, ...)`` is the
one-call form.  A history the model cannot take (unpaired ops, values its ``step``
chokes on) raises ``HistoryError`` naming the op.  The pipeline:

1. ``linear_prepare``: Jepsen's semantics (nemesis ignored, ``fail`` dropped, ``info``
   and unfinished calls crashed: optional, open to the end of the history).
2. P-compositionality: the model's ``partition`` splits the history into
   independent keys (Jepsen's ``[key, value]`` pairs, Porcupine's ``key``), each
   checked on its own; the history is linearizable iff every key is.
3. ``linear_search`` on each key, interleaved: each turn gives a slice of search
   steps to the least served key, so that one cheap proof of a bug is found
   without first finishing every expensive valid key.  The first invalid key
   stops the check unless ``all_keys``.  Within a key, a portfolio of searches
   trying candidates in different orders shares one cache of failed
   configurations.  With 2 workers (the default on 2+ cores), a check still
   running after some tens of milliseconds forks a second process that races
   this one over the open keys in another candidate order; a key decided by one
   is dropped by the other.
4. ``linear_explain`` words the violation.

The search loop runs in C when the optional module was built (``linear_native``;
``engine="python"`` or ``$JEPSY_LINEAR_ENGINE=python`` forces the pure-Python loop,
which finds the same linearizations and violations).

Budgets: ``timeout`` (seconds, whole check), ``memory_mb`` (the search caches'
estimated memory, default 768 MiB, shared by all keys and workers) and
``max_configs`` (cached configurations per key) end the search with "unknown"
instead of running out of time or memory.

The result (JSON-serializable)::

    {"valid": True | False | "unknown", "model": "cas-register", "ops": 120,
     "failed_dropped": 7, "workers": 2, "engine": "c", "time_s": 0.004,
     "keys": {"<key>": {"valid": ..., "ops": 40, "crashed": 2,
                        "configs": 87,        # configurations proven dead (the cache)
                        "linearization": [history index of each invoke, in order],
                        "explanation": {...}, # invalid keys only: see linear_explain
                        "reason": "timeout"}},  # unknown keys: timeout, memory, max-configs
     "explanation": {...}, "text": "..."}     # the first invalid key's; a summary

For a valid key, ``linearization`` is a witness: the order of the ok calls (and of
the crashed calls that took effect).  For an invalid key it is the longest prefix
the search could linearize; ``explanation`` holds the op that could not follow it
(``op``), every state the model could be in just before (``states``), the
concurrent calls and what each would do in each state (``candidates``), and the
prose (``text``).

Keys are strings: a string key as is, any other key as JSON (``null`` for a
history that is not partitioned).
"""

from __future__ import annotations

import heapq
import json
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from jepsy.checkers import linear_native
from jepsy.checkers.linear_explain import explain
from jepsy.checkers.linear_prepare import Prepared, prepare
from jepsy.checkers.linear_search import ORDERS, Budget, Outcome, StepError, portfolio
from jepsy.errors import ConfigError, HistoryError
from jepsy.history import Op
from jepsy.models import CRASHED, Call, Model
from jepsy.options import Option, boolean, declare, integer, number

__all__ = ["DEFAULT_MAX_CONFIGS", "Linearizable", "check_history", "linearizable",
           "linearizable_checker"]

DEFAULT_MAX_CONFIGS: int | None = None
# The caches' share of a 1 GB process (the interpreter and the history need the rest).
DEFAULT_MEMORY_MB = 768.0


@dataclass(slots=True)
class _Part:
    key: Hashable
    calls: list[Call]
    originals: list[int]  # position of each call in Prepared
    call_pos: list[int]
    ret_pos: list[int | None]

    @property
    def cost(self) -> int:
        return len(self.calls)


def _key_str(key: Hashable) -> str:
    if key is None:  # one partition: the common case, without json's fixed cost
        return "null"
    return key if isinstance(key, str) else json.dumps(key, default=repr)


def _partition(prep: Prepared, model: Model) -> list[_Part]:
    groups = model.partition(prep.calls) if model.partition else {None: list(prep.calls)}
    parts = []
    for key, calls in groups.items():
        calls = sorted(calls, key=attrgetter("id"))
        originals = [c.id for c in calls]
        if len(calls) == len(prep.calls):  # the whole history: its lists serve as they are
            parts.append(_Part(key, calls, originals, prep.call_pos, prep.ret_pos))
            continue
        parts.append(_Part(key, calls, originals, [prep.call_pos[i] for i in originals],
                           [prep.ret_pos[i] for i in originals]))
    parts.sort(key=lambda p: p.cost)
    return parts


def _prefix(part: _Part, horizon: int) -> tuple[list[Call], list[int], list[int | None], bool]:
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


_SLICE_ITERS = 512  # search steps between two turns of the scheduler
_FIRST_HORIZON = 256
_LEVEL_SLICES = 32
# A check still running after this many slices (some 10,000 search steps, tens of
# milliseconds) is worth a second process; most finish before and never fork.
_RACE_AFTER_SLICES = 40


def _horizons(parts: Sequence[_Part]) -> list[int]:
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


def _new_cache(part: _Part, native: bool) -> Any:
    """The failure cache of a partition; its type picks the search (``portfolio``)."""
    if native and len(part.calls) <= linear_native.MAX_CALLS:
        return linear_native.new_cache(len(part.calls))
    return set()


def _run(parts: Sequence[_Part], which: Sequence[int], model: Model, budget: Budget,
         all_keys: bool, *, native: bool = False, orders: Sequence[str] = ORDERS,
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
    256 is checked, then up to 512, and so on to the end (``_prefix``: a
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
    horizons = _horizons(parts) if not all_keys and len(which) > 1 else [-1]
    caches: dict[int, Any] = {}
    level: dict[int, int] = {}
    final: dict[int, bool] = {}
    live: dict[int, Any] = {}

    def start(i: int, lv: int) -> None:
        part = parts[i]
        while horizons[lv] >= 0 and part.call_pos and part.call_pos[0] >= horizons[lv]:
            lv += 1  # nothing of this key before that horizon: start where it starts
        if horizons[lv] < 0:
            calls, call_pos, ret_pos, whole = part.calls, part.call_pos, part.ret_pos, True
        else:
            calls, call_pos, ret_pos, whole = _prefix(part, horizons[lv])
        level[i], final[i] = lv, whole
        live[i] = portfolio(calls, call_pos, ret_pos, model, budget, orders, caches[i])

    spent = dict.fromkeys(which, 0)
    sign = -1 if descending else 1

    def priority(i: int) -> tuple[int, int, int]:
        p = spent[i] + _LEVEL_SLICES * level[i]
        if helping is not None:
            p -= helping[i]
        return p, sign * parts[i].cost, i

    for i in which:
        caches[i] = known[i] if known and i in known else _new_cache(parts[i], native)
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


def _run_racing(parts: Sequence[_Part], model: Model, budget: Budget,
                all_keys: bool, native: bool) -> dict[int, Outcome]:
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
                outs: Any = _run(parts, open_keys, model, budget, all_keys, native=native,
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
        results = _run(parts, range(len(parts)), model, budget, all_keys, native=native,
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


ENGINES = ("auto", "c", "python")


def resolve_engine(engine: str) -> str:
    """``"c"`` or ``"python"`` for an ``engine`` option (see ``linearizable``).

    Raises ``ConfigError`` (exit 254) for an unknown name, or for ``"c"`` when the
    compiled module was not built.
    """
    source = f"search engine {engine!r}"
    if engine == "auto":
        env = os.environ.get("JEPSY_LINEAR_ENGINE", "")
        if env in ("", "auto"):
            return "c" if linear_native.AVAILABLE else "python"
        engine, source = env, f"JEPSY_LINEAR_ENGINE={env}"
    if engine not in ENGINES:
        raise ConfigError(f"{source}: unknown search engine; known: {', '.join(ENGINES)}")
    if engine == "c" and not linear_native.AVAILABLE:
        raise ConfigError(f"{source}: the compiled search is not built (install jepsy where gcc "
                          "and Python's headers are present), use 'python'")
    return engine


class Linearizable:
    """The checker object ``linearizable()`` returns (see the module docstring)."""

    def __init__(self, model: Model, *, timeout: float | None = None, max_configs: int | None = None,
                 all_keys: bool = False, workers: int | None = None,
                 memory_mb: float | None = DEFAULT_MEMORY_MB, engine: str = "auto") -> None:
        self.model = model
        self.engine = resolve_engine(engine)
        self.timeout = timeout
        self.max_configs = DEFAULT_MAX_CONFIGS if max_configs is None else max_configs
        self.memory_mb = memory_mb
        self.all_keys = all_keys
        self.workers = workers
        self._cpus: int | None = None

    def _workers_for(self, parts: Sequence[_Part]) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, len(ORDERS)))
        if self._cpus is None:  # asked once per checker: many histories may share it
            self._cpus = len(os.sched_getaffinity(0))
        return max(1, min(self._cpus, len(ORDERS)))

    def _search(self, parts: Sequence[_Part], workers: int, t0: float) -> dict[int, Outcome]:
        budget = Budget(deadline=None if self.timeout is None else t0 + self.timeout,
                        max_configs=self.max_configs, slice_iters=_SLICE_ITERS,
                        max_bytes=None if self.memory_mb is None
                        else int(self.memory_mb * 2**20 / workers))
        native = self.engine == "c"
        if workers > 1:
            return _run_racing(parts, self.model, budget, self.all_keys, native)
        return _run(parts, range(len(parts)), self.model, budget, self.all_keys, native=native)

    def _bad_values(self, e: StepError, prep: Prepared) -> HistoryError:
        """The op whose values the model could not take, as a malformed-history error."""
        inv = prep.invokes[e.call]
        return HistoryError(f"op {inv.index}: the {self.model.name} model cannot apply "
                            f"{inv.f} {inv.value!r} of process {inv.process} ({e.error})")

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``history`` (nemesis ops included: ignored); raises ``HistoryError`` if malformed."""
        t0 = time.monotonic()
        model = self.model
        prep = prepare(history)
        parts = _partition(prep, model)
        workers = self._workers_for(parts)
        try:
            outs = self._search(parts, workers, t0)
        except StepError as e:
            raise self._bad_values(e, prep) from None
        keys: dict[str, dict[str, Any]] = {}
        first_bad: dict[str, Any] | None = None
        for i, part in enumerate(parts):
            ks = _key_str(part.key)
            out = outs.get(i)
            entry: dict[str, Any] = {"ops": len(part.calls),
                                     "crashed": [c.output for c in part.calls].count(CRASHED)}
            if out is None:
                entry.update(valid="unknown", reason="not checked: another key is already invalid "
                             "(check all keys to see every verdict)")
            else:
                entry.update(valid=out.valid, configs=out.configs,
                             linearization=[prep.invokes[part.originals[j]].index for j in out.order])
                if out.reason:
                    entry["reason"] = out.reason
                if out.valid is False:
                    entry["explanation"] = explain(out, part.calls, part.originals, prep, model,
                                                   None if part.key is None else ks)
                    if first_bad is None:
                        first_bad = entry["explanation"]
            keys[ks] = entry
        verdicts = [e["valid"] for e in keys.values()]
        valid: bool | str = (False if False in verdicts
                             else True if all(v is True for v in verdicts) else "unknown")
        result: dict[str, Any] = {
            "valid": valid,
            "model": model.name,
            "ops": len(prep.calls),
            "failed_dropped": prep.failed,
            "keys": keys,
            "workers": workers,
            "engine": self.engine,
            "time_s": round(time.monotonic() - t0, 6),
        }
        if len(keys) > 1:
            good, bad = verdicts.count(True), verdicts.count(False)
            result["counts"] = {"linearizable": good, "invalid": bad,
                                "undecided": len(verdicts) - good - bad}
        if first_bad is not None:
            result["explanation"] = first_bad
            result["text"] = first_bad["text"]
        elif valid is True:
            result["text"] = (f"Linearizable: {len(prep.calls)} operations in {len(keys)} "
                              f"{'key' if len(keys) == 1 else 'keys'} fit the {model.name} model.")
        else:
            reasons = sorted({e.get("reason", "") for e in keys.values() if e["valid"] is not True})
            result["text"] = ("Unknown: the search could not decide ("
                              + ", ".join(r for r in reasons if r) + ").")
        if len(keys) > 1 and valid is not True:
            c = result["counts"]
            result["text"] += (f"\nKeys: {c['linearizable']} linearizable, {c['invalid']} invalid, "
                               f"{c['undecided']} undecided.")
        return result


def linearizable(model: Model, *, timeout: float | None = None, max_configs: int | None = None,
                 all_keys: bool = False, workers: int | None = None,
                 memory_mb: float | None = DEFAULT_MEMORY_MB, engine: str = "auto") -> Linearizable:
    """A linearizability checker for ``model``.

    ``timeout``: seconds for the whole check.  ``max_configs``: cached
    configurations per key.  ``memory_mb``: estimated memory of the search
    caches, all keys and workers together (default 768 MiB, for a process under
    1 GB).  When one runs out, the keys still undecided get the verdict "unknown"
    (with the ``reason``).
    ``all_keys``: verdicts for every key instead of stopping at the first invalid
    one.  ``workers``: processes to use (default: one per core, only for large
    multi-key histories; 1 to stay in this process).  ``engine``: the search
    loop, ``"c"`` (compiled; an error if it was not built), ``"python"``, or
    ``"auto"``: ``$JEPSY_LINEAR_ENGINE`` if set, else ``"c"`` when built.  Both
    give the same verdicts (``linear_native``).
    """
    return Linearizable(model, timeout=timeout, max_configs=max_configs, all_keys=all_keys,
                        workers=workers, memory_mb=memory_mb, engine=engine)


def check_history(history: Sequence[Op], model: Model, *, timeout: float | None = None,
                  max_configs: int | None = None, all_keys: bool = False,
                  workers: int | None = None,
                  memory_mb: float | None = DEFAULT_MEMORY_MB, engine: str = "auto") -> dict[str, Any]:
    """Check ``history`` against ``model`` in one call (same options as ``linearizable``)."""
    return linearizable(model, timeout=timeout, max_configs=max_configs, all_keys=all_keys,
                        workers=workers, memory_mb=memory_mb, engine=engine).check(history, {})


@declare(
    Option("model", "cas-register", "the model (see 'jepsy list': models)"),
    Option("timeout", None, "seconds the search may take (default: no limit)", parse=number),
    Option("max_configs", None, "configurations the search may visit (default: no limit)",
           parse=integer),
    Option("all_keys", False, "check every key even after one is not linearizable",
           parse=boolean),
    Option("workers", None, "processes checking keys in parallel (default: one per core)",
           parse=integer),
)
def linearizable_checker(*, model: str | Model = "cas-register", init: Any = None,
                         timeout: float | None = None, max_configs: int | None = None,
                         all_keys: bool = False, workers: int | None = None) -> Linearizable:
    """The registry's ``checkers`` factory: ``model`` is a Model or a registered model name.

    ``init`` is passed to the model factory only when not None (each factory has its
    own default initial state).
    """
    if isinstance(model, str):
        from jepsy import registry

        factory = registry.load("models", model)
        model = factory() if init is None else factory(init=init)
    assert isinstance(model, Model)
    return linearizable(model, timeout=timeout, max_configs=max_configs, all_keys=all_keys,
                        workers=workers)
