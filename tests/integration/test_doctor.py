"""``jepsy doctor`` on lab nodes: ready when they are, one actionable line per problem when not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JEPSY, "doctor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def test_doctor_on_lab_nodes(tmp_path: Path) -> None:
    with lab_running("jtdoc", "10.91.0", nodes=2) as lab:
        ok = doctor("--inventory", str(lab.inventory_path), "--db", "etcd")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "ready: a test can run" in ok.stdout
        for check in ("ssh", "sudo", "iptables", "tc", "disk", "db"):
            assert check in ok.stdout
        # One node that cannot be reached: one line naming it, and exit 254.
        broken = tmp_path / "inv.yaml"
        broken.write_text(lab.inventory_path.read_text().replace(
            "  hosts:\n", "  hosts:\n    n9:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n"))
        bad = doctor("--inventory", str(broken))
        assert bad.returncode == 254
        problems = [line for line in bad.stdout.splitlines() if line.startswith("✗")]
        assert len(problems) == 1 and "n9: cannot connect to 127.0.0.1:1" in problems[0]
