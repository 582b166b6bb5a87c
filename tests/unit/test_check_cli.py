"""``jepsy check HISTORY --model ...``: linearizability from the command line, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jepsy.cli import cli, main

KNOSSOS = Path(__file__).resolve().parents[1] / "data" / "knossos"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, lines: list[str]) -> str:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return str(p)


STALE_JSONL = [
    '{"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "write", "value": 1}',
    '{"index": 1, "time": 1000000000, "type": "ok", "process": 0, "f": "write", "value": 1}',
    '{"index": 2, "time": 2000000000, "type": "invoke", "process": 7, "f": "read", "value": null}',
    '{"index": 3, "time": 3000000000, "type": "ok", "process": 7, "f": "read", "value": 0}',
    '{"index": 4, "time": 3500000000, "type": "info", "process": "nemesis", "f": "start-partition",'
    ' "value": null}',
]


def test_valid_jsonl_exits_0(tmp_path: Path) -> None:
    fresh_read = STALE_JSONL[3].replace('"value": 0', '"value": 1')
    path = write(tmp_path, "h.jsonl", [*STALE_JSONL[:3], fresh_read, STALE_JSONL[4]])
    code, out = run("check", path, "--model", "cas-register")
    assert code == 0, out
    assert "valid" in out


def test_invalid_jsonl_exits_1_and_explains(tmp_path: Path) -> None:
    code, out = run("check", write(tmp_path, "h.jsonl", STALE_JSONL), "--model", "cas-register",
                    "--init", "0")
    assert code == 1
    assert "INVALID" in out
    assert "read of 0 by process 7" in out and "could only hold 1" in out


def test_json_output(tmp_path: Path) -> None:
    code, out = run("check", write(tmp_path, "h.jsonl", STALE_JSONL), "--model", "cas-register",
                    "--json")
    assert code == 1
    result = json.loads(out)
    assert result["valid"] is False
    assert result["explanation"]["op"]["process"] == 7
    assert result["explanation"]["states"] == [1]


def test_edn_one_map_per_line(tmp_path: Path) -> None:
    lines = ['{:process 0, :type :invoke, :f :write, :value 3}',
             '{:process 0, :type :ok, :f :write, :value 3}',
             '{:process 1, :type :invoke, :f :cas, :value [3 4]}',
             '{:process 1, :type :ok, :f :cas, :value [3 4]}',
             '{:process 2, :type :invoke, :f :read, :value nil}',
             '{:process 2, :type :ok, :f :read, :value 3}']
    code, out = run("check", write(tmp_path, "h.edn", lines), "--model", "cas-register",
                    "--init", "0")
    assert code == 1
    assert "read of 3 by process 2" in out and "could only hold 4" in out


def test_timeout_exits_2(tmp_path: Path) -> None:
    lines = [f'{{"type": "invoke", "process": {p}, "f": "write", "value": {p % 5}}}' for p in range(40)]
    lines += [f'{{"type": "ok", "process": {p}, "f": "write", "value": {p % 5}}}' for p in range(40)]
    lines += ['{"type": "invoke", "process": 99, "f": "read", "value": null}',
              '{"type": "ok", "process": 99, "f": "read", "value": 9}']
    code, out = run("check", write(tmp_path, "h.jsonl", lines), "--model", "cas-register",
                    "--timeout", "0")
    assert code == 2, out
    assert "unknown" in out


@pytest.mark.parametrize("lines", [
    ['{"type": "ok", "process": 3, "f": "read", "value": 1}'],
    ['{"type": "invoke", "process": 3, "f": "read", "value": null}',
     '{"type": "invoke", "process": 3, "f": "read", "value": null}'],
    ['{"type": "invoke", "process": 3, "f": "read", "value": null}', '{"type": "done"'],
    ['{"type": "maybe", "process": 3, "f": "read", "value": null}'],
])
def test_malformed_history_exits_254_without_traceback(tmp_path: Path, lines: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["check", write(tmp_path, "h.jsonl", lines), "--model", "cas-register"])
    assert e.value.code == 254
    err = capsys.readouterr().err
    assert err.startswith("jepsy: ") and "Traceback" not in err
    assert "h.jsonl" in err or "op " in err


def test_knossos_file_with_init(tmp_path: Path) -> None:
    path = KNOSSOS / "cas-register" / "bad" / "rethink-fail-minimal.edn"
    code, out = run("check", str(path), "--model", "cas-register", "--init", "0")
    assert code == 1
    assert "read of 3 by process 1" in out
    good = KNOSSOS / "cas-register" / "good" / "memstress3-0.edn"
    assert run("check", str(good), "--model", "cas-register", "--init", "0")[0] == 0
