"""The clock probe's two ways side by side: the responder and one ``date`` process per sample.

For every node of an inventory, ``--rounds`` measurements each way, alternating (so that
load hits both alike): the offset, its uncertainty (± half the kept round trip) and the
wall time one measurement took.  Same connection, same node, one run.

    .venv/bin/python benchmarks/clock_probe.py --inventory vagrant/.vagrant/jepsy-inventory.yaml
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from jepsy import inventory
from jepsy.clockprobe import RESPONDER_SAMPLES, Measurement, Probe
from jepsy.control import SSHRemote, on_nodes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--samples", type=int, default=RESPONDER_SAMPLES, help="responder samples")
    p.add_argument("--date-samples", type=int, default=3, help="date processes (doctor's fallback)")
    a = p.parse_args()
    nodes = inventory.from_file(Path(a.inventory))
    with SSHRemote(nodes, connect_timeout=20) as remote:
        def node_rounds(n: str) -> dict[str, list[tuple[Measurement, float]]]:
            ways = {"responder": Probe(remote, n), "date": Probe(remote, n, responder=False)}
            remote.execute(n, "true")  # the connection is open before anything is timed
            out: dict[str, list[tuple[Measurement, float]]] = {w: [] for w in ways}
            for _ in range(a.rounds):
                for w, probe in ways.items():
                    t = time.perf_counter()
                    m = probe.measure(a.samples, fallback_samples=a.date_samples)
                    out[w].append((m, time.perf_counter() - t))
            for probe in ways.values():
                probe.close()
            return out

        got = on_nodes([n.name for n in nodes], node_rounds)
    print(f"{'node':6} {'way':9} {'samples':>7} {'offsets (ms)':>34} {'spread':>8} "
          f"{'± median':>9} {'± best':>7} {'wall/measurement':>17}")
    for n, ways in got.items():
        for rows in ways.values():
            offs = [m.offset_s * 1000 for m, _ in rows]
            uncs = [m.uncertainty_s * 1000 for m, _ in rows]
            methods = {m.method for m, _ in rows}
            print(f"{n:6} {'/'.join(sorted(methods)):9} {rows[0][0].samples:7d} "
                  f"{' '.join(f'{o:+.1f}' for o in offs):>34} {max(offs) - min(offs):7.1f} "
                  f"{statistics.median(uncs):8.1f} {min(uncs):7.1f} "
                  f"{statistics.median(t for _, t in rows) * 1000:13.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
