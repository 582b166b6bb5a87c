"""``--db maelstrom`` on a three-node lab under partitions: the project's example programs
(examples/maelstrom/), each workload with a correct program and a subtly wrong twin.
The correct ones must be found valid and the wrong ones invalid, by the workload's
own checker (set-full for broadcast, eventual-counter for g-counter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "maelstrom"


def run(inventory: Path, store: Path, workload: str, program: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [*JEPSY, "test", "--inventory", str(inventory), "--db", "maelstrom",
         "--bin", str(EXAMPLES), "--cmd", f"{{bin}}/{program}", "--workload", workload,
         "--nemesis", "partition", "--nemesis-interval", "2", "--time-limit", "5",
         "--recovery", "1", "--seed", "3", "--store", str(store)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert (store / "latest" / "results.json").exists(), proc.stderr[-2000:]
    return proc.returncode, json.loads((store / "latest" / "results.json").read_text())


@pytest.mark.parametrize("workload,correct,wrong,checker", [
    ("broadcast", "broadcast.py", "broadcast_wrong.py", "set-full"),
    ("g-counter", "counter.py", "counter_wrong.py", "counter"),
])
def test_correct_program_valid_wrong_twin_invalid(tmp_path: Path, workload: str, correct: str,
                                                  wrong: str, checker: str) -> None:
    name = {"broadcast": "hm2", "g-counter": "hm3"}[workload]
    subnet = {"broadcast": "10.122.0", "g-counter": "10.123.0"}[workload]
    with lab_running(name, subnet, nodes=3) as lab:
        code, results = run(lab.inventory_path, tmp_path / "ok", workload, correct)
        assert code == 0, results["checker"]
        assert results["stats"]["ok"] > 200
        history = (tmp_path / "ok" / "latest" / "history.jsonl").read_text().splitlines()
        assert any(json.loads(line).get("f") == "start-partition" for line in history)
        log = (tmp_path / "ok" / "latest" / "nodes" / "n1" / "maelstrom.log").read_text()
        assert "initialised" in log

        code, results = run(lab.inventory_path, tmp_path / "wrong", workload, wrong)
        assert code == 1, results["checker"]
        assert results["checker"][checker]["valid"] is False
