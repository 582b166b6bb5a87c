"""The README's findings, as tests: each known bug must be reported invalid, and the
correct configuration of the same test valid.

Only the fastest recipe's buggy half runs in every CI run (etcd's serializable
reads); the full recipes, each with its correct configuration, exactly as the
README gives them, are marked ``slow`` and run on demand (``pytest -m slow``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def jepsy_test(inventory: Path, store: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([*JEPSY, "test", "--inventory", str(inventory), "--store", str(store), *args],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
    assert (store / "latest" / "results.json").exists(), proc.stderr[-2000:]
    return proc.returncode, json.loads((store / "latest" / "results.json").read_text())


ETCD = ["--db", "etcd", "--workload", "register", "--nemesis", "partition",
        "--nemesis-opt", "partition_shapes=one,minority-third"]


def test_recipe_1_etcd_serializable_reads_are_stale_under_partitions(tmp_path: Path) -> None:
    """Recipe 1's buggy half, as the README gives it (6 of 6 runs detected).  A shorter
    version on three nodes (20 s) was measured too and missed in some runs: a worker
    on the cut-off node stalls on its first write for the op timeout, so only a few
    reads there go stale per partition, and five nodes give more of them."""
    with lab_running("jt7e", "10.85.0", nodes=5, packages=["etcd-server"]) as lab:
        code, results = jepsy_test(lab.inventory_path, tmp_path / "ser", *ETCD, "--db-opt",
                                   "serializable=true", "--time-limit", "30", "--seed", "1")
        assert code == 1, results["checker"]
        assert results["checker"]["linearizable"]["valid"] is False


# -- the full recipes (README, "Findings") -------------------------------------------------------

def recipe(name: str, subnet: str, nodes: int, packages: list[str], bug: list[str], ok: list[str],
           tmp_path: Path) -> None:
    with lab_running(name, subnet, nodes=nodes, packages=packages) as lab:
        code, results = jepsy_test(lab.inventory_path, tmp_path / "bug", *bug)
        assert code == 1, results["checker"]
        code, results = jepsy_test(lab.inventory_path, tmp_path / "ok", *ok)
        assert code == 0, results["checker"]


@pytest.mark.slow
def test_recipe_1_etcd(tmp_path: Path) -> None:
    common = [*ETCD, "--time-limit", "30", "--seed", "1"]
    recipe("jt7s1", "10.85.0", 5, ["etcd-server"], [*common, "--db-opt", "serializable=true"],
           [*common, "--db-opt", "serializable=false"], tmp_path)


@pytest.mark.slow
def test_recipe_2_redis_sentinel_loses_acknowledged_adds(tmp_path: Path) -> None:
    common = ["--db", "redis", "--workload", "set", "--seed", "1"]
    recipe("jt7s2", "10.86.0", 5, ["redis-server", "redis-sentinel"],
           [*common, "--nemesis", "partition", "--nemesis-opt", "partition_shapes=primaries",
            "--nemesis-interval", "10", "--time-limit", "40"],
           [*common, "--nemesis", "none", "--time-limit", "20"], tmp_path)


@pytest.mark.slow
def test_recipe_3_postgres_read_committed(tmp_path: Path) -> None:
    common = ["--db", "postgres", "--workload", "list-append", "--time-limit", "10", "--rate", "200",
              "--concurrency", "10", "--recovery", "0", "--seed", "1"]
    recipe("jt7s3", "10.87.0", 1, ["postgresql"], [*common, "--db-opt", "isolation=read-committed"],
           [*common, "--db-opt", "isolation=serializable"], tmp_path)


@pytest.mark.slow
def test_recipe_4_zookeeper_reads_without_sync(tmp_path: Path) -> None:
    common = ["--db", "zookeeper", "--workload", "register", "--nemesis", "partition",
              "--nemesis-opt", "partition_shapes=one", "--nemesis-interval", "10", "--time-limit", "30",
              "--seed", "1"]
    recipe("jt7s4", "10.88.0", 5, ["zookeeper"], [*common, "--db-opt", "sync=false"],
           [*common, "--db-opt", "sync=true"], tmp_path)


@pytest.mark.slow
def test_recipe_5_galera_lost_updates(tmp_path: Path) -> None:
    common = ["--db", "galera", "--workload", "bank", "--nemesis", "partition", "--time-limit", "30",
              "--concurrency", "6", "--seed", "1"]
    recipe("jt7s5", "10.89.0", 3, ["mariadb-server", "galera-4", "rsync"],
           [*common, "--db-opt", "isolation=repeatable-read"],
           [*common, "--db-opt", "snapshot_isolation=true"], tmp_path)
