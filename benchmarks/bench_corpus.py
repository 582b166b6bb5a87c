"""Benchmark many small histories: per-file time of jepsy against Porcupine's, file by file.

    .venv/bin/python benchmarks/bench_corpus.py [--data tests/data] [--repeat 5] [--clock cpu|wall]
                                                [--baseline /work/base]

Reads and checks every Knossos history in one process, as ``jepsy check DIR``
does (the checker built once per model), best of ``--repeat`` per file, and sets
each file's times (read, check, both) beside Porcupine's median for the same
file as recorded in ``knossos/verdicts.tsv`` (Go, GOMAXPROCS=2, check only, its
input already parsed).  Prints the share of files on which jepsy is at least as
fast, read + check and check alone, the per-file fixed cost (median over the
ten smallest files), and the verdicts, which must be the expected ones.  With
``--clock cpu`` (the default) jepsy's times are this process's CPU time, which a
busy shared machine disturbs far less than the wall clock; Porcupine's are the
recorded ones.

``--baseline DIR`` first runs the same measurement in a child process on the
jepsy checked out and installed in DIR (its ``.venv``), then prints both side
by side: check times per file and the summaries, before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

# (file, ops, read ms, check ms, Porcupine ms or None, verdict as expected)
Row = tuple[str, int, float, float, "float | None", bool]


def measure(data: Path, repeat: int, clock_name: str) -> list[Row]:
    """Every Knossos file read and checked ``repeat`` times; the best times of each."""
    from jepsy.checkers.linear import linearizable
    from jepsy.checkers.linear.models import cas_register, multi_register, mutex
    from jepsy.history import read_history

    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    with contextlib.suppress(ImportError):  # (the jepsy before the fast readers had none)
        import msgspec  # noqa: F401  (as jepsy check of many files does, once up front)
    checkers: dict[str, Any] = {
        "cas": linearizable(cas_register(0)), "mutex": linearizable(mutex()),
        "multi": linearizable(multi_register({"x": 0, "y": 0})),
    }
    rows: list[Row] = []
    with (data / "knossos" / "verdicts.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rel = row["file"]
            kind = "multi" if rel.startswith("multi") else "mutex" if rel.startswith("mutex") else "cas"
            path = data / "knossos" / rel
            best_r, best_c, ops, valid = float("inf"), float("inf"), 0, None
            for _ in range(repeat):
                t = clock()
                history = read_history(path)
                t1 = clock()
                valid = checkers[kind].check(history, {})["valid"]
                t2 = clock()
                best_r, best_c = min(best_r, t1 - t), min(best_c, t2 - t1)
                ops = len(history)
            ref = row.get("porcupine_go_median_ms_gomaxprocs2")
            rows.append((rel, ops, best_r * 1000, best_c * 1000, float(ref) if ref else None,
                         valid == (row["expected_valid"] == "true")))
    return rows


def summary(rows: list[Row], label: str) -> list[str]:
    compared = [r for r in rows if r[4] is not None]
    n = max(1, len(compared))
    faster = sum(1 for r in compared if r[2] + r[3] <= r[4])  # type: ignore[operator]
    faster_check = sum(1 for r in compared if r[3] <= r[4])  # type: ignore[operator]
    small = sorted(rows, key=lambda r: r[1])[:10]
    fixed_read = sorted(r[2] for r in small)[len(small) // 2]
    fixed_check = sorted(r[3] for r in small)[len(small) // 2]
    refs = sorted(r[4] for r in compared)  # type: ignore[type-var]
    wrong = [r[0] for r in rows if not r[5]]
    return [
        f"{label}: jepsy at least as fast as Porcupine (check) on {faster} of {len(compared)} "
        f"({100 * faster / n:.0f} %) read + check, {faster_check} ({100 * faster_check / n:.0f} %) "
        f"check alone; total {sum(r[2] + r[3] for r in rows):.1f} ms (read {sum(r[2] for r in rows):.1f}, "
        f"check {sum(r[3] for r in rows):.1f}) vs {sum(refs):.1f} ms",  # type: ignore[arg-type]
        f"{label}: per-file fixed cost (median of the 10 smallest files): read {fixed_read:.3f} ms + "
        f"check {fixed_check:.3f} ms; Porcupine's per-file times: 5th percentile "
        f"{refs[len(refs) // 20]:.3f} ms, median {refs[len(refs) // 2]:.3f} ms",
        f"{label}: verdicts: " + ("all as expected" if not wrong else f"WRONG on: {', '.join(wrong)}"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--baseline", type=Path, help="a checkout of jepsy installed in DIR/.venv")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # rows as JSON
    args = ap.parse_args()
    if args.child:
        json.dump(measure(args.data, args.repeat, args.clock), sys.stdout)
        return
    before: dict[str, Row] = {}
    if args.baseline is not None:
        out = subprocess.run([str(args.baseline / ".venv" / "bin" / "python"), __file__, "--child",
                              "--data", str(args.data), "--repeat", str(args.repeat),
                              "--clock", args.clock],
                             cwd=args.baseline, capture_output=True, text=True, check=True).stdout
        before = {r[0]: tuple(r) for r in json.loads(out)}  # type: ignore[misc]
    rows = measure(args.data, args.repeat, args.clock)
    if before:
        print(f"{'file':55} {'ops':>6} {'check before':>12} {'check now':>10} {'porcupine ms':>12}")
        for rel, ops, _r_ms, c_ms, ref, _ok in rows:
            b = before.get(rel)
            print(f"{rel[:55]:55} {ops:6d} {b[3] if b else float('nan'):12.3f} {c_ms:10.3f} "
                  f"{ref if ref is not None else float('nan'):12.3f}")
    else:
        print(f"{'file':55} {'ops':>6} {'read ms':>8} {'check ms':>9} {'jepsy ms':>9} {'porcupine ms':>12}")
        for rel, ops, r_ms, c_ms, ref, _ok in rows:
            print(f"{rel[:55]:55} {ops:6d} {r_ms:8.3f} {c_ms:9.3f} {r_ms + c_ms:9.3f} "
                  f"{ref if ref is not None else float('nan'):12.3f}")
    print(f"{len(rows)} files ({args.clock} clock)")
    if before:
        print("\n".join(summary(list(before.values()), f"before ({args.baseline})")))
    print("\n".join(summary(rows, "now" if before else "jepsy")))


if __name__ == "__main__":
    main()
