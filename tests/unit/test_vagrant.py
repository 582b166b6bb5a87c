"""``jepsy inventory from-vagrant``: parsing ``vagrant ssh-config``, choosing the private
address, and the inventory and known_hosts written (no VMs: the scanner is a double)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from jepsy import inventory, vagrant
from jepsy.cli import cli
from jepsy.errors import ConfigError, ConnectError
from jepsy.vagrant import Facts, SSHHost

# As vagrant-libvirt 0.11 prints it (management network addresses, one key per machine).
LIBVIRT = """Host n1
  HostName 192.168.121.23
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/lab/vagrant/.lab/id_ed25519
  IdentityFile /usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host n2
  HostName 192.168.121.87
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/lab/vagrant/.lab/id_ed25519
  IdentitiesOnly yes
  LogLevel FATAL

"""

# As VirtualBox machines print it: forwarded ports on 127.0.0.1, quoted key paths.
VIRTUALBOX = """Host n1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/me/my lab/.vagrant/machines/n1/virtualbox/private_key"
  IdentitiesOnly yes
  LogLevel FATAL

Host n2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/me/my lab/.vagrant/machines/n2/virtualbox/private_key"
"""

# `ip -4 -o addr show scope global` puts a backslash where a line would break.
_LFT = "\\       valid_lft forever preferred_lft forever"
IP_ADDR_LIBVIRT = (
    "2: eth0    inet 192.168.121.23/24 metric 1024 brd 192.168.121.255 scope global dynamic eth0"
    "\\       valid_lft 3577sec preferred_lft 3577sec\n"
    f"3: eth1    inet 192.168.56.11/24 brd 192.168.56.255 scope global eth1{_LFT}\n")
ROUTE_LIBVIRT = "default via 192.168.121.1 dev eth0 proto dhcp src 192.168.121.23 metric 1024\n"

IP_ADDR_VBOX = (
    "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0"
    "\\       valid_lft 86000sec preferred_lft 86000sec\n"
    f"3: eth1    inet 192.168.56.12/24 brd 192.168.56.255 scope global eth1{_LFT}\n"
    f"4: eth2    inet 172.28.0.5/16 brd 172.28.255.255 scope global eth2{_LFT}\n")
ROUTE_VBOX = "default via 10.0.2.2 dev eth0 proto dhcp src 10.0.2.15 metric 1024\n"

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDl0bWtleWtleWtleWtleWtleWtleWtleWtleWtleWtleQ"
EC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY="


def test_parse_libvirt_output() -> None:
    hosts = vagrant.parse_ssh_config(LIBVIRT)
    assert [h.name for h in hosts] == ["n1", "n2"]
    n1 = hosts[0]
    assert (n1.hostname, n1.port, n1.user) == ("192.168.121.23", 22, "vagrant")
    assert n1.identity_files == ("/home/me/lab/vagrant/.lab/id_ed25519",
                                 "/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant")
    assert n1.proxy_command is None


def test_parse_virtualbox_output_quoted_paths_and_ports() -> None:
    n1, n2 = vagrant.parse_ssh_config(VIRTUALBOX)
    assert (n1.hostname, n1.port) == ("127.0.0.1", 2222)
    assert n1.identity_files == ("/home/me/my lab/.vagrant/machines/n1/virtualbox/private_key",)
    assert n2.port == 2200


def test_parse_equals_syntax_case_and_proxy_command() -> None:
    (h,) = vagrant.parse_ssh_config("host db1\n  HOSTNAME=10.1.1.1\n  port = 2022\n"
                                    "  ProxyCommand ssh -W %h:%p gateway\n")
    assert (h.name, h.hostname, h.port) == ("db1", "10.1.1.1", 2022)
    assert h.proxy_command == "ssh -W %h:%p gateway"


@pytest.mark.parametrize("text, message", [
    ("", "no host"),
    ("  HostName 1.2.3.4\n", "before any Host"),
    ("Host a\n  User x\n", "no HostName"),
    ("Host a\n  HostName h\n  Port 99999\n", "bad Port"),
    ("Host a b\n  HostName h\n", "one name per Host"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        vagrant.parse_ssh_config(text)


def test_private_address_is_not_on_the_default_route_interface() -> None:
    assert vagrant.choose_private_address(IP_ADDR_LIBVIRT, ROUTE_LIBVIRT, "192.168.121.23") \
        == "192.168.56.11"
    assert vagrant.choose_private_address(IP_ADDR_VBOX, ROUTE_VBOX, "127.0.0.1") == "192.168.56.12"


def test_private_address_by_subnet() -> None:
    assert vagrant.choose_private_address(IP_ADDR_VBOX, ROUTE_VBOX, "127.0.0.1",
                                          "172.28.0.0/16") == "172.28.0.5"
    with pytest.raises(ConfigError, match=r"no address in 10\.9\.0\.0/24"):
        vagrant.choose_private_address(IP_ADDR_VBOX, ROUTE_VBOX, "127.0.0.1", "10.9.0.0/24")


def test_no_private_network_is_explained() -> None:
    only_nat = IP_ADDR_LIBVIRT.splitlines()[0]
    with pytest.raises(ConfigError, match="private_network"):
        vagrant.choose_private_address(only_nat, ROUTE_LIBVIRT, "192.168.121.23")


def test_known_hosts_names_forwarded_port_and_private_address() -> None:
    host = SSHHost("n1", "127.0.0.1", 2222)
    lines = vagrant.known_hosts_lines(host, Facts("192.168.56.11", (ED, EC, ED)))
    assert lines == [f"[127.0.0.1]:2222 {EC}", f"[127.0.0.1]:2222 {ED}",
                     f"192.168.56.11 {EC}", f"192.168.56.11 {ED}"]


def _fake_scanner(addresses: dict[str, str]) -> Callable[[SSHHost, str | None], Facts]:
    def scan(host: SSHHost, subnet: str | None) -> Facts:
        return Facts(addresses[host.name], (ED,), key_file=host.identity_files[-1])
    return scan


def test_inventory_written_and_loadable(tmp_path: Path) -> None:
    out = tmp_path / "inv" / "vagrant.yaml"
    path = vagrant.from_vagrant(LIBVIRT, out, scanner=_fake_scanner(
        {"n1": "192.168.56.11", "n2": "192.168.56.12"}))
    assert path == out
    known = tmp_path / "inv" / "vagrant.known_hosts"
    assert known.read_text().splitlines() == [f"192.168.121.23 {ED}", f"192.168.56.11 {ED}",
                                              f"192.168.121.87 {ED}", f"192.168.56.12 {ED}"]
    nodes = inventory.from_file(out)
    assert [n.name for n in nodes] == ["n1", "n2"]
    n1 = nodes[0]
    assert (n1.host, n1.port, n1.user) == ("192.168.121.23", 22, "vagrant")
    assert n1.vars["jepsy_ip"] == "192.168.56.11"
    assert n1.known_hosts == str(known)
    # The key that the VM accepted, not merely the first listed.
    assert n1.key_file == "/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant"
    assert n1.groups == ("all", "vagrant")


def test_duplicate_private_addresses_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--subnet"):
        vagrant.from_vagrant(LIBVIRT, tmp_path / "i.yaml",
                             scanner=_fake_scanner({"n1": "10.0.0.1", "n2": "10.0.0.1"}))
    assert not (tmp_path / "i.yaml").exists()


def test_unreachable_vm_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "i.yaml").write_text("old\n")

    def scan(host: SSHHost, subnet: str | None) -> Facts:
        if host.name == "n2":
            raise ConnectError("n2: cannot SSH to 192.168.121.87:22 (timed out)")
        return Facts("192.168.56.11", (ED,))

    with pytest.raises(ConnectError, match="n2: cannot SSH"):
        vagrant.from_vagrant(LIBVIRT, tmp_path / "i.yaml", scanner=scan)
    assert (tmp_path / "i.yaml").read_text() == "old\n"


def test_scan_refuses_proxy_command_and_missing_keys() -> None:
    with pytest.raises(ConfigError, match="ProxyCommand"):
        vagrant.scan(SSHHost("n1", "h", proxy_command="ssh -W %h:%p gw", identity_files=("/k",)))
    with pytest.raises(ConfigError, match="IdentityFiles exists"):
        vagrant.scan(SSHHost("n1", "h", identity_files=("/nonexistent/key",)))


def test_cli_from_saved_ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "ssh-config"
    saved.write_text(VIRTUALBOX)
    monkeypatch.setattr(vagrant, "scan", lambda h, subnet: Facts(
        {"n1": "192.168.56.11", "n2": "192.168.56.12"}[h.name], (ED,)))
    out = tmp_path / "vb.yaml"
    r = CliRunner().invoke(cli, ["inventory", "from-vagrant", str(tmp_path), "--ssh-config", str(saved),
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(out)
    nodes = inventory.from_file(out)
    assert [(n.host, n.port, n.vars["jepsy_ip"]) for n in nodes] == [
        ("127.0.0.1", 2222, "192.168.56.11"), ("127.0.0.1", 2200, "192.168.56.12")]
    assert nodes[0].key_file == "/home/me/my lab/.vagrant/machines/n1/virtualbox/private_key"
    assert f"[127.0.0.1]:2200 {ED}" in (tmp_path / "vb.known_hosts").read_text()


def test_cli_errors_are_config_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["inventory", "from-vagrant", str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "no Vagrantfile" in str(r.exception)
    r = CliRunner().invoke(cli, ["inventory", "from-vagrant", str(tmp_path), "--subnet", "nope"])
    assert isinstance(r.exception, ConfigError) and "not a network" in str(r.exception)


def test_user_override(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def scan(host: SSHHost, subnet: str | None) -> Facts:
        seen.append(host.user)
        return Facts({"n1": "192.168.56.11", "n2": "192.168.56.12"}[host.name], (ED,))

    out = vagrant.from_vagrant(LIBVIRT, tmp_path / "i.yaml", scanner=scan, user="root")
    assert seen == ["root", "root"]
    assert {n.user for n in inventory.from_file(out)} == {"root"}


def test_running_machines_from_status() -> None:
    status = ("1795323467,n1,metadata,provider,libvirt\n1795323467,n1,state,running\n"
              "1795323468,n2,state,shutoff\n1795323468,n3,state,running\n"
              "1795323468,n4,state,not_created\n1795323468,,ui,info,Current machine states:\n")
    assert vagrant.parse_status(status) == ["n1", "n3"]
