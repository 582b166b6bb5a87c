"""The linearizability checker on hand-written histories: semantics, explanations, budgets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec import structs

from jepsy.checkers import Checker
from jepsy.checkers.linear import check_history, linearizable, linearizable_checker
from jepsy.checkers.linear.models import Model, cas_register, kv, mutex
from jepsy.errors import HistoryError
from jepsy.history import Op

# Every test here runs once per search engine (compiled and Python).
pytestmark = pytest.mark.usefixtures("linear_engine")


def h(*events: tuple[Any, ...]) -> list[Op]:
    """Ops from ``(type, process, f, value)`` tuples; time = 1 s per position."""
    ops = []
    for i, e in enumerate(events):
        typ, proc, f, value = e[:4]
        extra = e[4] if len(e) > 4 else {}
        ops.append(Op(index=i, time=i * 1_000_000_000, type=typ, process=proc, f=f, value=value,
                      extra=extra))
    return ops


def test_sequential_history_is_valid_and_linearization_is_recorded() -> None:
    hist = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
             ("invoke", 1, "read", None), ("ok", 1, "read", 1))
    r = check_history(hist, cas_register(0))
    assert r["valid"] is True
    assert r["keys"]["null"]["linearization"] == [0, 2]
    assert isinstance(linearizable(cas_register(0)), Checker)


def test_stale_read_is_invalid_and_explained() -> None:
    hist = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
             ("invoke", 7, "read", None), ("ok", 7, "read", 0))
    r = check_history(hist, cas_register(0))
    assert r["valid"] is False
    exp = r["explanation"]
    assert exp["op"]["process"] == 7 and exp["op"]["output"] == 0
    assert exp["states"] == [1]
    assert exp["prefix"] == [0]
    assert exp["text"].startswith("read of 0 by process 7 (invoked 2.000 s, returned 3.000 s)")
    assert "could only hold 1 then" in exp["text"]
    json.dumps(r)  # results.json must be able to hold it


def test_concurrent_write_may_take_effect_before_read() -> None:
    hist = h(("invoke", 0, "write", 1), ("invoke", 1, "read", None), ("ok", 1, "read", 1),
             ("ok", 0, "write", 1))
    assert check_history(hist, cas_register(0))["valid"] is True


def test_fail_did_not_happen() -> None:
    hist = h(("invoke", 0, "write", 1), ("fail", 0, "write", 1),
             ("invoke", 1, "read", None), ("ok", 1, "read", 1))
    r = check_history(hist, cas_register(0))
    assert r["valid"] is False
    assert r["failed_dropped"] == 1


def test_info_may_take_effect_any_time_later() -> None:
    hist = h(("invoke", 0, "write", 1), ("info", 0, "write", 1),
             ("invoke", 1, "read", None), ("ok", 1, "read", 0),
             ("invoke", 2, "read", None), ("ok", 2, "read", 1))
    assert check_history(hist, cas_register(0))["valid"] is True
    # ...but not before its invocation.
    early = h(("invoke", 1, "read", None), ("ok", 1, "read", 1),
              ("invoke", 0, "write", 1), ("info", 0, "write", 1))
    assert check_history(early, cas_register(0))["valid"] is False


def test_unfinished_invocation_is_crashed() -> None:
    hist = h(("invoke", 0, "write", 1), ("invoke", 1, "read", None), ("ok", 1, "read", 1))
    assert check_history(hist, cas_register(0))["valid"] is True


def test_nemesis_ops_are_ignored() -> None:
    hist = h(("info", "nemesis", "start-partition", {"n1": ["n2"]}),
             ("invoke", 0, "write", 1), ("ok", 0, "write", 1),
             ("info", "nemesis", "stop-partition", None))
    r = check_history(hist, cas_register(0))
    assert r["valid"] is True and r["ops"] == 1


def test_malformed_histories_raise_history_error() -> None:
    with pytest.raises(HistoryError, match="op 0: ok of process 3 has no invoke"):
        check_history(h(("ok", 3, "read", 1)), cas_register(0))
    with pytest.raises(HistoryError, match="still open"):
        check_history(h(("invoke", 3, "read", None), ("invoke", 3, "read", None)), cas_register(0))


def test_independent_keys_are_checked_separately() -> None:
    hist = h(("invoke", 0, "write", [1, 5]), ("ok", 0, "write", [1, 5]),
             ("invoke", 1, "read", [2, None]), ("ok", 1, "read", [2, 0]),
             ("invoke", 2, "read", [1, None]), ("ok", 2, "read", [1, 0]))
    r = check_history(hist, cas_register(0, nil_read="absent"), all_keys=True)
    assert r["valid"] is False
    assert r["keys"]["1"]["valid"] is False and r["keys"]["2"]["valid"] is True
    assert "on key 1" in r["text"]


def test_first_violation_stops_the_check_unless_all_keys() -> None:
    events: list[tuple[Any, ...]] = []
    for k in range(6):
        events += [("invoke", k, "put", "a", {"key": str(k)}), ("ok", k, "put", "a", {"key": str(k)})]
    events += [("invoke", 9, "get", None, {"key": "0"}), ("ok", 9, "get", "b", {"key": "0"})]
    hist = h(*events)
    r = check_history(hist, kv(), workers=1)
    assert r["valid"] is False
    assert r["keys"]["0"]["valid"] is False
    full = check_history(hist, kv(), all_keys=True, workers=1)
    assert [v["valid"] for v in full["keys"].values()].count(True) == 5


def _hard_history(n: int = 60) -> list[Op]:
    """Many concurrent writes and then reads no order can satisfy: a large search."""
    events: list[tuple[Any, ...]] = [("invoke", p, "write", p % 7) for p in range(n)]
    events += [("ok", p, "write", p % 7) for p in range(n)]
    events += [("invoke", 1000, "read", None), ("ok", 1000, "read", 99)]
    return h(*events)


def test_timeout_gives_unknown() -> None:
    r = check_history(_hard_history(), cas_register(0), timeout=0.0)
    assert r["valid"] == "unknown"
    assert r["keys"]["null"]["reason"] == "timeout"
    assert r["text"].startswith("Unknown")


def test_config_cap_gives_unknown() -> None:
    r = check_history(_hard_history(), cas_register(0), max_configs=1000)
    assert r["valid"] == "unknown"
    assert r["keys"]["null"]["reason"] == "max-configs"
    assert r["keys"]["null"]["configs"] <= 1000 + 4096


def test_parallel_workers_agree() -> None:
    events: list[tuple[Any, ...]] = []
    for i in range(40):
        k = str(i % 4)
        events += [("invoke", i, "append", str(i), {"key": k}), ("ok", i, "append", str(i), {"key": k})]
    events += [("invoke", 99, "get", None, {"key": "3"}), ("ok", 99, "get", "37", {"key": "3"})]
    hist = h(*events)
    one = check_history(hist, kv(), workers=1, all_keys=True)
    two = check_history(hist, kv(), workers=2, all_keys=True)
    assert two["workers"] == 2
    assert {k: v["valid"] for k, v in one["keys"].items()} == \
        {k: v["valid"] for k, v in two["keys"].items()}
    assert one["valid"] is False and two["valid"] is False
    assert two["explanation"]["text"] == one["explanation"]["text"]


def test_user_model_with_unhashable_state() -> None:
    """A user's counter model whose state is a list: ``state_key`` makes it cacheable."""
    def step(state: list[int], inp: tuple[str, Any], out: Any) -> tuple[bool, list[int]]:
        if inp[0] == "add":
            return True, [state[0] + inp[1]]
        return out == state[0], state

    counter = Model(name="counter", init=lambda: [0], step=step, state_key=lambda s: s[0],
                    describe_state=lambda s: f"be {s[0]}")
    ok = h(("invoke", 0, "add", 2), ("invoke", 1, "read", None), ("ok", 0, "add", 2),
           ("ok", 1, "read", 2))
    assert check_history(ok, counter)["valid"] is True
    bad = h(("invoke", 0, "add", 2), ("ok", 0, "add", 2), ("invoke", 1, "read", None),
            ("ok", 1, "read", 3))
    r = check_history(bad, counter)
    assert r["valid"] is False and "could only be 2" in r["text"]


def test_mutex_double_acquire() -> None:
    hist = h(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
             ("invoke", 1, "acquire", None), ("ok", 1, "acquire", None))
    r = check_history(hist, mutex())
    assert r["valid"] is False
    assert "acquire by process 1" in r["text"] and "be held" in r["text"]


def test_registry_checker_factory() -> None:
    c = linearizable_checker(model="cas-register", init=0)
    hist = h(("invoke", 0, "read", None), ("ok", 0, "read", 0))
    assert c.check(hist, {})["valid"] is True
    assert linearizable_checker(model="kv").model.name == "kv"


def test_times_are_optional() -> None:
    hist = [structs.replace(op, time=None) for op in h(("invoke", 0, "read", None), ("ok", 0, "read", 5))]
    r = check_history(hist, cas_register(0))
    assert "invoked at op 0, completed at op 1" in r["text"]


def test_memory_budget_gives_unknown() -> None:
    r = check_history(_hard_history(), cas_register(0), memory_mb=0.05, workers=1)
    assert r["valid"] == "unknown"
    assert r["keys"]["null"]["reason"] == "memory"


@pytest.mark.parametrize("workers", [1, 2])
def test_values_the_model_cannot_take_are_a_history_error(workers: int) -> None:
    hist = h(("invoke", 0, "put", "a", {"key": "k"}), ("ok", 0, "put", "a", {"key": "k"}),
             ("invoke", 1, "append", 5, {"key": "k"}), ("ok", 1, "append", 5, {"key": "k"}),
             ("invoke", 2, "get", None, {"key": "k"}), ("ok", 2, "get", "a5", {"key": "k"}))
    with pytest.raises(HistoryError, match=r"op 2: the kv model cannot apply append 5 of process 1 "
                                           r"\(TypeError"):
        check_history(hist, kv(), workers=workers)


def test_horizons_reach_a_verdict_for_keys_with_crashed_ops() -> None:
    """Keys are checked prefix by prefix; a key with a crashed op must still get a verdict."""
    events: list[tuple[Any, ...]] = []
    for k in range(3):
        events += [("invoke", k, "put", "a", {"key": str(k)}), ("info", k, "put", "a", {"key": str(k)})]
    for k in range(3):
        events += [("invoke", 10 + k, "get", None, {"key": str(k)}),
                   ("ok", 10 + k, "get", "a", {"key": str(k)})]
    r = check_history(h(*events), kv(), workers=1)
    assert r["valid"] is True
    assert all(v["valid"] is True for v in r["keys"].values())


def test_unordered_queue_crashed_dequeue_may_explain_an_empty_queue() -> None:
    from jepsy.checkers.linear.models import unordered_queue

    hist = h(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
             ("invoke", 1, "dequeue", None), ("info", 1, "dequeue", None),
             ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", None))
    assert check_history(hist, unordered_queue())["valid"] is True
    two = h(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
            ("invoke", 3, "enqueue", 2), ("ok", 3, "enqueue", 2),
            ("invoke", 1, "dequeue", None), ("info", 1, "dequeue", None),
            ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", None))
    r = check_history(two, unordered_queue())
    assert r["valid"] is False
    assert "crashed dequeues may have taken some" in r["text"]
