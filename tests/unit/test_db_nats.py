"""The nats module without a cluster: its configuration, powers, options and clients' vocabulary."""

from __future__ import annotations

import pytest

from jepsy.dbs.nats import DATA_DIR, NatsDB, nats_db
from jepsy.dbs.nats_clients import KVRegisterClient, StreamClient, client_for
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError
from jepsy.inventory import Node
from jepsy.protocols import HasDataDir, HasLogFiles, HasPrimaries, Killable, Pausable
from jepsy.protocols import Test as RunTest

NODES = ("n1", "n2", "n3")


def make_test(remote: FakeRemote | None = None) -> RunTest:
    specs = {n: Node(n, f"10.0.0.{i + 11}") for i, n in enumerate(NODES)}
    return RunTest(name="t", nodes=list(NODES), node_specs=specs,
                   remote=remote or FakeRemote())  # type: ignore[arg-type]


def test_config_names_the_server_routes_to_every_node_and_keeps_data_in_the_data_dir() -> None:
    conf = NatsDB({}).config(make_test(), "n2")
    assert "server_name: n2" in conf
    for ip in ("10.0.0.11", "10.0.0.12", "10.0.0.13"):
        assert f"nats-route://{ip}:6222" in conf
    assert f'store_dir: "{DATA_DIR}"' in conf and "name: jepsy" in conf
    assert "sync_interval" not in conf  # 2.9 refuses it


def test_powers_and_options() -> None:
    db = nats_db({"replicas": "5", "kv_direct": "true"})
    assert all(isinstance(db, p) for p in (Killable, Pausable, HasLogFiles, HasPrimaries, HasDataDir))
    assert db.replicas == 5 and db.kv_direct is True
    with pytest.raises(ConfigError):
        NatsDB({"replicas": 7})
    with pytest.raises(ConfigError, match="needs at least"):
        NatsDB({"replicas": 5}).setup(make_test(), "n1")


def test_teardown_keeps_the_data_dir_itself_a_power_mount_point() -> None:
    remote = FakeRemote()
    NatsDB({}).teardown(make_test(remote), "n1")
    (command,) = remote.on("n1")
    assert f"rm -rf {DATA_DIR}/* " in command and f"rm -rf {DATA_DIR};" not in command


def test_clients_by_workload() -> None:
    db = NatsDB({})
    assert isinstance(client_for("stream", db, {}), StreamClient)
    assert isinstance(client_for("register", db, {}), KVRegisterClient)
    with pytest.raises(ConfigError, match="speaks: stream, register"):
        client_for("queue", db, {})
