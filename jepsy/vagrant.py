"""Vagrant's VMs as an inventory (what ``jepsy inventory from-vagrant`` writes).

Where each field comes from, and why:

* ``vagrant ssh-config`` gives, per machine, how SSH reaches it: ``HostName``,
  ``Port``, ``User``, ``IdentityFile``.  That is the *control* path: with
  VirtualBox a port forwarded on 127.0.0.1, with libvirt the VM's address on the
  management network.  It becomes ``ansible_host`` / ``ansible_port``, so jepsy's
  SSH keeps working while partitions cut the cluster network.
* The address the nodes (and jepsy's clients) use to talk to each other is the
  VM's *private-network* address: partitions act on it.  ``ssh-config`` does not
  know it, so each VM is asked over SSH (``ip -4 -o addr``): the address inside
  ``--subnet`` when given, else the first global address on an interface that
  does not carry the default route (Vagrant's NAT or management interface does)
  and is not the SSH address.  It becomes ``jepsy_ip``.
* Host keys: Vagrant writes ``StrictHostKeyChecking no`` and
  ``UserKnownHostsFile /dev/null``; jepsy does not.  On the same SSH session that
  finds the address, jepsy records the key the VM presented and reads its other
  host public keys, and writes them to a known_hosts file (under the SSH address
  and the private address) that the inventory names in ``jepsy_known_hosts``.
  That first contact is trust on first use over a path local to this machine
  (loopback, or a libvirt network on this host); every later connection, by
  ``jepsy test``, ``doctor`` or ``heal``, verifies the key.  Re-run the command
  after ``vagrant destroy``/``up``: new VMs have new keys.
* The key: the first ``IdentityFile`` that the VM accepts (Vagrant may list
  several, e.g. a lab key and its insecure key).

``parse_ssh_config`` and ``build_inventory`` are pure (unit-tested without VMs);
``scan`` is the only part that talks to a VM.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jepsy.errors import ConfigError, ConnectError

__all__ = ["Facts", "SSHHost", "build_inventory", "choose_private_address", "from_vagrant",
           "known_hosts_lines", "parse_ssh_config", "parse_status", "scan", "vagrant_ssh_config"]

SCAN_TIMEOUT_S = 30.0
# "Keyword value", "Keyword=value" or "Keyword = value", as ssh_config(5) allows.
_KEYWORD = re.compile(r"([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$")


@dataclass(frozen=True)
class SSHHost:
    """One ``Host`` block of ``vagrant ssh-config``."""

    name: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    proxy_command: str | None = None


@dataclass(frozen=True)
class Facts:
    """What a VM said about itself over SSH."""

    private_ip: str
    host_keys: tuple[str, ...]  # "type base64" lines
    key_file: str | None = None  # the IdentityFile that was accepted


def parse_ssh_config(text: str) -> list[SSHHost]:
    """The hosts of ``vagrant ssh-config`` output, in order.

    Keywords are case-insensitive, values may be double-quoted (Vagrant quotes
    paths with spaces), ``key=value`` is accepted as ssh_config allows.  A block
    without ``HostName`` is an error: the machine is not reachable as written.
    """
    hosts: list[SSHHost] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is None:
            return
        if not current.get("hostname"):
            raise ConfigError(f"vagrant ssh-config: host {current['name']!r} has no HostName")
        hosts.append(SSHHost(name=current["name"], hostname=current["hostname"],
                             port=current.get("port", 22), user=current.get("user"),
                             identity_files=tuple(current.get("identity_files", ())),
                             proxy_command=current.get("proxy_command")))

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _KEYWORD.match(line)
        if m is None:
            raise ConfigError(f"vagrant ssh-config line {lineno}: cannot read {line!r}")
        key, rest = m.group(1).lower(), m.group(2).strip()
        if key == "host":
            close()
            names = shlex.split(rest)
            if len(names) != 1:
                raise ConfigError(f"vagrant ssh-config line {lineno}: want one name per Host, got {rest!r}")
            current = {"name": names[0]}
            continue
        if current is None:
            raise ConfigError(f"vagrant ssh-config line {lineno}: {key!r} before any Host")
        value = _unquote(rest)
        if key == "hostname":
            current["hostname"] = value
        elif key == "port":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise ConfigError(f"vagrant ssh-config line {lineno}: bad Port {value!r}")
            current["port"] = int(value)
        elif key == "user":
            current["user"] = value
        elif key == "identityfile":
            current.setdefault("identity_files", []).append(os.path.expanduser(value))
        elif key == "proxycommand":
            current["proxy_command"] = rest
    close()
    if not hosts:
        raise ConfigError("vagrant ssh-config printed no host (is any machine up?)")
    return hosts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def choose_private_address(ip_addr: str, default_route: str, ssh_host: str,
                           subnet: str | None = None) -> str:
    """The private-network address among ``ip -4 -o addr show scope global`` lines.

    ``default_route`` is ``ip -4 route show default``: its ``dev`` is the NAT or
    management interface, never the cluster network.  With ``subnet`` the
    address must lie in it.  Raises ``ConfigError`` when none qualifies.
    """
    words = default_route.split()
    default_dev = words[words.index("dev") + 1] if "dev" in words[:-1] else None
    candidates: list[tuple[str, str]] = []
    for line in ip_addr.splitlines():
        parts = line.replace("\\", " ").split()
        if "inet" not in parts[:-1] or len(parts) < 4:
            continue
        dev = parts[1].split("@")[0]
        addr = parts[parts.index("inet") + 1].split("/")[0]
        candidates.append((dev, addr))
    if subnet is not None:
        net = ipaddress.ip_network(subnet, strict=False)
        inside = [a for _, a in candidates if ipaddress.ip_address(a) in net]
        if not inside:
            raise ConfigError(f"no address in {subnet} (addresses: "
                              f"{', '.join(a for _, a in candidates) or 'none'})")
        return inside[0]
    private = [a for d, a in candidates if d != default_dev and a != ssh_host]
    if not private:
        raise ConfigError("no private-network address (only "
                          f"{', '.join(f'{a} on {d}' for d, a in candidates) or 'none'}): give the "
                          "machine a private_network in the Vagrantfile, or pass --subnet")
    return private[0]


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH and paramiko name a host in known_hosts: ``[host]:port`` unless port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_lines(host: SSHHost, facts: Facts) -> list[str]:
    """known_hosts lines for one VM: its keys under the SSH name and the private address
    (port 22 there: a user who SSHes to the cluster address directly is verified too)."""
    names = [known_hosts_name(host.hostname, host.port)]
    if facts.private_ip != host.hostname:
        names.append(facts.private_ip)
    return [f"{name} {key}" for name in names for key in sorted(set(facts.host_keys))]


def build_inventory(hosts: Sequence[SSHHost], facts: Mapping[str, Facts],
                    known_hosts: str, group: str = "vagrant") -> dict[str, Any]:
    """The inventory document (Ansible's shape) for ``hosts``, with ``jepsy_ip`` from ``facts``."""
    body: dict[str, Any] = {}
    for h in hosts:
        f = facts[h.name]
        entry: dict[str, Any] = {"ansible_host": h.hostname, "ansible_port": h.port,
                                 "jepsy_ip": f.private_ip}
        if h.user:
            entry["ansible_user"] = h.user
        key = f.key_file or (h.identity_files[0] if h.identity_files else None)
        if key:
            entry["ansible_ssh_private_key_file"] = key
        body[h.name] = entry
    return {"all": {"vars": {"jepsy_known_hosts": known_hosts},
                    "children": {group: {"hosts": body}}}}


# ---- talking to the VMs ----------------------------------------------------------

class _Record:
    """Missing-host-key policy that accepts the first key and remembers it (see module doc)."""

    def __init__(self) -> None:
        self.key: Any = None

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        self.key = key


def scan(host: SSHHost, subnet: str | None = None, timeout: float = SCAN_TIMEOUT_S) -> Facts:
    """Ask one VM over SSH for its private address and host keys (see the module docstring)."""
    import paramiko

    if host.proxy_command:
        raise ConfigError(f"{host.name}: ssh-config uses a ProxyCommand ({host.proxy_command}); "
                          "jepsy reaches VMs directly only (libvirt on this machine, or VirtualBox)")
    keys = [k for k in host.identity_files if os.path.exists(k)]
    if not keys:
        raise ConfigError(f"{host.name}: none of its IdentityFiles exists "
                          f"({', '.join(host.identity_files) or 'none listed'})")
    last: Exception | None = None
    for key in keys:
        client: Any = paramiko.SSHClient()  # no known hosts loaded: every key reaches _Record
        policy = _Record()
        client.set_missing_host_key_policy(policy)
        try:
            client.connect(host.hostname, port=host.port, username=host.user, key_filename=key,
                           timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                           look_for_keys=False, allow_agent=False)
        except paramiko.AuthenticationException as e:
            last = e
            client.close()
            continue
        except (paramiko.SSHException, OSError) as e:
            client.close()
            raise ConnectError(f"{host.name}: cannot SSH to {host.hostname}:{host.port} ({e})") from None
        try:
            out = _run(client, "ip -4 -o addr show scope global; echo ==; ip -4 route show default; "
                               "echo ==; cat /etc/ssh/ssh_host_*_key.pub", timeout)
        finally:
            client.close()
        addrs, route, pubs = [*out.split("==\n"), "", ""][:3]
        presented = f"{policy.key.get_name()} {policy.key.get_base64()}" if policy.key else None
        host_keys = [" ".join(line.split()[:2]) for line in pubs.splitlines() if len(line.split()) >= 2]
        if presented and presented not in host_keys:
            host_keys.insert(0, presented)
        if not host_keys:
            raise ConnectError(f"{host.name}: could not read any SSH host key")
        try:
            ip = choose_private_address(addrs, route, host.hostname, subnet)
        except ConfigError as e:
            raise ConfigError(f"{host.name}: {e}") from None
        return Facts(private_ip=ip, host_keys=tuple(host_keys), key_file=key)
    raise ConnectError(f"{host.name}: no key accepted by {host.user}@{host.hostname}:{host.port} "
                       f"(tried {', '.join(keys)}): {last}")


def _run(client: Any, command: str, timeout: float) -> str:
    _, stdout, _ = client.exec_command(command, timeout=timeout)
    text: str = stdout.read().decode(errors="replace")
    return text


def parse_status(text: str) -> list[str]:
    """Running machines from ``vagrant status --machine-readable`` (``ts,target,state,running``)."""
    running = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) >= 4 and parts[2] == "state" and parts[3] == "running":
            running.append(parts[1])
    return running


def _vagrant(directory: Path, *args: str) -> str:
    try:
        r = subprocess.run(["vagrant", *args], cwd=directory, capture_output=True, text=True,
                           timeout=300, check=False)
    except FileNotFoundError:
        raise ConfigError("vagrant is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"'vagrant {args[0]}' in {directory} did not finish in 300 s") from None
    if r.returncode != 0:
        lines = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()
        raise ConfigError(f"'vagrant {args[0]}' in {directory} failed: {lines[0]}")
    return r.stdout


def vagrant_ssh_config(directory: Path) -> str:
    """``vagrant ssh-config`` of the *running* machines of ``directory`` (its environment kept:
    VAGRANT_*, JEPSY_NODES).  Machines not created or halted are left out: ssh-config fails
    as a whole if asked about one of them."""
    running = parse_status(_vagrant(directory, "status", "--machine-readable"))
    if not running:
        raise ConfigError(f"no machine of {directory} is running ('vagrant up' first)")
    return _vagrant(directory, "ssh-config", *running)


def from_vagrant(ssh_config_text: str, output: Path, subnet: str | None = None,
                 scanner: Callable[[SSHHost, str | None], Facts] | None = None,
                 user: str | None = None) -> Path:
    """Write the inventory (and its known_hosts beside it) for ``ssh_config_text``; return its path.

    ``user`` replaces ssh-config's user (e.g. root, which the lab's provisioning
    authorizes for the lab key); the scan proves the key works for it.
    ``scanner`` (default ``scan``) asks one VM for its facts.  VMs are scanned in
    parallel; any failure raises before anything is written, so an old inventory is
    never half-replaced.
    """
    from jepsy.control import on_nodes

    scanner = scanner or scan
    hosts = parse_ssh_config(ssh_config_text)
    if user:
        hosts = [dataclasses.replace(h, user=user) for h in hosts]
    by_name = {h.name: h for h in hosts}
    got = on_nodes(by_name, lambda n: scanner(by_name[n], subnet), raise_errors=False)
    failed = [e for e in got.values() if isinstance(e, Exception)]
    if failed:
        if len(failed) == 1 and isinstance(failed[0], ConfigError):
            raise failed[0]
        raise ConnectError("; ".join(str(e) for e in failed))
    facts: dict[str, Facts] = got
    ips = [f.private_ip for f in facts.values()]
    dupes = sorted({ip for ip in ips if ips.count(ip) > 1})
    if dupes:
        raise ConfigError(f"several machines report the private address {', '.join(dupes)}: "
                          "pass --subnet to pick the cluster network")
    output = output.absolute()
    known = output.with_name(output.stem + ".known_hosts")
    doc = build_inventory(hosts, facts, str(known))
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = [line for h in hosts for line in known_hosts_lines(h, facts[h.name])]
    _write(known, "".join(f"{line}\n" for line in lines))
    header = ("# Written by 'jepsy inventory from-vagrant'; re-run it after 'vagrant up'\n"
              "# (new VMs have new host keys).  SSH goes to ansible_host:ansible_port,\n"
              "# the cluster (and partitions) use jepsy_ip, the private-network address.\n")
    _write(output, header + yaml.safe_dump(doc, sort_keys=False))
    return output


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
