"""``--db maelstrom`` on three-node labs under partitions: the project's example programs
(examples/maelstrom/), each workload with a correct program and a subtly wrong twin.
The correct ones must be found valid and the wrong ones invalid, by the workload's own
checker (set-full for broadcast, eventual-counter for g-counter).  Each pair runs at once,
the correct program on one lab and its twin on another, to keep CI short."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "maelstrom"
PAIRS = [("broadcast", "broadcast.py", "broadcast_wrong.py", "set-full"),
         ("g-counter", "counter.py", "counter_wrong.py", "counter")]


def run(inventory: Path, store: Path, workload: str, program: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [*JEPSY, "test", "--inventory", str(inventory), "--db", "maelstrom",
         "--bin", str(EXAMPLES), "--cmd", f"{{bin}}/{program}", "--workload", workload,
         "--nemesis", "partition", "--nemesis-interval", "2", "--time-limit", "5",
         "--recovery", "1", "--seed", "3", "--store", str(store)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert (store / "latest" / "results.json").exists(), proc.stderr[-2000:]
    return proc.returncode, json.loads((store / "latest" / "results.json").read_text())


def test_correct_programs_valid_wrong_twins_invalid(tmp_path: Path) -> None:
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        good = stack.enter_context(lab_running("hm2", "10.122.0", nodes=3))
        bad = stack.enter_context(lab_running("hm3", "10.123.0", nodes=3))
        for workload, correct, wrong, checker in PAIRS:
            ok_store, bad_store = tmp_path / f"{workload}-ok", tmp_path / f"{workload}-wrong"
            ok_run = pool.submit(run, good.inventory_path, ok_store, workload, correct)
            bad_run = pool.submit(run, bad.inventory_path, bad_store, workload, wrong)
            code, results = ok_run.result()
            assert code == 0, (workload, results["checker"])
            assert results["stats"]["ok"] > 200
            history = (ok_store / "latest" / "history.jsonl").read_text().splitlines()
            assert any(json.loads(line).get("f") == "start-partition" for line in history)
            log = (ok_store / "latest" / "nodes" / "n1" / "maelstrom.log").read_text()
            assert "initialised" in log

            code, results = bad_run.result()
            assert code == 1, (workload, results["checker"])
            assert results["checker"][checker]["valid"] is False
