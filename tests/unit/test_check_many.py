"""``jepsy check`` of several files and directories: one line each, a summary, one exit code."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from jepsy.cli import cli

GOOD = ['{"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "write", "value": 1}',
        '{"index": 1, "time": 1, "type": "ok", "process": 0, "f": "write", "value": 1}',
        '{"index": 2, "time": 2, "type": "invoke", "process": 1, "f": "read", "value": null}',
        '{"index": 3, "time": 3, "type": "ok", "process": 1, "f": "read", "value": 1}']
BAD = [*GOOD[:3], GOOD[3].replace('"value": 1', '"value": 0')]


def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "a-good.jsonl").write_text("\n".join(GOOD) + "\n")
    (d / "sub" / "b-bad.jsonl").write_text("\n".join(BAD) + "\n")
    (d / "notes.html").write_text("<p>not a history</p>")
    return d


def test_directory_one_line_per_file_and_summary(tmp_path: Path) -> None:
    d = corpus(tmp_path)
    r = CliRunner().invoke(cli, ["check", str(d), "--model", "cas-register", "--init", "0"])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 1, r.output
    assert len(lines) == 3
    assert lines[0].startswith(f"{d / 'a-good.jsonl'}: valid (4 ops")
    assert lines[1].startswith(f"{d / 'sub' / 'b-bad.jsonl'}: INVALID (4 ops")
    assert "read of 0" in lines[1]
    assert lines[2].startswith("2 histories: 1 valid, 1 invalid, 0 unknown, 0 unreadable")


def test_unreadable_file_is_counted_and_the_rest_checked(tmp_path: Path) -> None:
    d = corpus(tmp_path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(GOOD[0] + "\n{\n")
    r = CliRunner().invoke(cli, ["check", str(broken), str(d / "a-good.jsonl"), "--model",
                                 "cas-register", "--json"])
    rows = [json.loads(x) for x in r.output.strip().splitlines()]
    assert r.exit_code == 254
    assert rows[0]["file"] == str(broken) and "broken.jsonl:2: not valid JSON" in rows[0]["error"]
    assert rows[1]["valid"] is True
    assert rows[2]["summary"]["error"] == 1 and rows[2]["summary"]["valid"] == 1


def test_report_takes_one_history(tmp_path: Path) -> None:
    d = corpus(tmp_path)
    r = CliRunner().invoke(cli, ["check", str(d), "--model", "cas-register", "--report",
                                 str(tmp_path / "r.html")])
    assert r.exit_code != 0 and "--report takes one history" in str(r.exception or r.output)


def test_help_lists_lazy_commands_with_their_own_help_without_importing_them() -> None:
    import importlib

    from jepsy.cli import LAZY_COMMANDS, LAZY_HELP

    assert set(LAZY_HELP) == set(LAZY_COMMANDS)  # so that --help imports none of them
    for name, target in LAZY_COMMANDS.items():
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert LAZY_HELP[name] == command.get_short_help_str(1000)
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "doctor" in r.output and "test-all" in r.output
