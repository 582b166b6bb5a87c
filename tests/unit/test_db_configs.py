"""The configuration and process control the Redis, ZooKeeper, Galera and replicated
PostgreSQL modules send to nodes (checked on a FakeRemote; the lab tests run them)."""

from __future__ import annotations

import pytest

from jepsy.dbs.galera import GaleraDB
from jepsy.dbs.postgres_replicated import ReplicatedPostgresDB
from jepsy.dbs.postgres_replicated_clients import read_only
from jepsy.dbs.redis import RedisDB
from jepsy.dbs.zookeeper import ZooKeeperDB
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError
from jepsy.inventory import Node
from jepsy.protocols import HasLogFiles, HasPrimaries, Killable, Pausable
from jepsy.protocols import Test as RunTest

NODES = ("n1", "n2", "n3", "n4", "n5")


def make_test(remote: FakeRemote | None = None) -> RunTest:
    specs = {n: Node(n, f"10.0.0.{i + 11}") for i, n in enumerate(NODES)}
    return RunTest(name="t", nodes=list(NODES), node_specs=specs,
                   remote=remote or FakeRemote())  # type: ignore[arg-type]


def test_every_module_has_the_optional_powers() -> None:
    for db in (RedisDB({}), ZooKeeperDB({}), GaleraDB({}), ReplicatedPostgresDB({})):
        assert all(isinstance(db, p) for p in (Killable, Pausable, HasLogFiles, HasPrimaries)), db


def test_redis_first_node_is_primary_and_sentinels_need_a_majority() -> None:
    db, test = RedisDB({"down_after_ms": 1500}), make_test()
    assert "replicaof" not in db.server_conf(test, "n1")
    assert "replicaof 10.0.0.11 6379" in db.server_conf(test, "n3")
    sentinel = db.sentinel_conf(test, "n2")
    assert "sentinel monitor jepsy 10.0.0.11 6379 3" in sentinel
    assert "sentinel down-after-milliseconds jepsy 1500" in sentinel
    assert "sentinel announce-ip 10.0.0.12" in sentinel


def test_redis_kill_and_pause_use_the_server_pidfile_only() -> None:
    remote = FakeRemote()
    db, test = RedisDB({}), make_test(remote)
    db.kill(test, "n2")
    db.pause(test, "n2")
    db.resume(test, "n2")
    kill, pause, resume = remote.on("n2")
    assert "kill -9 $(cat /run/jepsy/redis.pid)" in kill and "sentinel" not in kill
    assert pause == "kill -STOP $(cat /run/jepsy/redis.pid)"
    assert resume == "kill -CONT $(cat /run/jepsy/redis.pid)"
    assert db.log_files(test, "n2") == ["/var/log/jepsy/redis.log", "/var/log/jepsy/sentinel.log"]


def test_zookeeper_ensemble_config_and_daemon() -> None:
    db, test = ZooKeeperDB({"tick_ms": 500, "sync_limit": 4, "heap_mb": 96}), make_test()
    cfg = db.config(test, "n3").splitlines()
    assert "tickTime=500" in cfg and "syncLimit=4" in cfg and "clientPortAddress=10.0.0.13" in cfg
    assert [line for line in cfg if line.startswith("server.")] == [
        f"server.{i}=10.0.0.{10 + i}:2888:3888" for i in range(1, 6)]
    start = db._start_command()
    assert "setsid java -Xmx96m" in start and "echo $! > /run/jepsy/zookeeper.pid" in start


def test_galera_config_bootstrap_and_options() -> None:
    db, test = GaleraDB({"snapshot_isolation": "true"}), make_test()
    cfg = db.config(test, "n2")
    assert "wsrep_cluster_address=gcomm://10.0.0.11,10.0.0.12,10.0.0.13,10.0.0.14,10.0.0.15" in cfg
    assert "wsrep_node_address=10.0.0.12" in cfg and "innodb_snapshot_isolation=ON" in cfg
    assert "innodb_snapshot_isolation" not in GaleraDB({}).config(test, "n2")
    assert "--wsrep-new-cluster" in db._start_command(bootstrap=True)
    assert "--wsrep-new-cluster" not in db._start_command()
    assert GaleraDB({}).level == "REPEATABLE READ"
    with pytest.raises(ConfigError, match=r"isolation=snapshot: expected one of"):
        GaleraDB({"isolation": "snapshot"})


def test_postgres_replicated_options_and_read_routing() -> None:
    with pytest.raises(ConfigError, match="reads=both"):
        ReplicatedPostgresDB({"reads": "both"})
    db = ReplicatedPostgresDB({"reads": "replicas", "isolation": "read-committed"})
    assert db.level == "READ COMMITTED" and db.primaries(make_test()) == ["n1"]
    assert read_only("list-append", {"f": "txn", "value": [["r", 1, None], ["r", 2, None]]})
    assert not read_only("list-append", {"f": "txn", "value": [["r", 1, None], ["append", 2, 3]]})
    assert read_only("bank", {"f": "read", "value": None})
    assert not read_only("bank", {"f": "transfer", "value": {}})
