"""ssh_config with Include (which paramiko alone ignores), jump hosts from inventories."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsy.errors import ConfigError
from jepsy.sshconfig import proxy_jump, read_config_text, ssh_config


def test_includes_are_expanded_relative_to_dot_ssh(tmp_path: Path) -> None:
    ssh = tmp_path / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "config").write_text("Include conf.d/*.conf\nHost *\n  User fallback\n")
    (ssh / "conf.d" / "a.conf").write_text("Host db1\n  HostName 10.1.0.5\n  ProxyJump bastion\n"
                                           "  Include nested\n")
    (ssh / "nested").write_text("  Port 2222\n")
    (ssh / "conf.d" / "b.conf").write_text("Host bastion\n  HostName 192.0.2.10\n  User ops\n")
    cfg = ssh_config(str(ssh / "config"))
    db1 = cfg.lookup("db1")
    assert db1["hostname"] == "10.1.0.5" and db1["proxyjump"] == "bastion" and db1["port"] == "2222"
    assert cfg.lookup("bastion")["user"] == "ops"
    assert cfg.lookup("other")["user"] == "fallback"


def test_missing_config_is_empty_and_include_loops_are_refused(tmp_path: Path) -> None:
    assert read_config_text(tmp_path / "nope") == ""
    loop = tmp_path / "loop"
    loop.write_text(f"Include {loop}\n")
    with pytest.raises(ConfigError, match="nested more than"):
        read_config_text(loop)


@pytest.mark.parametrize("node_vars, expected", [
    ({}, None),
    ({"jepsy_proxy_jump": "ops@bastion:2200"}, "ops@bastion:2200"),
    ({"ansible_ssh_common_args": "-o ProxyJump=ops@bastion"}, "ops@bastion"),
    ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=yes -J a,b"}, "a,b"),
    ({"ansible_ssh_common_args": "-oProxyJump=j1"}, "j1"),
])
def test_proxy_jump_from_inventory_vars(node_vars: dict[str, str], expected: str | None) -> None:
    assert proxy_jump(node_vars) == expected
