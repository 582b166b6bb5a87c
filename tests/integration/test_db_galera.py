"""MariaDB Galera on a lab of three nodes: bank transfers at repeatable read with
``innodb_snapshot_isolation`` on, under partitions: every read sums to the total.
(Without snapshot isolation the same test loses updates: recipe 5.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
PACKAGES = ["mariadb-server", "galera-4", "rsync"]


def test_galera_bank_with_snapshot_isolation_under_partitions_is_valid(tmp_path: Path) -> None:
    with lab_running("jt7m", "10.89.0", nodes=3, packages=PACKAGES) as lab:
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "galera",
             "--db-opt", "snapshot_isolation=true", "--workload", "bank", "--nemesis", "partition",
             "--nemesis-interval", "4", "--time-limit", "12", "--concurrency", "6",
             "--recovery", "2", "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
        assert (tmp_path / "latest" / "results.json").exists(), proc.stderr[-2000:]
        results = json.loads((tmp_path / "latest" / "results.json").read_text())
        assert proc.returncode == 0, results["checker"]
        assert results["stats"]["ok"] > 200
        log = (tmp_path / "latest" / "nodes" / "n2" / "mariadb.log").read_text()
        assert "Synchronized with group" in log or "Synced" in log, log[-500:]
