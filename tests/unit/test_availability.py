"""The availability checker on synthetic histories whose figures are known exactly.

Three nodes, three processes (process p talks to node n(p+1)); together they
complete one op every 10 ms (100 ops/s), each invoked 1 ms before it completes.
Whether an op is ok is a function of its completion time and node, so every
window's figures and every recovery time follow by arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from jepsy.checkers.availability import (
    AvailabilityChecker,
    availability,
    mapping_from_run_dir,
    parse_expectation,
    sides_of,
    with_availability,
)
from jepsy.checkers.stats import stats
from jepsy.cli import main
from jepsy.errors import ConfigError
from jepsy.history import Op

NODES = ["n1", "n2", "n3"]
S = 1_000_000_000  # ns per second
MS = 1_000_000


def history(end_s: float, ok: Callable[[float, str], bool],
            faults: list[tuple[float, str, object]] = ()) -> list[Op]:  # type: ignore[assignment]
    """Ops completing at k x 10 ms (k >= 1) until ``end_s``, worker k mod 3; nemesis ops
    ``(at_s, f, value)`` recorded as request and completion at the same instant; the final
    ``heal`` at ``end_s``."""
    events: list[tuple[int, int, str, int | str, str, object, object]] = []
    k = 1
    while k * 10 * MS < end_s * S:
        t = k * 10 * MS
        p = k % 3
        good = ok(t / S, NODES[p])
        events.append((t - MS, 0, "invoke", p, "read", None, None))
        events.append((t, 1, "ok" if good else "fail", p, "read", 1 if good else None,
                       None if good else "unavailable"))
        k += 1
    for at, f, value in faults:
        events.append((round(at * S), 2, "info", "nemesis", f, None, None))
        events.append((round(at * S), 3, "info", "nemesis", f, value, None))
    events.append((round(end_s * S), 4, "info", "nemesis", "heal", None, None))
    events.sort(key=lambda e: (e[0], e[1]))
    return [Op(i, t, typ, p, f, v, err) for i, (t, _, typ, p, f, v, err) in enumerate(events)]


OPTS = {"nodes": NODES, "concurrency": 3}
CUT_N3 = {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}


def part(start: float, stop: float, grudge: object = CUT_N3) -> list[tuple[float, str, object]]:
    return [(start, "start-partition", grudge), (stop, "stop-partition", None)]


def check(h: list[Op], **kw: object) -> dict:  # type: ignore[type-arg]
    return AvailabilityChecker(**kw).check(h, OPTS)  # type: ignore[arg-type]


def test_no_faults_one_calm_window_no_recoveries() -> None:
    r = check(history(10, lambda t, n: True))
    assert r["valid"] is True and r["recoveries"] == []
    [w] = r["windows"]
    assert w["kind"] == "calm" and w["ops"] == 999 and w["ok_fraction"] == 1.0
    assert w["p50_ms"] == 1.0 and w["p99_ms"] == 1.0
    assert w["by_node"]["n1"]["ops"] == 333 and "sides" not in w
    assert "no faults" in r["text"]


def test_recovery_after_three_seconds_exactly() -> None:
    # Partition 10-15 s; nothing succeeds from 10 s until 18 s, three seconds after the heal.
    h = history(25, lambda t, n: not 10 <= t < 18, part(10, 15))
    r = check(h)
    assert r["valid"] is True
    [rec] = r["recoveries"]
    assert rec["heal_at_s"] == 15.0 and rec["recovered_after_s"] == 3.0
    assert rec["recovered_at_s"] == 18.0
    # the last ok op before 18 s completed at 9.99 s, so the silence began at the heal
    assert (rec["longest_silence_s"], rec["silence_at_s"]) == (3.0, 15.0)
    assert [w["kind"] for w in r["windows"]] == ["calm", "partition", "calm"]
    fault = r["windows"][1]
    assert (fault["start_s"], fault["end_s"], fault["ok"], fault["ok_fraction"]) == (10.0, 15.0, 0, 0.0)
    assert fault["sides"]["majority"]["nodes"] == ["n1", "n2"]
    assert fault["sides"]["isolated"]["nodes"] == ["n3"]
    assert r["worst_recovery_s"] == 3.0
    bad = check(h, expect_recovery=1)
    assert bad["valid"] is False
    assert bad["explanation"]["text"].startswith(
        "After the heal at 15 s, throughput stayed below 80 % of its baseline (100.0 ok ops/s) "
        "for 3 s (expected at most 1 s)")
    assert check(h, expect_recovery=3)["valid"] is True


def test_instant_recovery() -> None:
    h = history(25, lambda t, n: True, part(10, 15))
    [rec] = check(h)["recoveries"]
    assert rec["recovered_after_s"] == 0.0
    assert check(h, expect_recovery=0.001)["valid"] is True


def test_a_fraction_and_hold_of_our_own() -> None:
    # Back at half the baseline from 16 s, full from 19 s.  The 1 s window starting at
    # u >= 16 holds 50 (19 - u) + 100 (u - 18) ok ops: 80 of them from u = 18.6, whose
    # first ok op is at 18.6 s; 50 % is there from 16 s.
    h = history(25, lambda t, n: t < 10 or t >= 19 or (t >= 16 and round(t * 100) % 2 == 0),
                part(10, 15))
    assert check(h)["recoveries"][0]["recovered_after_s"] == 3.6
    assert check(h, fraction=0.5)["recoveries"][0]["recovered_after_s"] == 1.0


def test_no_recovery_before_the_next_fault() -> None:
    h = history(30, lambda t, n: t < 10, part(10, 15) + part(20, 25))
    r = check(h)
    first, second = r["recoveries"]
    assert first["recovered_after_s"] is None and first["censored"] == "next-fault"
    assert first["below_for_s"] == 5.0 and "before the next fault began 5 s after" in first["reason"]
    # the main phase ends when its last op completed, at 29.99 s (the heal is at 30 s)
    assert second["censored"] == "end" and second["below_for_s"] == 4.99
    assert r["valid"] is True and r["not_recovered"] == 2
    assert check(h, expect_recovery=3)["valid"] is False
    generous = check(h, expect_recovery=10)
    assert generous["valid"] is True and len(generous["undecided"]) == 2


def test_run_that_ends_during_a_fault() -> None:
    h = history(20, lambda t, n: t < 10 or n != "n3", [(10, "start-partition", CUT_N3)])
    r = check(h, expect_recovery=0.001, expect_availability=0.99)
    [rec] = r["recoveries"]
    assert rec["heal_at_s"] == 20.0 and rec["recovered_after_s"] is None and rec["censored"] == "end"
    assert r["valid"] is True  # not measured is not broken
    w = r["windows"][1]
    assert (w["kind"], w["start_s"], w["end_s"]) == ("partition", 10.0, 19.99)
    assert w["sides"]["majority"]["ok_fraction"] == 1.0
    assert w["sides"]["isolated"]["ok_fraction"] == 0.0
    assert w["ok_fraction"] == pytest.approx(2 / 3, abs=0.001)


def test_majority_side_availability_expectation() -> None:
    h = history(20, lambda t, n: t < 10 or t >= 13, part(10, 15))
    r = check(h, expect_availability=0.5)
    assert r["valid"] is False
    assert r["explanation"]["text"] == (
        "In the partition window 10–15 s, the majority side (n1, n2) had 40 % of its 333 "
        "operations ok (expected at least 50 %).")
    assert check(h, expect_availability=0.4)["valid"] is True


def test_without_a_node_mapping_figures_by_node_are_left_out() -> None:
    h = history(25, lambda t, n: not 10 <= t < 18, part(10, 15))
    r = AvailabilityChecker().check(h, {})
    assert "by_node" not in r["windows"][0] and r["recoveries"][0]["recovered_after_s"] == 3.0
    assert AvailabilityChecker(expect_availability=0.5).check(h, {})["valid"] == "unknown"


def test_no_baseline_when_the_run_starts_in_a_fault() -> None:
    h = history(20, lambda t, n: True, part(0, 5))
    r = check(h, expect_recovery=1)
    assert r["baseline_throughput"] is None and r["valid"] == "unknown"
    assert "no calm period before the first fault" in r["recoveries"][0]["reason"]


def test_sides_of_partitions() -> None:
    five = ["n1", "n2", "n3", "n4", "n5"]
    halves = {"n1": ["n4", "n5"], "n2": ["n4", "n5"], "n3": ["n4", "n5"],
              "n4": ["n1", "n2", "n3"], "n5": ["n1", "n2", "n3"]}
    assert sides_of(halves, five) == {"n1": "majority", "n2": "majority", "n3": "majority",
                                      "n4": "minority", "n5": "minority"}
    assert sides_of({"n1": ["n2", "n3"]}, NODES) == {"n1": "isolated", "n2": "majority",
                                                    "n3": "majority"}


@pytest.mark.parametrize("value, fraction, message", [
    ("-1", False, "non-negative"), ("abc", False, "wants a number"), ("nan", False, "non-negative"),
    ("1.5", True, "between 0 and 1"), ("-0.1", True, "non-negative"),
])
def test_bad_expectations(value: str, fraction: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_expectation("--x", value, fraction=fraction)
    with pytest.raises(TypeError):
        availability(hold_for=3)  # the CLI rejects it first: see test_check_command_...


def test_beside_a_workload_checker_and_informational_by_default() -> None:
    from jepsy.checkers import compose

    h = history(25, lambda t, n: not 10 <= t < 18, part(10, 15))
    r = with_availability(compose({"stats": stats()})).check(h, OPTS)
    assert r["valid"] is True and set(r) == {"valid", "stats", "availability"}
    strict = with_availability(compose({"stats": stats()}), AvailabilityChecker(expect_recovery=1))
    assert strict.check(h, OPTS)["valid"] is False


def _run_dir(tmp_path: Path, h: list[Op]) -> Path:
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(op.to_json()) + "\n" for op in h))
    (tmp_path / "test.json").write_text(json.dumps({"nodes": NODES, "options": {"concurrency": 3}}))
    return tmp_path / "history.jsonl"


def test_check_command_reads_the_mapping_and_judges(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = _run_dir(tmp_path, history(25, lambda t, n: not 10 <= t < 18, part(10, 15)))
    assert mapping_from_run_dir(path) == {"nodes": NODES, "concurrency": 3}

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as e:
            main(["check", str(path), "--checker", "availability", *args])
        out, err = capsys.readouterr()
        return int(e.value.code or 0), out, err

    code, out, _ = run("--json")
    assert code == 0 and json.loads(out)["windows"][1]["sides"]["isolated"]["nodes"] == ["n3"]
    code, out, _ = run("--expect-recovery", "0.001")
    assert code == 1 and "for 3 s (expected at most 0.001 s)" in out
    assert run("--expect-recovery", "10")[0] == 0
    # at 50 % of the baseline it is back no sooner: nothing succeeds until 18 s either way
    code, out, _ = run("--recovery-fraction", "0.5", "--expect-recovery", "2", "--json")
    assert code == 1 and json.loads(out)["settings"]["fraction"] == 0.5
    for bad in (["--expect-recovery", "-1"], ["--expect-availability", "2"],
                ["--expect-recovery", "soon"], ["--opt", "hold_for=3"], ["--opt", "fraction=2"],
                ["--recovery-fraction", "-0.5"]):
        code, _, err = run(*bad)
        assert code == 254 and err.count("\n") == 1 and "Traceback" not in err


def test_a_relapse_after_recovering_is_reported_and_judged() -> None:
    # Back at the heal (15 s), then nothing succeeds from 18 s until 20.5 s: a relapse of
    # 2.5 s, from the last ok op before it (17.99 s) to the first one after (20.5 s).
    h = history(30, lambda t, n: not (10 <= t < 15 or 18 <= t < 20.5), part(10, 15))
    r = check(h)
    [rec] = r["recoveries"]
    assert rec["recovered_after_s"] == 0.0
    assert rec["relapses"] == [{"at_s": 17.99, "below_for_s": 2.51, "censored": None}]
    assert r["longest_below_s"] == 2.51 and "1 relapse after recovering" in r["text"]
    bad = check(h, expect_recovery=1)
    assert bad["valid"] is False and "fell below 80 % of its baseline (100.0 ok ops/s) again " \
        "at 17.99 s for 2.51 s (expected at most 1 s)" in bad["explanation"]["text"]
    assert check(h, expect_recovery=3)["valid"] is True
