"""``jepsy doctor``: can a test run on these nodes?  Checked on every node in parallel.

Each check returns problems as one actionable line each.  A *blocker* (no SSH,
no sudo, no iptables or tc, too little disk, the database not installed) means
a test cannot run: exit 254.  A database module may add its own blockers with
``preflight(test, node) -> [problem, ...]`` (``jepsy.protocols.Preflights``; e.g. its
package is missing).
A *warning* (NTP running, clocks apart, no libfaketime in the lab) means some
faults will not behave as asked: exit 0, but said.  So is a slow checker on this
machine (the compiled linearizability search not built).  Nothing here changes a node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import click

from jepsy.clockprobe import Probe
from jepsy.control import Remote, SSHRemote, on_nodes
from jepsy.errors import ConfigError, ExitCode, JepsyError
from jepsy.inventory import Node
from jepsy.protocols import Preflights, Test

__all__ = ["NodeReport", "diagnose", "doctor_cmd", "local_warnings"]

MIN_FREE_KB = 1024 * 1024  # 1 GiB under /var/lib
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
MAX_SKEW_S = 1.0


@dataclass
class NodeReport:
    node: str
    checks: dict[str, bool] = field(default_factory=dict)
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    clock_offset_s: float | None = None
    rtt_s: float | None = None
    clock_uncertainty_s: float | None = None  # ± this: half the round trip of the kept sample
    clock_method: str | None = None  # "responder" or "date" (jepsy.clockprobe)


def _check_node(remote: Remote, node: Node, db: Any) -> NodeReport:
    rep = NodeReport(node.name)
    n = node.name
    try:
        remote.execute(n, "true", timeout=20)
    except JepsyError as e:
        rep.checks["ssh"] = False
        rep.blockers.append(str(e))
        return rep
    rep.checks["ssh"] = True
    # That first command's round trip includes opening the connection (seconds on a slow
    # VM), so it says little about when the node read its clock: the clock is measured
    # on the open connection, by the probe the clock nemesis uses (jepsy.clockprobe).
    clock = Probe(remote, n)
    try:
        m = clock.measure(fallback_samples=3)
    except (JepsyError, ValueError) as e:
        rep.warnings.append(f"{n}: cannot measure its clock ({e})")
    else:
        rep.clock_offset_s, rep.clock_uncertainty_s = m.offset_s, m.uncertainty_s
        rep.rtt_s, rep.clock_method = m.rtt_s, m.method
    finally:
        clock.close()

    def probe(name: str, command: str, fix: str, blocker: bool = True, sudo: bool = True) -> bool:
        ok = remote.execute(n, command, sudo=sudo, check=False, timeout=20).ok
        rep.checks[name] = ok
        if not ok:
            (rep.blockers if blocker else rep.warnings).append(f"{n}: {fix}")
        return ok

    if not probe("sudo", "true", "cannot run commands as root (sudo -n fails): give the user "
                 "passwordless sudo, or set ansible_become_password_env / --ask-become-pass"):
        return rep
    probe("iptables", "iptables -w -L INPUT -n >/dev/null",
          "iptables does not work: apt-get install iptables (partitions need it)")
    probe("tc", "tc qdisc show >/dev/null", "tc does not work: apt-get install iproute2 "
          "(packet faults need it)")
    df = remote.execute(n, "df -Pk /var/lib | tail -n 1", check=False).stdout.split()
    free_ok = len(df) >= 4 and df[3].isdigit() and int(df[3]) >= MIN_FREE_KB
    rep.checks["disk"] = free_ok
    if not free_ok:
        rep.blockers.append(f"{n}: less than 1 GiB free under /var/lib ({' '.join(df) or 'df failed'})")
    if node.is_lab:
        probe("faketime", f"test -e {LIBFAKETIME}", "libfaketime is missing: apt-get install faketime "
              "on the lab's machine (clock faults in the lab need it)", blocker=False, sudo=False)
    else:
        ntp = remote.execute(n, "for s in chrony chronyd ntp ntpd systemd-timesyncd; do "
                                "systemctl is-active --quiet $s 2>/dev/null && echo $s; done; true",
                             check=False).stdout.split()
        rep.checks["ntp-off"] = not ntp
        if ntp:
            rep.warnings.append(f"{n}: {', '.join(ntp)} is running; clock faults stop it for the "
                                "test and restart it after")
    if isinstance(db, Preflights):
        # The test sees the inventory's variables (an existing deployment's) in node_specs.
        test = Test(name="doctor", nodes=[n], node_specs={n: node}, remote=remote, opts={})
        problems = db.preflight(test, n)
        rep.blockers += [f"{n}: {p}" for p in problems]
        rep.checks["db"] = not problems
    return rep


def diagnose(remote: Remote, nodes: list[Node], db: Any = None) -> list[NodeReport]:
    reports = on_nodes([n.name for n in nodes],
                       lambda name: _check_node(remote, next(x for x in nodes if x.name == name), db),
                       raise_errors=False)
    out: list[NodeReport] = []
    for n in nodes:
        r = reports[n.name]
        if isinstance(r, NodeReport):
            out.append(r)
        else:
            out.append(NodeReport(n.name, {"ssh": False}, [f"{n.name}: {r}"]))
    offsets = {r.node: r.clock_offset_s for r in out if r.clock_offset_s is not None}
    if len(offsets) > 1:
        spread = max(offsets.values()) - min(offsets.values())
        if spread > MAX_SKEW_S:
            out[0].warnings.append(f"clocks differ by {spread:.2f} s between nodes: synchronise them "
                                   "before a test (clock faults are measured against this)")
    return out


@click.command("doctor")
@click.option("--inventory", "-i", default=None, help="Ansible-style YAML inventory.")
@click.option("--nodes", default=None, help="Comma-separated node names.")
@click.option("--nodes-file", default=None, help="File with one node name per line.")
@click.option("--db", default=None, help="Also check that this database can be set up.")
@click.option("--db-opt", multiple=True, help="name=value option for the database module.")
@click.option("--bin", "program", default=None, type=click.Path(exists=True),
              help="With --db process or maelstrom: your program (a file or a directory).")
@click.option("--cmd", "command", default=None, help="With --db process or maelstrom: how to run it.")
@click.option("--trust-on-first-use", is_flag=True, help="Accept and remember unknown host keys.")
def doctor_cmd(inventory: str | None, nodes: str | None, nodes_file: str | None, db: str | None,
               db_opt: tuple[str, ...], program: str | None, command: str | None,
               trust_on_first_use: bool) -> None:
    """Preflight every node: SSH, sudo, iptables, tc, clocks and NTP, disk, the database."""
    from rich.console import Console
    from rich.table import Table

    from jepsy import inventory as inv
    from jepsy import registry

    node_list = inv.load(inventory, nodes, nodes_file)
    from jepsy.cli import _kv

    db_opts = _kv(db_opt, "--db-opt")
    db_opts.update({k: v for k, v in (("bin", program), ("cmd", command)) if v})
    if db_opts and not db:
        raise ConfigError("--db-opt, --bin and --cmd go with --db")
    the_db = None
    if db:
        from jepsy import options

        factory = registry.load("dbs", db)
        the_db = factory(options.resolve(f"database {db!r}", [options.declared(factory)], db_opts,
                                         flag="--db-opt"))
    with SSHRemote(node_list, connect_timeout=10, trust_on_first_use=trust_on_first_use) as remote:
        reports = diagnose(remote, node_list, the_db)
    console = Console()
    names = sorted({c for r in reports for c in r.checks}, key=lambda c: _ORDER.get(c, 99))
    table = Table(title="jepsy doctor")
    table.add_column("node")
    for c in names:
        table.add_column(c)
    table.add_column("clock offset")
    for r in reports:
        cells = [("[green]ok[/]" if r.checks[c] else "[red]NO[/]") if c in r.checks else "-"
                 for c in names]
        off = "-"
        if r.clock_offset_s is not None:
            off = f"{r.clock_offset_s * 1000:+.1f} ± {(r.clock_uncertainty_s or 0) * 1000:.1f} ms"
        table.add_row(r.node, *cells, off)
    console.print(table)
    blockers = [b for r in reports for b in r.blockers]
    for line in blockers:
        console.print(f"[red]✗[/] {line}")
    for line in [w for r in reports for w in r.warnings] + local_warnings():
        console.print(f"[yellow]![/] {line}")
    if blockers:
        console.print(f"{len(blockers)} problem(s): a test cannot run yet")
        raise SystemExit(int(ExitCode.CONFIG))
    console.print("ready: a test can run on these nodes")


def local_warnings() -> list[str]:
    """Warnings about this machine (the one that runs jepsy), not the nodes."""
    from jepsy.checkers.linear import native as linear_native

    if linear_native.AVAILABLE:
        return []
    return ["this machine: the linearizability checker's compiled search is not built, so checks "
            "run in pure Python (2-4x slower); install gcc and python3-dev, then reinstall jepsy"]


_ORDER: Mapping[str, int] = {c: i for i, c in enumerate(
    ("ssh", "sudo", "iptables", "tc", "disk", "faketime", "ntp-off", "db"))}
