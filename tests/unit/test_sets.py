from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jepsy.checkers.sets import set_checker, set_full
from jepsy.history import Op


def hist(*events: tuple[str, int, str, Any]) -> list[Op]:
    return [Op(index=i, time=i * 1_000_000, type=t, process=p, f=f, value=v)
            for i, (t, p, f, v) in enumerate(events)]


def add(p: int, v: Any, t: str = "ok") -> list[tuple[str, int, str, Any]]:
    return [("invoke", p, "add", v), (t, p, "add", v)]


def read(p: int, vs: Any) -> list[tuple[str, int, str, Any]]:
    return [("invoke", p, "read", None), ("ok", p, "read", vs)]


def test_set_lost_unexpected_recovered() -> None:
    h = hist(*add(0, 1), *add(0, 2), *add(1, 3, "info"), *read(0, [1, 3, 9]))
    r = set_checker().check(h, {})
    assert r["valid"] is False
    assert r["lost"] == [2] and r["unexpected"] == [9] and r["recovered"] == [3]


def test_set_valid_and_unknown_without_reads() -> None:
    assert set_checker().check(hist(*add(0, 1), *read(0, [1])), {})["valid"] is True
    assert set_checker().check(hist(*add(0, 1)), {})["valid"] == "unknown"


def test_set_full_stable_stale_lost_never_read() -> None:
    h = hist(*add(0, 1), *read(1, []), *read(1, [1]), *add(0, 2), *read(1, [1, 2]), *read(1, [1]),
             *add(0, 3))
    r = set_full().check(h, {})
    assert r["valid"] is False
    assert r["lost"] == [2]
    assert r["stale"] == [1]
    assert r["never_read"] == [3]
    assert r["stable_latency_ms"]["max"] > 0
    assert "did not show it" in r["details"][0]["text"] or "missed it" in r["details"][0]["text"]


def test_set_full_linearizable_makes_stale_invalid() -> None:
    h = hist(*add(0, 1), *read(1, []), *read(1, [1]))
    assert set_full().check(h, {})["valid"] is True
    assert set_full(linearizable=True).check(h, {})["valid"] is False


def test_set_full_indeterminate_add_known_from_first_read() -> None:
    h = hist(*add(0, 1, "info"), *read(1, [1]), *read(1, [1]))
    r = set_full().check(h, {})
    assert r["valid"] is True and r["stable_count"] == 1


def test_set_full_unexpected_element() -> None:
    r = set_full().check(hist(*add(0, 1), *read(1, [1, 7])), {})
    assert r["valid"] is False and r["unexpected"] == [7]


def _reference(h: list[Op]) -> dict[str, list[Any]]:
    """Brute force: for every element, look at every read that began after it was known."""
    from jepsy.checkers._util import calls

    cs = calls(h)
    reads = sorted((c for c in cs if c.f == "read" and c.type == "ok"), key=lambda c: c.pos_invoke)
    out: dict[str, list[Any]] = {"stable": [], "stale": [], "lost": [], "never-read": []}
    for c in cs:
        if c.f != "add" or c.type != "ok" or c.pos_done is None:
            continue
        e = c.value
        later = [r for r in reads if r.pos_invoke > c.pos_done]
        if not later:
            out["never-read"].append(e)
            continue
        shown = [e in r.value for r in later]
        ever = [i for i, r in enumerate(reads) if e in r.value]
        if not all(shown):
            last_absent = reads.index(later[max(i for i, s in enumerate(shown) if not s)])
            if not ever or last_absent > ever[-1]:
                out["lost"].append(e)
                continue
        out["stale" if not all(shown) else "stable"].append(e)
    return {k: sorted(v) for k, v in out.items()}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.lists(st.integers(0, 6), max_size=7)),
                min_size=1, max_size=14))
def test_set_full_agrees_with_brute_force(steps: list[tuple[bool, int, list[int]]]) -> None:
    events: list[tuple[str, int, str, Any]] = []
    added = 0
    for is_add, proc, seen in steps:
        if is_add and added < 7:
            events += add(proc, added)
            added += 1
        else:
            events += read(proc, sorted(set(seen)))
    h = hist(*events)
    r = set_full().check(h, {})
    if r["valid"] == "unknown":
        return
    ref = _reference(h)
    assert sorted(r["lost"]) == ref["lost"]
    assert sorted(r["stale"]) == ref["stale"]
    assert sorted(r["never_read"]) == ref["never-read"]
    assert r["stable_count"] == len(ref["stable"])
