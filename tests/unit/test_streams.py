"""The ``stream`` checker on small hand-made histories: each finding alone, and the valid cases."""

from __future__ import annotations

from typing import Any

from jepsy.checkers.streams import stream
from jepsy.history import Op


def hist(*events: tuple[str, int, str, Any]) -> list[Op]:
    return [Op(index=i, time=i, type=t, process=p, f=f, value=v) for i, (t, p, f, v) in enumerate(events)]


def pub(p: int, v: int, seq: int | None, kind: str = "ok") -> list[tuple[str, int, str, Any]]:
    return [("invoke", p, "publish", v), (kind, p, "publish", [v, seq] if kind == "ok" else None)]


def read(entries: list[list[int]]) -> list[tuple[str, int, str, Any]]:
    return [("invoke", 9, "read", None), ("ok", 9, "read", entries)]


def test_valid_log_with_an_unacknowledged_publish_and_consumes() -> None:
    h = hist(*pub(0, 1, 1), *pub(1, 2, None, "info"), *pub(0, 3, 3),
             ("invoke", 2, "consume", None), ("ok", 2, "consume", [1, 2]),
             *read([[1, 1], [2, 2], [3, 3]]))
    r = stream().check(h, {})
    assert r["valid"] is True, r["text"]
    assert r["acknowledged_count"] == 2 and r["consumed_count"] == 2 and r["log_length"] == 3


def test_an_unacknowledged_publish_may_be_missing() -> None:
    h = hist(*pub(0, 1, 1), *pub(1, 2, None, "info"), *read([[1, 1]]))
    assert stream().check(h, {})["valid"] is True


def test_lost_counts_those_consumed_before() -> None:
    h = hist(*pub(0, 1, 1), *pub(0, 2, 2), *pub(0, 3, 3),
             ("invoke", 2, "consume", None), ("ok", 2, "consume", [1, 2]), *read([[1, 1]]))
    r = stream().check(h, {})
    assert r["valid"] is False
    assert r["lost"] == [2, 3] and r["lost_consumed_count"] == 1


def test_unexpected_value() -> None:
    h = hist(*pub(0, 1, 1), *read([[1, 1], [7, 2]]))
    r = stream().check(h, {})
    assert r["valid"] is False and r["unexpected"] == [7]


def test_stored_twice_is_invalid_consumed_twice_only_without_at_least_once() -> None:
    h = hist(*pub(0, 1, 1), *read([[1, 1], [1, 2]]))
    assert stream().check(h, {})["stored_twice"] == [1]
    h = hist(*pub(0, 1, 1), ("invoke", 2, "consume", None), ("ok", 2, "consume", [1]),
             ("invoke", 2, "consume", None), ("ok", 2, "consume", [1]), *read([[1, 1]]))
    r = stream().check(h, {})
    assert r["valid"] is False and r["consumed_twice"] == [1]
    assert stream(at_least_once=True).check(h, {})["valid"] is True


def test_reordered_only_when_real_time_orders_them() -> None:
    # 1 acknowledged before 2 was invoked, but the log holds 2 first.
    h = hist(*pub(0, 1, 2), *pub(0, 2, 1), *read([[2, 1], [1, 2]]))
    r = stream().check(h, {})
    assert r["valid"] is False and r["reordered_count"] == 1
    assert r["reordered"][0]["earlier"] == 1 and r["reordered"][0]["later"] == 2
    # Concurrent publishes may land in either order.
    h = hist(("invoke", 0, "publish", 1), ("invoke", 1, "publish", 2), ("ok", 0, "publish", [1, 2]),
             ("ok", 1, "publish", [2, 1]), *read([[2, 1], [1, 2]]))
    assert stream().check(h, {})["valid"] is True


def test_misplaced_when_the_log_renumbered_an_acknowledged_message() -> None:
    h = hist(*pub(0, 1, 1), *pub(0, 2, 2), *read([[1, 1], [2, 5]]))
    r = stream().check(h, {})
    assert r["valid"] is False
    assert r["misplaced"] == [{"value": 2, "acknowledged_seq": 2, "read_seq": 5}]


def test_no_final_read_is_unknown() -> None:
    h = hist(*pub(0, 1, 1), ("invoke", 9, "read", None), ("info", 9, "read", None))
    assert stream().check(h, {})["valid"] == "unknown"
