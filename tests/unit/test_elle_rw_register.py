from __future__ import annotations

from typing import Any

from jepsy.checkers.elle import rw_register
from jepsy.history import Op

Txn = tuple[int, list[list[Any]], str]


def hist(*txns: Txn) -> list[Op]:
    ops: list[Op] = []
    for proc, value, typ in txns:
        inv = [[f, k, None if f == "r" else v] for f, k, v in value]
        ops.append(Op(index=len(ops), time=None, type="invoke", process=proc, f="txn", value=inv))
        ops.append(Op(index=len(ops), time=None, type=typ, process=proc, f="txn", value=value))
    return ops


def check(h: list[Op], model: str = "strict-serializable") -> dict[str, Any]:
    result: dict[str, Any] = rw_register(consistency_model=model).check(h, {})
    return result


def test_serial_history_valid() -> None:
    r = check(hist((0, [["r", "x", None], ["w", "x", 1]], "ok"), (1, [["r", "x", 1], ["w", "x", 2]], "ok"),
                   (0, [["r", "x", 2]], "ok")))
    assert r["valid"] is True


def test_initial_state_read_after_a_write_was_seen() -> None:
    r = check(hist((0, [["w", "x", 1], ["w", "y", 1]], "ok"), (1, [["r", "x", 1], ["r", "y", None]], "ok")))
    assert r["anomaly_types"] == ["G-single", "causal-stale-read"]
    rw = next(e for e in r["anomalies"]["G-single"][0]["edges"] if e["kind"] == "rw")
    assert "initial state" in rw["text"]


def test_writes_follow_reads_orders_versions() -> None:
    # T1 read x=1 then wrote x=2, so 1 < 2; T2 read x = 1 and y from T1: it missed T1's x.
    r = check(hist((0, [["w", "x", 1]], "ok"), (1, [["r", "x", 1], ["w", "x", 2], ["w", "y", 2]], "ok"),
                   (2, [["r", "y", 2], ["r", "x", 1]], "ok")))
    assert r["anomaly_types"] == ["G-single", "causal-stale-read"]
    texts = " ".join(e["text"] for e in r["anomalies"]["G-single"][0]["edges"])
    assert "T1 read key x = 1 and then wrote 2" in texts


def test_session_order_facts_make_process_anomalies() -> None:
    # Process 1 read x=2 (T0's) and later wrote x=1: 2 < 1 only by session order.
    h = hist((0, [["w", "x", 2]], "ok"), (1, [["r", "x", 2]], "ok"),
             (1, [["w", "x", 1], ["w", "y", 1]], "ok"),
             (2, [["r", "y", 1], ["r", "x", 2]], "ok"))
    r = check(h)
    assert r["anomaly_types"] == ["G-single-process", "causal-stale-read"]
    edge = next(e for e in r["anomalies"]["G-single-process"][0]["edges"] if e["kind"] == "rw")
    assert edge.get("via_process") is True
    assert check(h, "serializable")["valid"] is True


def test_forced_cycle_when_every_version_order_fails() -> None:
    h = hist((0, [["w", "x", 1], ["w", "y", 1]], "ok"), (1, [["w", "x", 2], ["w", "y", 2]], "ok"),
             (2, [["r", "x", 1], ["r", "y", 2]], "ok"))
    r = check(h)
    assert r["anomaly_types"] == ["forced-G-single"]
    assert "snapshot-isolation" in r["not"]


def test_register_non_cycle_anomalies() -> None:
    r = check(hist((0, [["w", "x", 1], ["w", "x", 2]], "ok"), (1, [["r", "x", 1]], "ok"),
                   (2, [["w", "y", 1]], "fail"), (3, [["r", "y", 1]], "ok"),
                   (4, [["w", "z", 1], ["r", "z", 2]], "ok"), (5, [["r", "q", 9]], "ok"),
                   (6, [["r", "u", 7], ["w", "u", 7]], "ok")))
    assert {"G1b", "G1a", "internal", "thin-air-read", "future-read"} <= set(r["anomaly_types"])


def test_lost_update() -> None:
    r = check(hist((0, [["r", "x", None], ["w", "x", 1]], "ok"),
                   (1, [["r", "x", None], ["w", "x", 2]], "ok")))
    assert "lost-update" in r["anomaly_types"]
    assert r["anomalies"]["lost-update"][0]["txns"] == [0, 1]


def test_unread_indeterminate_write_is_no_version() -> None:
    r = check(hist((0, [["w", "x", 1]], "info"), (1, [["r", "x", None]], "ok")))
    assert r["valid"] is True


def test_list_values_are_compared_as_values() -> None:
    r = check(hist((0, [["w", "x", [1, 2]]], "ok"), (1, [["r", "x", [1, 2]]], "ok")))
    assert r["valid"] is True


def test_forced_cycle_found_by_propagation_through_many_pairs() -> None:
    # Three writers of x and y; a reader sees x from T0 and y from T1, so the
    # x/y orders of T0 and T1 can't agree, whatever T2 does.
    h = hist((0, [["w", "x", 1], ["w", "y", 1]], "ok"), (1, [["w", "x", 2], ["w", "y", 2]], "ok"),
             (2, [["w", "x", 3], ["w", "y", 3]], "ok"), (3, [["r", "x", 1], ["r", "y", 2]], "ok"),
             (4, [["r", "x", 3], ["r", "y", 3]], "ok"))
    r = check(h)
    assert "forced-G-single" in r["anomaly_types"]


def test_no_forced_cycle_when_some_order_works() -> None:
    h = hist((0, [["w", "x", 1], ["w", "y", 1]], "ok"), (1, [["w", "x", 2], ["w", "y", 2]], "ok"),
             (2, [["r", "x", 1], ["r", "y", 1]], "ok"), (3, [["r", "x", 2], ["r", "y", 2]], "ok"))
    assert check(h)["valid"] is True


def _timed(*txns: tuple[int, list[list[Any]], int, int]) -> list[Op]:
    """(process, mops, invoke time, completion time); ops sorted by time."""
    events = []
    for proc, value, t0, t1 in txns:
        inv = [[f, k, None if f == "r" else v] for f, k, v in value]
        events.append((t0, "invoke", proc, inv))
        events.append((t1, "ok", proc, value))
    events.sort(key=lambda e: e[0])
    return [Op(index=i, time=t, type=typ, process=p, f="txn", value=v)
            for i, (t, typ, p, v) in enumerate(events)]


def test_stale_read_after_completed_overwrite_is_realtime_anomaly() -> None:
    # x=1 then (after it completed) x=2; a later reader still sees 1.
    h = _timed((0, [["w", "x", 1]], 0, 1), (1, [["w", "x", 2]], 2, 3), (2, [["r", "x", 1]], 4, 5))
    r = check(h)
    # Real time proves both 1 < 2 (T0 done before T1 began) and 2 < 1 (T2 saw 1 after T1
    # was done): a G0 on the versions too.
    assert r["anomaly_types"] == ["G-single-realtime", "G0-realtime"]
    edges = r["anomalies"]["G-single-realtime"][0]["edges"]
    rw = next(e for e in edges if e["kind"] == "rw")
    assert rw.get("via_realtime") is True and "completed its write" in rw["text"]
    assert check(h, "serializable")["valid"] is True
    assert check(h, "strong-session-serializable")["valid"] is True


def test_concurrent_writes_prove_no_order() -> None:
    h = _timed((0, [["w", "x", 1]], 0, 3), (1, [["w", "x", 2]], 1, 2), (2, [["r", "x", 1]], 4, 5))
    assert check(h)["valid"] is True


def test_checking_never_mutates_the_history() -> None:
    import copy

    h = hist((0, [["w", "x", [1, 2]]], "ok"), (1, [["r", "x", [1, 2]], ["r", "y", None]], "ok"))
    before = copy.deepcopy([o.value for o in h])
    check(h)
    assert [o.value for o in h] == before


def test_causal_stale_read() -> None:
    # p1 reads x=2 (T0's) then writes x=1 and y=1; T3 reads y=1 (so it follows T2
    # causally) but x=2: older than T2's x, which is in its causal past.
    h = hist((0, [["w", "x", 2]], "ok"), (1, [["r", "x", 2]], "ok"),
             (1, [["w", "x", 1], ["w", "y", 1]], "ok"), (2, [["r", "y", 1], ["r", "x", 2]], "ok"))
    r = check(h, "causal")
    assert r["valid"] is False and "causal-stale-read" in r["anomaly_types"]
    assert "causal past" in r["anomalies"]["causal-stale-read"][0]["text"]
    # With real-time order only (no session, no reads between): not a causal claim.
    h2 = _timed((0, [["w", "x", 1]], 0, 1), (1, [["w", "x", 2]], 2, 3), (2, [["r", "x", 1]], 4, 5))
    assert "causal-stale-read" not in check(h2)["anomaly_types"]
