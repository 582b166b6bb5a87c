"""The fused path: a history straight to its verdict in one compiled call, for the plain models.

Most histories a user checks are small and valid, and on them the general
pipeline (``prepare``, ``partition``, ``schedule``, ``native.search``) costs more
than the search: a ``Call`` per operation, the scheduler's generators, lists
handed to C that C reads back.  Porcupine, given a parsed history, checks a
Knossos file in some tens of microseconds.  For a built-in model whose calls C
can apply itself (the registers, the mutex and the multi-register:
``models.plain_of``) and a history that is a list of ``Op``, ``_linear.fused``
pairs the operations, applies Jepsen's semantics and lays the search out, in C,
reading the ops' fields at their slots, and runs the search's first slice; a
history valid by then (most are) gets its whole result from C, without a Python
object per call.  Else this module runs the rest of the search and words the
result, the explanation of a violation included.

It changes nothing a general check would say.  It runs exactly the search the
general path runs first (the one partition, candidates in the "return" order,
in slices of the same size, with the same budget checks between slices), and
only as long as that search would run alone: the general path's portfolio
lets it alone for its first ``solo`` slices and the racing process starts after
``_RACE_AFTER_SLICES``.  So when it finishes within both, the general path
would have returned this very outcome.  Anything else is handed back (``None``)
to the general path, which starts over: a history the C side does not take (not
a list of ``Op``, malformed, partitioned by key, a transaction the model's step
refuses: ``_linear.fused`` says which), a search longer than that, a budget
that runs out, a model that raises.  What it costs then is the fused attempt, a
fraction of the general path's own preparation.
``tests/unit/test_linear_fused.py`` holds both paths to the same results on
every Knossos file and on random histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from sys import getsizeof
from time import monotonic
from typing import Any

from jepsy.checkers.linear.engine import Outcome
from jepsy.checkers.linear.explain import explain, state_json
from jepsy.checkers.linear.models import CRASHED, Call, Model, Plain
from jepsy.checkers.linear.native import _linear
from jepsy.checkers.linear.prepare import Prepared
from jepsy.checkers.linear.schedule import _RACE_AFTER_SLICES, SLICE_ITERS
from jepsy.history import Op

__all__ = ["check"]

_TIGHT_BYTES = 64 * 2**20


class _Calls:
    """The calls of a fused check, each made when an explanation asks for it.

    As ``prepare`` makes them (``id`` the position, ``input`` the invoke's
    ``(f, value)``, the ``ok`` value or ``CRASHED``, the ops' extra fields); an
    explanation reads only the stuck call and those pending, each once.
    """

    __slots__ = ("completions", "invokes")

    def __init__(self, invokes: list[Op], completions: list[Op | None]) -> None:
        self.invokes = invokes
        self.completions = completions

    def __getitem__(self, k: int) -> Call:
        inv, comp = self.invokes[k], self.completions[k]
        done = comp if comp is not None and comp.type == "ok" else None
        extra = (inv.extra if comp is None or not comp.extra or comp.extra == inv.extra
                 else {**comp.extra, **inv.extra})
        return Call(k, inv.process, (inv.f, inv.value),  # type: ignore[arg-type]
                    CRASHED if done is None else done.value, extra)  # type: ignore[arg-type]


def check(history: Sequence[Op], model: Model, plain: Plain, *, t0: float, deadline: float | None,
          max_configs: int | None, max_bytes: int | None, workers: int) -> dict[str, Any] | None:
    """The result of the check of ``history``, or None: the general path must decide.

    ``deadline`` (a ``time.monotonic`` value), ``max_configs`` and ``max_bytes``
    are the general path's budget (``Budget``), checked between slices as
    ``native.search`` checks them; ``workers`` is the number the result reports.
    """
    if _linear is None or history.__class__ is not list:
        return None
    # A budget this tight may run out within the slices this path runs: then its caches
    # must weigh what the general path's would (crashed calls' bits apart).
    tight = max_bytes is not None and max_bytes < _TIGHT_BYTES
    # The C side runs the first slice itself and words a valid result there: most
    # histories end within it, and then no per-call list a valid result never reads
    # is built, nor any Python object but the result's.
    got = _linear.fused(history, Op, plain.kind, model.init(), plain.nil_unknown, plain.allow_cas, tight,
                        SLICE_ITERS, model.name, workers)
    if got is None:
        return None
    if got.__class__ is dict:
        # (to the microsecond, as round(..., 6) words it, at half its cost: no decimal conversion)
        got["time_s"] = int((monotonic() - t0) * 1e6 + 0.5) / 1e6
        return got
    search, cache, n, failed, crashed, indices, invokes, completions, status = got
    slices = min(1 + (2 * n + 1024) // SLICE_ITERS, _RACE_AFTER_SLICES)
    try:
        done = 1
        while not status:  # the budget checks between slices, as native.search's
            if deadline is not None and monotonic() > deadline:
                return None
            if max_configs is not None and len(cache) > max_configs:
                return None
            if max_bytes is not None and cache.nbytes + len(cache) * getsizeof(search.state) > max_bytes:
                return None
            if done == slices:
                return None
            status = search.run(SLICE_ITERS)
            done += 1
        states: Any = search.path_states(True) if status == 2 else None
    except Exception:  # a value the model cannot take: the general path names the op
        return None
    name = model.name
    entry: dict[str, Any] = {"ops": n, "crashed": crashed, "indices": indices, "valid": status == 1,
                             "configs": len(cache), "linearization": search.path_items(status == 2, indices)}
    result: dict[str, Any] = {"valid": status == 1, "model": name, "ops": n, "failed_dropped": failed,
                              "keys": {"null": entry}, "workers": workers, "engine": "c",
                              "time_s": 0.0}
    if status == 1:
        result["text"] = f"Linearizable: {n} operations in 1 key fit the {name} model."
    else:
        # What native.invalid_outcome makes of it, read in one call (no layout lists),
        # less the pending crashed calls that change no state there: the explanation
        # would step each through the model only to pass over it.
        stuck, pending, best_states, order = search.invalid_parts(True)
        out = Outcome(False, order, stuck, best_states, pending, len(cache), search.steps)
        prep = Prepared(invokes=invokes, completions=completions)
        why = entry["explanation"] = explain(out, _Calls(invokes, completions), range(n), prep, model,
                                             None, n - crashed, entry["linearization"])
        if search.canon:  # (distinct states, which one after each call)
            # Canonical states are None, bools, ints and strs, distinct ones never equal:
            # one entry each, as checker.state_entries would make them, without its dict.
            distinct, picks = states
            describe = model.describe_state
            entries = [{"state": state_json(st), "text": describe(st)} for st in distinct]
            entry["states_after"] = list(map(entries.__getitem__, picks))
        else:
            from jepsy.checkers.linear.checker import state_entries  # (the checker imports this module)

            entry["states_after"] = state_entries(model, states)
        result["explanation"] = why
        result["text"] = why["text"]
    result["time_s"] = round(monotonic() - t0, 6)
    return result
