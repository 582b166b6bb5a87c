"""``jepsy heal``: end every fault jepsy may have left on the nodes (after jepsy itself died).

A run heals on every exit path it can see (normal end, exception, Ctrl-C,
SIGTERM).  A jepsy killed with SIGKILL cannot; what it left is then recorded
on the nodes themselves (see ``jepsy.nemeses.nodestate``): jepsy's iptables
chains, its qdisc handle, the faketime control file or the recorded clock
offset and stopped NTP services, the PIDs it paused.  This command runs the
one heal script on every node in parallel, from that state alone, so it needs
nothing of the run that died: only the inventory.

It removes jepsy's own chains, qdiscs and records and nothing else; a node
that cannot be reached is reported and makes the command fail (exit 254), so
that a CI job does not believe a cluster clean that was never looked at.
A database that jepsy killed is started again from the start script its DB
module recorded on the node (``Pidfile.start_record``), so that the cluster is
left as it was before the fault; one without such a record is reported, not
restarted, and the next run starts it.  A power-loss filesystem is written back
and unmounted, after stopping what ran on it, and the database a power loss (or
that unmount) stopped is started again the same way (see
``jepsy.nemeses.nodestate``); one that does not come back is named, and the
command exits 2.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from jepsy.control import Remote, on_nodes
from jepsy.errors import ExitCode, RemoteError
from jepsy.nemeses import nodestate as ns

__all__ = ["heal_cmd", "heal_nodes", "leftovers", "verify_script"]


def verify_script() -> str:
    """Prints one ``left <what>`` line per jepsy fault still in force on the node."""
    return "; ".join([
        f"iptables -w -n -L {ns.PARTITION_CHAIN} >/dev/null 2>&1 && echo 'left iptables chain "
        f"{ns.PARTITION_CHAIN}'",
        f"iptables -w -n -L {ns.LOSS_CHAIN} >/dev/null 2>&1 && echo 'left iptables chain "
        f"{ns.LOSS_CHAIN}'",
        "for dev in $(ls /sys/class/net); do tc qdisc show dev \"$dev\" root 2>/dev/null | "
        f"grep -q ' {ns.QDISC_HANDLE} ' && echo \"left qdisc on $dev\"; done",
        f"[ -f {ns.FAKETIME_CONTROL} ] && awk '{{exit ($1 + 0 == 0)}}' {ns.FAKETIME_CONTROL} "
        f"&& echo \"left faketime offset $(cat {ns.FAKETIME_CONTROL})\"",
        f"[ -s {ns.STATE_DIR}/paused ] && echo 'left paused pids'",
        f"[ -f {ns.STATE_DIR}/clock.strobe.pid ] && echo 'left clock strobe'",
        f"[ -f {ns.STATE_DIR}/clock.offset ] && echo 'left clock offset'",
        f"[ -f {ns.STATE_DIR}/killed ] && echo \"left database killed by jepsy not running "
        f"($(cat {ns.STATE_DIR}/killed))\"",
        f"grep -q ' {ns.POWER_FS_TYPE} ' /proc/mounts && echo 'left power-loss filesystem mounted'",
        f"[ -f {ns.STATE_DIR}/power.down ] && echo \"left database stopped by the power fault not "
        f"running ($(cat {ns.STATE_DIR}/power.down))\"",
        "ps -eo pid=,args= | awk '/[p]owerfs.py mount/ {print \"left power-loss filesystem process \" $1}'",
        "true",
    ])



def heal_nodes(remote: Remote, nodes: list[str]) -> dict[str, Any]:
    """Run the heal script on every node in parallel: ``{node: [healed lines] | exception}``."""
    script = ns.heal_script()

    def heal(node: str) -> list[str]:
        out = remote.execute(node, script, sudo=True, timeout=60).stdout
        healed: list[str] = ns.parse_healed(out)
        return healed

    return on_nodes(nodes, heal, raise_errors=False)


def leftovers(remote: Remote, nodes: list[str]) -> dict[str, Any]:
    """What of jepsy's faults is still in force: ``{node: [left lines] | exception}``."""
    script = verify_script()

    def check(node: str) -> list[str]:
        out = remote.execute(node, script, sudo=True, timeout=30).stdout
        return [line.strip() for line in out.splitlines() if line.startswith("left ")]

    return on_nodes(nodes, check, raise_errors=False)


@click.command("heal")
@click.option("--inventory", "-i", default=None, help="Ansible-style YAML inventory.")
@click.option("--nodes", default=None, help="Comma-separated node names (SSH host names).")
@click.option("--nodes-file", default=None, help="File with one node name per line.")
@click.option("--json", "as_json", is_flag=True, help="Print what was healed as JSON.")
def heal_cmd(inventory: str | None, nodes: str | None, nodes_file: str | None, as_json: bool) -> None:
    """End every fault jepsy may have left on the nodes (partitions, qdiscs, clocks, pauses)."""
    from jepsy import inventory as inv
    from jepsy.control import SSHRemote

    node_list = inv.load(inventory, nodes, nodes_file)
    names = [n.name for n in node_list]
    t0 = time.monotonic()
    with SSHRemote(node_list) as remote:
        healed = heal_nodes(remote, names)
        reachable = [n for n in names if not isinstance(healed[n], Exception)]
        left = leftovers(remote, reachable)
    elapsed = time.monotonic() - t0
    failed = {n: str(r) for n, r in {**healed, **left}.items() if isinstance(r, Exception)}
    remaining = {n: v for n, v in left.items() if isinstance(v, list) and v}
    if as_json:
        click.echo(json.dumps({
            "healed": {n: v for n, v in healed.items() if isinstance(v, list)},
            "left": remaining, "failed": failed, "seconds": round(elapsed, 3)}, indent=2))
    else:
        for n in names:
            got = healed.get(n)
            if isinstance(got, Exception):
                click.echo(f"{n}: UNREACHABLE: {got}")
                continue
            lines = got or []
            click.echo(f"{n}: " + ("; ".join(x.removeprefix("healed ") for x in lines)
                                   if lines else "nothing to heal"))
            for x in remaining.get(n, []):
                click.echo(f"{n}: STILL {x.removeprefix('left ')}")
        click.echo(f"jepsy heal: {len(reachable)} of {len(names)} nodes in {elapsed:.2f} s", err=True)
    if failed or remaining:
        if failed:
            raise RemoteError(f"could not heal {', '.join(sorted(failed))}: "
                              + "; ".join(f"{n}: {e}" for n, e in failed.items()))
        raise SystemExit(int(ExitCode.UNKNOWN))
