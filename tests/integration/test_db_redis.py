"""Redis with Sentinel on a lab of three nodes: a primary, two replicas and three
sentinels, with clients following Sentinel.  Under a rate limit (a packet fault that
triggers no failover) the set workload is valid; the lost writes under
partitions are recipe 2 (tests/integration/test_recipes.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def test_redis_sentinel_set_under_rate_limit_is_valid(tmp_path: Path) -> None:
    with lab_running("jt7r", "10.86.0", nodes=3, packages=["redis-server", "redis-sentinel"]) as lab:
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "redis",
             "--workload", "set", "--nemesis", "packet", "--nemesis-opt", "packet_behaviours=rate",
             "--nemesis-interval", "4", "--time-limit", "12", "--recovery", "1",
             "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"})
        assert (tmp_path / "latest" / "results.json").exists(), proc.stderr[-2000:]
        results = json.loads((tmp_path / "latest" / "results.json").read_text())
        assert proc.returncode == 0, results["checker"]
        assert results["checker"]["set-full"]["stable_count"] > 300
        history = (tmp_path / "latest" / "history.jsonl").read_text()
        assert '"start-packet"' in history
        for node in ("n1", "n2", "n3"):
            assert (tmp_path / "latest" / "nodes" / node / "sentinel.log").exists()
