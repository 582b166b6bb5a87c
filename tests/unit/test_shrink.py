"""The shrinking loop on simulated systems, the anomaly signature, and ``jepsy shrink`` end to end
on the in-process broken-memory database."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from jepsy.cli import main
from jepsy.nemeses.schedule import Fault, Schedule
from jepsy.shrink import Attempt, Candidate, Shrinker, ddmin, signature

ISOLATE_N1 = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}


def noisy_schedule() -> Schedule:
    """Six faults; only the second (n1 cut off for 4 s) matters to the simulated bug."""
    return Schedule((
        Fault("kill", 1.0, ["n2"], 2.0),
        Fault("partition", 4.0, ISOLATE_N1, 4.0),
        Fault("pause", 6.0, ["n3"], 3.0),
        Fault("clock", 9.0, {"mode": "bump", "targets": ["n1"], "deltas": {"n1": 3.0}}, 2.0),
        Fault("partition", 12.0, {"n1": [], "n2": ["n3"], "n3": ["n2"]}, 3.0),
        Fault("kill", 16.0, ["n1", "n2"], None),
    ))


def needs_isolated_n1(cand: Candidate) -> bool:
    """The bug: a stale read on n1 needs n1 cut off for at least 1.5 s, one worker and one key suffice."""
    return any(f.family == "partition" and f.value == ISOLATE_N1
               and (f.duration is None or f.duration >= 1.5)
               and f.at + 1.5 <= cand.time_limit for f in cand.schedule.faults)


def test_ddmin_finds_the_one_needed_item_and_a_needed_pair() -> None:
    calls: list[list[int]] = []

    def has7(xs: list[int]) -> bool:
        calls.append(xs)
        return 7 in xs

    assert ddmin(list(range(10)), has7) == [7]
    assert ddmin(list(range(10)), lambda xs: 3 in xs and 8 in xs) == [3, 8]
    assert len(calls) < 20


def test_the_shrinker_finds_the_one_fault_the_bug_needs_and_drops_the_rest() -> None:
    trials: list[Candidate] = []

    def trial(c: Candidate) -> Attempt:
        trials.append(c)
        return Attempt(needs_isolated_n1(c), run_dir=f"run{len(trials)}")

    original = Candidate(noisy_schedule(), concurrency=10, time_limit=30.0, keys=5)
    lines: list[str] = []
    s = Shrinker(trial, k=1, n=1, log=lines.append)
    best = s.run(original)
    assert best is not None
    assert [f.value for f in best.schedule.faults] == [ISOLATE_N1]
    fault = best.schedule.faults[0]
    assert fault.duration is not None and 1.5 <= fault.duration <= 3.0  # halved 4 -> 2, not to 1
    assert fault.at == 1.0  # moved to the start
    assert best.concurrency == 1 and best.keys == 1
    assert best.time_limit <= 4.0
    assert any("faults: 6 -> 1" in c for c in s.cuts)
    assert s.witness[best.key()].reproduced and len(s.attempts) == len(trials) < 40
    assert trials[0] == original  # the replay comes first
    assert all(line.startswith(("kept", "rejected")) for line in lines)


def test_a_flaky_bug_is_still_shrunk_to_its_fault_when_k_of_n_absorbs_the_misses() -> None:
    rng = random.Random(7)

    def trial(c: Candidate) -> Attempt:  # shows up only 50 % of the time when possible
        return Attempt(needs_isolated_n1(c) and rng.random() < 0.5)

    s = Shrinker(trial, k=1, n=4)
    best = s.run(Candidate(noisy_schedule(), 10, 30.0, 5))
    assert best is not None and [f.value for f in best.schedule.faults] == [ISOLATE_N1]


def test_spurious_reproductions_do_not_cut_the_needed_fault_when_k_is_two() -> None:
    rng = random.Random(3)

    def trial(c: Candidate) -> Attempt:  # 10 % false alarms with no fault at all
        return Attempt(needs_isolated_n1(c) or rng.random() < 0.1)

    s = Shrinker(trial, k=2, n=3)
    best = s.run(Candidate(noisy_schedule(), 10, 30.0, 5))
    assert best is not None and ISOLATE_N1 in [f.value for f in best.schedule.faults]


def test_a_run_that_does_not_reappear_gives_none_and_the_budget_stops_the_loop() -> None:
    s = Shrinker(lambda c: Attempt(False), k=1, n=3)
    assert s.run(Candidate(noisy_schedule(), 4, 10.0)) is None and len(s.attempts) == 3

    now = [0.0]

    def slow(c: Candidate) -> Attempt:
        now[0] += 60.0
        return Attempt(needs_isolated_n1(c))

    s = Shrinker(slow, k=1, n=1, budget_s=150.0, clock=lambda: now[0])
    original = Candidate(noisy_schedule(), 4, 30.0)
    best = s.run(original)
    assert s.exhausted and best is not None and len(s.attempts) == 3
    assert needs_isolated_n1(best)


def test_signature_names_the_checker_and_the_kind() -> None:
    assert signature({"valid": False, "linearizable": {"valid": False, "model": "cas-register",
                                                       "keys": {}}}) == ["linearizable:nonlinearizable"]
    assert signature({"valid": False, "elle": {"valid": False, "anomaly_types": ["G-single", "G2-item"]},
                      "stats": {"valid": True}}) == ["elle:G-single", "elle:G2-item"]
    assert signature({"valid": False, "set": {"valid": False, "lost": [1, 2], "stale": []}}) == ["set:lost"]
    assert signature({"valid": True}) == []


# ---- end to end, in process -------------------------------------------------------

def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_shrink_a_broken_memory_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    code, _, err = run(["test", "--nodes", "n1,n2,n3", "--db", "broken-memory", "--time-limit", "2",
                        "--recovery", "0", "--seed", "5", "--store", store], capsys)
    assert code == 1, err
    original = (tmp_path / "store" / "latest").resolve()
    assert json.loads((original / "schedule.json").read_text()) == {"version": 1, "faults": []}
    code, out, err = run(["shrink", str(original), "--k", "1", "--n", "2", "--budget", "2"], capsys)
    assert code == 1, err
    assert f"Minimal reproducer of {original}" in out and "--nemesis-schedule" in out
    final = Path(out.split("Run: ")[1].split()[0])
    results = json.loads((final / "results.json").read_text())
    assert results["valid"] is False and str(original) in results["reproducer_of"]
    info = json.loads((final / "test.json").read_text())
    assert info["reproducer"]["of"] == str(original) and info["reproducer"]["attempts"]
    assert f"minimal reproducer of {original} (" in (final / "report.html").read_text()
    assert (final / "reproducer-schedule.json").exists() and (final / "shrink.md").exists()
    assert len(list(original.glob("shrink-*/attempt-*.schedule.json"))) == len(info["reproducer"]["attempts"])


def test_shrink_refuses_a_valid_run_and_a_non_run(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    code, _, err = run(["test", "--nodes", "n1,n2", "--db", "memory", "--time-limit", "1",
                        "--recovery", "0", "--store", store], capsys)
    assert code == 0, err
    code, _, err = run(["shrink", str(tmp_path / "store" / "latest")], capsys)
    assert code == 254 and "not invalid: nothing to shrink" in err and err.count("\n") == 1
    code, _, err = run(["shrink", str(tmp_path)], capsys)
    assert code == 254 and "not a jepsy run directory" in err and err.count("\n") == 1


def test_an_error_after_the_replay_ends_the_loop_with_the_best_so_far() -> None:
    from jepsy.errors import RemoteError

    calls = [0]

    def trial(c: Candidate) -> Attempt:
        calls[0] += 1
        if calls[0] == 4:
            raise RemoteError("n2: connection reset")
        return Attempt(needs_isolated_n1(c))

    s = Shrinker(trial, k=1, n=1)
    best = s.run(Candidate(noisy_schedule(), 4, 30.0))
    assert best is not None and needs_isolated_n1(best) and s.stopped == "n2: connection reset"


def test_shrink_says_in_one_line_when_the_runs_database_is_unreachable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "store" / "x" / "20260101T000000"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(
        {"valid": False, "checker": {"valid": False, "linearizable": {"valid": False,
                                                                     "model": "cas-register", "keys": {}}}}))
    (run_dir / "history.jsonl").write_text("")
    (run_dir / "test.json").write_text(json.dumps({
        "name": "x", "db": "process", "workload": "register", "nodes": ["nowhere.invalid"], "seed": 1,
        "options": {"time_limit": 1, "concurrency": 1, "rate": 10, "seed": 1, "nemesis_interval": 5},
        "db_opts": {"bin": str(Path(__file__))}, "workload_opts": {}, "nemesis_opts": {}, "recovery": 0}))
    code, _, err = run(["shrink", str(run_dir), "--n", "1"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 254 and "cannot replay the run on its nodes" in last and "nowhere.invalid" in last
    assert "Traceback" not in err


def test_a_violation_that_does_not_come_back_is_exit_2_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run stored as invalid whose database (here the linearizable double) no longer shows it."""
    run_dir = tmp_path / "store" / "x" / "20260101T000000"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(
        {"valid": False, "checker": {"valid": False, "linearizable": {"valid": False,
                                                                     "model": "cas-register", "keys": {}}}}))
    (run_dir / "history.jsonl").write_text("")
    (run_dir / "test.json").write_text(json.dumps({
        "name": "x", "db": "memory", "workload": "register", "nodes": ["n1", "n2"], "seed": 1,
        "options": {"time_limit": 1, "concurrency": 2, "rate": 50, "seed": 1, "nemesis_interval": 5},
        "recovery": 0}))
    code, _, err = run(["shrink", str(run_dir), "--k", "1", "--n", "2"], capsys)
    assert code == 2
    assert "linearizable:nonlinearizable reappeared in fewer than 1 of 2 replays; nothing shrunk" in err
    assert (tmp_path / "store" / "x-shrink").is_dir()  # the attempts are ordinary runs
