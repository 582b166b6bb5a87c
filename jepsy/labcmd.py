"""``jepsy lab``: the commands of the local lab (``jepsy.lab`` builds it).

Imported only when ``jepsy lab ...`` runs (``cli.LAZY_COMMANDS``), so that the other
commands do not build these options at start-up.
"""

from __future__ import annotations

from typing import Any

import click

from jepsy.errors import ConfigError, ExitCode, JepsyError

__all__ = ["lab_cmd"]


@click.group("lab")
def lab_cmd() -> None:
    """The local lab: cluster nodes made of Linux namespaces on this machine (needs root)."""


def _lab(name: str, directory: str | None, subnet: str) -> Any:
    from pathlib import Path

    from jepsy.lab import Lab

    octets = subnet.split(".")
    if len(octets) != 3 or not all(o.isdigit() and int(o) <= 255 for o in octets):
        raise ConfigError(f"--subnet {subnet}: give the first three octets of the lab's /24, "
                          "e.g. --subnet 10.78.0")
    kwargs: dict[str, Any] = {"name": name, "subnet": subnet, "host_names": name == "jepsy"}
    if directory:
        kwargs["dir"] = Path(directory)
    elif name != "jepsy":
        kwargs["dir"] = Path(f"/srv/jepsy-lab-{name}")
    return Lab(**kwargs)


_lab_options = [
    click.option("--name", default="jepsy", show_default=True, help="Lab name (several labs may coexist)."),
    click.option("--dir", "directory", default=None,
                 help="Lab directory [default: /srv/jepsy-lab; /srv/jepsy-lab-NAME for --name NAME]."),
    click.option("--subnet", default="10.77.0", show_default=True, help="First three octets of the lab /24."),
]


def _with_lab_options(f: Any) -> Any:
    for opt in reversed(_lab_options):
        f = opt(f)
    return f


@lab_cmd.command("up")
@click.option("--nodes", "count", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--packages", default="", help="Debian packages to install on this machine for the "
              "nodes, comma-separated (nodes cannot reach package registries), e.g. etcd-server.")
@_with_lab_options
def lab_up(count: int, packages: str, name: str, directory: str | None, subnet: str) -> None:
    """Start (or keep) a lab of n1..nN and print its inventory path."""
    import time

    the_lab = _lab(name, directory, subnet)
    t = time.monotonic()
    inv = the_lab.up(count, [p.strip() for p in packages.split(",") if p.strip()])
    click.echo(f"lab {name!r} up with {count} nodes in {time.monotonic() - t:.1f} s", err=True)
    click.echo(str(inv))


@lab_cmd.command("status")
@_with_lab_options
def lab_status(name: str, directory: str | None, subnet: str) -> None:
    """Show the lab's nodes and whether their sshd answers."""
    the_lab = _lab(name, directory, subnet)
    nodes = the_lab.status()
    if not nodes:
        click.echo(f"lab {name!r} is down")
        return
    for n in nodes:
        click.echo(f"{n.name}\t{n.ip}\tpid {n.init_pid}\t{'up' if n.ssh else 'DOWN'}")
    click.echo(f"inventory: {the_lab.inventory_path}")
    if not all(n.ssh for n in nodes):
        raise SystemExit(int(ExitCode.UNKNOWN))


@lab_cmd.command("down")
@_with_lab_options
def lab_down(name: str, directory: str | None, subnet: str) -> None:
    """Remove every namespace, link, mount and process of the lab."""
    import time

    the_lab = _lab(name, directory, subnet)
    t = time.monotonic()
    the_lab.down()
    left = the_lab.leftovers()
    if left:
        raise JepsyError(f"lab {name!r} left behind: {', '.join(left)}")
    click.echo(f"lab {name!r} down in {time.monotonic() - t:.1f} s", err=True)


@lab_cmd.command("sshd")
@click.argument("action", type=click.Choice(["stop", "start"]))
@click.option("--node", required=True, help="The node whose sshd to stop or start (n1, n2 ...).")
@_with_lab_options
def lab_sshd(action: str, node: str, name: str, directory: str | None, subnet: str) -> None:
    """Stop a node's sshd (listener and sessions; the node stays up) or start it again."""
    the_lab = _lab(name, directory, subnet)
    if action == "stop":
        killed = the_lab.stop_sshd(node)
        click.echo(f"{node}: sshd stopped ({len(killed)} processes killed)", err=True)
    else:
        the_lab.start_sshd(node)
        click.echo(f"{node}: sshd answers", err=True)
