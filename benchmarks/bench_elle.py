"""Benchmark the transactional checker, before (main) and after (this tree), side by side.

    .venv/bin/python benchmarks/bench_elle.py [--sizes 100000,1000000,10000000]
        [--main DIR] [--before-upto 1000000] [--cache /tmp/jepsy-bench-elle]
        [--processes 10] [--keys 20] [--data tests/data] [--skip-corpus]

Each size's list-append history comes from ``synth.stream`` (a serial model
under random concurrency: every check must say valid), written once as jepsy
JSONL to ``--cache`` and reused; sizes above 1M are that 1M history tiled
(see ``tile``), still valid by construction.  Every measurement runs in a child process of
its own, so its peak memory (``ru_maxrss``) is its own:

* **before** (only with ``--main DIR``: a checkout of the code to compare with,
  e.g. ``git worktree add /tmp/before REV`` with ``scripts/install.sh`` run there
  to build its C extensions; imported in place of this tree) reads the file with
  ``read_history`` and checks the ``Op``
  list, as ``jepsy check`` does.  ``read s`` and ``check s`` are apart (the
  issue's "43 s" was main's check alone, from memory).  Sizes above
  ``--before-upto`` are not run: at 1M main peaks at 3+ GB, and 10M would need
  more memory than the machine has.
* **before, file** (with ``--main``) and **after, file**: ``TxnChecker.check_file``:
  the JSONL streamed into columns and checked, read and check in one figure
  (main's and this tree's; the issue's 1M goal is this figure).
* **after, ops**: this tree's ``read_history`` then ``check`` on the ``Op``
  list, the path ``jepsy check`` takes today (up to ``--before-upto``).

Wall seconds and CPU seconds (user + system of the child) are both printed:
the machine is shared, and under load the wall time is the less faithful one.

Anchors (not this machine): Elle's README, ~2 min and 60 GB for 22M
transactions; Plume, ~100 s at 1M.  The goal: 1M in 15 s and 1.5 GB, 10M in
8 GB.  The Plume corpora (``plume/figure/fig_10``) follow, checked under
snapshot isolation with this tree's checker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "tests" / "data"


def _usage() -> dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_mb": ru.ru_maxrss // 1024, "cpu_s": round(ru.ru_utime + ru.ru_stime, 1)}


def generate(path: Path, n: int, processes: int, keys: int) -> None:
    """Write the synthetic history of ``n`` transactions as JSONL (streamed: flat memory)."""
    from jepsy.checkers.elle import synth

    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        for op in synth.stream("list-append", n, processes=processes, keys=keys, mops=(1, 4), seed=n):
            fh.write(dumps({"index": op.index, "time": op.time, "type": op.type, "process": op.process,
                            "f": op.f, "value": op.value}) + "\n")
    tmp.rename(path)


TILE = 1_000_000  # histories larger than this are tiled from the one of this size


def tile(path: Path, base: Path, copies: int) -> None:
    """``copies`` of the history in ``base``, one after another, on fresh keys and processes.

    Copy i shifts keys and processes past every earlier copy's, and indices and
    times past its end: each copy is valid and runs after the previous one
    completed, so the whole is valid by construction (serially, copy by copy).
    Generating ten million transactions with ``synth`` takes the better part
    of an hour in Python; tiling takes a few minutes.
    """
    import msgspec

    dec = msgspec.json.Decoder()
    enc = msgspec.json.Encoder()
    ops = [dec.decode(line) for line in base.read_bytes().splitlines()]
    keys = 1 + max(m[1] for op in ops for m in op["value"])
    procs = 1 + max(op["process"] for op in ops)
    span = 1 + max(op["time"] for op in ops)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        for i in range(copies):
            dk, dp, di, dt = i * keys, i * procs, i * len(ops), i * span
            fh.write(b"\n".join(enc.encode({
                "index": op["index"] + di, "time": op["time"] + dt, "type": op["type"],
                "process": op["process"] + dp, "f": op["f"],
                "value": [[f, k + dk, v] for f, k, v in op["value"]]}) for op in ops) + b"\n")
    tmp.rename(path)


def run_before(path: Path, main: Path, file: bool = False) -> dict[str, object]:
    """Main's reader and checker: ``main`` replaces this tree's (editable) jepsy on the path."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
    sys.path.insert(0, str(main))
    for name in [m for m in sys.modules if m == "jepsy" or m.startswith("jepsy.")]:
        del sys.modules[name]
    import jepsy
    assert Path(jepsy.__file__).resolve().is_relative_to(main.resolve()), jepsy.__file__
    return run_after_file(path) if file else read_then_check(path)  # imports now find main's jepsy


def run_after_file(path: Path) -> dict[str, object]:
    from jepsy.checkers.elle import list_append

    t0 = time.monotonic()
    r = list_append().check_file(path, {})
    t1 = time.monotonic()
    return {"total_s": round(t1 - t0, 1), "valid": r["valid"], "edges": r["stats"]["edges"], **_usage()}


def read_then_check(path: Path) -> dict[str, object]:
    """``read_history``, then ``check`` on the ``Op`` list, as ``jepsy check`` does."""
    from jepsy.checkers.elle import list_append
    from jepsy.history import read_history

    t0 = time.monotonic()
    h = read_history(path)
    t1 = time.monotonic()
    r = list_append().check(h, {})
    t2 = time.monotonic()
    return {"read_s": round(t1 - t0, 1), "check_s": round(t2 - t1, 1), "total_s": round(t2 - t0, 1),
            "valid": r["valid"], "edges": r["stats"]["edges"], **_usage()}


def child(args: argparse.Namespace) -> None:
    path = Path(args.path)
    if args.child == "generate":
        generate(path, args.n, args.processes, args.keys)
        out: dict[str, object] = {}
    elif args.child == "tile":
        tile(path, Path(args.base), args.n // TILE)
        out = {}
    elif args.child in ("before", "before-file"):
        out = run_before(path, Path(args.main), file=args.child == "before-file")
    elif args.child == "after-file":
        out = run_after_file(path)
    else:
        out = read_then_check(path)
    print(json.dumps(out))


def spawn(kind: str, path: Path, args: argparse.Namespace, n: int = 0,
          base: Path | None = None) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", kind, "--path", str(path), "--main", str(args.main or ""),
           "--n", str(n), "--processes", str(args.processes), "--keys", str(args.keys),
           "--base", str(base)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {out.returncode}: {tail[:80]}"}
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def corpus(data: Path) -> list[dict[str, object]]:
    from jepsy.checkers.elle import list_append
    from jepsy.history import read_history

    rows: list[dict[str, object]] = []
    for path in sorted((data / "elle" / "plume" / "figure" / "fig_10").glob("sess*/history*.edn"),
                       key=lambda p: (int(p.parent.name[4:]), p.name)):
        t0 = time.monotonic()
        h = read_history(path)
        t1 = time.monotonic()
        r = list_append(consistency_model="snapshot-isolation").check(h, {})
        t2 = time.monotonic()
        rows.append({"file": f"{path.parent.name}/{path.name}", "txns": r["stats"]["txns"],
                     "parse_s": round(t1 - t0, 2), "check_s": round(t2 - t1, 2), "valid_si": r["valid"],
                     "serializable": "no" if "G2-item" in r["anomaly_types"] else "yes"})
    return rows


def _cell(row: dict[str, object], *keys: str) -> str:
    if "error" in row:
        return str(row["error"])
    return " ".join(f"{row[k]!s:>7}" for k in keys)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--processes", type=int, default=10)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--main", type=Path, default=None,
                    help="a checkout of the code to compare with (the 'before' column)")
    ap.add_argument("--before-upto", type=int, default=1_000_000)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jepsy-bench-elle"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'txns':>9} | {'before (main): read s, check s, total s, cpu s, peak MB':<58} | "
          f"{'before, file: total s, cpu s, peak MB':<40} | {'after, file: total s, cpu s, peak MB':<40} | "
          f"after, ops: read s, check s, cpu s, peak MB")
    for n in (int(s) for s in args.sizes.split(",")):
        path = args.cache / f"list-append-{n}-p{args.processes}-k{args.keys}.jsonl"
        if not path.exists():
            base = args.cache / f"list-append-{TILE}-p{args.processes}-k{args.keys}.jsonl"
            if n > TILE and n % TILE == 0 and not base.exists():
                spawn("generate", base, args, TILE)
            gen = (spawn("tile", path, args, n, base) if n > TILE and n % TILE == 0
                   else spawn("generate", path, args, n))
            if "error" in gen:
                print(f"{n:>9} | generation failed: {gen['error']}")
                continue
        no: dict[str, object] = {"error": f"not run (over --before-upto {args.before_upto})"}
        unrun: dict[str, object] = no if args.main else {"error": "not run (no --main)"}
        before = spawn("before", path, args) if args.main and n <= args.before_upto else unrun
        before_file = spawn("before-file", path, args) if args.main and n <= args.before_upto else unrun
        after = spawn("after-file", path, args)
        ops = spawn("after-ops", path, args) if n <= args.before_upto else no
        agree = ("" if all((b["valid"], b["edges"]) == (after["valid"], after["edges"])
                           for b in (before, before_file) if "error" not in b and "error" not in after)
                 else "  DISAGREE")
        print(f"{n:>9} | {_cell(before, 'read_s', 'check_s', 'total_s', 'cpu_s', 'peak_mb'):<58} | "
              f"{_cell(before_file, 'total_s', 'cpu_s', 'peak_mb'):<40} | "
              f"{_cell(after, 'total_s', 'cpu_s', 'peak_mb'):<40} | "
              f"{_cell(ops, 'read_s', 'check_s', 'cpu_s', 'peak_mb')}{agree}  "
              f"valid={after.get('valid')} edges={after.get('edges')}", flush=True)
    if not args.skip_corpus and (args.data / "elle").is_dir():
        print(f"\n{'plume fig_10':<22} {'txns':>6} {'parse s':>8} {'check s':>8} {'valid (SI)':>10} "
              "serializable")
        for c in corpus(args.data):
            print(f"{c['file']:<22} {c['txns']:>6} {c['parse_s']:>8} {c['check_s']:>8} "
                  f"{c['valid_si']!s:>10} {c['serializable']}", flush=True)


if __name__ == "__main__":
    main()
