"""Benchmark many small histories: per-file time of ``jepsy check`` against Porcupine's, file by file.

    .venv/bin/python benchmarks/bench_corpus.py [--data tests/data] [--repeat 5]

Reads and checks every Knossos history in one process, as ``jepsy check DIR``
does (the checker built once per model), best of ``--repeat`` per file, and sets
each file's time (read + check) beside Porcupine's median for the same file as
recorded in ``knossos/verdicts.tsv`` (Go, GOMAXPROCS=2, check only, its input
already parsed).  Prints the share of files on which jepsy is at least as fast,
the per-file fixed cost (median over the ten smallest files), and the verdicts,
which must be the expected ones.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import time
from pathlib import Path
from typing import Any

from jepsy.checkers.linear import linearizable
from jepsy.checkers.linear.models import cas_register, multi_register, mutex
from jepsy.history import read_history

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with contextlib.suppress(ImportError):  # (the jepsy before the fast readers had none)
        import msgspec  # noqa: F401  (as jepsy check of many files does, once up front)
    checkers: dict[str, Any] = {
        "cas": linearizable(cas_register(0)), "mutex": linearizable(mutex()),
        "multi": linearizable(multi_register({"x": 0, "y": 0})),
    }
    rows = []
    wrong = []
    with (args.data / "knossos" / "verdicts.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rel = row["file"]
            kind = "multi" if rel.startswith("multi") else "mutex" if rel.startswith("mutex") else "cas"
            path = args.data / "knossos" / rel
            best, ops, valid = float("inf"), 0, None
            for _ in range(args.repeat):
                t = time.perf_counter()
                history = read_history(path)
                valid = checkers[kind].check(history, {})["valid"]
                best = min(best, time.perf_counter() - t)
                ops = len(history)
            if valid != (row["expected_valid"] == "true"):
                wrong.append(rel)
            ref = row.get("porcupine_go_median_ms_gomaxprocs2")
            rows.append((rel, ops, best * 1000, float(ref) if ref else None))
    compared = [r for r in rows if r[3] is not None]
    faster = sum(1 for r in compared if r[2] <= r[3])
    small = sorted(rows, key=lambda r: r[1])[:10]
    fixed = sorted(r[2] for r in small)[len(small) // 2]
    print(f"{'file':55} {'ops':>6} {'jepsy ms':>9} {'porcupine ms':>12}")
    for rel, ops, ms, ref in rows:
        print(f"{rel[:55]:55} {ops:6d} {ms:9.3f} {ref if ref is not None else float('nan'):12.3f}")
    print(f"{len(rows)} files; jepsy (read + check) at least as fast as Porcupine (check) on "
          f"{faster} of {len(compared)} ({100 * faster / max(1, len(compared)):.0f} %); "
          f"total {sum(r[2] for r in rows):.1f} ms vs {sum(r[3] for r in compared):.1f} ms; "
          f"per-file fixed cost (median of the 10 smallest) {fixed:.3f} ms")
    print("verdicts: all as expected" if not wrong else f"verdicts WRONG on: {', '.join(wrong)}")


if __name__ == "__main__":
    main()
