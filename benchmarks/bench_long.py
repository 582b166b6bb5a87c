"""Benchmark long single-key histories: jepsy's linearizability checker beside Porcupine's.

    .venv/bin/python benchmarks/bench_long.py [--sizes 2000,8000,32000,128000] [--crash 0,0.01]
        [--dir /tmp/jepsy-bench-long] [--porcupine /work/porcupine-bench/harness/porcupine-bench]
        [--porcupine-max-mb 4096] [--porcupine-timeout 900] [--engine c|python]

Each history is one cas-register key worked by 10 processes, valid by
construction: every operation takes effect at one instant between its
invocation and its completion, reads return the value of that instant, and a
fraction ``--crash`` of operations crash (``info``): they take effect, or not,
and their process is replaced by a new one, as in Jepsen.  Every size is run at
every crash rate (by default without crashed operations and with 1 %).

For each history: the history written as jepsy JSONL, read and checked end to
end (``read_history`` then the checker, one process, one worker), and, when
``--porcupine`` names a built harness (see README, "Long histories"),
Porcupine's time on the same file (its harness parses the same JSONL and checks
it with its cas-register model; it prints parse and check times).  Porcupine is
stopped when it holds more than ``--porcupine-max-mb`` of memory or runs longer
than ``--porcupine-timeout`` seconds (the table says which).  Figures: wall
seconds, and CPU seconds (on a shared machine the wall time also measures the
neighbours), the peak memory of each (jepsy: this process's peak so far), and
the growth of the time from the smallest size to the largest, per crash rate.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
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


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def porcupine(harness: str, path: Path, max_mb: float, timeout: float) -> dict[str, Any]:
    """Porcupine's parse and check seconds, its CPU seconds and peak memory, or why it stopped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([harness, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak, stopped = 0.0, None
    while proc.poll() is None:
        peak = max(peak, _rss_mb(proc.pid))
        if peak > max_mb:
            stopped = f"over {max_mb:.0f} MB"
        elif time.perf_counter() - t0 > timeout:
            stopped = f"over {timeout:.0f} s"
        if stopped:
            proc.kill()
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    got: dict[str, Any] = {"wall_s": time.perf_counter() - t0, "peak_mb": peak,
                           "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}
    if stopped:
        got["stopped"] = stopped
        return got
    try:
        got.update(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        got["stopped"] = f"unexpected output {out[-100:]!r} {err[-100:]!r}"
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,8000,32000,128000")
    ap.add_argument("--crash", default="0,0.01", help="crash rates, comma-separated")
    ap.add_argument("--dir", default="/tmp/jepsy-bench-long")
    ap.add_argument("--porcupine", default=None, help="Path of the Porcupine harness binary.")
    ap.add_argument("--porcupine-max-mb", type=float, default=4096.0)
    ap.add_argument("--porcupine-timeout", type=float, default=900.0)
    ap.add_argument("--engine", default="c", choices=("c", "python"))
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    checker = linearizable(cas_register(0), engine=args.engine, timeout=args.timeout, workers=1)
    print(f"{'crash':>5} {'calls':>7} {'crashed':>7} {'read s':>7} {'check s':>8} {'jepsy s':>8} "
          f"{'cpu s':>7} {'peak MB':>7} {'verdict':>8} | {'porc s':>7} {'cpu s':>7} {'peak MB':>7} "
          f"{'verdict':>8} | {'wall ratio':>10}")
    for rate in (float(x) for x in args.crash.split(",")):
        rows = []
        for n in (int(x) for x in args.sizes.split(",")):
            path = d / f"long-{n}-{rate:g}.jsonl"
            if not path.exists():
                with path.open("w") as f:
                    for op in make_history(n, rate):
                        f.write(json.dumps(op) + "\n")
            c0 = time.process_time()
            t0 = time.perf_counter()
            ops = read_history(path)
            t1 = time.perf_counter()
            result = checker.check(ops, {})
            t2 = time.perf_counter()
            cpu = time.process_time() - c0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            crashed = sum(1 for o in ops if o.type == "info")
            reasons = {k.get("reason") for k in result["keys"].values()} - {None}
            verdict = str(result["valid"]) + (f" ({', '.join(sorted(reasons))})" if reasons else "")
            pc = (porcupine(args.porcupine, path, args.porcupine_max_mb, args.porcupine_timeout)
                  if args.porcupine else None)
            if pc is None:
                theirs = f"{'-':>7} {'-':>7} {'-':>7} {'-':>8} | {'-':>10}"
                porc_total = None
            elif "stopped" in pc:
                theirs = (f"{'>' + format(pc['wall_s'], '.1f'):>7} {pc['cpu_s']:7.1f} {pc['peak_mb']:7.0f} "
                          f"{'stopped':>8} | {'<' + format((t2 - t0) / pc['wall_s'], '.2f'):>10}  "
                          f"(Porcupine {pc['stopped']})")
                porc_total = None
            else:
                porc_total = pc["parse_s"] + pc["check_s"]
                theirs = (f"{porc_total:7.2f} {pc['cpu_s']:7.2f} {pc['peak_mb']:7.0f} "
                          f"{pc.get('ok', '?')!s:>8} | {(t2 - t0) / porc_total:10.2f}")
            rows.append((n, t2 - t0, porc_total))
            print(f"{rate:5g} {n:7d} {crashed:7d} {t1 - t0:7.2f} {t2 - t1:8.2f} {t2 - t0:8.2f} "
                  f"{cpu:7.2f} {peak:7.0f} {verdict:>8} | {theirs}", flush=True)
        if len(rows) > 1:
            (n0, j0, p0), (n1, j1, p1) = rows[0], rows[-1]
            line = f"crash {rate:g}: growth {n0} -> {n1} calls: jepsy x{j1 / j0:.0f}"
            if p0 and p1:
                line += f", Porcupine x{p1 / p0:.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
