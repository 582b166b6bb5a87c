"""Where one real clock step lands: the kernel's atomic step against ``date -s``, side by side.

On every node of an inventory of hosts with their own clocks (never lab nodes: this steps
real clocks), ``--rounds`` times: measure (``jepsy.clockprobe``), step by ``+--delta`` one
way, measure, step back by ``-delta`` the other way, measure.  The miss of a step is
(after - before) - requested, uncertain by the sum of the two measurements' uncertainties.
Each round leaves the clock where it found it, give or take the misses; jepsy's record
of its offsets (``clock.offset``) is removed at the end.

    .venv/bin/python benchmarks/clock_step.py --inventory vagrant/.vagrant/jepsy-inventory.yaml
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from jepsy import inventory
from jepsy.clockprobe import Probe
from jepsy.control import SSHRemote, on_nodes
from jepsy.nemeses.clock import real_step
from jepsy.nemeses.nodestate import STATE_DIR, local_boot_id


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delta", type=float, default=2.5)
    a = p.parse_args()
    nodes = inventory.from_file(Path(a.inventory))
    with SSHRemote(nodes, connect_timeout=20) as remote:
        def one(n: str) -> dict[str, list[tuple[float, float]]]:
            if remote.execute(n, "cat /proc/sys/kernel/random/boot_id").stdout.strip() == local_boot_id():
                raise SystemExit(f"{n} shares this machine's clock: refusing to step it")
            probe = Probe(remote, n)
            out: dict[str, list[tuple[float, float]]] = {"atomic": [], "date -s": []}
            m = probe.measure()
            for i in range(a.rounds):
                ways = [("atomic", True), ("date -s", False)]
                for way, atomic in ways if i % 2 == 0 else ways[::-1]:
                    d = a.delta if len(out[way]) % 2 == 0 else -a.delta
                    remote.execute(n, real_step(d, atomic), sudo=True)
                    after = probe.measure()
                    out[way].append((after.offset_s - m.offset_s - d, after.uncertainty_s + m.uncertainty_s))
                    m = after
            remote.execute(n, f"rm -f {STATE_DIR}/clock.offset", sudo=True)
            probe.close()
            return out

        got = on_nodes([n.name for n in nodes], one)
    for n, ways in got.items():
        for way, rows in ways.items():
            print(f"{n} {way:8} misses " + ", ".join(f"{x * 1000:+.1f} ± {u * 1000:.1f}" for x, u in rows)
                  + f" ms; median {statistics.median(x for x, _ in rows) * 1000:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
