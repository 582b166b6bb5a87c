"""The CLI contract: exit codes, one-line errors, stored runs (no cluster needed).

Runs use the in-process memory databases shipped in ``jepsy.doubles``: one is
linearizable, the other replicates asynchronously and must be caught.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepsy.cli import main
from jepsy.history import pair, read_history

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_memory_register_is_valid_and_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["test", "--nodes", "n1,n2,n3", "--db", "memory", "--time-limit", "2",
                          "--recovery", "0", "--seed", "42", "--store", str(tmp_path)], capsys)
    assert code == 0, out + err
    run_dir = tmp_path / "latest"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True and results["exit_code"] == 0
    assert results["stats"]["ok"] > 50
    test = json.loads((run_dir / "test.json").read_text())
    assert test["seed"] == 42 and "--db memory" in test["command_line"]
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "invoke"
    assert (tmp_path / "memory-register-none" / "latest").resolve() == run_dir.resolve()


def test_broken_register_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["test", "--nodes", "n1,n2,n3", "--db", "broken-memory", "--time-limit", "3",
                        "--recovery", "0", "--store", str(tmp_path)], capsys)
    assert code == 1
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    lin = results["checker"]["linearizable"]
    assert lin["valid"] is False and "cannot be linearized" in lin["explanation"]["text"]
    assert "INVALID" in out


@pytest.mark.parametrize("args, message", [
    (["test", "--nodes", "n1", "--db", "nosuchdb"], "unknown database 'nosuchdb'"),
    (["test", "--nodes", "n1", "--db", "memory", "--workload", "nope"], "unknown workload 'nope'"),
    (["test", "--nodes", "n1", "--db", "memory", "--nemesis", "zap"], "unknown nemesis 'zap'"),
    (["test", "--db", "memory"], "exactly one of --inventory"),
    (["test", "--nodes", "n1", "--db", "memory", "--time-limit", "abc"], "is not a valid float"),
    (["test", "--nodes", "n1", "--db", "memory", "--db-opt", "novalue"], "name=value"),
    (["test", "--inventory", "/nonexistent.yaml", "--db", "memory"], "no such inventory file"),
    (["check", "/nonexistent.jsonl", "--model", "cas-register"], "no such history file"),
    (["check", "x.jsonl"], "exactly one of --model"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_is_one_line_and_254(args: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(args, capsys)
    assert code == 254
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unreachable_node_is_254_and_the_run_keeps_its_history(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    inv.write_text("all:\n  hosts:\n    n1: {ansible_host: 127.0.0.1, ansible_port: 1}\n")
    code, _, err = run(["test", "--inventory", str(inv), "--db", "etcd", "--time-limit", "1",
                        "--store", str(tmp_path / "store")], capsys)
    assert code == 254
    assert "n1: cannot connect to 127.0.0.1:1" in err and "Traceback" not in err
    assert (tmp_path / "store" / "latest" / "history.jsonl").exists()


def test_check_history_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    bad = tmp_path / "bad.jsonl"
    ops = [("invoke", "write", 1), ("ok", "write", 1), ("invoke", "read", None), ("ok", "read", 1)]
    good.write_text("".join(json.dumps({"type": t, "process": 0, "f": f, "value": v}) + "\n"
                            for t, f, v in ops))
    bad.write_text(good.read_text().replace('"ok", "process": 0, "f": "read", "value": 1',
                                            '"ok", "process": 0, "f": "read", "value": 2'))
    assert run(["check", str(good), "--model", "cas-register"], capsys)[0] == 0
    code, out, _ = run(["check", str(bad), "--model", "cas-register", "--json"], capsys)
    assert code == 1 and json.loads(out)["valid"] is False
    broken = tmp_path / "broken.jsonl"
    broken.write_text(good.read_text() + "{oops\n")
    code, _, err = run(["check", str(broken), "--model", "cas-register"], capsys)
    assert code == 254 and f"{broken}:5: not valid JSON" in err


def test_sigterm_stops_heals_and_stores_an_incomplete_run(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*JEPSY, "test", "--nodes", "n1,n2", "--db", "memory", "--time-limit", "60",
         "--store", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 30
    history = tmp_path / "latest" / "history.jsonl"
    while time.monotonic() < deadline and (not history.exists() or history.stat().st_size < 2000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert results["valid"] == "unknown" and "SIGTERM" in results["incomplete"]
    ops = read_history(history)
    heal = next(i for i, op in enumerate(ops) if op.f == "heal")
    # Ops in flight at the signal still complete after the heal, but none starts.
    assert all(op.type != "invoke" for op in ops[heal:])
    # Every client invoke has its completion, by its process (the nemesis records
    # no invokes, so a count over all ops would also pass but say less).  Once lost
    # under load: Thread.join interrupted by the signal (test_run_signals.py).
    calls = pair(ops)
    assert calls and [inv.index for inv, done in calls if done is None] == []
    assert results["stats"]["ok"] > 0


def test_lab_commands_need_root(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, _, err = run(["lab", "up", "--nodes", "3"], capsys)
    assert code == 254 and "needs root" in err and err.count("\n") == 1
