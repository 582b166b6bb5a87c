"""Benchmark reading histories: operations per second from JSONL and from EDN, and memory.

    .venv/bin/python benchmarks/bench_read.py [--ops 200000] [--repeat 3] [--dir /tmp/jepsy-bench-read]
        [--baseline DIR] [--all] [--small] [--memory 1190000]

Writes one register history of ``--ops`` operations (reads, writes and cas over
10 processes, with fails and crashes) as jepsy JSONL and as Jepsen EDN, then
times, side by side, ways of reading it into ``Op``s:

- ``read_history``: what jepsy runs (for JSONL msgspec decoding the whole file
  straight into ``Op`` structs; for EDN ``jepsy._fastread``, which reads it
  into ``Op`` structs in C);
- ``baseline``, with ``--baseline DIR``: ``read_history`` of another jepsy
  source tree (e.g. ``git archive main jepsy | tar -x -C DIR``, with its C
  extension copied in, or an installed checkout), in a child process, on the
  same files;
- with ``--all``, the slower ways: ``general`` (the readers every file can go
  through, ``json.loads`` or ``jepsy.edn`` per form, then
  ``op_from_mapping``; they give the one-line errors with file and line),
  ``orjson + Python`` (orjson decodes each line to a dict, Python builds the
  ``Op``: orjson cannot build one itself) and ``msgspec dicts + Python``.

With ``--small``, also the fixed cost of a file: the microseconds ``read_history``
takes per file for a 10-op and a 150-op history (a Knossos-sized one), EDN and
JSONL, read 2,000 times per sample, for this tree and the baseline.

Times are CPU seconds (``time.process_time``), best of ``--repeat``, so that
other work on a shared machine counts less than wall time would; the wall time
of the last run is printed too.  ``--memory N`` also writes an N-op JSONL
and EDN history and prints, for this tree and the baseline, the peak RSS of a
fresh process reading each (``ru_maxrss``) and what the ops hold once read (RSS
after, minus RSS before).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jepsy.history import Op, _read_edn, _read_jsonl, dumps_edn, op_from_mapping, read_history


def make_history(n: int, seed: int = 1) -> list[Op]:
    rnd = random.Random(seed)
    ops: list[Op] = []
    open_: dict[int, tuple[str, Any]] = {}
    t = 0
    procs = list(range(10))
    while len(ops) < n:
        p = rnd.choice(procs)
        t += rnd.randrange(1000, 5000)
        if p in open_:
            f, v = open_.pop(p)
            typ = rnd.choice(("ok", "ok", "ok", "fail", "info"))
            val = rnd.randrange(5) if f == "read" and typ == "ok" else v
            ops.append(Op(index=len(ops), time=t, type=typ, process=p, f=f, value=val))
            if typ == "info":  # a crashed process never invokes again: a fresh one takes over
                procs[procs.index(p)] = max(procs) + 1
        else:
            f = rnd.choice(("read", "write", "cas"))
            v = (None if f == "read" else rnd.randrange(5) if f == "write"
                 else [rnd.randrange(5), rnd.randrange(5)])
            open_[p] = (f, v)
            ops.append(Op(index=len(ops), time=t, type="invoke", process=p, f=f, value=v))
    return ops


def _orjson(path: Path) -> list[Op]:
    import orjson

    name = str(path)
    with path.open("rb") as f:
        return [op_from_mapping(orjson.loads(line), i, f"{name}:{i + 1}") for i, line in enumerate(f)]


def _msgspec_dicts(path: Path) -> list[Op]:
    import msgspec

    name = str(path)
    rows = msgspec.json.Decoder().decode_lines(path.read_bytes())
    return [op_from_mapping(d, i, f"{name}:{i + 1}") for i, d in enumerate(rows)]


_CHILD = """
import gc, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from jepsy.history import read_history
assert read_history.__code__.co_filename.startswith(sys.argv[1]), read_history.__code__.co_filename
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
if sys.argv[2] == "memory":
    before = rss()
    ops = read_history(sys.argv[3])
    gc.collect()
    print(json.dumps({"n": len(ops), "held": rss() - before,
                      "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
else:
    best, wall, n, reads = float("inf"), 0.0, 0, int(sys.argv[5])
    for _ in range(int(sys.argv[4])):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        for _ in range(reads):
            n = len(read_history(sys.argv[3]))
        best = min(best, (time.process_time() - c) / reads)
        wall = (time.perf_counter() - w) / reads
    print(json.dumps([best, wall, n]))
"""


def child(tree: str, mode: str, path: Path, repeat: int = 1, reads: int = 1) -> Any:
    """Run ``_CHILD`` in a fresh interpreter against the jepsy source tree ``tree``;
    ``reads`` reads of the file per timed sample (the time is per read)."""
    out = subprocess.run([sys.executable, "-c", _CHILD, tree, mode, str(path), str(repeat), str(reads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def timed(fn: Callable[[], list[Op]], repeat: int) -> tuple[float, float, int]:
    best, wall, n = float("inf"), 0.0, 0
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        n = len(fn())
        best = min(best, time.process_time() - c)
        wall = time.perf_counter() - w
    return best, wall, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/jepsy-bench-read")
    ap.add_argument("--baseline", help="another jepsy source tree to compare with (its parent of jepsy/)")
    ap.add_argument("--all", action="store_true", help="also the slower readers")
    ap.add_argument("--small", action="store_true", help="also the per-file cost of small histories")
    ap.add_argument("--memory", type=int, default=0, metavar="N", help="also measure memory on N ops")
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    hist = make_history(args.ops)
    jsonl, edn_path = d / f"register-{args.ops}.jsonl", d / f"register-{args.ops}.edn"
    write_jsonl(jsonl, hist)
    edn_path.write_text(dumps_edn(hist))
    assert read_history(jsonl) == hist and read_history(edn_path) == hist
    del hist
    here = str(Path(__file__).resolve().parent.parent)
    print(f"{args.ops} ops; JSONL {jsonl.stat().st_size / 2**20:.1f} MiB, "
          f"EDN {edn_path.stat().st_size / 2**20:.1f} MiB; CPU s best of {args.repeat} (wall of last)")
    rows: list[tuple[str, str, Callable[[], tuple[float, float, int]]]] = []
    for fmt, path in (("JSONL", jsonl), ("EDN", edn_path)):
        if args.baseline:
            rows.append((fmt, f"baseline read_history ({args.baseline})",
                         lambda p=path: tuple(child(args.baseline, "time", p, args.repeat))))
        rows.append((fmt, "read_history (this tree)",
                     lambda p=path: tuple(child(here, "time", p, args.repeat))))
    if args.all:
        slow: list[tuple[str, str, Callable[[], list[Op]]]] = [
            ("JSONL", "general (json + op_from_mapping)",
             lambda: _read_jsonl(jsonl, jsonl.read_text().splitlines())),
            ("JSONL", "orjson + Python", lambda: _orjson(jsonl)),
            ("JSONL", "msgspec dicts + Python", lambda: _msgspec_dicts(jsonl)),
            ("EDN", "general (jepsy.edn + op_from_mapping)",
             lambda: _read_edn(edn_path, edn_path.read_text())),
        ]
        try:
            import orjson  # noqa: F401  (not a dependency of jepsy: measured where installed)
        except ImportError:
            slow = [r for r in slow if not r[1].startswith("orjson")]
        rows += [(fmt, name, lambda fn=fn: timed(fn, args.repeat)) for fmt, name, fn in slow]
    print(f"{'format':6} {'reader':50} {'cpu s':>8} {'wall s':>8} {'Mops/s (cpu)':>13}")
    for fmt, name, run in rows:
        cpu, wall, n = run()
        print(f"{fmt:6} {name:50} {cpu:8.3f} {wall:8.3f} {n / cpu / 1e6:13.2f}")
    if args.small:
        small_files(d, here, args.baseline, args.repeat)
    if args.memory:
        memory(d, args.memory, here, args.baseline)


def memory(d: Path, n: int, here: str, baseline: str | None) -> None:
    """Peak RSS and RSS held by the ops, reading an n-op history in a fresh process."""
    paths = d / f"register-{n}.jsonl", d / f"register-{n}.edn"
    if not all(p.exists() for p in paths):
        hist = make_history(n)
        write_jsonl(paths[0], hist)
        paths[1].write_text(dumps_edn(hist))
    print(f"\nmemory: reading {n} ops in a fresh process")
    print(f"{'file':34} {'tree':50} {'peak RSS MiB':>13} {'held MiB':>9} {'bytes/op':>9}")
    for path in paths:
        for label, tree in (("baseline", baseline), ("this tree", here)):
            if tree:
                m = child(tree, "memory", path)
                print(f"{path.name + f' ({path.stat().st_size / 2**20:.0f} MiB)':34} "
                      f"{label + ' (' + tree + ')':50} {m['peak'] / 2**20:13.0f} "
                      f"{m['held'] / 2**20:9.0f} {m['held'] / m['n']:9.0f}")


def small_files(d: Path, here: str, baseline: str | None, repeat: int) -> None:
    """Per-file µs of ``read_history`` on small histories, this tree beside the baseline."""
    print(f"\nsmall files: CPU µs per file, best of {repeat} samples of 2000 reads (wall of last)")
    print(f"{'file':22} {'tree':50} {'cpu µs':>8} {'wall µs':>8}")
    for ops in (10, 150):
        hist = make_history(ops)
        for fmt in ("jsonl", "edn"):
            path = d / f"small-{ops}.{fmt}"
            if fmt == "jsonl":
                write_jsonl(path, hist)
            else:
                path.write_text(dumps_edn(hist))
            for label, tree in (("baseline", baseline), ("this tree", here)):
                if tree:
                    cpu, wall, _ = child(tree, "time", path, repeat, 2000)
                    print(f"{path.name:22} {label + ' (' + tree + ')':50} {cpu * 1e6:8.1f} {wall * 1e6:8.1f}")


def write_jsonl(path: Path, hist: list[Op]) -> None:
    with path.open("w") as f:
        for op in hist:
            f.write(json.dumps(op.to_json()) + "\n")


if __name__ == "__main__":
    main()
