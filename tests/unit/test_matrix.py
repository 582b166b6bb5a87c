"""``jepsy test-all``: matrices expand as documented; one JUnit file and one suite exit code."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jepsy.cli import main
from jepsy.errors import ConfigError
from jepsy.matrix import expand
from jepsy.wiring import suite_exit_code


def test_expand_cross_product_then_explicit_tests() -> None:
    runs = expand({"defaults": {"time_limit": 5},
                   "matrix": {"db": ["etcd"], "workload": ["register", "set"], "nemesis": "partition"},
                   "tests": [{"db": "postgres", "workload": "bank", "time_limit": 9}]})
    assert runs == [
        {"time_limit": 5, "db": "etcd", "workload": "register", "nemesis": "partition"},
        {"time_limit": 5, "db": "etcd", "workload": "set", "nemesis": "partition"},
        {"time_limit": 9, "db": "postgres", "workload": "bank"},
    ]
    with pytest.raises(ConfigError, match="unknown test options"):
        expand({"tests": [{"db": "etcd", "colour": "red"}]})
    with pytest.raises(ConfigError, match="no tests"):
        expand({})


@pytest.mark.parametrize("codes, expected", [
    ([0, 0], 0), ([0, 1], 1), ([1, 2], 2), ([2, 254], 254), ([1, 255, 254], 255), ([], 0)])
def test_suite_exit_code_priority(codes: list[int], expected: int) -> None:
    assert suite_exit_code(codes) == expected


def test_matrix_of_memory_databases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = tmp_path / "nightly.yaml"
    store = tmp_path / "store"
    matrix.write_text(f"nodes: n1,n2\nstore: {store}\ntest_count: 2\nkeep_last: 1\n"
                      "defaults: {time_limit: 1.5, recovery: 0}\n"
                      "matrix:\n  db: [memory, broken-memory]\n  workload: [register]\n")
    with pytest.raises(SystemExit) as e:
        main(["test-all", str(matrix)])
    assert e.value.code == 1
    suite = ET.parse(store / "suite.xml").getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert all(name.startswith("broken-memory-register-none#") for name in failed)
    # keep_last: 1 left one run per test in the store.
    runs = [d for d in (store / "memory-register-none").iterdir() if not d.is_symlink()]
    assert len(runs) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "valid" in out


def test_bad_matrix_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("matrix: {db: [etcd]}\nwhatever: 1\n")
    with pytest.raises(SystemExit) as e:
        main(["test-all", str(bad)])
    assert e.value.code == 254
    assert "unknown keys ['whatever']" in capsys.readouterr().err


def test_worst_recovery_for_the_summary_and_junit() -> None:
    from jepsy.checkers.availability import AvailabilityChecker
    from jepsy.matrix import worst_recovery
    from tests.unit.test_availability import OPTS, history, part

    healed = AvailabilityChecker().check(history(25, lambda t, n: not 10 <= t < 18, part(10, 15)), OPTS)
    assert worst_recovery({"checker": {"availability": healed}}) == (3.0, "3 s")
    never = AvailabilityChecker().check(history(30, lambda t, n: t < 10, part(10, 15) + part(20, 25)), OPTS)
    assert worst_recovery({"checker": {"availability": never}}) == (5.0, "not recovered (≥ 5 s)")
    assert worst_recovery({"checker": {"valid": True}}) == (None, "-")


def test_matrix_expectations_are_checked_per_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    matrix = tmp_path / "m.yaml"
    store = tmp_path / "store"
    matrix.write_text(f"nodes: n1,n2\nstore: {store}\ndefaults: {{time_limit: 1, recovery: 0}}\n"
                      "tests:\n  - {db: memory, expect_recovery: 5, expect_availability: 0.5}\n"
                      "  - {db: memory, expect_availability: 2}\n")
    with pytest.raises(SystemExit) as e:
        main(["test-all", str(matrix)])
    assert e.value.code == 254
    out = capsys.readouterr().out
    assert "worst" in out and "between 0" in out  # the table wraps at 80 columns
    suite = ET.parse(store / "suite.xml").getroot()
    assert [c.find("error") is None for c in suite] == [True, False]
