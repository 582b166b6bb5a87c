"""Benchmark long single-key histories: the linearizability checker at 8k, 32k and 128k operations.

    .venv/bin/python benchmarks/bench_long.py [--sizes 8000,32000,128000] [--crash 0.01]
        [--dir /tmp/jepsy-bench-long] [--porcupine /work/porcupine-bench/porcupine-bench]
        [--engine c|python]

Each history is one cas-register key worked by 10 processes, valid by
construction: every operation takes effect at one instant between its
invocation and its completion, reads return the value of that instant, and a
fraction ``--crash`` of operations crash (``info``): they take effect, or not,
and their process is replaced by a new one, as in Jepsen.  Calls straddling the
8,192-call mark are included (8,000 and 8,400 by default among the sizes) to
show whether the search has a cliff there.

For each size: the history written as jepsy JSONL, read and checked end to end
(``read_history`` then the checker, one process, the check's own time apart),
and, when ``--porcupine`` names a built harness (see README, "Long histories"),
Porcupine's time on the same file (its harness parses the same JSONL and
checks it with its cas-register model; it prints parse and check times).
Figures: wall seconds on this machine, with the growth from the smallest size.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from jepsy.checkers.linear import linearizable
from jepsy.checkers.linear.models import cas_register
from jepsy.history import read_history


def make_history(n_ops: int, crash: float, seed: int = 7, procs: int = 10) -> list[dict[str, Any]]:
    """About ``n_ops`` calls (invocations), valid by construction (module docstring)."""
    rnd = random.Random(seed)
    state = 0
    out: list[dict[str, Any]] = []
    idle = list(range(procs))
    next_proc = procs
    pending: dict[int, dict[str, Any]] = {}  # process -> the call, with "done" when it took effect
    t = 0
    calls = 0

    def emit(typ: str, p: int, f: str, value: Any) -> None:
        nonlocal t
        t += rnd.randrange(1, 1000)
        out.append({"index": len(out), "time": t, "type": typ, "process": p, "f": f, "value": value})

    while calls < n_ops or pending:
        choice = rnd.random()
        if idle and calls < n_ops and choice < 0.4:
            p = idle.pop(rnd.randrange(len(idle)))
            f = rnd.choice(("read", "read", "write", "cas"))
            v = (None if f == "read" else rnd.randrange(5) if f == "write"
                 else [rnd.randrange(5), rnd.randrange(5)])
            pending[p] = {"f": f, "value": v, "done": False}
            emit("invoke", p, f, v)
            calls += 1
            continue
        if not pending:
            continue
        p = rnd.choice(list(pending))
        c = pending[p]
        if not c["done"] and choice < 0.75:  # it takes effect now
            c["done"] = True
            if c["f"] == "read":
                c["result"], c["ok"] = state, True
            elif c["f"] == "write":
                state, c["result"], c["ok"] = c["value"], c["value"], True
            else:
                ok = state == c["value"][0]
                if ok:
                    state = c["value"][1]
                c["result"], c["ok"] = c["value"], ok
            continue
        if rnd.random() < crash:  # it crashes, having taken effect or not
            del pending[p]
            emit("info", p, c["f"], c["value"])
            idle.append(next_proc)
            next_proc += 1
            continue
        if not c["done"]:
            continue
        del pending[p]
        emit("ok" if c["ok"] else "fail", p, c["f"], c["result"])
        idle.append(p)
    return out


def porcupine(harness: str, path: Path) -> dict[str, float] | None:
    try:
        proc = subprocess.run([harness, str(path)], capture_output=True, text=True, timeout=3600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"  porcupine: {e}")
        return None
    try:
        got: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
        return got
    except (ValueError, IndexError):
        print(f"  porcupine: unexpected output {proc.stdout[-200:]!r} {proc.stderr[-200:]!r}")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,8000,8400,32000,128000")
    ap.add_argument("--crash", type=float, default=0.01)
    ap.add_argument("--dir", default="/tmp/jepsy-bench-long")
    ap.add_argument("--porcupine", default=None, help="Path of the Porcupine harness binary.")
    ap.add_argument("--engine", default="c", choices=("c", "python"))
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    checker = linearizable(cas_register(0), engine=args.engine, timeout=args.timeout, workers=1)
    rows = []
    print(f"{'calls':>7} {'ops':>7} {'crashed':>7} {'read s':>7} {'check s':>8} {'jepsy s':>8} "
          f"{'verdict':>8} {'porc parse':>10} {'porc check':>10} {'porc s':>7} {'ratio':>6}")
    for n in (int(x) for x in args.sizes.split(",")):
        path = d / f"long-{n}.jsonl"
        if not path.exists():
            with path.open("w") as f:
                for op in make_history(n, args.crash):
                    f.write(json.dumps(op) + "\n")
        t0 = time.perf_counter()
        ops = read_history(path)
        t1 = time.perf_counter()
        result = checker.check(ops, {})
        t2 = time.perf_counter()
        crashed = sum(1 for o in ops if o.type == "info")
        reasons = {k.get("reason") for k in result["keys"].values()} - {None}
        if reasons:
            print(f"  (unknown: {', '.join(sorted(reasons))})")
        pc = porcupine(args.porcupine, path) if args.porcupine else None
        porc_total = (pc["parse_s"] + pc["check_s"]) if pc else None
        rows.append((n, t2 - t0, porc_total))
        print(f"{n:7d} {len(ops):7d} {crashed:7d} {t1 - t0:7.2f} {t2 - t1:8.2f} {t2 - t0:8.2f} "
              f"{result['valid']!s:>8} "
              + (f"{pc['parse_s']:10.2f} {pc['check_s']:10.2f} {porc_total:7.2f} "
                 f"{(t2 - t0) / porc_total:6.2f}" if pc and porc_total
                 else f"{'-':>10} {'-':>10} {'-':>7} {'-':>6}"),
              flush=True)
    if len(rows) > 1:
        (n0, j0, p0), (n1, j1, p1) = rows[0], rows[-1]
        line = f"growth {n0} -> {n1} calls: jepsy x{j1 / j0:.0f}"
        if p0 and p1:
            line += f", Porcupine x{p1 / p0:.0f}"
        print(line)


if __name__ == "__main__":
    main()
