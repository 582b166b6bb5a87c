"""The linearizability checker: is there one order of the operations, consistent with real time
and with a sequential model, that explains every result?

``linearizable(model, timeout=..., max_configs=..., all_keys=..., workers=...,
memory_mb=...)`` returns a ``Checker``; ``check_history(history, model, ...)`` is the
one-call form.  A history the model cannot take (unpaired ops, values its ``step``
chokes on) raises ``HistoryError`` naming the op.  The pipeline:

1. ``prepare``: Jepsen's semantics (nemesis ignored, ``fail`` dropped, ``info``
   and unfinished calls crashed: optional, open to the end of the history).
2. P-compositionality: the model's ``partition`` splits the history into
   independent keys (Jepsen's ``[key, value]`` pairs, Porcupine's ``key``), each
   checked on its own; the history is linearizable iff every key is.
3. ``schedule`` runs the search (``search`` in Python, ``native`` in C, the
   ``Engine`` passed in) on each key, interleaved: each turn gives a slice of search
   steps to the least served key, so that one cheap proof of a bug is found
   without first finishing every expensive valid key.  The first invalid key
   stops the check unless ``all_keys``.  Within a key, a portfolio of searches
   trying candidates in different orders shares one cache of failed
   configurations.  With 2 workers (the default on 2+ cores), a check still
   running after some tens of milliseconds forks a second process that races
   this one over the open keys in another candidate order; a key decided by one
   is dropped by the other.
4. ``explain`` words the violation.

For the built-in registers and the mutex, searched in C, ``fused`` first tries the
whole pipeline in one compiled call and returns the very result the steps above
would; it hands anything unusual back to them.

The search loop runs in C when the optional module was built (``native``;
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
                        "indices": [history index of the invoke of each of the key's calls],
                        "configs": 87,        # configurations proven dead (the cache)
                        "linearization": [history index of each invoke, in order],
                        "explanation": {...}, # invalid keys only: see explain.py
                        "states_after": [{"state": ..., "text": ...}],  # invalid keys only
                        "reason": "timeout"}},  # unknown keys: timeout, memory, max-configs
     "explanation": {...}, "text": "..."}     # the first invalid key's; a summary

``indices`` are the key's calls (``fail`` ops are dropped before partitioning).
``states_after`` holds the model's state after each op of ``linearization``
(``states_along``), so that a report draws the states without re-running the
checker's preparation.  For a valid key, ``linearization`` is a witness: the
order of the ok calls (and of the crashed calls that took effect).  For an invalid
key it is the longest prefix the search could linearize; ``explanation`` holds the op that could not follow it
(``op``), every state the model could be in just before (``states``), the
concurrent calls and what each would do in each state (``candidates``), and the
prose (``text``).

Keys are strings: a string key as is, any other key as JSON (``null`` for a
history that is not partitioned).
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from jepsy.checkers.linear import fused, native
from jepsy.checkers.linear.engine import ORDERS, Budget, Engine, Outcome, StepError
from jepsy.checkers.linear.explain import explain, state_json
from jepsy.checkers.linear.models import CRASHED, Call, Model, plain_of
from jepsy.checkers.linear.prepare import Prepared, prepare
from jepsy.checkers.linear.schedule import SLICE_ITERS, Part, partition, run, run_racing
from jepsy.errors import ConfigError, HistoryError
from jepsy.history import Op
from jepsy.options import Option, boolean, declare, integer, number

__all__ = ["DEFAULT_MAX_CONFIGS", "Linearizable", "check_history", "linearizable",
           "linearizable_checker"]

DEFAULT_MAX_CONFIGS: int | None = None
# The caches' share of a 1 GB process (the interpreter and the history need the rest).
DEFAULT_MEMORY_MB = 768.0
# Files that ``check_file`` streams key by key: ~2 M lines of the register workload,
# ~600 MB as Op records.  Smaller ones are read whole (faster, and the same budgets).
STREAM_ABOVE_BYTES = 256 << 20


def states_along(model: Model, calls: Sequence[Call], order: Sequence[int]) -> list[dict[str, Any]]:
    """The model's state after each call of ``order`` (positions in ``calls``), as data.

    Replayed with the checker's own model (so with its initial state: ``--init``),
    over the calls as the search saw them (a partition may have rewritten their
    values).  Stops early if a step is refused, which a linearization found by
    the search never is.
    """
    state = model.init()
    states = []
    step = model.step
    for j in order:
        c = calls[j]
        ok, state = step(state, c.input, c.output)
        if not ok:
            break
        states.append(state)
    return state_entries(model, states)


def state_entries(model: Model, states: Sequence[Any]) -> list[dict[str, Any]]:
    """``states`` as ``states_after`` holds them: ``{"state": data, "text": description}``.

    A state met again shares its first entry (states repeat a lot: a register
    holds a few values), which keeps this a dict lookup per state.
    """
    describe = model.describe_state
    seen: dict[Any, dict[str, Any]] = {}
    out = []
    for state in states:
        key = (state.__class__, state)  # 1, 1.0 and True are equal, not alike
        try:
            entry = seen.get(key)
        except TypeError:  # an unhashable state (a model with state_key)
            entry = None
        if entry is None:
            entry = {"state": state_json(state), "text": describe(state)}
            try:  # noqa: SIM105  (contextlib.suppress costs 1.5 µs a state)
                seen[key] = entry
            except TypeError:
                pass
        out.append(entry)
    return out


def _key_str(key: Hashable) -> str:
    if key is None:  # one partition: the common case, without json's fixed cost
        return "null"
    if isinstance(key, str):
        return key
    import json  # here: one partition needs none, and json is a start-up cost

    return json.dumps(key, default=repr)


# The reason of a key left unchecked once another key was found invalid (without all_keys).
NOT_CHECKED = ("not checked: another key is already invalid "
               "(check all keys to see every verdict)")

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
            return "c" if native.AVAILABLE else "python"
        engine, source = env, f"JEPSY_LINEAR_ENGINE={env}"
    if engine not in ENGINES:
        raise ConfigError(f"{source}: unknown search engine; known: {', '.join(ENGINES)}")
    if engine == "c" and not native.AVAILABLE:
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
        # A built-in register or mutex, searched in C: valid histories take the fused path.
        self._plain = plain_of(model) if self.engine == "c" else None

    def _workers_for(self, parts: Sequence[Part]) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, len(ORDERS)))
        if self._cpus is None:  # asked once per checker: many histories may share it
            self._cpus = len(os.sched_getaffinity(0))
        return max(1, min(self._cpus, len(ORDERS)))

    def _search(self, parts: Sequence[Part], workers: int, t0: float) -> dict[int, Outcome]:
        budget = Budget(deadline=None if self.timeout is None else t0 + self.timeout,
                        max_configs=self.max_configs, slice_iters=SLICE_ITERS,
                        max_bytes=None if self.memory_mb is None
                        else int(self.memory_mb * 2**20 / workers))
        if self.engine == "c":
            engine: Engine = native.ENGINE
        else:  # the search in Python, imported only when it runs (start-up)
            from jepsy.checkers.linear import search

            engine = search.ENGINE
        if workers > 1:
            return run_racing(parts, self.model, budget, self.all_keys, engine)
        return run(parts, range(len(parts)), self.model, budget, self.all_keys, engine=engine)

    def _bad_values(self, e: StepError, prep: Prepared) -> HistoryError:
        """The op whose values the model could not take, as a malformed-history error."""
        inv = prep.invokes[e.call]
        return HistoryError(f"op {inv.index}: the {self.model.name} model cannot apply "
                            f"{inv.f} {inv.value!r} of process {inv.process} ({e.error})")

    def check_file(self, path: str | os.PathLike[str], opts: Mapping[str, Any]) -> dict[str, Any]:
        """``check`` of the history in ``path``.  A file of ``STREAM_ABOVE_BYTES`` or more is
        checked key by key as it is read (``streaming``) when the model is checked per
        ``[key, value]`` key, so that a history too large to hold fits: the same result
        but for budgets shared across keys.  Any other is read whole (faster), without
        importing the streaming machinery (``jepsy check`` of a small file starts sooner)."""
        from jepsy.history import read_history

        try:
            size = os.path.getsize(path)
        except OSError:  # read_history says what is wrong, as for any checker
            size = 0
        if size >= STREAM_ABOVE_BYTES:
            from jepsy.checkers.linear.streaming import check_file

            return check_file(self, path, opts)
        return self.check(read_history(path), opts)

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``history`` (nemesis ops included: ignored); raises ``HistoryError`` if malformed."""
        t0 = time.monotonic()
        if self._plain is not None:
            workers = self._workers_for(())
            fast = fused.check(history, self.model, self._plain, t0=t0,
                               deadline=None if self.timeout is None else t0 + self.timeout,
                               max_configs=self.max_configs, workers=workers,
                               max_bytes=None if self.memory_mb is None
                               else int(self.memory_mb * 2**20 / workers))
            if fast is not None:
                return fast
        model = self.model
        prep = prepare(history)
        parts = partition(prep, model)
        workers = self._workers_for(parts)
        try:
            outs = self._search(parts, workers, t0)
        except StepError as e:
            raise self._bad_values(e, prep) from None
        keys: dict[str, dict[str, Any]] = {}
        for i, part in enumerate(parts):
            ks = _key_str(part.key)
            out = outs.get(i)
            invokes = prep.invokes
            entry: dict[str, Any] = {"ops": len(part.calls),
                                     "crashed": [c.output for c in part.calls].count(CRASHED),
                                     "indices": [invokes[j].index for j in part.originals]}
            if out is None:
                entry.update(valid="unknown", reason=NOT_CHECKED)
            else:
                entry.update(valid=out.valid, configs=out.configs,
                             linearization=[prep.invokes[part.originals[j]].index for j in out.order])
                if out.reason:
                    entry["reason"] = out.reason
                if out.valid is False:
                    n_ok = sum(1 for c in part.calls if c.output is not CRASHED)
                    entry["explanation"] = explain(out, part.calls, part.originals, prep, model,
                                                   None if part.key is None else ks, n_ok)
                    entry["states_after"] = states_along(model, part.calls, out.order)
            keys[ks] = entry
        return result_of(keys, model.name, len(prep.calls), prep.failed, workers, self.engine, t0)


def result_of(keys: dict[str, dict[str, Any]], model_name: str, ops: int, failed: int,
              workers: int, engine: str, t0: float) -> dict[str, Any]:
    """The checker's result from its per-key entries (in key order): the verdict, the
    counts, and the text, which explains the first invalid key (its entry's
    ``explanation``), or says every key fits, or why the search could not decide.
    Shared with the streamed check (``streaming``), so that both word results alike."""
    verdicts = [e["valid"] for e in keys.values()]
    valid: bool | str = (False if False in verdicts
                         else True if all(v is True for v in verdicts) else "unknown")
    first_bad = next((e["explanation"] for e in keys.values() if e["valid"] is False), None)
    result: dict[str, Any] = {
        "valid": valid,
        "model": model_name,
        "ops": ops,
        "failed_dropped": failed,
        "keys": keys,
        "workers": workers,
        "engine": engine,
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
        result["text"] = (f"Linearizable: {ops} operations in {len(keys)} "
                          f"{'key' if len(keys) == 1 else 'keys'} fit the {model_name} model.")
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
    give the same verdicts (``native``).
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
