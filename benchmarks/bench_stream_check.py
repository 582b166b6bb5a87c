"""The run's check of a large register history: the whole history held vs streamed from its file.

Writes a synthetic history shaped like a full-rate ``memory`` run of the register
workload (``--ops`` lines, 10 processes, 5 live keys retired after 120 ops, about 1 %
of calls crashed, every key read once more at the end), then checks it in child
processes, one after the other:

* ``whole``: what a run did before (``read_history`` and
  ``check_safe(with_availability(register checker)).check(ops)``), with this checkout's
  jepsy, or with another checkout's given by ``--baseline DIR`` (its ``.venv``);
* ``stream``: ``jepsy.checkers.streaming.check_run_file`` on the file.

Prints per mode: wall and CPU seconds, peak RSS, verdict, and whether the two
verdicts are equal (but for the linearizability check's own ``time_s``).  Each child
runs under an address-space limit (``--max-gib``, default 9) so that the whole-history
check of a large file fails instead of taking the machine.

    .venv/bin/python benchmarks/bench_stream_check.py --ops 3000000
    .venv/bin/python benchmarks/bench_stream_check.py --ops 3000000 --baseline /work/base
    .venv/bin/python benchmarks/bench_stream_check.py --history RUN/history.jsonl --modes stream
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, sys.argv[4])  # the checkout: its workloads package
from workloads.register import workload
checker = workload({"concurrency": 10, "check_timeout": 36000}).checker
opts = {"nodes": ["n1", "n2", "n3"], "concurrency": 10, "time_limit": 3600}
t, c = time.monotonic(), time.process_time()
if mode == "whole":
    from jepsy.checkers import check_safe
    from jepsy.checkers.availability import with_availability
    from jepsy.history import read_history
    verdict = check_safe(with_availability(checker)).check(read_history(path), opts)
else:
    from jepsy.checkers.streaming import check_run_file
    verdict = check_run_file(checker, None, path, 0, opts, stream_above=0).verdict
wall, cpu = time.monotonic() - t, time.process_time() - c
verdict.get("linearizable", {}).pop("time_s", None)
with open(out, "w") as f:
    json.dump(verdict, f, sort_keys=True, default=str)
print(json.dumps({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "valid": verdict.get("valid")}))
"""


def write_history(path: Path, n_lines: int, seed: int = 1, concurrency: int = 10,
                  active: int = 5, per_key: int = 120, values: int = 5) -> int:
    """A linearizable register history of about ``n_lines`` lines (see the module docstring).

    Rounds: every worker invokes an op on a live key, then the ops complete in a random
    order and take effect in that order (so inside their windows).  Returns the lines written.
    """
    rng = random.Random(seed)
    state: dict[int, int | None] = {}
    live, used, next_key = list(range(active)), dict.fromkeys(range(active), 0), active
    procs = list(range(concurrency))
    t = i = 0
    with path.open("w") as f:
        def line(type_: str, p: int | str, fn: str, value: object, error: str | None = None) -> None:
            nonlocal t, i
            t += rng.randrange(20_000, 200_000)
            op = {"index": i, "time": t, "type": type_, "process": p, "f": fn, "value": value}
            if error is not None:
                op["error"] = error
            f.write(json.dumps(op) + "\n")
            i += 1

        while i < n_lines - 2 * next_key:
            calls = []
            for w in range(concurrency):
                slot = rng.randrange(active)
                k = live[slot]
                used[k] += 1
                if used[k] >= per_key:
                    del used[k]
                    live[slot], used[next_key] = next_key, 0
                    next_key += 1
                fn = rng.choice(("read", "write", "cas"))
                v: object = None if fn == "read" else rng.randrange(values) if fn == "write" \
                    else [rng.randrange(values), rng.randrange(values)]
                line("invoke", procs[w], fn, [k, v])
                calls.append((w, k, fn, v))
            rng.shuffle(calls)
            for w, k, fn, v in calls:
                p = procs[w]
                if rng.random() < 0.01:  # crashed: took effect or not
                    if fn == "write" and rng.random() < 0.5:
                        state[k] = v  # type: ignore[assignment]
                    line("info", p, fn, [k, v], "timeout")
                    procs[w] = p + concurrency
                elif fn == "read":
                    line("ok", p, fn, [k, state.get(k)])
                elif fn == "write":
                    state[k] = v  # type: ignore[assignment]
                    line("ok", p, fn, [k, v])
                elif state.get(k) == v[0]:  # type: ignore[index]
                    state[k] = v[1]  # type: ignore[index]
                    line("ok", p, fn, [k, v])
                else:
                    line("fail", p, fn, [k, v], "compare failed")
        line("info", "nemesis", "heal", None)
        for k in range(next_key):  # the final reads, one worker after another
            p = procs[k % concurrency]
            line("invoke", p, "read", [k, None])
            line("ok", p, "read", [k, state.get(k)])
    return i


def run_child(python: str, checkout: Path, mode: str, history: Path, out: Path,
              max_gib: float) -> dict[str, object]:
    def limit() -> None:
        cap = int(max_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run([python, "-c", CHILD, mode, str(history), str(out), str(checkout)],
                          capture_output=True, text=True, preexec_fn=limit, cwd=checkout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ops", type=int, default=1_000_000, help="history lines to write")
    p.add_argument("--history", type=Path, help="check this history instead of writing one")
    p.add_argument("--baseline", type=Path, help="checkout whose jepsy checks the whole history")
    p.add_argument("--modes", default="whole,stream")
    p.add_argument("--max-gib", type=float, default=9.0)
    a = p.parse_args()
    here = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="jepsy-bench-stream-"))
    try:
        history = a.history
        if history is None:
            history = tmp / "history.jsonl"
            t = time.monotonic()
            n = write_history(history, a.ops)
            print(f"wrote {n} lines ({history.stat().st_size / 2**20:.0f} MiB) "
                  f"in {time.monotonic() - t:.0f} s", flush=True)
        verdicts = {}
        for mode in a.modes.split(","):
            checkout = a.baseline if (mode == "whole" and a.baseline) else here
            python = str(checkout / ".venv" / "bin" / "python")
            out = tmp / f"{mode}.json"
            fig = run_child(python, checkout, mode, history, out, a.max_gib)
            label = f"{mode} ({'baseline ' + str(checkout) if checkout != here else 'this checkout'})"
            print(f"{label:40} " + ", ".join(f"{k} {v}" for k, v in fig.items()), flush=True)
            if out.exists():
                verdicts[mode] = out.read_text()
        if len(verdicts) == 2:
            print("verdicts equal:", len(set(verdicts.values())) == 1)
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
