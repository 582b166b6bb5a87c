"""``--db process`` on a lab: the reference server (examples/kvserver.py) uploaded to three
nodes and run from a command template, under partitions.  Its safe mode must be
found valid; its naive mode (reads served by backups) must be found invalid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
SERVER = Path(__file__).resolve().parents[2] / "examples" / "kvserver.py"


def run(inventory: Path, store: Path, mode: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [*JEPSY, "test", "--inventory", str(inventory), "--db", "process",
         "--db-opt", f"bin={SERVER}",
         "--db-opt", f"cmd={{bin}} --id {{node}} --port {{port}} --cluster {{cluster}} "
                     f"--data {{data}} --mode {mode}",
         "--time-limit", "12", "--recovery", "1", "--seed", "7", "--store", str(store), *extra],
        capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"})
    assert (store / "latest" / "results.json").exists(), proc.stderr[-2000:]
    return proc.returncode, json.loads((store / "latest" / "results.json").read_text())


def test_process_db_safe_is_valid_and_naive_stale_reads_are_found(tmp_path: Path) -> None:
    with lab_running("jt7p", "10.85.0", nodes=3) as lab:
        code, results = run(lab.inventory_path, tmp_path / "safe", "safe", "--workload", "register",
                            "--nemesis", "partition,kill", "--nemesis-interval", "3")
        assert code == 0, results["checker"]
        assert results["stats"]["ok"] > 300
        faults = [json.loads(line) for line in
                  (tmp_path / "safe" / "latest" / "history.jsonl").read_text().splitlines()]
        assert {op["f"] for op in faults if op["process"] == "nemesis"} >= {"start-partition"}
        for node in ("n1", "n2", "n3"):
            log = tmp_path / "safe" / "latest" / "nodes" / node / "process.log"
            assert "listening on 8080" in log.read_text()

        code, results = run(lab.inventory_path, tmp_path / "naive", "naive", "--workload", "register",
                            "--nemesis", "partition", "--nemesis-interval", "3")
        assert code == 1, results["checker"]
        assert results["checker"]["linearizable"]["valid"] is False
