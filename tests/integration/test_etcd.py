"""End to end on the lab: a real etcd cluster, register workload, partitions, verdict, store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def test_etcd_register_under_partitions(tmp_path: Path) -> None:
    with lab_running("jtetcd", "10.80.0", nodes=3, packages=["etcd-server"]) as lab:
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "etcd",
             "--workload", "register", "--nemesis", "partition", "--time-limit", "20",
             "--nemesis-interval", "3", "--recovery", "2", "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
        run = tmp_path / "latest"
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        results = json.loads((run / "results.json").read_text())
        assert results["valid"] is True and results["exit_code"] == 0
        assert results["checker"]["linearizable"]["valid"] is True
        assert results["stats"]["ok"] >= 300, results["stats"]
        ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        fs = [op["f"] for op in ops if op["process"] == "nemesis"]
        assert "start-partition" in fs and "stop-partition" in fs and fs[-1] == "heal"
        # The completion of a start-partition names the grudge that was applied.
        grudges = [op["value"] for op in ops
                   if op["f"] == "start-partition" and isinstance(op["value"], dict)]
        assert grudges and set(grudges[0]) == {"n1", "n2", "n3"}
        for node in ("n1", "n2", "n3"):
            log = run / "nodes" / node / "etcd.log"
            assert log.exists() and log.stat().st_size > 0, f"no etcd log from {node}"
        # Teardown stopped etcd and wiped its data on every node.
        for node in ("n1", "n2", "n3"):
            ns = f"jtetcd-{node}"
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            comms = [Path(f"/proc/{p}/comm").read_text().strip() for p in pids.split()
                     if Path(f"/proc/{p}/comm").exists()]
            assert "etcd" not in comms
            # No jepsy iptables chain is left on any node after the run.
            rules = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "-S"],
                                   capture_output=True, text=True).stdout
            assert "jepsy" not in rules
