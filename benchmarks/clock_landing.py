"""Where real clock steps land, and where the heal leaves the clocks (real VMs, not the lab).

Against an inventory of hosts with their own clocks (the Vagrant lab: ``vagrant/lab.sh up``):

1. ``jepsy doctor``'s measurement of every node's clock offset from this machine
   (the *reference*), twice, ``--drift-s`` apart: how far the VMs' clocks wander
   from this machine's on their own (no NTP in them, by design);
2. one ``jepsy test`` with only the clock nemesis (bump and scramble; ``--db memory``
   by default, so that the VMs spend their slow CPU on the clock and not on a database);
3. from its history, per node and per step: the requested offset, the measured one,
   and the miss (measured - requested); and at every ``stop-clock`` (a heal) each
   node's offset minus the reference the nemesis took at setup;
4. ``doctor``'s measurement again, after the run's heal: each node's offset minus its
   first reference (the residue the heal left).

Every measurement is ``jepsy.clockprobe``'s: the best of many samples, ± half its
round trip; a difference of two is uncertain by the sum of theirs.  Prints one line per
step and a summary; exits 1 when a step missed by more than ``--tolerance`` (default
0.1 s) or a residue is not shown within it (``|residue| + uncertainty``).

    .venv/bin/python benchmarks/clock_landing.py --inventory vagrant/.vagrant/jepsy-inventory.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.doctor import diagnose

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def offsets(inv: str) -> dict[str, tuple[float, float, str]]:
    """Each node's (offset, uncertainty, method) as ``jepsy doctor`` measures it (seconds)."""
    nodes = inventory.from_file(Path(inv))
    with SSHRemote(nodes, connect_timeout=20) as remote:
        reports = diagnose(remote, nodes, None)
    return {r.node: (float(r.clock_offset_s), float(r.clock_uncertainty_s or 0.0), str(r.clock_method))
            for r in reports if r.clock_offset_s is not None}


def ms(v: float, u: float) -> str:
    return f"{v * 1000:+.1f} ± {u * 1000:.1f} ms"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--db", default="memory")
    p.add_argument("--time-limit", type=int, default=60)
    p.add_argument("--interval", type=float, default=6.0, help="nemesis interval (s)")
    p.add_argument("--modes", default="bump,scramble")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--tolerance", type=float, default=0.1)
    p.add_argument("--drift-s", type=float, default=30.0, help="seconds between the two references")
    a = p.parse_args()

    t_first = time.time()
    first = offsets(a.inventory)
    print("reference (doctor, before): "
          + ", ".join(f"{n} {ms(v, u)} ({how})" for n, (v, u, how) in first.items()), flush=True)
    time.sleep(a.drift_s)
    t_before = time.time()
    before = offsets(a.inventory)
    rate = {n: (before[n][0] - first[n][0]) / (t_before - t_first) for n in first if n in before}
    print(f"drift, untouched, over {t_before - t_first:.0f} s: " + ", ".join(
        f"{n} {ms(before[n][0] - first[n][0], before[n][1] + first[n][1])} "
        f"({rate[n] * 60000:+.1f} ms/min)" for n in rate), flush=True)
    store = Path(tempfile.mkdtemp(prefix="jepsy-clock-landing-"))
    cmd = [*JEPSY, "test", "--inventory", a.inventory, "--db", a.db, "--nemesis", "clock",
           "--nemesis-opt", f"clock_modes={a.modes}", "--nemesis-opt", "clock_mode=real",
           "--nemesis-interval", str(a.interval), "--time-limit", str(a.time_limit),
           "--seed", str(a.seed), "--store", str(store)]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    print(f"jepsy test exit {run.returncode}; store {store}", flush=True)
    t_after = time.time()
    after = offsets(a.inventory)

    misses: list[float] = []
    heals: list[tuple[float, float]] = []
    history = (store / "latest" / "history.jsonl").read_text().splitlines()
    for line in history:
        op = json.loads(line)
        if op.get("process") != "nemesis" or op.get("type") != "info":
            continue
        if not isinstance(op.get("value"), dict):
            continue
        f = op.get("f")
        for n, v in op["value"].items():
            if not isinstance(v, dict) or "offset" not in v:
                continue
            u = float(v.get("uncertainty", 0.0))
            if f == "start-clock" and "requested" in v:
                miss = float(v["offset"]) - float(v["requested"])
                misses.append(miss)
                took = "took effect" if n in op.get("took-effect", []) else "missed"
                print(f"  {n}: requested {v['requested']:+9.3f} s  measured {v['offset']:+9.4f} s "
                      f"± {u * 1000:.1f} ms  miss {miss * 1000:+7.1f} ms  ({took})")
            elif f == "stop-clock" and "reference" in v:
                residue = float(v["offset"]) - float(v["reference"])
                heals.append((residue, u))
                print(f"  {n}: heal: {ms(residue, u)} from the nemesis's reference "
                      f"({float(v['reference']) * 1000:+.1f} ms)")
    residues = {n: (after[n][0] - before[n][0], after[n][1] + before[n][1]) for n in before if n in after}
    print("after the heal (doctor): " + ", ".join(
        f"{n} {ms(*after[n][:2])} (minus before the test: {ms(*residues[n])}; untouched drift "
        f"would be {rate[n] * (t_after - t_before) * 1000:+.1f} ms)" for n in residues))
    worst_miss = max((abs(m) for m in misses), default=0.0)
    worst_heal = max((abs(r) + u for r, u in heals), default=0.0)
    worst_residue = max((abs(r) + u for r, u in residues.values()), default=0.0)
    print(f"summary: {len(misses)} steps, worst miss {worst_miss * 1000:.1f} ms; {len(heals)} heal "
          f"measurements, worst |residue| + uncertainty {worst_heal * 1000:.1f} ms; doctor after minus "
          f"before, worst |residue| + uncertainty {worst_residue * 1000:.1f} ms "
          f"(tolerance {a.tolerance * 1000:.0f} ms); run exit {run.returncode}")
    if run.returncode not in (0, 2):
        print(run.stderr[-2000:])
    ok = misses and worst_miss <= a.tolerance and worst_heal <= a.tolerance and worst_residue <= a.tolerance
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
