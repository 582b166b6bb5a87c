"""``jepsy check --checker ...`` for the transactional and simple checkers, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jepsy.cli import cli, main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write_edn(tmp_path: Path, lines: list[str]) -> str:
    p = tmp_path / "h.edn"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


G_SINGLE = [
    '{:type :invoke, :f :txn, :process 0, :value [[:append :x 1] [:append :y 1]]}',
    '{:type :ok, :f :txn, :process 0, :value [[:append :x 1] [:append :y 1]]}',
    '{:type :invoke, :f :txn, :process 1, :value [[:r :x nil] [:r :y nil]]}',
    '{:type :ok, :f :txn, :process 1, :value [[:r :x [1]] [:r :y []]]}',
]


def test_list_append_invalid_exit_1_with_explanation(tmp_path: Path) -> None:
    code, out = run("check", write_edn(tmp_path, G_SINGLE), "--checker", "list-append")
    assert code == 1
    assert "INVALID" in out and "G-single" in out and "T1 read key x = [1]" in out


def test_list_append_json_and_consistency_model(tmp_path: Path) -> None:
    path = write_edn(tmp_path, G_SINGLE)
    code, out = run("check", path, "--checker", "list-append", "--consistency-model", "read-committed",
                    "--json")
    assert code == 0
    r = json.loads(out)
    assert r["valid"] is True and r["consistency_model"] == "read-committed"
    assert r["anomaly_types"] == ["G-single"]


def test_unknown_consistency_model_is_a_usage_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["check", write_edn(tmp_path, G_SINGLE), "--checker", "list-append",
              "--consistency-model", "bogus"])
    assert e.value.code == 254
    assert "unknown consistency model 'bogus'" in capsys.readouterr().err


def test_rw_register_text_format(tmp_path: Path) -> None:
    p = tmp_path / "h.txt"
    p.write_text("w(1,1,0,0)\nw(2,1,0,0)\nr(1,1,1,1)\nr(2,0,1,1)\n")
    code, out = run("check", str(p), "--checker", "rw-register")
    assert code == 1 and "G-single" in out


def test_simple_checker_with_opt(tmp_path: Path) -> None:
    path = write_edn(tmp_path, [
        '{:type :invoke, :f :read, :value [[:r 0 nil] [:r 1 nil]]}',
        '{:type :ok, :f :read, :value [[:r 0 1] [:r 1 nil]]}',
        '{:type :invoke, :f :read, :value [[:r 1 nil] [:r 0 nil]]}',
        '{:type :ok, :f :read, :value [[:r 1 1] [:r 0 nil]]}',
    ])
    code, out = run("check", path, "--checker", "long-fork", "--opt", "group_size=2")
    assert code == 1 and "two different orders" in out


def test_list_shows_checkers() -> None:
    code, out = run("list")
    assert code == 0
    for name in ("list-append", "rw-register", "set-full", "bank", "long-fork", "total-queue"):
        assert name in out
