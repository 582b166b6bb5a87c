from __future__ import annotations

from jepsy.checkers.unique_ids import unique_ids
from jepsy.history import Op


def gen(*ids: object) -> list[Op]:
    ops = []
    for i, v in enumerate(ids):
        ops.append(Op(index=len(ops), time=None, type="invoke", process=i, f="generate", value=None))
        ops.append(Op(index=len(ops), time=None, type="ok", process=i, f="generate", value=v))
    return ops


def test_distinct_ids_valid() -> None:
    r = unique_ids().check(gen(1, 2, 3), {})
    assert r["valid"] is True and r["range"] == [1, 3] and r["acknowledged_count"] == 3


def test_duplicates_reported_with_counts() -> None:
    r = unique_ids().check(gen(1, 2, 2, [0, 1], [0, 1], 2), {})
    assert r["valid"] is False
    assert r["duplicated"][0] == {"id": 2, "times": 3, "text": "id 2 was handed out 3 times"}
    assert r["duplicated_count"] == 2
