from __future__ import annotations

from typing import Any

from jepsy.checkers.bank import bank
from jepsy.history import Op


def reads(*values: dict[Any, Any]) -> list[Op]:
    ops = []
    for v in values:
        ops.append(Op(index=len(ops), time=len(ops), type="invoke", process=0, f="read", value=None))
        ops.append(Op(index=len(ops), time=len(ops), type="ok", process=0, f="read", value=v))
    return ops


def test_total_conserved_is_valid_and_inferred_from_first_read() -> None:
    r = bank().check(reads({0: 10, 1: 0}, {0: 4, 1: 6}), {})
    assert r["valid"] is True and r["total"] == 10


def test_wrong_total_names_the_read() -> None:
    r = bank().check(reads({0: 10, 1: 0}, {0: 4, 1: 7}), {})
    assert r["valid"] is False
    assert r["errors"]["wrong-total"][0]["op"] == 3
    assert "created" in r["errors"]["wrong-total"][0]["text"]


def test_negative_balances_and_the_option_allowing_them() -> None:
    h = reads({0: 10, 1: 0}, {0: 11, 1: -1})
    assert bank().check(h, {})["errors"]["negative-value"][0]["negative"] == {1: -1}
    assert bank(negative_balances=True).check(h, {})["valid"] is True


def test_json_string_keys_match_int_accounts_and_unknown_keys() -> None:
    assert bank(total_amount=10, accounts=[0, 1]).check(reads({"0": 5, "1": 5}), {})["valid"] is True
    r = bank(accounts=[0, 1]).check(reads({0: 5, 1: 5, 2: 0}), {})
    assert "unexpected-key" in r["errors"]


def test_nil_balance() -> None:
    r = bank().check(reads({0: 5, 1: 5}, {0: 5, 1: None}), {})
    assert "nil-balance" in r["errors"]
