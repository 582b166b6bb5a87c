"""``jepsy report RUN_DIR`` and ``jepsy serve`` through the real CLI entry point."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jepsy.cli import main
from jepsy.report.samples import write_sample_run


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_report_regenerates_a_stored_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "store" / "t" / "20260101T000000"
    write_sample_run(run, n_ops=80)
    code, out, err = _run(["report", str(run)], capsys)
    assert code == 0 and err == ""
    assert out.strip() == str(run / "report.html")
    assert (run / "report.html").stat().st_size > 10_000
    assert "<testsuites" in (run / "junit.xml").read_text()


def test_report_follows_latest_links(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    run = store / "t" / "20260101T000000"
    write_sample_run(run, n_ops=40)
    os.symlink("20260101T000000", store / "t" / "latest")
    os.symlink("t/20260101T000000", store / "latest")
    code, out, _ = _run(["report", str(store)], capsys)
    assert code == 0 and Path(out.strip()).resolve() == (run / "report.html").resolve()


def test_report_warns_about_damaged_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results.json").write_text("{not json")
    code, _, err = _run(["report", str(tmp_path)], capsys)
    assert code == 0 and "jepsy: warning: results.json cannot be read" in err
    assert "jepsy: warning: test.json is missing" in err
    assert (tmp_path / "report.html").is_file()


def test_report_of_a_directory_that_is_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["report", str(tmp_path)], capsys)
    assert code == 254 and "not a run directory" in err
    code, _, err = _run(["report", str(tmp_path / "missing")], capsys)
    assert code == 254


def test_serve_refuses_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["serve", "--store", str(tmp_path / "nope"), "--port", "0"], capsys)
    assert code == 254 and "no such store directory" in err


def test_commands_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and "report" in out and "serve" in out
