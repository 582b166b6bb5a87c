"""Benchmark reading histories: operations per second from JSONL and from EDN.

    .venv/bin/python benchmarks/bench_read.py [--ops 200000] [--repeat 3] [--dir /tmp/jepsy-bench-read]

Writes one register history of ``--ops`` operations (reads, writes and cas over
10 processes, with fails and crashes) as jepsy JSONL and as Jepsen EDN, then
times, side by side, each way of reading it into ``Op``s:

- ``general``: the readers every file can go through, and the only ones
  before the fast path (``json.loads`` or ``jepsy.edn`` per form, then
  ``op_from_mapping``); they give the one-line errors with file and line;
- ``orjson + Python``: orjson decodes each line to a dict, the same Python
  builds the ``Op`` (orjson cannot build one itself);
- ``msgspec dicts + Python``: msgspec in place of orjson;
- ``read_history``: what jepsy runs (msgspec decoding straight into ``Op``,
  after ``jepsy._edn_json`` translates EDN to JSON in C), the collector paused.

Times are CPU seconds of this process (``time.process_time``), best of
``--repeat``, so that other work on a shared machine counts less than wall time
would; the wall time of the last run is printed too.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
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
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    hist = make_history(args.ops)
    jsonl, edn_path = d / f"register-{args.ops}.jsonl", d / f"register-{args.ops}.edn"
    with jsonl.open("w") as f:
        for op in hist:
            f.write(json.dumps(op.to_json()) + "\n")
    edn_path.write_text(dumps_edn(hist))
    assert read_history(jsonl) == hist and read_history(edn_path) == hist
    print(f"{args.ops} ops; JSONL {jsonl.stat().st_size / 2**20:.1f} MiB, "
          f"EDN {edn_path.stat().st_size / 2**20:.1f} MiB; CPU s best of {args.repeat} (wall of last)")
    rows: list[tuple[str, str, Callable[[], list[Op]]]] = [
        ("JSONL", "general (json + op_from_mapping)",
         lambda: _read_jsonl(jsonl, jsonl.read_text().splitlines())),
        ("JSONL", "orjson + Python", lambda: _orjson(jsonl)),
        ("JSONL", "msgspec dicts + Python", lambda: _msgspec_dicts(jsonl)),
        ("JSONL", "read_history (msgspec -> Op)", lambda: read_history(jsonl)),
        ("EDN", "general (jepsy.edn + op_from_mapping)", lambda: _read_edn(edn_path, edn_path.read_text())),
        ("EDN", "read_history (C to JSON, msgspec -> Op)", lambda: read_history(edn_path)),
    ]
    print(f"{'format':6} {'reader':42} {'cpu s':>8} {'wall s':>8} {'Mops/s (cpu)':>13}")
    try:
        import orjson  # noqa: F401  (not a dependency of jepsy: measured where installed)
    except ImportError:
        rows = [r for r in rows if not r[1].startswith("orjson")]
    for fmt, name, fn in rows:
        cpu, wall, n = timed(fn, args.repeat)
        print(f"{fmt:6} {name:42} {cpu:8.3f} {wall:8.3f} {n / cpu / 1e6:13.2f}")


if __name__ == "__main__":
    main()
