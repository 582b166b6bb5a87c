"""The streamed checks of a history file give what the whole-history checks give.

``jepsy.checkers.linear.streaming`` (linearizability key by key as the file is read,
keys parked on disk while they wait) and ``jepsy.checkers.streaming`` (a run's
checks in one pass: linearizability, stats, availability over arrays) against the
ordinary checkers on the same files: valid and invalid histories, several keys,
crashed and unfinished calls, failed ones, a violation in a key in the middle, and
partitions for the availability figures.  Small batches and a small idle threshold
make every path run (several batches, parked keys read back).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jepsy.checkers import check_safe, compose
from jepsy.checkers.availability import AvailabilityChecker, with_availability
from jepsy.checkers.linear import checker as linear_checker
from jepsy.checkers.linear import linearizable
from jepsy.checkers.linear import streaming as linear_streaming
from jepsy.checkers.linear.models import cas_register, register
from jepsy.checkers.stats import stats
from jepsy.checkers.streaming import check_run_file
from jepsy.errors import HistoryError
from jepsy.history import Op, read_history
from jepsy.report.samples import write_sample_run

NODES = ["n1", "n2", "n3", "n4", "n5"]


def _write(path: Path, ops: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"index": i, **op}) + "\n" for i, op in enumerate(ops)))
    return path


def _no_time(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "time_s"}


def _hand_history() -> list[dict[str, Any]]:
    """Five keys; key 2 (in the middle) reads a value never written; a crashed write on
    key 1, an unfinished read on key 4, a failed cas on key 3; every key read at the end."""
    ops: list[dict[str, Any]] = []
    t = 0

    def add(type_: str, p: int | str, f: str, value: Any, error: Any = None) -> None:
        nonlocal t
        t += 1000
        ops.append({"time": t, "type": type_, "process": p, "f": f, "value": value,
                    **({"error": error} if error else {})})

    for k in range(5):
        add("invoke", 0, "write", [k, k])
        add("invoke", 1, "read", [k, None])
        add("ok", 0, "write", [k, k])
        add("ok", 1, "read", [k, 7 if k == 2 else k])
        if k == 1:
            add("invoke", 0, "write", [k, 3])
            add("info", 0, "write", [k, 3], "timeout")
        if k == 3:
            add("invoke", 1, "cas", [k, [4, 1]])
            add("fail", 1, "cas", [k, [4, 1]], "compare failed")
        add("info", "nemesis", "start-partition", None)
        add("info", "nemesis", "start-partition", {"n1": ["n2"], "n2": ["n1"]})
    for k in range(5):
        if k == 4:
            add("invoke", 5, "read", [k, None])  # never completes
            continue
        add("invoke", 2, "read", [k, None])
        add("ok", 2, "read", [k, 3 if k == 1 else 7 if k == 2 else k])
    return ops


@pytest.fixture(autouse=True)
def stream_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linear_checker, "STREAM_ABOVE_BYTES", 0)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linear_streaming, "BATCH_OPS", 7)
    monkeypatch.setattr(linear_streaming, "IDLE_OPS", 5)
    monkeypatch.setattr("jepsy.checkers.chunks.CHUNK_BYTES", 4000)  # blocks of ~40 lines


@pytest.mark.parametrize("batch_ops", [1, 7, 10_000])
def test_linear_stream_matches_whole_history(tmp_path: Path, batch_ops: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linear_streaming, "IDLE_OPS", 5)
    monkeypatch.setattr("jepsy.checkers.chunks.CHUNK_BYTES", 300)
    path = _write(tmp_path / "h.jsonl", _hand_history())
    checker = linearizable(cas_register(None, nil_read="absent"), all_keys=True)
    whole = checker.check(read_history(path), {})
    streamed = linear_streaming.check_file(checker, path, {}, batch_ops=batch_ops)
    assert whole["valid"] is False and whole["counts"]["invalid"] == 1
    assert _no_time(streamed) == _no_time(whole)
    assert list(streamed["keys"]) == list(whole["keys"])
    assert streamed["keys"]["2"]["explanation"]["text"] == whole["keys"]["2"]["explanation"]["text"]
    assert streamed["keys"]["1"]["crashed"] == 1 and streamed["failed_dropped"] == 1


def test_linear_stream_of_sample_runs(tmp_path: Path, small_batches: None) -> None:
    for seed, stale in ((3, False), (7, True)):
        run = tmp_path / f"run{seed}"
        write_sample_run(run, n_ops=1500, concurrency=6, keys=9, stale=stale, seed=seed)
        path = run / "history.jsonl"
        checker = linearizable(cas_register(), all_keys=True)
        whole = checker.check(read_history(path), {})
        assert whole["valid"] is (not stale)
        assert _no_time(checker.check_file(path, {})) == _no_time(whole)


def test_first_invalid_key_stops_later_batches(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.jsonl", _hand_history())
    checker = linearizable(cas_register(None, nil_read="absent"))  # not all_keys
    streamed = linear_streaming.check_file(checker, path, {}, batch_ops=1)
    whole = checker.check(read_history(path), {})
    assert streamed["valid"] is whole["valid"] is False
    assert streamed["explanation"] == whole["explanation"]
    assert set(streamed["keys"]) == set(whole["keys"])
    assert sum(1 for e in streamed["keys"].values()
               if str(e.get("reason", "")).startswith("not checked")) >= 1


def test_pairing_errors_are_the_whole_history_checks(tmp_path: Path) -> None:
    ops = _hand_history()[:4]
    ops.insert(1, {"time": 1, "type": "invoke", "process": 0, "f": "read", "value": [9, None]})
    path = _write(tmp_path / "h.jsonl", ops)
    checker = linearizable(cas_register())
    with pytest.raises(HistoryError) as whole:
        checker.check(read_history(path), {})
    with pytest.raises(HistoryError) as streamed:
        checker.check_file(path, {})
    assert str(streamed.value) == str(whole.value)


def test_histories_not_split_by_key_are_read_whole(tmp_path: Path) -> None:
    ops = [{"time": 1, "type": "invoke", "process": 0, "f": "write", "value": 3},
           {"time": 2, "type": "ok", "process": 0, "f": "write", "value": 3},
           {"time": 3, "type": "invoke", "process": 1, "f": "read", "value": None},
           {"time": 4, "type": "ok", "process": 1, "f": "read", "value": 3}]
    path = _write(tmp_path / "h.jsonl", ops)
    checker = linearizable(register())
    assert _no_time(checker.check_file(path, {})) == _no_time(checker.check(read_history(path), {}))


def _register_checker() -> Any:
    return compose({"linearizable": linearizable(cas_register(None, nil_read="absent"),
                                                 all_keys=True),
                    "stats": stats()})


@pytest.mark.parametrize("stale", [False, True])
def test_run_checks_streamed_match(tmp_path: Path, small_batches: None, stale: bool) -> None:
    run = tmp_path / "run"
    write_sample_run(run, n_ops=2000, concurrency=5, keys=11, stale=stale, seed=11)
    path = run / "history.jsonl"
    ops = read_history(path)
    opts = {"nodes": NODES, "concurrency": 5, "time_limit": 10}
    checker = _register_checker()
    whole = check_safe(with_availability(checker)).check(ops, opts)
    got = check_run_file(checker, None, path, len(ops), opts, stream_above=0)
    assert got is not None
    assert got.stats == stats().check(ops, {})
    assert got.nemesis == [op for op in ops if not op.is_client]
    assert got.ops == len(ops)
    for v in (whole, got.verdict):
        v["linearizable"].pop("time_s")
    assert got.verdict == whole
    assert whole["availability"]["windows"] and any(
        w.get("sides") for w in whole["availability"]["windows"])
    assert whole["valid"] is (not stale)


def test_run_availability_expectations_streamed_match(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_sample_run(run, n_ops=1200, concurrency=4, keys=5, stale=False, seed=5)
    path = run / "history.jsonl"
    ops = read_history(path)
    avail = AvailabilityChecker(expect_recovery=0.5, expect_availability=0.99, fraction=0.5)
    opts = {"nodes": NODES, "concurrency": 4}
    whole = check_safe(with_availability(_register_checker(), avail)).check(ops, opts)
    got = check_run_file(_register_checker(), avail, path, len(ops), opts, stream_above=0)
    assert got is not None
    for v in (whole, got.verdict):
        v["linearizable"].pop("time_s")
    assert got.verdict == whole and whole["availability"]["recoveries"]


def test_small_files_are_checked_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linear_checker, "STREAM_ABOVE_BYTES", 1 << 20)
    monkeypatch.setattr(linear_streaming, "Scan", None)  # never reached
    path = _write(tmp_path / "h.jsonl", _hand_history())
    checker = linearizable(cas_register(None, nil_read="absent"), all_keys=True)
    assert _no_time(checker.check_file(path, {})) == _no_time(checker.check(read_history(path), {}))


def test_small_histories_and_other_checkers_are_not_streamed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_sample_run(run, n_ops=100, keys=2)
    path = run / "history.jsonl"
    assert check_run_file(_register_checker(), None, path, 500, {}) is None  # below the threshold
    other = compose({"stats": stats(), "mine": check_safe(stats())})
    assert check_run_file(other, None, path, 500, {}, stream_above=0) is None


def test_not_jepsy_jsonl_is_not_streamed(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"index": 0, "time": 1, "type": "invoke", "process": 0,
                                "f": "read", "value": [1, None], "key": "x"}) + "\n")
    assert check_run_file(_register_checker(), None, path, 1, {}, stream_above=0) is None
    assert isinstance(read_history(path)[0], Op)


def test_waiting_keys_are_parked_and_read_back(tmp_path: Path, small_batches: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    parked: list[int] = []
    park = linear_streaming.Feed._park

    def counting(self: linear_streaming.Feed, before: int) -> None:
        park(self, before)
        parked.append(self.spilled_bytes)

    monkeypatch.setattr(linear_streaming.Feed, "_park", counting)
    monkeypatch.setattr("jepsy.checkers.chunks.CHUNK_BYTES", 200)
    path = _write(tmp_path / "h.jsonl", _hand_history())
    checker = linearizable(cas_register(None, nil_read="absent"), all_keys=True)
    streamed = linear_streaming.check_file(checker, path, {}, batch_ops=3)
    assert max(parked) > 0
    assert _no_time(streamed) == _no_time(checker.check(read_history(path), {}))
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]  # the parking file is gone


def test_a_run_above_the_threshold_is_checked_from_its_file(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from jepsy.checkers import streaming
    from jepsy.doubles import MemoryDB
    from jepsy.nemeses.none import NoNemesis
    from jepsy.run import Plan, run_test
    from jepsy.workloads.register import workload as register_workload

    from .test_nemesis_targets import fake_test

    monkeypatch.setattr(streaming, "STREAM_ABOVE", 0)
    seen: list[int] = []
    real = streaming.check_run_file

    def spy(*args: Any, **kw: Any) -> Any:
        got = real(*args, **kw)
        seen.append(got.ops if got is not None else -1)
        return got

    monkeypatch.setattr(streaming, "check_run_file", spy)
    wl = register_workload({"ops_per_key": 10, "concurrency": 2})
    plan = Plan(test=fake_test(3), db=MemoryDB(lag=0.0), workload=wl, nemesis=NoNemesis(),
                nemesis_generator=None, concurrency=2, time_limit=0.5, recovery=0)
    results = run_test(plan, tmp_path)
    ops = read_history(tmp_path / "history.jsonl")
    assert seen == [len(ops)] and results["valid"] is True
    assert results["stats"] == stats().check(ops, {})
    whole = check_safe(with_availability(wl.checker)).check(
        ops, {"nodes": plan.test.nodes, "concurrency": 2})
    got = json.loads((tmp_path / "results.json").read_text())["checker"]
    assert got["linearizable"]["keys"] == whole["linearizable"]["keys"]
    assert got["stats"] == whole["stats"]
    assert (tmp_path / "report.html").exists()


def test_the_schedule_is_drawn_from_the_fault_ops_alone(tmp_path: Path) -> None:
    from jepsy.checkers.chunks import fault_ops
    from jepsy.nemeses import schedule

    run = tmp_path / "run"
    write_sample_run(run, n_ops=600, keys=3)
    path = run / "history.jsonl"
    ops = read_history(path)
    few = fault_ops(path)
    assert len(few) == 1 + sum(1 for op in ops if not op.is_client) < len(ops)
    assert schedule.from_history(few) == schedule.from_history(ops)
    assert schedule.from_history(few).faults
    edn = tmp_path / "h.edn"  # not jepsy JSONL: read whole, the same ops
    edn.write_text("".join(
        f"{{:index {op.index}, :type :{op.type}, "
        f":process {op.process if op.is_client else ':nemesis'}, :f :{op.f}, "
        f":value {f'[{op.value[0]} nil]' if op.is_client else 'nil'}}}\n" for op in ops[:50]))
    whole = read_history(edn)
    first = next(op.index for op in whole if op.is_client)
    assert [op.index for op in fault_ops(edn)] == [op.index for op in whole
                                                   if not op.is_client or op.index == first]
