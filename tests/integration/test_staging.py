"""Staging-cluster access on lab nodes: jump hosts (from the inventory and from an
~/.ssh/config with Include), unknown host keys refused or trusted on first use, and a
non-root user whose sudo needs a password from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.errors import ConnectError
from jepsy.inventory import Node
from tests.integration.conftest import lab_running

SUBNET = "10.90.0"


def test_jump_hosts_host_keys_and_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with lab_running("jtstg", SUBNET, nodes=3) as lab:
        key, known = str(lab.key_path), str(lab.known_hosts_path)
        nodes = {n.name: n for n in inventory.from_file(lab.inventory_path)}
        with SSHRemote(nodes.values()) as direct:
            # n2 and n3 refuse SSH from this machine: only n1 can reach them.
            for n in ("n2", "n3"):
                direct.execute(n, f"iptables -w -A INPUT -p tcp --dport 22 -s {SUBNET}.1 -j DROP")
            # A non-root user on n1 whose sudo asks for a password.
            direct.execute("n1", "useradd -m -s /bin/sh ops && echo 'ops:s3cret' | chpasswd && "
                                 "mkdir -p /etc/sudoers.d && "
                                 "echo 'ops ALL=(ALL) ALL' > /etc/sudoers.d/ops && "
                                 "mkdir -p ~ops/.ssh && cp /root/.ssh/authorized_keys ~ops/.ssh/ && "
                                 "chown -R ops ~ops/.ssh")
        blocked = Node(name="n2", host=f"{SUBNET}.12", user="root", key_file=key, known_hosts=known)
        with pytest.raises(ConnectError, match="cannot connect"), \
                SSHRemote([blocked], connect_timeout=2) as r:
            r.execute("n2", "true")

        # 1. Jump host named in the inventory (Ansible's ProxyJump argument).
        inv = tmp_path / "staging.yaml"
        inv.write_text(
            "all:\n  vars:\n    ansible_user: root\n"
            f"    ansible_ssh_private_key_file: {key}\n    jepsy_known_hosts: {known}\n"
            f"    ansible_ssh_common_args: '-o ProxyJump=root@{SUBNET}.11'\n"
            f"  hosts:\n    n2: {{ansible_host: {SUBNET}.12}}\n    n3: {{ansible_host: {SUBNET}.13}}\n")
        with SSHRemote(inventory.from_file(inv)) as r:
            assert r.execute("n2", "hostname").stdout.strip() == "n2"
            assert r.execute("n3", "hostname").stdout.strip() == "n3"

        # 2. Jump host from ~/.ssh/config, through an Include (HOME is a temp dir in tests).
        ssh = Path.home() / ".ssh"
        (ssh / "conf.d").mkdir(parents=True)
        (ssh / "config").write_text("Include conf.d/*.conf\n")
        (ssh / "conf.d" / "lab.conf").write_text(
            f"Host gw\n  HostName {SUBNET}.11\n  User root\n  IdentityFile {key}\n"
            f"Host stage3\n  HostName {SUBNET}.13\n  User root\n  IdentityFile {key}\n  ProxyJump gw\n")
        (ssh / "known_hosts").write_text(Path(known).read_text())
        with SSHRemote(inventory.from_names(["stage3"])) as r:
            assert r.execute("stage3", "hostname").stdout.strip() == "n3"

        # 3. Unknown host keys stop the run, unless trust-on-first-use was asked for.
        (ssh / "known_hosts").write_text("")
        fresh = tmp_path / "fresh_known_hosts"
        n1 = Node(name="n1", host=f"{SUBNET}.11", user="root", key_file=key, known_hosts=str(fresh))
        with pytest.raises(ConnectError, match="is unknown"), SSHRemote([n1]) as r:
            r.execute("n1", "true")
        with SSHRemote([n1], trust_on_first_use=True) as r:
            r.execute("n1", "true")
        assert f"{SUBNET}.11 ssh-ed25519" in fresh.read_text()
        with SSHRemote([n1]) as r:  # remembered: no trust needed any more
            r.execute("n1", "true")

        # 4. sudo with a password from the environment variable the inventory names.
        monkeypatch.setenv("JEPSY_TEST_SUDO_PW", "s3cret")
        ops = Node(name="n1", host=f"{SUBNET}.11", user="ops", key_file=key, known_hosts=known,
                   vars={"ansible_become_password_env": "JEPSY_TEST_SUDO_PW"})
        with SSHRemote([ops]) as r:
            assert r.execute("n1", "id -u").stdout.strip() != "0"
            assert r.execute("n1", "id -u", sudo=True).stdout.strip() == "0"
        monkeypatch.setenv("JEPSY_TEST_SUDO_PW", "wrong")
        with SSHRemote([ops]) as r:
            assert not r.execute("n1", "id -u", sudo=True, check=False).ok
