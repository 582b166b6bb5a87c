"""Benchmark the transactional checker: synthetic list-append histories and Plume's corpora.

    .venv/bin/python benchmarks/bench_elle.py [--sizes 10000,100000,1000000] [--data ../shared/data]
                                              [--processes 10] [--keys 20] [--skip-corpus]
                                              [--workload list-append|rw-register]

Each size runs in its own child process, so its peak memory (ru_maxrss) is its
own: the figure includes the history itself (jepsy ``Op`` records, as a run
holds them after reading), which dominates at a million transactions.  The
history comes from ``synth`` (a serial model under random concurrency), so
every check must say valid.  Times: generation, then the check alone (the
phase split between analysis and cycle search comes from the result's stats).

Anchors (not this machine): Elle's paper, ~5 s at 10k operations on 24 cores;
Plume, ~2 s at 10k transactions and ~100 s at 1M.  The goal here, on 2 cores:
100k transactions within 10 s, 1M within 120 s and 4 GB.

The Plume corpora (``plume/figure/fig_10``: 2 to 20 sessions, 100 txns each,
50 micro-ops per txn) are read from EDN (parse time reported apart) and checked
under snapshot isolation, the level Plume generated them for (some hold write
skew, so serializable rightly fails on them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def one_size(n: int, processes: int, keys: int, workload: str) -> dict[str, object]:
    from jepsy.checkers.elle import list_append, rw_register, synth

    t0 = time.monotonic()
    h = synth.history(workload, n, processes=processes, keys=keys, mops=(1, 4), seed=n)
    t1 = time.monotonic()
    r = (list_append() if workload == "list-append" else rw_register()).check(h, {})
    t2 = time.monotonic()
    stats = r["stats"]
    return {"txns": n, "ops": len(h), "generate_s": round(t1 - t0, 2), "check_s": round(t2 - t1, 2),
            "analysis_s": stats["analysis_seconds"], "search_s": stats["search_seconds"],
            "edges": stats["edges"], "valid": r["valid"],
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--processes", type=int, default=10)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--workload", choices=["list-append", "rw-register"], default="list-append")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child, args.processes, args.keys, args.workload)))
        return
    print(f"{'txns':>9} {'ops':>9} {'gen s':>7} {'check s':>8} {'analysis':>9} {'search':>7} "
          f"{'edges':>9} {'peak MB':>8} valid")
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--processes", str(args.processes),
                              "--keys", str(args.keys), "--workload", args.workload],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{row['txns']:>9} {row['ops']:>9} {row['generate_s']:>7} {row['check_s']:>8} "
              f"{row['analysis_s']:>9} {row['search_s']:>7} {row['edges']:>9} {row['peak_mb']:>8} "
              f"{row['valid']}", flush=True)
    if not args.skip_corpus and (args.data / "elle").is_dir():
        print(f"\n{'plume fig_10':<22} {'txns':>6} {'parse s':>8} {'check s':>8} {'valid (SI)':>10} "
              "serializable")
        for c in corpus(args.data):
            print(f"{c['file']:<22} {c['txns']:>6} {c['parse_s']:>8} {c['check_s']:>8} "
                  f"{c['valid_si']!s:>10} {c['serializable']}", flush=True)


if __name__ == "__main__":
    main()
