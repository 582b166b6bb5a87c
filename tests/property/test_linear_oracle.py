"""Property tests of the linearizability checker.

1. On small random histories, a brute-force oracle (try every order of every
   subset of the crashed calls) agrees with the checker, verdict for verdict.
2. Histories made by running a real sequential object under random concurrency
   and crashes (each op takes effect at one random instant between its invocation
   and its completion, or, if it crashes, maybe never) are always linearizable.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsy.checkers.linear import check_history
from jepsy.checkers.linear import checker as linear_mod
from jepsy.checkers.linear import schedule as schedule_mod
from jepsy.checkers.linear import search as search_mod
from jepsy.checkers.linear.models import (
    CRASHED,
    Model,
    cas_register,
    fifo_queue,
    kv,
    multi_register,
    mutex,
    set_model,
    unordered_queue,
)
from jepsy.history import Op

# Every test here runs once per search engine (compiled and Python).
pytestmark = pytest.mark.usefixtures("linear_engine")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the oracle ----------------------------------------------------------------------------------

def oracle(history: list[Op], model: Model) -> bool:
    """Linearizable iff some order of the ok calls plus some subset of the crashed ones is
    legal in the model and respects real time (a call that returned before another was
    invoked comes first).  Written without the checker's code, for small histories only."""
    open_: dict[Any, int] = {}
    calls: list[dict[str, Any]] = []
    for pos, op in enumerate(history):
        if not isinstance(op.process, int):
            continue
        if op.type == "invoke":
            open_[op.process] = len(calls)
            calls.append({"inp": (op.f, op.value), "call": pos, "ret": None, "type": None})
        else:
            c = calls[open_.pop(op.process)]
            c["type"], c["out"] = op.type, op.value
            if op.type == "ok":
                c["ret"] = pos
    oks = [c for c in calls if c["type"] == "ok"]
    crashed = [c for c in calls if c["type"] in (None, "info")]
    for c in crashed:
        c["out"] = CRASHED
    for n in range(len(crashed) + 1):
        for extra in itertools.combinations(crashed, n):
            for order in itertools.permutations(oks + list(extra)):
                if _legal(order, model):
                    return True
    return False


def _legal(order: tuple[dict[str, Any], ...], model: Model) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if b["ret"] is not None and b["ret"] < a["call"]:
                return False
    state = model.init()
    for c in order:
        ok, state = model.step(state, c["inp"], c["out"])
        if not ok:
            return False
    return True


# -- random histories ------------------------------------------------------------------------------

@st.composite
def register_histories(draw: st.DrawFn, max_ops: int = 6) -> list[Op]:
    """Arbitrary (mostly non-linearizable) cas-register histories over values 0..2."""
    n = draw(st.integers(1, max_ops))
    specs = []
    for _ in range(n):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        v = draw(st.integers(0, 2))
        value = None if f == "read" else v if f == "write" else [v, draw(st.integers(0, 2))]
        out = draw(st.integers(0, 2)) if f == "read" else value
        typ = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info", "none"]))
        specs.append((f, value, out, typ))
    return _interleave(draw, specs, max_procs=3)


def _interleave(draw: st.DrawFn, specs: list[tuple[Any, ...]], max_procs: int) -> list[Op]:
    """Lay out invocations and completions in a random order; each op has its own process,
    at most ``max_procs`` open at once."""
    events: list[tuple[str, int]] = []
    pending = list(range(len(specs)))
    open_: list[int] = []
    while pending or open_:
        can_open = bool(pending) and len(open_) < max_procs
        if can_open and (not open_ or draw(st.booleans())):
            open_.append(pending.pop(0))
            events.append(("invoke", open_[-1]))
        else:
            i = open_.pop(draw(st.integers(0, len(open_) - 1)))
            events.append(("complete", i))
    ops: list[Op] = []
    for kind, i in events:
        f, value, out, typ = specs[i]
        if kind == "invoke":
            ops.append(Op(index=len(ops), time=len(ops), type="invoke", process=i, f=f,
                          value=value))
        elif typ != "none":
            ops.append(Op(index=len(ops), time=len(ops), type=typ, process=i, f=f,
                          value=out if typ == "ok" else value))
    return ops


def assert_linearization_is_a_witness(history: list[Op], model: Model,
                                      result: dict[str, Any]) -> None:
    """A valid verdict's ``linearization`` must itself be a legal, real-time-respecting order."""
    ok_calls: dict[int, tuple[int, int]] = {}  # invoke index -> (call position, return position)
    by_index: dict[int, tuple[Op, Op | None]] = {}
    open_: dict[Any, Op] = {}
    for pos, op in enumerate(history):
        if not isinstance(op.process, int):
            continue
        if op.type == "invoke":
            open_[op.process] = op
            by_index[op.index] = (op, None)
        else:
            inv = open_.pop(op.process)
            by_index[inv.index] = (inv, op)
            if op.type == "ok":
                ok_calls[inv.index] = (history.index(inv), pos)
    order = result["keys"]["null"]["linearization"]
    assert set(ok_calls) <= set(order)  # every ok op, and some crashed ones
    state = model.init()
    for i, idx in enumerate(order):
        inv, comp = by_index[idx]
        assert comp is None or comp.type != "fail"
        out = comp.value if comp is not None and comp.type == "ok" else CRASHED
        ok, state = model.step(state, (inv.f, inv.value), out)
        assert ok, (idx, inv, out)
        for later in order[i + 1:]:  # nothing after it returned before it was invoked
            if later in ok_calls:
                assert ok_calls[later][1] > history.index(inv)


@SETTINGS
@given(register_histories())
def test_checker_agrees_with_brute_force_oracle(history: list[Op]) -> None:
    model = cas_register(0, nil_read="absent")
    result = check_history(history, model, workers=1)
    assert result["valid"] is oracle(history, model)
    if result["valid"] is True:
        assert_linearization_is_a_witness(history, model, result)
    # Candidate masks built lazily (as for very long partitions): the same verdict.
    saved = search_mod._DENSE_MASKS
    search_mod._DENSE_MASKS = 0
    try:
        assert check_history(history, model, workers=1)["valid"] is result["valid"]
    finally:
        search_mod._DENSE_MASKS = saved


@SETTINGS
@given(register_histories(max_ops=5))
def test_explanation_names_a_stuck_op_in_every_invalid_history(history: list[Op]) -> None:
    result = check_history(history, cas_register(0, nil_read="absent"), workers=1)
    if result["valid"] is False:
        exp = result["explanation"]
        assert exp["op"]["crashed"] is False
        assert exp["text"].startswith(exp["op"]["description"])
        # The stuck op is legal in none of the states the explanation lists.
        assert all(not cas_register(0, nil_read="absent").step(
            s, (exp["op"]["f"], exp["op"]["value"]), exp["op"]["output"])[0]
            for s in exp["states"])


@st.composite
def mutex_histories(draw: st.DrawFn) -> list[Op]:
    n = draw(st.integers(1, 6))
    specs = []
    for _ in range(n):
        f = draw(st.sampled_from(["acquire", "release"]))
        specs.append((f, None, None, draw(st.sampled_from(["ok", "ok", "fail", "info"]))))
    return _interleave(draw, specs, max_procs=3)


@SETTINGS
@given(mutex_histories())
def test_mutex_agrees_with_oracle(history: list[Op]) -> None:
    assert check_history(history, mutex(), workers=1)["valid"] is oracle(history, mutex())


@st.composite
def other_histories(draw: st.DrawFn, kind: str) -> list[Op]:
    """Arbitrary small histories for the other built-in models (mostly not linearizable)."""
    specs = []
    for _ in range(draw(st.integers(1, 6))):
        value: Any
        if kind == "fifo-queue" or kind == "unordered-queue":
            f = draw(st.sampled_from(["enqueue", "dequeue"]))
            value = draw(st.integers(0, 1)) if f == "enqueue" else None
            out = value if f == "enqueue" else draw(st.sampled_from([None, 0, 1]))
        elif kind == "set":
            f = draw(st.sampled_from(["add", "read"]))
            value = draw(st.integers(0, 1)) if f == "add" else None
            out = value if f == "add" else draw(st.sampled_from([[], [0], [1], [0, 1]]))
        elif kind == "multi-register":
            f = "txn"
            mops = draw(st.lists(st.tuples(st.sampled_from(["r", "w"]), st.sampled_from(["x", "y"]),
                                           st.integers(0, 1)), min_size=1, max_size=2))
            value = [[k, reg, None if k == "r" else x] for k, reg, x in mops]
            out = [[k, reg, x] for k, reg, x in mops]
        else:  # kv, one key
            f = draw(st.sampled_from(["get", "put", "append"]))
            value = None if f == "get" else draw(st.sampled_from(["a", "b"]))
            out = value if f != "get" else draw(st.sampled_from(["", "a", "b", "ab", "ba"]))
        specs.append((f, value, out, draw(st.sampled_from(["ok", "ok", "ok", "fail", "info", "none"]))))
    return _interleave(draw, specs, max_procs=3)


OTHER_MODELS = {"fifo-queue": fifo_queue, "unordered-queue": unordered_queue, "set": set_model,
                "multi-register": lambda: multi_register({"x": 0, "y": 0}), "kv": kv}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(OTHER_MODELS)))
def test_other_models_agree_with_oracle(data: st.DataObject, kind: str) -> None:
    history = data.draw(other_histories(kind))
    model = OTHER_MODELS[kind]()
    assert check_history(history, model, workers=1)["valid"] is oracle(history, model)


# -- histories of a real object ------------------------------------------------------------------------

class _Real:
    """Straightforward sequential objects, independent of jepsy.models."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.value: Any = 0
        self.queue: list[int] = []
        self.set: set[int] = set()
        self.kv: dict[str, str] = {}

    def apply(self, f: str, value: Any, key: str) -> tuple[bool, Any]:
        """(succeeded, output)."""
        if self.kind == "register":
            if f == "read":
                return True, self.value
            if f == "write":
                self.value = value
                return True, value
            if self.value == value[0]:
                self.value = value[1]
                return True, value
            return False, value
        if self.kind == "queue":
            if f == "enqueue":
                self.queue.append(value)
                return True, value
            return True, self.queue.pop(0) if self.queue else None
        if self.kind == "set":
            if f == "add":
                self.set.add(value)
                return True, value
            return True, sorted(self.set)
        old = self.kv.get(key, "")
        if f == "get":
            return True, old
        self.kv[key] = value if f == "put" else old + value
        return True, value


_OPS = {
    "register": lambda d: d(st.sampled_from([
        ("read", None), ("write", d(st.integers(0, 3))),
        ("cas", [d(st.integers(0, 3)), d(st.integers(0, 3))])])),
    "queue": lambda d: d(st.sampled_from([("enqueue", d(st.integers(0, 9))), ("dequeue", None)])),
    "set": lambda d: d(st.sampled_from([("add", d(st.integers(0, 9))), ("read", None)])),
    "kv": lambda d: d(st.sampled_from([("get", None), ("put", str(d(st.integers(0, 9)))),
                                       ("append", str(d(st.integers(0, 9))))])),
}


@st.composite
def real_histories(draw: st.DrawFn, kind: str) -> list[Op]:
    """Clients invoke ops; each takes effect at a random later step (a crashed one maybe
    never), then completes.  Failed cas ops are recorded as ``fail``, as Jepsen does."""
    obj = _Real(kind)
    n_clients = draw(st.integers(1, 5))
    todo = draw(st.integers(1, 40))
    ops: list[Op] = []
    procs = list(range(n_clients))
    state: dict[int, dict[str, Any]] = {}  # slot -> {"proc", "f", "value", "phase", "out"}
    next_proc = n_clients
    started = 0
    for _ in range(10 * todo + 50):
        slot = draw(st.integers(0, n_clients - 1))
        s = state.get(slot)
        if s is None:
            if started >= todo:
                if not state:
                    break
                continue
            f, value = _OPS[kind](draw)
            key = str(draw(st.integers(0, 2))) if kind == "kv" else ""
            state[slot] = {"proc": procs[slot], "f": f, "value": value, "key": key,
                           "applied": False}
            ops.append(Op(index=len(ops), time=len(ops), type="invoke", process=procs[slot],
                          f=f, value=value, extra={"key": key} if kind == "kv" else {}))
            started += 1
        elif not s["applied"]:
            s["applied"] = True
            s["ok"], s["out"] = obj.apply(s["f"], s["value"], s["key"])
        else:
            crash = draw(st.integers(0, 9)) == 0
            extra = {"key": s["key"]} if kind == "kv" else {}
            typ = "info" if crash else "ok" if s["ok"] else "fail"
            out = s["value"] if typ != "ok" else s["out"]
            ops.append(Op(index=len(ops), time=len(ops), type=typ, process=s["proc"], f=s["f"],
                          value=out, extra=extra))
            if crash:
                procs[slot] = next_proc
                next_proc += 1
            del state[slot]
    # Ops still open at the end crashed, some before taking effect.
    return ops


def _model(kind: str) -> Model:
    return {"register": cas_register(0), "queue": fifo_queue(), "set": set_model(),
            "kv": kv()}[kind]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(_OPS)))
def test_histories_of_a_real_object_are_linearizable(data: st.DataObject, kind: str) -> None:
    history = data.draw(real_histories(kind))
    result = check_history(history, _model(kind), workers=1)
    # Never invalid.  Rarely (a queue history with many crashed enqueues, each of which may
    # take effect at any later point) the search runs out of its memory budget first: then
    # "unknown", which must say that it was the budget, is the contract, not a wrong verdict.
    if result["valid"] == "unknown":
        assert "could not decide (memory)" in result["text"] or "(timeout)" in result["text"], \
            result.get("text")
        return
    assert result["valid"] is True, result.get("text")
    if kind != "kv":  # kv is split by key; the others are one partition
        assert_linearization_is_a_witness(history, _model(kind), result)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_parallel_race_and_prefix_horizons_agree_with_one_plain_search(data: st.DataObject) -> None:
    """Two workers racing the keys give the same per-key verdicts as one process, and
    stopping at the first violation (keys checked prefix by prefix) the same verdict."""
    history = data.draw(real_histories("kv"))
    gets = [i for i, op in enumerate(history) if op.type == "ok" and op.f == "get"]
    if gets and data.draw(st.booleans()):  # corrupt one read
        i = data.draw(st.sampled_from(gets))
        history[i] = Op(index=history[i].index, time=history[i].time, type="ok",
                        process=history[i].process, f="get", value="zz", extra=history[i].extra)
    one = check_history(history, kv(), workers=1, all_keys=True)
    # Tiny slices, and a race after the first one, so that these short histories fork.
    saved_slice, saved_race = linear_mod.SLICE_ITERS, schedule_mod._RACE_AFTER_SLICES
    linear_mod.SLICE_ITERS, schedule_mod._RACE_AFTER_SLICES = 2, 1
    try:
        two = check_history(history, kv(), workers=2, all_keys=True)
        two_first = check_history(history, kv(), workers=2)
    finally:
        linear_mod.SLICE_ITERS, schedule_mod._RACE_AFTER_SLICES = saved_slice, saved_race
    assert two_first["valid"] is one["valid"]
    assert {k: v["valid"] for k, v in one["keys"].items()} == \
        {k: v["valid"] for k, v in two["keys"].items()}
    # Stopping at the first violation checks keys prefix by prefix: same overall verdict.
    # (Horizons from position 4 on, so that these short histories have several.)
    saved = schedule_mod._FIRST_HORIZON
    schedule_mod._FIRST_HORIZON = 4
    try:
        first = check_history(history, kv(), workers=1)
    finally:
        schedule_mod._FIRST_HORIZON = saved
    assert first["valid"] is one["valid"]
    if first["valid"] is False:
        key = next(k for k, v in first["keys"].items() if v["valid"] is False)
        assert one["keys"][key]["valid"] is False
