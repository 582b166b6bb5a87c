"""History -> page data: op columns, fault periods, clock offsets, the linearizability view."""

from __future__ import annotations

import json

from jepsy.checkers.linear import check_history
from jepsy.checkers.linear.models import cas_register
from jepsy.history import Op
from jepsy.report.data import ops_columns, prune, value_text
from jepsy.report.faults import describe_targets, read_faults
from jepsy.report.linear import linear_views


def _ops(*rows: tuple[int | None, str, int | str, str, object]) -> list[Op]:
    return [Op(i, t, typ, p, f, v) for i, (t, typ, p, f, v) in enumerate(rows)]


def test_columns_pair_invokes_with_completions() -> None:
    ms = 1_000_000
    h = _ops((1 * ms, "invoke", 0, "write", [1, 3]),
             (2 * ms, "invoke", 1, "read", [1, None]),
             (5 * ms, "ok", 0, "write", [1, 3]),
             (9 * ms, "ok", 1, "read", [1, 3]),
             (9500, "info", "nemesis", "start-partition", None),
             (10 * ms, "invoke", 0, "cas", [1, [3, 4]]),
             (12 * ms, "invoke", 2, "write", [1, 0]),
             (13 * ms, "fail", 0, "cas", [1, [3, 4]]))
    h[-1] = Op(7, 13 * ms, "fail", 0, "cas", [1, [3, 4]], error="compare <failed>")
    c = ops_columns(h)
    assert c["n"] == 4
    assert [c["fs"][f] for f in c["f"]] == ["write", "read", "cas", "write"]
    assert c["type"] == [0, 0, 1, 3]  # ok, ok, fail, never completed
    assert c["t0"] == [1000, 2000, 10000, 12000] and c["t1"] == [5000, 9000, 13000, -1]  # microseconds
    assert c["inv"] == [0, 1, 5, 6] and c["cmp"] == [2, 3, 7, -1]
    s = c["strings"]
    assert s[c["val"][1]] == "[1, null]" and s[c["out"][1]] == "[1, 3]"
    assert c["out"][0] == -1  # same value on completion: not repeated
    assert s[c["err"][2]] == '"compare <failed>"'
    assert c["lanes"] == ["p0", "p1", "p2"] and c["lane"] == [0, 1, 0, 2]
    assert c["time_unit"] == "us"


def test_many_processes_become_worker_lanes() -> None:
    h = []
    for p in range(40):  # worker p % 4 crashed over and over: processes 0..39
        h += [Op(len(h), p * 10, "invoke", p, "read", None),
              Op(len(h) + 1, p * 10 + 5, "info", p, "read", None)]
    c = ops_columns(h, concurrency=4)
    assert c["lanes"] == ["worker 0", "worker 1", "worker 2", "worker 3"]
    assert c["lane"][:5] == [0, 1, 2, 3, 0] and c["type"][0] == 2
    assert ops_columns(h)["lanes"][:2] == ["p0", "p1"]  # without the concurrency: processes


def test_very_short_histories_keep_nanoseconds() -> None:
    c = ops_columns(_ops((1, "invoke", 0, "r", None), (2, "ok", 0, "r", None), (3, "invoke", 0, "r", None),
                         (4, "ok", 0, "r", None)))
    assert c["time_unit"] == "ns" and c["t0"] == [1, 3] and c["t1"] == [2, 4]


def test_histories_without_times_use_positions() -> None:
    h = _ops((None, "invoke", 0, "txn", []), (None, "ok", 0, "txn", []))
    c = ops_columns(h)
    assert c["time_unit"] == "op" and c["t0"] == [0] and c["t1"] == [1]
    # Elle's completions-only histories, all at time 0: positions, one slot each.
    c = ops_columns(_ops((0, "ok", 1, "txn", []), (0, "ok", 2, "txn", [])))
    assert c["time_unit"] == "op" and c["t0"] == [-1, 0] and c["t1"] == [0, 1]


def test_a_completion_without_invoke_does_not_crash() -> None:
    c = ops_columns(_ops((0, "invoke", 1, "read", None), (5 * 10**7, "ok", 3, "read", 1),
                         (6 * 10**7, "ok", 1, "read", 2)))
    assert c["n"] == 2 and c["t0"] == [0, 50_000] and c["t1"] == [60_000, 50_000]
    assert c["type"] == [0, 0] and c["proc"] == [1, 3]


def test_fault_periods_from_nemesis_ops() -> None:
    grudge = {"n1": ["n3"], "n3": ["n1"], "n2": []}
    h = _ops((100, "info", "nemesis", "start-partition", None),
             (200, "info", "nemesis", "start-partition", grudge),
             (250, "info", "nemesis", "start-kill", None),
             (260, "info", "nemesis", "start-kill", ["n2"]),
             (300, "info", "nemesis", "stop-partition", None),
             (400, "info", "nemesis", "stop-partition", None),
             (450, "info", "nemesis", "start-pause", None),
             (460, "info", "nemesis", "heal", None))
    periods, events, clock = read_faults(h)
    assert [(p.kind, p.start, p.end) for p in periods] == [
        ("partition", 100, 400), ("kill", 250, 460), ("pause", 450, 460)]
    assert periods[0].targets == "n1 -x- n3; n3 -x- n1" and periods[0].nodes == ["n1", "n3", "n2"]
    assert periods[1].targets == "n2" and (periods[0].start_index, periods[0].end_index) == (0, 5)
    assert events == [] and clock == []


def test_a_failed_start_is_a_marked_period_that_is_not_left_open() -> None:
    h = [Op(0, 10, "info", "nemesis", "start-partition", None),
         Op(1, 20, "info", "nemesis", "start-partition", None, error="iptables: <denied>")]
    (p,), _, _ = read_faults(h)
    assert p.error == '"iptables: <denied>"' and p.end == 20


def test_clock_offsets_as_the_clock_nemesis_records_them() -> None:
    measured = {"n1": {"offset": 1.5, "clock": "faketime"}, "n2": {"offset": -0.25, "clock": "real"}}
    h = _ops((10, "info", "nemesis", "start-clock", {"mode": "bump"}),
             (20, "info", "nemesis", "start-clock", measured),
             (30, "info", "nemesis", "check-clock", None),
             (40, "info", "nemesis", "check-clock", {"n1": {"offset": 1.4}, "n2": {"offset": -0.2}}),
             (50, "info", "nemesis", "heal", None))
    periods, events, clock = read_faults(h)
    assert [(p.kind, p.targets) for p in periods] == [("clock", "n1 +1.5 s, n2 -0.25 s")]
    assert [e.f for e in events] == ["check-clock"]
    assert [(s.time, s.node, s.offset) for s in clock] == [
        (20, "n1", 1.5), (20, "n2", -0.25), (40, "n1", 1.4), (40, "n2", -0.2),
        (50, "n1", 0.0), (50, "n2", 0.0)]


def test_describe_targets_shapes() -> None:
    assert describe_targets(None) == ("", [])
    assert describe_targets(["n1", "n2"]) == ("n1, n2", ["n1", "n2"])
    assert describe_targets({"n1": "eth0: netem delay 50ms"})[0] == "n1: eth0: netem delay 50ms"
    text, nodes = describe_targets({"n1": {"weird": [1]}})
    assert text == '{"n1": {"weird": [1]}}' and nodes == ["n1"]


def test_value_text_and_prune_are_bounded() -> None:
    assert value_text(None) == "null" and value_text([1, "<a>"]) == '[1, "<a>"]'
    assert value_text(float("nan")) == "NaN"
    assert len(value_text("x" * 1000)) == 160
    pruned = prune({"xs": list(range(1000)), "nan": float("inf")}, max_items=10)
    assert pruned["xs"][-1] == "… 990 more items left out of the report" and len(pruned["xs"]) == 11
    assert pruned["nan"] == "inf"
    json.dumps(pruned, allow_nan=False)


def test_linear_view_of_a_stale_read() -> None:
    # write 1 completes, then a read (on another process) still sees the initial nil.
    h = _ops((0, "invoke", 0, "write", ["k", 1]), (10, "ok", 0, "write", ["k", 1]),
             (20, "invoke", 1, "read", ["k", None]), (30, "ok", 1, "read", ["k", None]),
             (40, "invoke", 0, "write", ["j", 2]), (50, "ok", 0, "write", ["j", 2]))
    result = check_history(h, cas_register())
    assert result["valid"] is False
    c = ops_columns(h)
    views = linear_views(h, result, {idx: row for row, idx in enumerate(c["inv"])})
    (view,) = views
    assert view["key"] == '"k"' or view["key"] == "k"
    assert view["rows"] == [0, 1]  # only key k's ops
    assert view["stuck"] == 1 and view["prefix"] == [0]
    assert view["labels"] == {"0": "write 1", "1": "read → null"}
    assert view["states_after"] == [{"state": 1, "text": "hold 1"}]


def test_linear_views_tolerate_odd_results() -> None:
    assert linear_views([], {"valid": False, "explanation": "just words"}, {}) == []
    views = linear_views([], {"valid": False, "explanation": {"prefix": "x", "op": None}}, {})
    assert views[0]["rows"] == [] and views[0]["stuck"] == -1 and views[0]["states_after"] is None


def test_linear_view_shows_states_of_a_history_checked_with_init() -> None:
    # As `jepsy check --model cas-register --init 5`: the register starts at 5, a cas
    # 5 -> 6 and a write 7 succeed, then a read still sees 6.  The states come from the
    # checker's own model (the report once replayed a default-initialised one and showed none).
    from jepsy.checkers.linear import linearizable_checker

    h = _ops((0, "invoke", 0, "cas", [5, 6]), (10, "ok", 0, "cas", [5, 6]),
             (20, "invoke", 0, "write", 7), (30, "ok", 0, "write", 7),
             (40, "invoke", 1, "read", None), (50, "ok", 1, "read", 6))
    result = linearizable_checker(model="cas-register", init=5).check(h, {})
    assert result["valid"] is False
    entry = result["keys"]["null"]
    assert entry["indices"] == [0, 2, 4]
    assert entry["states_after"] == [{"state": 6, "text": "hold 6"}, {"state": 7, "text": "hold 7"}]
    c = ops_columns(h)
    (view,) = linear_views(h, result, {idx: row for row, idx in enumerate(c["inv"])})
    assert view["prefix"] == [0, 1] and view["stuck"] == 2
    assert view["states_after"] == entry["states_after"]
    assert view["labels"] == {"0": "cas [5, 6]", "1": "write 7", "2": "read → 6"}
