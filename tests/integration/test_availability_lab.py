"""The availability checker on a real etcd cluster under partitions (lab ``ha2``).

One 20-second run of etcd's register workload with a partition every 4 s, then
the stored history checked again with expectations: a heal cannot be recovered
from within a millisecond (invalid, exit 1), and is within a minute (valid).
Slow (a lab and a real run): ``.venv/bin/pytest -m slow tests/integration/test_availability_lab.py``.
"""

from __future__ import annotations

import json

import pytest

from jepsy.cli import main
from tests.integration.conftest import lab_running

pytestmark = pytest.mark.slow

LAB, SUBNET = "ha2", "10.112.0"


def _exit(args: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(args)
    return int(e.value.code or 0)


def test_recovery_after_partitions_on_etcd(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    with lab_running(LAB, SUBNET, nodes=5, packages=["etcd-server"]) as lab:
        code = _exit(["test", "--inventory", str(lab.inventory_path), "--db", "etcd",
                      "--workload", "register", "--nemesis", "partition", "--nemesis-interval", "4",
                      "--time-limit", "20", "--seed", "3", "--store", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    run = (tmp_path / "latest").resolve()
    avail = json.loads((run / "results.json").read_text())["checker"]["availability"]
    assert avail["valid"] is True and avail["baseline_throughput"] > 0
    kinds = [w["kind"] for w in avail["windows"]]
    assert kinds[0] == "calm" and "partition" in kinds
    fault = next(w for w in avail["windows"] if w["kind"] == "partition")
    assert set(fault["by_node"]) == {"n1", "n2", "n3", "n4", "n5"} and fault["sides"]["majority"]
    heals = [r for r in avail["recoveries"] if r["censored"] != "end"]
    assert heals and all(r["longest_silence_s"] is not None for r in heals)
    history = str(run / "history.jsonl")
    capsys.readouterr()
    assert _exit(["check", history, "--checker", "availability", "--expect-recovery", "0.001"]) == 1
    assert "expected at most 0.001 s" in capsys.readouterr().out
    assert _exit(["check", history, "--checker", "availability", "--expect-recovery", "60"]) == 0
    assert "recoveries" in (run / "report.html").read_text()
