"""Benchmark: ``--nemesis-strategy random`` against ``guided`` on the README's findings recipes.

For each strategy, one *campaign*: ``--runs`` runs of the recipe (seeds 1..runs,
the same for both strategies) with the same per-run time budget, each run an
ordinary ``jepsy test`` in a fresh store (so the guided policy starts with no
memory and learns over its campaign, as a fuzzer does).  Printed side by
side:

* detected: runs that exited 1 with the recipe's checker invalid;
* first violation in run: median seconds from the start of the main phase to
  the invoke of the operation the checker could not explain (linearizability
  explanations name it), over detecting runs;
* campaign time to first detection: wall-clock seconds from the campaign's
  start to the end of its first detecting run (setup and checking included).

    .venv/bin/python benchmarks/bench_guided.py --inventory INV --recipe 0 \\
        [--runs 10] [--time-limit 10] [--store /tmp/bench-guided]

A shorter budget than the recipe's own (``--time-limit``) is the point: at the
README's 20-30 s both strategies find these bugs in every run.  Recipe ``1u`` is
recipe 1 before its tuning (``--nemesis partition,kill,pause``, every partition
shape): the recipes as published were tuned to faults that always trigger their
bug, which leaves a policy nothing to choose.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECIPES: dict[str, list[str]] = {
    "0": ["--db", "process", "--db-opt", f"bin={ROOT / 'examples' / 'kvserver.py'}", "--db-opt",
          "cmd={bin} --id {node} --port {port} --cluster {cluster} --data {data} --mode naive",
          "--workload", "register", "--nemesis", "partition,kill", "--nemesis-interval", "4"],
    "1": ["--db", "etcd", "--db-opt", "serializable=true", "--workload", "register",
          "--nemesis", "partition", "--nemesis-opt", "partition_shapes=one,minority-third"],
    # Recipe 1 before its tuning: every family that etcd allows and every partition shape,
    # of which only some cut a minority off; here the choice of fault can matter.
    "1u": ["--db", "etcd", "--db-opt", "serializable=true", "--workload", "register",
           "--nemesis", "partition,kill,pause"],
}
CHECKER = {"0": "linearizable", "1": "linearizable", "1u": "linearizable"}


def first_violation_s(run: Path, checker: str) -> float | None:
    """Seconds from the first client op to the invoke of the op the checker could not explain."""
    results = json.loads((run / "results.json").read_text())
    expl = (results.get("checker", {}).get(checker) or {}).get("explanation") or {}
    at = (expl.get("op") or {}).get("invoke_time")
    if at is None:
        return None
    with open(run / "history.jsonl") as f:
        for line in f:
            op = json.loads(line)
            if isinstance(op.get("process"), int):
                return (int(at) - int(op["time"])) / 1e9
    return None


def campaign(strategy: str, recipe: str, args: argparse.Namespace) -> dict[str, Any]:
    store = Path(args.store) / f"recipe{recipe}-{strategy}"
    t0 = time.monotonic()
    detected, first_campaign, in_run = 0, None, []
    codes = []
    for seed in range(1, args.runs + 1):
        cmd = [sys.executable, "-c", "from jepsy.cli import main; main()", "test",
               "--inventory", args.inventory, "--store", str(store), *RECIPES[recipe],
               "--time-limit", str(args.time_limit), "--seed", str(seed),
               "--nemesis-strategy", strategy]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "NO_COLOR": "1"})
        codes.append(proc.returncode)
        run = (store / "latest").resolve()
        results = json.loads((run / "results.json").read_text()) if (run / "results.json").exists() else {}
        hit = proc.returncode == 1 and (results.get("checker", {}).get(CHECKER[recipe]) or {}).get(
            "valid") is False
        faults = len(json.loads((run / "schedule.json").read_text())["faults"]) \
            if (run / "schedule.json").exists() else None
        if hit:
            detected += 1
            if first_campaign is None:
                first_campaign = time.monotonic() - t0
            v = first_violation_s(run, CHECKER[recipe])
            if v is not None:
                in_run.append(v)
        print(f"  recipe {recipe} {strategy:7} seed {seed:2}: exit {proc.returncode}, "
              f"{faults} faults{', DETECTED' if hit else ''}", flush=True)
    return {"strategy": strategy, "detected": detected, "runs": args.runs, "codes": codes,
            "median_first_violation_s": statistics.median(in_run) if in_run else None,
            "campaign_first_detection_s": first_campaign,
            "campaign_s": time.monotonic() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--recipe", choices=sorted(RECIPES), default="0")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--time-limit", type=float, default=10.0)
    p.add_argument("--store", default="/tmp/bench-guided")
    p.add_argument("--json", default=None, help="Also write the figures here.")
    args = p.parse_args()
    rows = [campaign(s, args.recipe, args) for s in ("random", "guided")]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    print(f"\nrecipe {args.recipe}, {args.runs} runs per strategy, {args.time_limit:g} s main phase each")
    print(f"{'strategy':9} {'detected':>9} {'first violation in run (median s)':>34} "
          f"{'campaign time to first detection (s)':>37} {'campaign (s)':>13}")
    for r in rows:
        print(f"{r['strategy']:9} {r['detected']:>4}/{r['runs']:<4} {fmt(r['median_first_violation_s']):>34} "
              f"{fmt(r['campaign_first_detection_s']):>37} {fmt(r['campaign_s']):>13}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
