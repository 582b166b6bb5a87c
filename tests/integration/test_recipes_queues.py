"""The README's findings 11 and 12 as tests (``slow``: run on demand with ``pytest -m slow``).

11: Redis with ``appendfsync everysec`` loses acknowledged adds when its node loses
power; ``always`` does not.  12: RabbitMQ's classic mirrored queues under
``autoheal`` lose confirmed messages when partitions heal; quorum queues do not.
Each recipe runs once here with one seed (the README gives its detection rate over
five); labs hq5 and hq6 (10.155.0, 10.156.0).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import lab_running
from tests.integration.test_recipes import jepsy_test

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_POWER = ["--db", "redis", "--workload", "set", "--nemesis", "power", "--nemesis-opt",
               "power_targets=all", "--time-limit", "30", "--nemesis-interval", "4", "--concurrency", "10",
               "--rate", "500", "--seed", "1"]
RABBIT = ["--db", "rabbitmq", "--workload", "queue", "--workload-opt", "at_least_once=true",
          "--nemesis", "partition", "--nemesis-interval", "15", "--time-limit", "45", "--seed", "1"]


def test_recipe_11_redis_everysec_loses_acknowledged_writes_on_power_loss(tmp_path: Path) -> None:
    with lab_running("hq5", "10.155.0", nodes=1, packages=["redis-server", "redis-sentinel"]) as lab:
        code, results = jepsy_test(lab.inventory_path, tmp_path / "bug", *REDIS_POWER,
                                   "--db-opt", "appendfsync=everysec")
        assert code == 1 and results["checker"]["set-full"]["lost_count"] > 0, results["checker"]
        code, results = jepsy_test(lab.inventory_path, tmp_path / "ok", *REDIS_POWER,
                                   "--db-opt", "appendfsync=always")
        assert code == 0, results["checker"]


def test_recipe_12_rabbitmq_mirrored_autoheal_loses_confirmed_messages(tmp_path: Path) -> None:
    with lab_running("hq6", "10.156.0", nodes=3, packages=["rabbitmq-server"]) as lab:
        code, results = jepsy_test(lab.inventory_path, tmp_path / "bug", *RABBIT, "--db-opt",
                                   "queue_type=classic-mirrored", "--db-opt", "partition_handling=autoheal")
        assert code == 1 and results["checker"]["total-queue"]["lost_count"] > 0, results["checker"]
        code, results = jepsy_test(lab.inventory_path, tmp_path / "ok", *RABBIT, "--db-opt",
                                   "queue_type=quorum")
        assert code == 0, results["checker"]
