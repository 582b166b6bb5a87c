from __future__ import annotations

from typing import Any

from jepsy.checkers.queues import queue, total_queue
from jepsy.history import Op


def hist(*events: tuple[str, int, str, Any]) -> list[Op]:
    return [Op(index=i, time=i, type=t, process=p, f=f, value=v) for i, (t, p, f, v) in enumerate(events)]


def test_total_queue_lost_duplicated_unexpected_recovered() -> None:
    h = hist(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
             ("invoke", 0, "enqueue", 2), ("ok", 0, "enqueue", 2),
             ("invoke", 1, "enqueue", 3), ("info", 1, "enqueue", 3),
             ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", 1),
             ("invoke", 2, "drain", None), ("ok", 2, "drain", [1, 3, 8]))
    r = total_queue().check(h, {})
    assert r["valid"] is False
    assert r["lost"] == [2] and r["duplicated"] == [1] and r["unexpected"] == [8] and r["recovered"] == [3]


def test_total_queue_valid() -> None:
    h = hist(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1), ("invoke", 0, "dequeue", None),
             ("ok", 0, "dequeue", 1), ("invoke", 0, "dequeue", None), ("ok", 0, "dequeue", None))
    assert total_queue().check(h, {})["valid"] is True
    assert queue().check(h, {})["valid"] is True


def test_queue_dequeue_before_any_enqueue_is_invalid() -> None:
    h = hist(("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 5),
             ("invoke", 0, "enqueue", 5), ("ok", 0, "enqueue", 5))
    r = queue().check(h, {})
    assert r["valid"] is False and r["errors"][0]["value"] == 5


def test_queue_concurrent_enqueue_may_be_dequeued() -> None:
    h = hist(("invoke", 0, "enqueue", 5), ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 5),
             ("ok", 0, "enqueue", 5))
    assert queue().check(h, {})["valid"] is True


def test_at_least_once_allows_redelivery_but_not_loss() -> None:
    h = hist(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
             ("invoke", 0, "enqueue", 2), ("ok", 0, "enqueue", 2),
             ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 1),
             ("invoke", 1, "drain", None), ("ok", 1, "drain", [1]))
    assert total_queue().check(h, {})["valid"] is False
    r = total_queue(at_least_once="true").check(h, {})
    assert r["valid"] is False and r["lost"] == [2] and r["duplicated"] == [1]
    redelivered = h[:4] + hist(("invoke", 1, "drain", None), ("ok", 1, "drain", [1, 2, 1]))
    redelivered = [Op(index=i, time=i, type=o.type, process=o.process, f=o.f, value=o.value)
                   for i, o in enumerate(redelivered)]
    assert total_queue(at_least_once=True).check(redelivered, {})["valid"] is True
    assert queue(at_least_once=True).check(redelivered, {})["valid"] is True
    assert queue().check(redelivered, {})["valid"] is False
