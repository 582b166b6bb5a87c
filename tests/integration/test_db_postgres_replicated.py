"""PostgreSQL 15 with two streaming replicas on a lab of three nodes: list-append at
serializable, reads on the primary, under partitions: valid (the replicas copy,
the primary decides)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def test_postgres_replicated_list_append_under_partitions_is_valid(tmp_path: Path) -> None:
    with lab_running("jt7g", "10.87.0", nodes=3, packages=["postgresql"]) as lab:
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "postgres-replicated",
             "--db-opt", "reads=primary", "--workload", "list-append", "--nemesis", "partition",
             "--nemesis-interval", "4", "--time-limit", "12", "--rate", "150", "--concurrency", "6",
             "--recovery", "1", "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
        assert (tmp_path / "latest" / "results.json").exists(), proc.stderr[-2000:]
        results = json.loads((tmp_path / "latest" / "results.json").read_text())
        assert proc.returncode == 0, results["checker"]
        assert results["checker"]["list-append"]["stats"]["ok"] > 300
        for node in ("n2", "n3"):  # the replicas ran, and say they streamed from the primary
            log = (tmp_path / "latest" / "nodes" / node / "postgres.log").read_text()
            assert "started streaming WAL" in log, log[-500:]
