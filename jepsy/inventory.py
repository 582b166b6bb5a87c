"""Inventories: which nodes a test runs on and how to reach them.

Three sources, one result (a list of ``Node``):

* a YAML file in Ansible's shape: groups with ``hosts``, ``vars`` and
  ``children`` (the top may be ``all:`` or a mapping of groups); per host
  ``ansible_host``, ``ansible_user``, ``ansible_port``,
  ``ansible_ssh_private_key_file`` and any other variables.  Host variables beat
  group variables, and a child group's variables beat its parent's.
  jepsy's own variables: ``jepsy_known_hosts`` (a known_hosts file checked
  besides ``~/.ssh/known_hosts``), ``jepsy_lab`` (set by ``jepsy lab up``:
  the nodes are namespaces sharing this machine's kernel and clock),
  ``ansible_become_password_env`` (the environment variable holding a sudo
  password; passwords are never read from files);
* ``--nodes n1,n2,...``: names that are also the SSH host names (so
  ``~/.ssh/config`` applies), user ``root`` unless that config says otherwise;
* ``--nodes-file FILE``: the same, one name per line, ``#`` comments allowed.

Node order is the order of first appearance: node 1 is the first one listed.

``jepsy inventory`` writes inventories from other tools' descriptions of a
cluster (``from-vagrant``: ``jepsy.vagrant``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from jepsy.errors import ConfigError

__all__ = ["Node", "from_file", "from_names", "inventory_cmd", "load"]


@dataclass(frozen=True)
class Node:
    """One host: ``name`` is what histories and logs call it; ``host`` is where SSH goes."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    groups: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_lab(self) -> bool:
        return bool(self.vars.get("jepsy_lab"))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _walk(group: str, body: Any, inherited: dict[str, Any], path: tuple[str, ...],
          out: dict[str, dict[str, Any]], where: str) -> None:
    body = _mapping(body, f"{where}: group {group!r}")
    unknown = set(body) - {"hosts", "vars", "children"}
    if unknown:
        raise ConfigError(f"{where}: group {group!r} has unknown keys {sorted(unknown)} "
                          "(want hosts, vars, children)")
    gvars = {**inherited, **_mapping(body.get("vars"), f"{where}: vars of {group!r}")}
    groups = (*path, group)
    for host, hvars in _mapping(body.get("hosts"), f"{where}: hosts of {group!r}").items():
        entry = out.setdefault(str(host), {"vars": {}, "groups": []})
        entry["vars"] = {**gvars, **entry["vars"],
                         **_mapping(hvars, f"{where}: host {host!r}")}
        entry["groups"] += [g for g in groups if g not in entry["groups"]]
    for child, cbody in _mapping(body.get("children"), f"{where}: children of {group!r}").items():
        _walk(str(child), cbody, gvars, groups, out, where)


def _port(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: ansible_port must be a number, not {value!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: ansible_port {port} is out of range")
    return port


def from_file(path: str | os.PathLike[str]) -> list[Node]:
    """Parse an Ansible-style YAML inventory; ``ConfigError`` with the file name on any problem."""
    p = Path(path)
    where = str(p)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such inventory file") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot read inventory ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}:{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    top = _mapping(doc, f"{where}: the inventory")
    if not top:
        raise ConfigError(f"{where}: the inventory is empty")
    hosts: dict[str, dict[str, Any]] = {}
    if "all" in top and len(top) == 1:
        _walk("all", top["all"], {}, (), hosts, where)
    else:
        for group, body in top.items():
            _walk(str(group), body, {}, (), hosts, where)
    if not hosts:
        raise ConfigError(f"{where}: the inventory lists no hosts")
    base = p.resolve().parent
    nodes = []
    for name, entry in hosts.items():
        v = entry["vars"]
        key = v.get("ansible_ssh_private_key_file") or v.get("ansible_private_key_file")
        known = v.get("jepsy_known_hosts")
        nodes.append(Node(
            name=name,
            host=str(v.get("ansible_host", name)),
            user=v.get("ansible_user"),
            port=_port(v.get("ansible_port"), f"{where}: host {name!r}"),
            key_file=str(base / os.path.expanduser(str(key))) if key else None,
            known_hosts=str(base / os.path.expanduser(str(known))) if known else None,
            groups=tuple(entry["groups"]),
            vars=v,
        ))
    return nodes


def from_names(names: list[str]) -> list[Node]:
    """Nodes named on the command line: the names are SSH host names."""
    clean = [n.strip() for n in names if n.strip()]
    if not clean:
        raise ConfigError("--nodes names no node")
    dupes = sorted({n for n in clean if clean.count(n) > 1})
    if dupes:
        raise ConfigError(f"node listed twice: {', '.join(dupes)}")
    return [Node(name=n, host=n) for n in clean]


def load(inventory: str | None = None, nodes: str | None = None,
         nodes_file: str | None = None) -> list[Node]:
    """Exactly one of the three sources, as the CLI passes them."""
    given = [x for x in (inventory, nodes, nodes_file) if x]
    if len(given) != 1:
        raise ConfigError("give exactly one of --inventory, --nodes or --nodes-file")
    if inventory:
        return from_file(inventory)
    if nodes:
        return from_names(nodes.split(","))
    assert nodes_file is not None
    try:
        lines = Path(nodes_file).read_text().splitlines()
    except OSError as e:
        raise ConfigError(f"{nodes_file}: cannot read nodes file ({e.strerror})") from None
    return from_names([line.split("#", 1)[0] for line in lines])


@click.group("inventory")
def inventory_cmd() -> None:
    """Write inventories from other tools' descriptions of a cluster."""


@inventory_cmd.command("from-vagrant")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--output", "-o", default=None,
              help="Inventory to write [default: DIRECTORY/.vagrant/jepsy-inventory.yaml].")
@click.option("--subnet", default=None,
              help="The cluster network (CIDR), when a VM has more than one private address.")
@click.option("--user", default=None,
              help="Log in as this user instead of ssh-config's (e.g. root: no sudo per command).")
@click.option("--ssh-config", "ssh_config_file", default=None, type=click.Path(dir_okay=False),
              help="Read this saved 'vagrant ssh-config' output instead of running vagrant.")
def from_vagrant_cmd(directory: str, output: str | None, subnet: str | None, user: str | None,
                     ssh_config_file: str | None) -> None:
    """Inventory of the running machines of the Vagrant DIRECTORY; prints its path.

    SSH goes where 'vagrant ssh-config' says; each node's jepsy_ip is its
    private-network address (asked of the VM), and the VMs' host keys are
    written to a known_hosts file the inventory names.
    """
    from jepsy.vagrant import from_vagrant, vagrant_ssh_config

    if subnet is not None:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise ConfigError(f"--subnet {subnet!r} is not a network (want e.g. 192.168.56.0/24)") from None
    base = Path(directory)
    if ssh_config_file:
        try:
            text = Path(ssh_config_file).read_text()
        except OSError as e:
            raise ConfigError(f"{ssh_config_file}: cannot read ({e.strerror})") from None
    else:
        if not (base / "Vagrantfile").exists():
            raise ConfigError(f"{base}: no Vagrantfile here")
        text = vagrant_ssh_config(base)
    out = Path(output) if output else base / ".vagrant" / "jepsy-inventory.yaml"
    click.echo(str(from_vagrant(text, out, subnet, user=user)))
