"""Generators: plain-data specs, combinators, and the barrier between phases."""

from __future__ import annotations

import itertools
import random
from typing import Any

from jepsy import generator as gen


def ctx(thread: int | str = 0, t: float = 0.0, threads: tuple[int | str, ...] = (0,),
        busy: frozenset[int | str] = frozenset(), seed: int = 1) -> gen.Context:
    return gen.Context(thread=thread, time=t, rng=random.Random(seed), threads=threads, busy=busy)


def drain(spec: Any, n: int = 1000, **kw: Any) -> list[Any]:
    g = gen.build(spec)
    out = []
    for _ in range(n):
        x = g.next(ctx(**kw))
        if x is None:
            break
        out.append(x)
    return out


def test_dict_is_one_op_and_list_is_a_sequence() -> None:
    assert drain({"f": "read"}) == [{"f": "read"}]
    assert drain([{"f": "a"}, {"f": "b"}, None, [{"f": "c"}]]) == [{"f": "a"}, {"f": "b"}, {"f": "c"}]


def test_function_is_called_until_it_returns_none() -> None:
    box = iter(range(3))

    def source(c: gen.Context) -> dict[str, Any] | None:
        v = next(box, None)
        return None if v is None else {"f": "x", "value": v}

    assert drain(source) == [{"f": "x", "value": 0}, {"f": "x", "value": 1}, {"f": "x", "value": 2}]
    assert drain(lambda c: None) == []


def test_limit_and_repeat() -> None:
    assert drain(gen.limit(4, gen.repeat({"f": "r"}))) == [{"f": "r"}] * 4


def test_mix_uses_every_source_until_exhausted() -> None:
    ops = drain(gen.mix([gen.limit(5, gen.repeat({"f": "a"})), gen.limit(5, gen.repeat({"f": "b"}))]))
    assert sorted(o["f"] for o in ops) == ["a"] * 5 + ["b"] * 5


def test_same_seed_same_ops() -> None:
    spec = gen.limit(50, gen.mix([gen.repeat({"f": "a"}), gen.repeat({"f": "b"})]))
    assert drain(spec, seed=7) == drain(spec, seed=7)


def test_stagger_spaces_ops_at_the_requested_average() -> None:
    g = gen.build(gen.stagger(0.1, gen.repeat({"f": "x"})))
    times = []
    c = ctx()
    for _ in range(2000):
        op = g.next(c)
        assert isinstance(op, dict)
        times.append(op["at"])
        c.time = op["at"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0 <= g_ <= 0.2 + 1e-9 for g_ in gaps)
    assert 0.09 < sum(gaps) / len(gaps) < 0.11


def test_time_limit_stops_at_the_deadline() -> None:
    g = gen.build(gen.time_limit(1.0, gen.repeat({"f": "x"})))
    assert g.next(ctx(t=10.0)) == {"f": "x"}
    assert g.next(ctx(t=10.9)) == {"f": "x"}
    assert g.next(ctx(t=11.0)) is None


def test_time_limit_drops_ops_scheduled_past_the_deadline() -> None:
    g = gen.build(gen.time_limit(1.0, gen.stagger(5.0, gen.repeat({"f": "x"}))))
    results = [g.next(ctx(t=0.0)) for _ in range(20)]
    assert all(r is None or r["at"] < 1.0 for r in results)
    assert None in results


def test_sleep_is_pending_then_done() -> None:
    g = gen.build([gen.sleep(2.0), {"f": "start"}])
    first = g.next(ctx(t=1.0))
    assert isinstance(first, gen.Pending) and first.wait == 2.0
    assert isinstance(g.next(ctx(t=2.5)), gen.Pending)
    assert g.next(ctx(t=3.0)) == {"f": "start"}


def test_cycle_restarts_with_fresh_state() -> None:
    ops = drain(gen.limit(5, gen.cycle([{"f": "start"}, {"f": "stop"}])))
    assert [o["f"] for o in ops] == ["start", "stop", "start", "stop", "start"]
    assert drain(gen.cycle([])) == []


def test_clients_nemesis_and_route_split_threads() -> None:
    spec = gen.route(gen.repeat({"f": "read"}), gen.repeat({"f": "start"}))
    g = gen.build(spec)
    assert g.next(ctx(thread=3)) == {"f": "read"}
    assert g.next(ctx(thread="nemesis")) == {"f": "start"}
    assert gen.build(gen.clients({"f": "x"})).next(ctx(thread="nemesis")) is None
    assert gen.build(gen.nemesis({"f": "x"})).next(ctx(thread=0)) is None


def test_each_thread_and_defer_give_every_thread_its_own_ops() -> None:
    spec = gen.each_thread(gen.defer(lambda c: [{"f": "read", "value": c.thread}] * 2))
    g = gen.build(spec)
    assert [g.next(ctx(thread=t)) for t in (0, 1, 0, 1)] == [
        {"f": "read", "value": 0}, {"f": "read", "value": 1},
        {"f": "read", "value": 0}, {"f": "read", "value": 1}]
    assert g.next(ctx(thread=0)) is None


def test_phases_wait_for_every_thread_and_in_flight_ops() -> None:
    threads = (0, 1)
    g = gen.build(gen.phases(gen.each_thread({"f": "a"}), gen.each_thread({"f": "b"})))
    assert g.next(ctx(thread=0, threads=threads)) == {"f": "a"}
    # thread 0 is done with phase 1, but thread 1 has not even started: wait.
    assert isinstance(g.next(ctx(thread=0, threads=threads)), gen.Pending)
    assert g.next(ctx(thread=1, threads=threads)) == {"f": "a"}
    # thread 1's op is still in flight: thread 0 must keep waiting.
    assert isinstance(g.next(ctx(thread=0, threads=threads, busy=frozenset({1}))), gen.Pending)
    # Once thread 1 asks again its op is done: the barrier opens for both.
    assert g.next(ctx(thread=1, threads=threads)) == {"f": "b"}
    assert g.next(ctx(thread=0, threads=threads)) == {"f": "b"}
    assert isinstance(g.next(ctx(thread=0, threads=threads)), gen.Pending)
    assert g.next(ctx(thread=1, threads=threads)) is None
    assert g.next(ctx(thread=0, threads=threads)) is None


def test_rate_zero_means_unthrottled() -> None:
    assert drain(gen.limit(3, gen.rate(0, gen.repeat({"f": "x"})))) == [{"f": "x"}] * 3
