from __future__ import annotations

from typing import Any

from jepsy.checkers.long_fork import long_fork
from jepsy.history import Op


def reads(*values: list[list[Any]]) -> list[Op]:
    ops = []
    for i, v in enumerate(values):
        ops.append(Op(index=len(ops), time=None, type="invoke", process=i, f="read",
                      value=[[f, k, None] for f, k, _ in v]))
        ops.append(Op(index=len(ops), time=None, type="ok", process=i, f="read", value=v))
    return ops


def test_nested_states_are_fine() -> None:
    h = reads([["r", 0, None], ["r", 1, None]], [["r", 0, 1], ["r", 1, None]], [["r", 1, 1], ["r", 0, 1]])
    r = long_fork(group_size=2).check(h, {})
    assert r["valid"] is True and r["groups"] == 1


def test_fork_found_and_explained() -> None:
    h = reads([["r", 0, 1], ["r", 1, None]], [["r", 1, 1], ["r", 0, None]])
    r = long_fork(group_size=2).check(h, {})
    assert r["valid"] is False
    fork = r["forks"][0]
    assert fork["only_first"] == [(0, 1)] and fork["only_second"] == [(1, 1)]
    assert "two different orders" in fork["text"]


def test_groups_are_independent() -> None:
    h = reads([["r", 0, 1], ["r", 1, None]], [["r", 2, 1], ["r", 3, None]])
    assert long_fork(group_size=2).check(h, {})["valid"] is True
    assert long_fork().check(h, {})["groups"] == 2
