"""The built-in models: each step against its sequential specification."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from jepsy import registry
from jepsy.checkers.linear.models import (
    CRASHED,
    MODELS,
    Call,
    Model,
    cas_register,
    fifo_queue,
    independent,
    kv,
    multi_register,
    mutex,
    register,
    set_model,
    unordered_queue,
)


def run(model: Model, steps: list[tuple[str, Any, Any]]) -> tuple[bool, Any]:
    state = model.init()
    for f, value, out in steps:
        ok, state = model.step(state, (f, value), out)
        if not ok:
            return False, state
    return True, state


def test_cas_register() -> None:
    m = cas_register(0)
    assert run(m, [("write", 3, 3), ("read", None, 3), ("cas", [3, 4], [3, 4]), ("read", None, 4)]) \
        == (True, 4)
    assert run(m, [("cas", [1, 2], [1, 2])])[0] is False
    assert run(m, [("read", None, 1)])[0] is False
    assert run(m, [("cas", "bad", "bad")])[0] is False


def test_register_rejects_cas() -> None:
    assert run(register(0), [("cas", [0, 1], [0, 1])])[0] is False
    assert run(register(0), [("write", 1, 1), ("read", None, 1)]) == (True, 1)


def test_nil_reads_absent_or_unknown() -> None:
    # jepsy's own workloads: no init, a read of None means the key is absent.
    assert run(cas_register(), [("read", None, None)])[0] is True
    assert run(cas_register(), [("write", 1, 1), ("read", None, None)])[0] is False
    # Knossos's reading, the default once an initial value is given.
    assert run(cas_register(0), [("read", None, None)])[0] is True
    assert run(cas_register(0, nil_read="absent"), [("read", None, None)])[0] is False
    assert run(cas_register(None, nil_read="unknown"),
               [("write", 1, 1), ("read", None, None)])[0] is True


def test_crashed_read_constrains_nothing() -> None:
    assert run(cas_register(0, nil_read="absent"), [("read", None, CRASHED)]) == (True, 0)


def test_multi_register() -> None:
    m = multi_register({"x": 0, "y": 0})
    ok, state = run(m, [("txn", [["write", "x", 2]], [["write", "x", 2]]),
                        ("txn", [["read", "x", None], ["read", "y", None]],
                         [["read", "x", 2], ["read", "y", 0]])])
    assert ok and dict(state) == {"x": 2, "y": 0}
    assert run(m, [("txn", [["read", "x", None]], [["read", "x", 5]])])[0] is False
    assert run(m, [("txn", [["read", "x", None]], [["read", "x", None]])])[0] is True  # wildcard
    assert m.read_only is not None
    assert m.read_only(("txn", [["read", "x", None]]), [["read", "x", 1]])
    assert not m.read_only(("txn", [["write", "x", 1]]), [["write", "x", 1]])


def test_mutex() -> None:
    m = mutex()
    assert run(m, [("acquire", None, None), ("release", None, None)]) == (True, False)
    assert run(m, [("acquire", None, None), ("acquire", None, None)])[0] is False
    assert run(m, [("release", None, None)])[0] is False


def test_set() -> None:
    m = set_model()
    assert run(m, [("add", 1, 1), ("add", 2, 2), ("read", None, [2, 1])])[0] is True
    assert run(m, [("add", 1, 1), ("read", None, [])])[0] is False


def test_fifo_queue() -> None:
    m = fifo_queue()
    assert run(m, [("enqueue", 1, 1), ("enqueue", 2, 2), ("dequeue", None, 1),
                   ("dequeue", None, 2), ("dequeue", None, None)])[0] is True
    assert run(m, [("enqueue", 1, 1), ("enqueue", 2, 2), ("dequeue", None, 2)])[0] is False


def test_unordered_queue() -> None:
    m = unordered_queue()
    assert run(m, [("enqueue", 1, 1), ("enqueue", 2, 2), ("dequeue", None, 2),
                   ("dequeue", None, 1), ("dequeue", None, None)])[0] is True
    assert run(m, [("enqueue", 1, 1), ("dequeue", None, 1), ("dequeue", None, 1)])[0] is False


def test_kv_and_its_partition() -> None:
    m = kv()
    assert run(m, [("get", None, ""), ("put", "a", "a"), ("append", "b", "b"),
                   ("get", None, "ab")]) == (True, "ab")
    calls = [Call(id=i, process=0, input=("get", None), output="", extra={"key": k})
             for i, k in enumerate("abab")]
    assert m.partition is not None
    parts = m.partition(calls)
    assert {k: [c.id for c in v] for k, v in parts.items()} == {"a": [0, 2], "b": [1, 3]}


def test_independent_split_unwraps_pairs() -> None:
    m = cas_register(0)
    calls = [Call(id=0, process=0, input=("write", [1, 5]), output=[1, 5]),
             Call(id=1, process=1, input=("read", [2, None]), output=[2, 0]),
             Call(id=2, process=2, input=("cas", [1, [5, 6]]), output=CRASHED)]
    assert m.partition is not None
    parts = m.partition(calls)
    assert [(c.input, c.output) for c in parts[1]] == [(("write", 5), 5), (("cas", [5, 6]), CRASHED)]
    assert [(c.input, c.output) for c in parts[2]] == [(("read", None), 0)]
    # A plain history (reads invoked with None) stays whole.
    plain = [Call(id=0, process=0, input=("read", None), output=1),
             Call(id=1, process=0, input=("cas", [1, 2]), output=[1, 2])]
    assert list(m.partition(plain)) == [None]
    assert independent(mutex()).partition is not None


def test_read_only_promise_holds_for_every_state() -> None:
    """Where a model says read-only, the op must leave every state it is legal in unchanged."""
    cases: list[tuple[Model, list[Any], list[tuple[str, Any, Any]]]] = [
        (cas_register(0), [0, 1, 2, None],
         [("read", None, 1), ("read", None, None), ("cas", [1, 1], [1, 1]), ("write", 1, 1),
          ("cas", [1, 2], [1, 2])]),
        (fifo_queue(), [(), (1,), (1, 2)], [("dequeue", None, None), ("dequeue", None, 1),
                                          ("enqueue", 3, 3)]),
        (kv(), ["", "a"], [("get", None, "a"), ("put", "a", "a"), ("append", "", "")]),
        (set_model(), [frozenset(), frozenset({1})], [("read", None, [1]), ("add", 1, 1)]),
    ]
    for model, states, ops in cases:
        assert model.read_only is not None
        for s, (f, v, out) in itertools.product(states, ops):
            if model.read_only((f, v), out):
                ok, nxt = model.step(s, (f, v), out)
                assert not ok or nxt == s, (model.name, s, f, v, out)


def test_describe() -> None:
    m = cas_register(0)
    assert m.describe_op(("read", None), 3) == "read of 3"
    assert m.describe_op(("cas", [1, 2]), CRASHED) == "cas from 1 to 2 (crashed)"
    assert m.describe_state(4) == "hold 4"
    assert mutex().describe_state(True) == "be held"
    assert "x=1" in multi_register({"x": 1}).describe_state(multi_register({"x": 1}).init())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_factories_take_an_optional_init(name: str) -> None:
    factory = registry.load("models", name)
    assert isinstance(factory(), Model)
    init = {"multi-register": {"x": 1}, "set": [1], "fifo-queue": [1],
            "unordered-queue": [1], "kv": "a", "mutex": False}.get(name, 0)
    model = factory(init=init)
    hash(model.init())  # states must be hashable: the search caches them
