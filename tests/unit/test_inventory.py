"""Inventories: Ansible-shaped YAML, --nodes and --nodes-file, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsy import inventory
from jepsy.errors import ConfigError

ANSIBLE = """
all:
  vars:
    ansible_user: admin
    ansible_port: 2222
    jepsy_known_hosts: known
  children:
    db:
      vars:
        ansible_ssh_private_key_file: keys/db.pem
      hosts:
        db1: {ansible_host: 10.0.0.1}
        db2: {ansible_host: 10.0.0.2, ansible_port: 22}
    extra:
      hosts:
        db2: {tier: gold}
  hosts:
    solo: {ansible_user: root}
"""


def test_ansible_shape_with_groups_and_precedence(tmp_path: Path) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text(ANSIBLE)
    nodes = {n.name: n for n in inventory.from_file(f)}
    assert list(nodes) == ["solo", "db1", "db2"]
    db1, db2, solo = nodes["db1"], nodes["db2"], nodes["solo"]
    assert (db1.host, db1.user, db1.port) == ("10.0.0.1", "admin", 2222)
    assert db1.key_file == str(tmp_path / "keys/db.pem")
    assert db1.known_hosts == str(tmp_path / "known")
    assert db2.port == 22 and db2.vars["tier"] == "gold"
    assert set(db2.groups) == {"all", "db", "extra"}
    assert (solo.host, solo.user, solo.key_file) == ("solo", "root", None)


def test_top_level_groups_without_all(tmp_path: Path) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text("web:\n  hosts:\n    w1:\n    w2:\n")
    assert [n.name for n in inventory.from_file(f)] == ["w1", "w2"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("all: [1, 2]", "must be a mapping"),
    ("all:\n  hosts: {}\n", "lists no hosts"),
    ("all:\n  hostz: {a: {}}\n", "unknown keys"),
    ("all:\n  hosts:\n    a: {ansible_port: ssh}\n", "must be a number"),
    ("all:\n  hosts:\n    a: {ansible_port: 70000}\n", "out of range"),
    ("all: {hosts: [\n", "not valid YAML"),
])
def test_malformed_inventories_give_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        inventory.from_file(f)
    assert "\n" not in str(e.value) and str(f) in str(e.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such inventory"):
        inventory.from_file("/nonexistent/inv.yaml")


def test_nodes_and_nodes_file(tmp_path: Path) -> None:
    assert [n.name for n in inventory.load(nodes="n1, n2,n3")] == ["n1", "n2", "n3"]
    f = tmp_path / "nodes"
    f.write_text("# lab\nn1\n\nn2  # second\n")
    assert [n.host for n in inventory.load(nodes_file=str(f))] == ["n1", "n2"]
    with pytest.raises(ConfigError, match="twice"):
        inventory.load(nodes="a,a")
    with pytest.raises(ConfigError, match="exactly one"):
        inventory.load(inventory="x", nodes="a")
    with pytest.raises(ConfigError, match="exactly one"):
        inventory.load()
