"""list-append against a real PostgreSQL on a lab node: valid at serializable, and the
transactional checker finds the anomalies read committed allows under concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def run(inventory: Path, store: Path, isolation: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = subprocess.run(
        [*JEPSY, "test", "--inventory", str(inventory), "--db", "postgres",
         "--db-opt", f"isolation={isolation}", "--workload", "list-append",
         "--time-limit", "10", "--rate", "200", "--concurrency", "10", "--recovery", "0",
         "--store", str(store)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    results = json.loads((store / "latest" / "results.json").read_text())
    return proc.returncode, results


def test_postgres_list_append_serializable_and_read_committed(tmp_path: Path) -> None:
    with lab_running("jtpg", "10.83.0", nodes=1, packages=["postgresql"]) as lab:
        code, results = run(lab.inventory_path, tmp_path / "ser", "serializable")
        assert code == 0, results["checker"]
        la = results["checker"]["list-append"]
        assert la["valid"] is True and la["stats"]["ok"] > 300
        # Serializable PostgreSQL aborts some transactions: those are definite failures.
        assert results["stats"]["fail"] > 0

        code, results = run(lab.inventory_path, tmp_path / "rc", "read-committed")
        la = results["checker"]["list-append"]
        assert code == 1 and la["valid"] is False, la.get("anomaly_types")
        # Read committed permits lost updates and G2-style cycles, never aborted reads.
        assert set(la["anomaly_types"]) & {"G-single", "G2-item", "lost-update", "G-single-item"}
        assert "G1a" not in la["anomaly_types"]
        assert (tmp_path / "rc" / "latest" / "nodes" / "n1" / "postgres.log").exists()
