"""Benchmark: the report of a 100k-operation run (target: at most 5 s, under 10 MB).

Synthesizes a run directory (history.jsonl, results.json, test.json) with
``--ops`` client operations (each an invoke and a completion, so twice as many
history events) from ``--concurrency`` workers over ``--seconds``, with a
partition and a clock fault every few seconds, some failed and crashed ops,
and a linearizability result with an explanation; then times
``jepsy.report.write_all`` (reading the history included) and prints the size
of report.html.

    .venv/bin/python benchmarks/bench_report.py [--ops 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def synthesize(run: Path, n_ops: int, concurrency: int, seconds: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    span = int(seconds * 1e9)
    lines: list[dict[str, Any]] = []
    # Each worker runs ops back to back; a crashed op moves it to a new process number.
    per_worker = n_ops // concurrency
    events: list[tuple[int, dict[str, Any]]] = []
    for w in range(concurrency):
        process, t = w, rng.randrange(1_000_000)
        step = span // max(1, per_worker)
        for _ in range(per_worker):
            key = rng.randrange(n_ops // 100 + 1)
            f = rng.choice(("read", "write", "cas"))
            value: Any = [key, None] if f == "read" else [key, rng.randrange(5)] if f == "write" \
                else [key, [rng.randrange(5), rng.randrange(5)]]
            latency = int(rng.lognormvariate(14, 1.0))  # ~1 ms median, long tail
            done = t + min(latency, step * 3)
            outcome = rng.choices(("ok", "fail", "info"), (90, 8, 2))[0]
            out = [key, rng.randrange(5)] if f == "read" and outcome == "ok" else value
            events.append((t, {"type": "invoke", "process": process, "f": f, "value": value}))
            comp = {"type": outcome, "process": process, "f": f, "value": out}
            if outcome != "ok":
                comp["error"] = "timeout" if outcome == "info" else "compare failed"
            events.append((done, comp))
            if outcome == "info":
                process += concurrency
            t = done + rng.randrange(max(1, step // 2), step + 1)
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    t = 2_000_000_000
    while t < span:
        grudge = {n: ([m for m in nodes[3:]] if n in nodes[:3] else [m for m in nodes[:3]]) for n in nodes}
        events.append((t, {"type": "info", "process": "nemesis", "f": "start-partition", "value": None}))
        events.append((t + 1000, {"type": "info", "process": "nemesis", "f": "start-partition",
                                  "value": grudge}))
        events.append((t + 3_000_000_000, {"type": "info", "process": "nemesis", "f": "stop-partition",
                                           "value": None}))
        events.append((t + 3_000_001_000, {"type": "info", "process": "nemesis", "f": "stop-partition",
                                           "value": None}))
        offsets = {n: rng.randrange(-500, 500) for n in nodes}
        events.append((t + 1_000_000_000, {"type": "info", "process": "nemesis", "f": "bump-clock",
                                           "value": offsets}))
        events.append((t + 1_000_001_000, {"type": "info", "process": "nemesis", "f": "bump-clock",
                                           "value": offsets}))
        t += 6_000_000_000
    events.sort(key=lambda e: e[0])
    with open(run / "history.jsonl", "w") as fh:
        for i, (when, op) in enumerate(events):
            lines.append(op)
            fh.write(json.dumps({"index": i, "time": when, **op}) + "\n")
    invokes = [i for i, (_, op) in enumerate(events) if op["type"] == "invoke"]
    prefix = invokes[1000:1012]
    stuck = invokes[1012]
    results = {
        "valid": False, "exit_code": 1, "incomplete": None, "test": "bench", "run_dir": str(run),
        "nodes": nodes, "stats": {"valid": True, "count": n_ops, "ok": 0, "fail": 0, "info": 0,
                                  "by_f": {}, "never_ok": []},
        "timings": {"main_s": seconds, "total_s": seconds + 10}, "logs": {},
        "checker": {"valid": False, "linearizable": {
            "valid": False, "model": "cas-register", "ops": n_ops,
            "keys": {"0": {"valid": False, "linearization": prefix, "explanation": {
                "op": {"index": stuck, "process": 0, "description": "read of 3"},
                "states": [1], "state_descriptions": ["hold 1"], "prefix": prefix,
                "candidates": [], "text": "read of 3 by process 0 cannot be linearized: the "
                                          "cas-register could only hold 1 then."}}},
            "text": "read of 3 cannot be linearized"}},
    }
    (run / "results.json").write_text(json.dumps(results))
    (run / "test.json").write_text(json.dumps({"name": "bench", "db": "synthetic", "workload": "register",
                                               "nemesis": ["partition", "clock"], "nodes": nodes,
                                               "seed": seed, "options": {"concurrency": concurrency}}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=100_000,
                    help="client operations (the history has twice as many events)")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--keep", default=None, help="write the run here and keep it (to look at the report)")
    args = ap.parse_args()
    from jepsy.report import write_all

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="jepsy-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        synthesize(base, args.ops, args.concurrency, args.seconds)
        made = time.perf_counter() - t
        with open(base / "history.jsonl") as fh:
            events = sum(1 for _ in fh)
        t, cpu = time.perf_counter(), time.process_time()
        problems = write_all(base)
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        size = (base / "report.html").stat().st_size
        print(f"history: {args.ops} operations, {events} events (synthesized in {made:.1f} s)")
        print(f"write_all (read history + report.html + junit.xml): {took:.2f} s wall, {cpu:.2f} s CPU "
              "(target <= 5 s; wall time grows when other processes share the cores)")
        print(f"report.html: {size / 1e6:.2f} MB  (target < 10 MB)")
        if problems:
            print("problems:", *problems, sep="\n  ")
        if args.keep:
            print(f"kept in {base}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
