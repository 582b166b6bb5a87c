"""A ZooKeeper 3.8 ensemble on a lab of three nodes: registers read with ``sync`` under
partitions that cut one node off are linearizable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def test_zookeeper_register_with_sync_under_partitions_is_valid(tmp_path: Path) -> None:
    with lab_running("jt7z", "10.88.0", nodes=3, packages=["zookeeper"]) as lab:
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "zookeeper",
             "--db-opt", "sync=true", "--workload", "register", "--nemesis", "partition",
             "--nemesis-opt", "partition_shapes=one", "--nemesis-interval", "4",
             "--time-limit", "14", "--recovery", "2", "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
        assert (tmp_path / "latest" / "results.json").exists(), proc.stderr[-2000:]
        results = json.loads((tmp_path / "latest" / "results.json").read_text())
        assert proc.returncode == 0, results["checker"]
        assert results["stats"]["ok"] > 300
        assert '"start-partition"' in (tmp_path / "latest" / "history.jsonl").read_text()
        log = (tmp_path / "latest" / "nodes" / "n1" / "zookeeper.log").read_text()
        assert "LEADING" in log or "FOLLOWING" in log
