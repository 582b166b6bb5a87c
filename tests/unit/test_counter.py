from __future__ import annotations

from typing import Any

from jepsy.checkers.counter import counter
from jepsy.history import Op


def hist(*events: tuple[str, int, str, Any]) -> list[Op]:
    return [Op(index=i, time=i, type=t, process=p, f=f, value=v) for i, (t, p, f, v) in enumerate(events)]


def test_read_within_bounds_is_valid() -> None:
    h = hist(("invoke", 0, "add", 1), ("ok", 0, "add", 1),
             ("invoke", 1, "add", 2),  # still in flight during the read: may or may not count
             ("invoke", 0, "read", None), ("ok", 0, "read", 3), ("ok", 1, "add", 2))
    r = counter().check(h, {})
    assert r["valid"] is True and r["reads"] == 1


def test_read_missing_a_completed_add_is_invalid() -> None:
    h = hist(("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 0, "read", None), ("ok", 0, "read", 0))
    r = counter().check(h, {})
    assert r["valid"] is False
    assert r["errors"][0]["lower"] == 1 and r["errors"][0]["upper"] == 1
    assert "between 1 and 1" in r["errors"][0]["text"]


def test_failed_adds_never_count_and_info_adds_may() -> None:
    h = hist(("invoke", 0, "add", 5), ("fail", 0, "add", 5), ("invoke", 1, "add", 2), ("info", 1, "add", 2),
             ("invoke", 0, "read", None), ("ok", 0, "read", 2))
    assert counter().check(h, {})["valid"] is True
    h2 = hist(("invoke", 0, "add", 5), ("fail", 0, "add", 5),
              ("invoke", 0, "read", None), ("ok", 0, "read", 5))
    assert counter().check(h2, {})["valid"] is False


def test_decrements_widen_the_lower_bound() -> None:
    h = hist(("invoke", 0, "add", 3), ("ok", 0, "add", 3), ("invoke", 1, "add", -2),
             ("invoke", 0, "read", None), ("ok", 0, "read", 1), ("ok", 1, "add", -2))
    assert counter().check(h, {})["valid"] is True


def test_no_reads_is_valid_with_a_note() -> None:
    r = counter().check(hist(("invoke", 0, "add", 1), ("ok", 0, "add", 1)), {})
    assert r["valid"] is True and "note" in r
