"""The linearizability checker: is there one order of the operations, consistent with real time
and with a sequential model, that explains every result?

``linearizable(model, timeout=..., max_configs=..., all_keys=..., workers=...)`` returns a
``Checker``; ``check_history(history, model, ...)`` is the one-call form.  The pipeline:

1. ``linear_prepare``: Jepsen's semantics (nemesis ignored, ``fail`` dropped, ``info``
   and unfinished calls crashed: optional, open to the end of the history).
2. P-compositionality: the model's ``partition`` splits the history into
   independent keys (Jepsen's ``[key, value]`` pairs, Porcupine's ``key``), each
   checked on its own; the history is linearizable iff every key is.
3. ``linear_search`` on each key, cheapest first and interleaved: every key gets a
   slice of search steps per round, slices doubling, so that one cheap proof of a
   bug is found before an expensive valid key is finished.  The first invalid
   key stops the check unless ``all_keys``.  With ``workers`` > 1 (by default when
   the history is large and has several keys) the keys are shared between forked
   worker processes.
4. ``linear_explain`` words the violation.

Budgets: ``timeout`` (seconds, whole check), ``memory_mb`` (the search caches'
estimated memory, default 768 MiB, shared by all keys and workers) and
``max_configs`` (cached configurations per key) end the search with "unknown"
instead of running out of time or memory.

The result (JSON-serializable)::

    {"valid": True | False | "unknown", "model": "cas-register", "ops": 120,
     "keys": {"<key>": {"valid": ..., "ops": 40, "configs": 87,
                        "linearization": [history index of each invoke, in order],
                        "explanation": {... "text": "..."}   # invalid keys only
                        "reason": "timeout"}},               # unknown keys only
     "explanation": {...}, "text": "..."}

Keys are strings: a string key as is, any other key as JSON (``null`` for a
history that is not partitioned).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jepsy.checkers.linear_explain import explain
from jepsy.checkers.linear_prepare import Prepared, prepare
from jepsy.checkers.linear_search import Budget, Outcome, portfolio
from jepsy.history import Op
from jepsy.models import CRASHED, Call, Model

__all__ = ["DEFAULT_MAX_CONFIGS", "Linearizable", "check_history", "linearizable",
           "linearizable_checker"]

DEFAULT_MAX_CONFIGS: int | None = None
# The caches' share of a 1 GB process (the interpreter and the history need the rest).
DEFAULT_MEMORY_MB = 768.0
# Below this many calls a check takes a few milliseconds: forking would cost more.
_PARALLEL_MIN_CALLS = 4000
_LAGGARD_WEIGHT = 1


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
    return key if isinstance(key, str) else json.dumps(key, default=repr)


def _partition(prep: Prepared, model: Model) -> list[_Part]:
    groups = model.partition(prep.calls) if model.partition else {None: list(prep.calls)}
    parts = []
    for key, calls in groups.items():
        calls = sorted(calls, key=lambda c: c.id)
        originals = [c.id for c in calls]
        parts.append(_Part(key, calls, originals, [prep.call_pos[i] for i in originals],
                           [prep.ret_pos[i] for i in originals]))
    parts.sort(key=lambda p: p.cost)
    return parts


def _run(parts: Sequence[_Part], which: Sequence[int], model: Model, budget: Budget,
         all_keys: bool, stop: Any = None) -> dict[int, Outcome]:
    """Search the partitions ``which``, interleaved, favouring the one that lags in real time.

    Each turn gives one slice of search steps to the live partition with the
    least ``spent / weight``, where the weight is ``_LAGGARD_WEIGHT`` for the
    partition whose frontier (the furthest completion its search got past) is
    earliest in the history, else 1.  A valid key advances steadily through the
    history; the search of a key with a violation stalls at it, falls behind, and
    then gets most of the time, so one key's violation is found without first
    finishing every other key; no key waits more than ``_LAGGARD_WEIGHT`` times
    the others' share.
    """
    live: dict[int, Any] = {i: portfolio(parts[i].calls, parts[i].call_pos, parts[i].ret_pos, model,
                                         budget) for i in which}
    frontier = dict.fromkeys(live, -1)
    spent = dict.fromkeys(live, 0)
    results: dict[int, Outcome] = {}
    while live:
        lag = min(live, key=lambda i: (frontier[i], parts[i].cost))
        i = min(live, key=lambda i: spent[i] / (_LAGGARD_WEIGHT if i == lag else 1))
        try:
            frontier[i] = next(live[i])
            spent[i] += 1
        except StopIteration as done:
            out: Outcome = done.value
            results[i] = out
            del live[i]
            if out.valid is False and not all_keys:
                if stop is not None:
                    stop.set()
                return results
        if stop is not None and not all_keys and stop.is_set():
            return results
    return results


# Worker processes are forked, so they inherit the partitions and the model
# (which need not be picklable: users' models are often lambdas) through this global.
_SHARED: dict[str, Any] = {}


def _worker(which: list[int]) -> dict[int, Outcome]:
    s = _SHARED
    outs = _run(s["parts"], which, s["model"], s["budget"], s["all_keys"], s["stop"])
    for out in outs.values():  # states go back through pickle: keep only plain data
        out.states = list(out.states)
    return outs


def _run_parallel(parts: Sequence[_Part], model: Model, budget: Budget, all_keys: bool,
                  workers: int) -> dict[int, Outcome]:
    ctx = multiprocessing.get_context("fork")
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for i in sorted(range(len(parts)), key=lambda i: -parts[i].cost):
        w = loads.index(min(loads))
        shares[w].append(i)
        loads[w] += parts[i].cost
    for share in shares:
        share.sort(key=lambda i: parts[i].cost)
    stop = ctx.Event()
    _SHARED.update(parts=parts, model=model, budget=budget, all_keys=all_keys, stop=stop)
    try:
        with ctx.Pool(workers) as pool:
            results: dict[int, Outcome] = {}
            for outs in pool.imap_unordered(_worker, [s for s in shares if s]):
                results.update(outs)
            return results
    finally:
        _SHARED.clear()


class Linearizable:
    """The checker object ``linearizable()`` returns (see the module docstring)."""

    def __init__(self, model: Model, *, timeout: float | None = None, max_configs: int | None = None,
                 all_keys: bool = False, workers: int | None = None,
                 memory_mb: float | None = DEFAULT_MEMORY_MB) -> None:
        self.model = model
        self.timeout = timeout
        self.max_configs = DEFAULT_MAX_CONFIGS if max_configs is None else max_configs
        self.memory_mb = memory_mb
        self.all_keys = all_keys
        self.workers = workers

    def _workers_for(self, parts: Sequence[_Part]) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, len(parts)))
        if len(parts) < 2 or sum(p.cost for p in parts) < _PARALLEL_MIN_CALLS:
            return 1
        return max(1, min(len(os.sched_getaffinity(0)), len(parts), 4))

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``history`` (nemesis ops included: ignored); raises ``HistoryError`` if malformed."""
        t0 = time.monotonic()
        model = self.model
        prep = prepare(history)
        parts = _partition(prep, model)
        workers = self._workers_for(parts)
        budget = Budget(deadline=None if self.timeout is None else t0 + self.timeout,
                        max_configs=self.max_configs,
                        max_bytes=None if self.memory_mb is None
                        else int(self.memory_mb * 2**20 / workers))
        if workers > 1:
            outs = _run_parallel(parts, model, budget, self.all_keys, workers)
        else:
            outs = _run(parts, range(len(parts)), model, budget, self.all_keys)
        keys: dict[str, dict[str, Any]] = {}
        first_bad: dict[str, Any] | None = None
        for i, part in enumerate(parts):
            ks = _key_str(part.key)
            out = outs.get(i)
            entry: dict[str, Any] = {"ops": len(part.calls),
                                     "crashed": sum(c.output is CRASHED for c in part.calls)}
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
            "time_s": round(time.monotonic() - t0, 6),
        }
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
        return result


def linearizable(model: Model, *, timeout: float | None = None, max_configs: int | None = None,
                 all_keys: bool = False, workers: int | None = None,
                 memory_mb: float | None = DEFAULT_MEMORY_MB) -> Linearizable:
    """A linearizability checker for ``model``.

    ``timeout``: seconds for the whole check.  ``max_configs``: cached
    configurations per key.  ``memory_mb``: estimated memory of the search
    caches, all keys and workers together (default 768 MiB, for a process under
    1 GB).  When one runs out, the keys still undecided get the verdict "unknown"
    (with the ``reason``).
    ``all_keys``: verdicts for every key instead of stopping at the first invalid
    one.  ``workers``: processes to use (default: one per core, only for large
    multi-key histories; 1 to stay in this process).
    """
    return Linearizable(model, timeout=timeout, max_configs=max_configs, all_keys=all_keys,
                        workers=workers, memory_mb=memory_mb)


def check_history(history: Sequence[Op], model: Model, *, timeout: float | None = None,
                  max_configs: int | None = None, all_keys: bool = False,
                  workers: int | None = None,
                  memory_mb: float | None = DEFAULT_MEMORY_MB) -> dict[str, Any]:
    """Check ``history`` against ``model`` in one call (same options as ``linearizable``)."""
    return linearizable(model, timeout=timeout, max_configs=max_configs, all_keys=all_keys,
                        workers=workers, memory_mb=memory_mb).check(history, {})


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
