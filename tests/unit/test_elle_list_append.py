from __future__ import annotations

from typing import Any

import pytest

from jepsy.checkers.elle import list_append, synth
from jepsy.errors import ConfigError
from jepsy.history import Op

Txn = tuple[int, list[list[Any]], str]


def hist(*txns: Txn, times: bool = False) -> list[Op]:
    ops: list[Op] = []
    for proc, value, typ in txns:
        inv = [[f, k, None if f == "r" else v] for f, k, v in value]
        t = len(ops) if times else None
        ops.append(Op(index=len(ops), time=t, type="invoke", process=proc, f="txn", value=inv))
        ops.append(Op(index=len(ops), time=None if t is None else t + 1, type=typ, process=proc, f="txn",
                      value=value))
    return ops


def check(h: list[Op], model: str = "strict-serializable") -> dict[str, Any]:
    result: dict[str, Any] = list_append(consistency_model=model).check(h, {})
    return result


def test_serial_history_is_valid() -> None:
    r = check(hist((0, [["append", 1, 1]], "ok"), (1, [["r", 1, [1]], ["append", 1, 2]], "ok"),
                   (0, [["r", 1, [1, 2]]], "ok")))
    assert r["valid"] is True and r["anomaly_types"] == [] and r["not"] == []


def test_g_single_explained_edge_by_edge() -> None:
    r = check(hist((0, [["append", "x", 1], ["append", "y", 1]], "ok"),
                   (1, [["r", "x", [1]], ["r", "y", []]], "ok")))
    assert r["valid"] is False and r["anomaly_types"] == ["G-single"]
    cyc = r["anomalies"]["G-single"][0]
    kinds = {(e["from"], e["to"]): e["kind"] for e in cyc["edges"]}
    assert kinds == {(0, 1): "wr", (1, 0): "rw"}
    texts = " ".join(e["text"] for e in cyc["edges"])
    assert "T1 read key x = [1], which ends with T0's append of 1, so T0 < T1" in texts
    assert "T1 read key y = []" in texts and "T0 < T1" in cyc["text"]
    assert sorted(t["op"] for t in cyc["txns"]) == [1, 3]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]


def test_nil_read_is_the_empty_list() -> None:
    r = check(hist((0, [["append", 1, 1], ["append", 2, 1]], "ok"),
                   (1, [["r", 1, [1]], ["r", 2, None]], "ok")))
    assert "G-single" in r["anomaly_types"]


def test_unread_committed_append_comes_after_everything_read() -> None:
    # T0 reads x = [1] (the longest); T1's append of 2 was never read, so T0 < T1;
    # T0 also appended to y, which T1 read without: T1 < T0.
    r = check(hist((2, [["append", "x", 1]], "ok"),
                   (0, [["r", "x", [1]], ["append", "y", 1]], "ok"),
                   (1, [["append", "x", 2], ["r", "y", []]], "ok")), "serializable")
    assert r["valid"] is False and "G2-item" in r["anomaly_types"]
    edge = next(e for e in r["anomalies"]["G2-item"][0]["edges"] if e["key"] == "x")
    assert "was never read" in edge["text"]


def test_unread_indeterminate_append_gives_no_edge() -> None:
    r = check(hist((2, [["append", "x", 1]], "ok"),
                   (0, [["r", "x", [1]], ["append", "y", 1]], "ok"),
                   (1, [["append", "x", 2], ["r", "y", []]], "info")))
    assert r["valid"] is True


@pytest.mark.parametrize(("txns", "expected"), [
    ([(0, [["append", 1, 1]], "fail"), (1, [["r", 1, [1]]], "ok")], "G1a"),
    ([(0, [["append", 1, 1], ["append", 1, 2]], "ok"), (1, [["r", 1, [1]]], "ok")], "G1b"),
    ([(0, [["append", 1, 1], ["r", 1, [2]]], "ok")], "internal"),
    ([(0, [["r", 1, []], ["append", 1, 1], ["r", 1, [1, 1]]], "ok")], "internal"),
    ([(0, [["r", 1, [1]], ["append", 1, 1]], "ok")], "future-read"),
    ([(0, [["append", 1, 1]], "ok"), (1, [["r", 1, [1, 1]]], "ok")], "duplicate-elements"),
    ([(0, [["append", 1, 1]], "ok"), (1, [["append", 1, 2]], "ok"), (2, [["r", 1, [1, 2]]], "ok"),
      (3, [["r", 1, [2]]], "ok")], "incompatible-order"),
    ([(0, [["append", 1, 1]], "fail"), (1, [["append", 1, 2]], "ok"), (2, [["r", 1, [1, 2]]], "ok")],
     "dirty-update"),
    ([(0, [["r", 1, []], ["append", 1, 1]], "ok"), (1, [["r", 1, []], ["append", 1, 2]], "ok")],
     "lost-update"),
    ([(0, [["r", 1, [5]]], "ok")], "thin-air-read"),
])
def test_non_cycle_anomalies(txns: list[Txn], expected: str) -> None:
    r = check(hist(*txns))
    assert r["valid"] is False
    assert expected in r["anomaly_types"]
    case = r["anomalies"][expected][0]
    assert isinstance(case["text"], str) and case["text"]


def test_process_and_realtime_variants() -> None:
    # p0 appends x 1; later p0 reads x = []: only process order makes this a cycle.
    h = hist((0, [["append", "x", 1]], "ok"), (0, [["r", "x", []]], "ok"), (1, [["r", "x", [1]]], "ok"))
    r = check(h)
    assert r["anomaly_types"] == ["G-single-process"]
    assert check(h, "serializable")["valid"] is True
    assert check(h, "strong-session-snapshot-isolation")["valid"] is False
    # The same with different processes but real-time order.
    h2 = hist((0, [["append", "x", 1]], "ok"), (1, [["r", "x", []]], "ok"), (2, [["r", "x", [1]]], "ok"),
              times=True)
    r2 = check(h2)
    assert r2["anomaly_types"] == ["G-single-realtime"]
    edge = next(e for e in r2["anomalies"]["G-single-realtime"][0]["edges"] if e["kind"] == "realtime")
    assert "completed" in edge["text"] and "before" in edge["text"]
    assert check(h2, "strong-session-serializable")["valid"] is True


def test_equal_times_give_no_realtime_order() -> None:
    h = hist((0, [["append", "x", 1]], "ok"), (1, [["r", "x", []]], "ok"), (2, [["r", "x", [1]]], "ok"))
    h = [Op(index=o.index, time=0, type=o.type, process=o.process, f=o.f, value=o.value) for o in h]
    assert check(h)["valid"] is True


def test_unknown_model_and_wrong_micro_ops() -> None:
    with pytest.raises(ConfigError, match="unknown consistency model"):
        list_append(consistency_model="nonsense")
    r = check(hist((0, [["w", 1, 1]], "ok")))
    assert r["valid"] == "unknown" and "micro-ops" in r["error"]


def test_budget_exhaustion_is_unknown_not_a_hang() -> None:
    h = synth.inject(synth.history("list-append", 300, seed=3), "G2-item")
    r = list_append(max_steps=1).check(h, {})
    assert r["valid"] == "unknown"
    assert "cycle-search-timeout" in r["anomaly_types"]


def test_results_are_json_serializable() -> None:
    import json

    h = synth.inject(synth.history("list-append", 100, seed=2, fail_rate=0.1), "G1c")
    r = check(h)
    assert json.loads(json.dumps(r))["valid"] is False


def test_malformed_read_value_is_unknown_with_the_op() -> None:
    r = check(hist((0, [["r", 1, 5]], "ok")))
    assert r["valid"] == "unknown" and "op 1" in r["error"] and "must return a list" in r["error"]
