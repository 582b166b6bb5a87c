"""Where real clock steps land, and where the heal leaves the clocks (real VMs, not the lab).

Against an inventory of hosts with their own clocks (the Vagrant lab: ``vagrant/lab.sh up``):

1. ``jepsy doctor``'s measurement of every node's clock offset from this machine
   (the *reference*: ``date +%s.%N`` on the node minus the midpoint of the round trip);
2. one ``jepsy test`` with only the clock nemesis (bump and scramble; ``--db memory``
   by default, so that the VMs spend their slow CPU on the clock and not on a database);
3. from its history, per node and per step: the requested offset, the measured one,
   and the miss (measured - requested);
4. ``doctor``'s measurement again, after the run's heal: each node's offset minus its
   reference (the residue the heal left).

Prints one line per step and a summary; exits 1 when a step missed by more than
``--tolerance`` (default 0.1 s) or a residue exceeds it.

    .venv/bin/python benchmarks/clock_landing.py --inventory vagrant/.vagrant/jepsy-inventory.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.doctor import diagnose

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def offsets(inv: str) -> dict[str, float]:
    """Each node's clock offset from this machine, as ``jepsy doctor`` measures it (seconds)."""
    nodes = inventory.from_file(Path(inv))
    with SSHRemote(nodes, connect_timeout=20) as remote:
        reports = diagnose(remote, nodes, None)
    return {r.node: float(r.clock_offset_s) for r in reports if r.clock_offset_s is not None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--db", default="memory")
    p.add_argument("--time-limit", type=int, default=60)
    p.add_argument("--interval", type=float, default=6.0, help="nemesis interval (s)")
    p.add_argument("--modes", default="bump,scramble")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--tolerance", type=float, default=0.1)
    a = p.parse_args()

    before = offsets(a.inventory)
    print("reference (doctor, before): "
          + ", ".join(f"{n} {v * 1000:+.0f} ms" for n, v in before.items()), flush=True)
    store = Path(tempfile.mkdtemp(prefix="jepsy-clock-landing-"))
    cmd = [*JEPSY, "test", "--inventory", a.inventory, "--db", a.db, "--nemesis", "clock",
           "--nemesis-opt", f"clock_modes={a.modes}", "--nemesis-opt", "clock_mode=real",
           "--nemesis-interval", str(a.interval), "--time-limit", str(a.time_limit),
           "--seed", str(a.seed), "--store", str(store)]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    print(f"jepsy test exit {run.returncode}; store {store}", flush=True)
    after = offsets(a.inventory)

    misses: list[float] = []
    history = (store / "latest" / "history.jsonl").read_text().splitlines()
    for line in history:
        op = json.loads(line)
        if op.get("process") != "nemesis" or op.get("type") != "info" or op.get("f") != "start-clock":
            continue
        if not isinstance(op.get("value"), dict):
            continue
        for n, v in op["value"].items():
            if isinstance(v, dict) and "requested" in v:
                miss = float(v["offset"]) - float(v["requested"])
                misses.append(miss)
                took = "took effect" if n in op.get("took-effect", []) else "missed"
                print(f"  {n}: requested {v['requested']:+9.3f} s  measured {v['offset']:+9.3f} s  "
                      f"miss {miss * 1000:+6.0f} ms  ({took})")
    residues = {n: after[n] - before[n] for n in before if n in after}
    print("after the heal (doctor): " + ", ".join(
        f"{n} {after[n] * 1000:+.0f} ms (residue {residues[n] * 1000:+.0f} ms)" for n in residues))
    worst_miss = max((abs(m) for m in misses), default=0.0)
    worst_residue = max((abs(r) for r in residues.values()), default=0.0)
    print(f"summary: {len(misses)} steps, worst miss {worst_miss * 1000:.0f} ms, "
          f"worst residue after heal {worst_residue * 1000:.0f} ms "
          f"(tolerance {a.tolerance * 1000:.0f} ms); run exit {run.returncode}")
    if run.returncode not in (0, 2):
        print(run.stderr[-2000:])
    return 0 if misses and worst_miss <= a.tolerance and worst_residue <= a.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
