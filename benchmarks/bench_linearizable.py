"""Benchmark the linearizability checker on the Knossos and Porcupine corpora.

    .venv/bin/python benchmarks/bench_linearizable.py [--data ../shared/data] [--repeat 3]
                                                      [--workers N] [--engine both|c|python]
                                                      [--quiet]

Both search engines run side by side on each history (the compiled loop and the
pure-Python one; see ``jepsy.checkers.linear.native``).  For each history and
engine: parse time, check time (parsing excluded; best of ``--repeat``),
"search" (the check less pairing the ops and splitting them by key: what
Porcupine's figures time, its input being paired operations already),
end to end (read + check, one run), the peak memory the check allocates
(tracemalloc, measured in a separate run with one worker, so it does not slow the
timed runs), the configurations the search proved dead (its cache), the workers
it could use (a second process is forked only if a check runs long) and, where
measured, Porcupine's median time for the same file.  Totals per corpus are
printed next to Porcupine's reference figures (Go, 2 threads, same kind of
machine): all 122 Knossos histories 17 ms, kv c50-ok 129 ms, c50-bad 16 ms.
"""

from __future__ import annotations

import argparse
import csv
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from jepsy.checkers.linear import check_history
from jepsy.checkers.linear import native as linear_native
from jepsy.checkers.linear.models import Model, cas_register, kv, multi_register, mutex
from jepsy.checkers.linear.prepare import prepare
from jepsy.checkers.linear.schedule import partition
from jepsy.history import read_history

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
PORCUPINE_MS = {"knossos": 17.0, "c50-ok": 129.0, "c50-bad": 16.0}


def knossos_model(rel: str) -> Model:
    if rel.startswith("multi-register"):
        return multi_register({"x": 0, "y": 0})
    if rel.startswith("mutex"):
        return mutex()
    return cas_register(0)


def cases(data: Path) -> list[tuple[str, str, Path, Model, bool, float | None]]:
    """(corpus, name, path, model, expected verdict, Porcupine's median ms if measured)."""
    out: list[tuple[str, str, Path, Model, bool, float | None]] = []
    tsv = data / "knossos" / "verdicts.tsv"
    with tsv.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rel = row["file"]
            ref = row.get("porcupine_go_median_ms_gomaxprocs2")
            out.append(("knossos", rel, data / "knossos" / rel, knossos_model(rel),
                        row["expected_valid"] == "true", float(ref) if ref else None))
    for n in ("01", "10", "50"):
        for v in ("ok", "bad"):
            name = f"c{n}-{v}"
            out.append(("porcupine-kv", name, data / "porcupine-kv" / f"{name}.txt", kv(), v == "ok",
                        PORCUPINE_MS.get(name)))
    return out


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (a forked racer)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(history: list[Any], model: Model, repeat: int, workers: int | None, engine: str,
            clock: Any = time.perf_counter) -> dict[str, Any]:
    """One engine on one parsed history: best check time of ``repeat``, search time, memory."""
    t1 = clock()
    result = check_history(history, model, workers=workers, engine=engine)
    best = clock() - t1
    prep = float("inf")
    for i in range(repeat):
        gc.collect()
        if i:
            t = clock()
            check_history(history, model, workers=workers, engine=engine)
            best = min(best, clock() - t)
        t = clock()
        partition(prepare(history), model)  # pairing and splitting, as the check does
        prep = min(prep, clock() - t)
    gc.collect()
    tracemalloc.start()
    check_history(history, model, workers=1, engine=engine)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"valid": result["valid"], "check": best, "search": max(0.0, best - prep),
            "first": t1, "peak": peak, "workers": result["workers"],
            "configs": sum(k.get("configs", 0) for k in result["keys"].values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--engine", choices=("both", "c", "python"), default="both",
                    help="search engines to run side by side (default both; c needs the "
                         "compiled module)")
    ap.add_argument("--quiet", action="store_true", help="totals only")
    ap.add_argument("--cpu", action="store_true",
                    help="measure CPU time (this process and a forked racer) instead of wall "
                         "time: steadier on a shared machine, but a race then counts twice")
    args = ap.parse_args(argv)
    if not (args.data / "knossos").exists():
        print(f"no corpora under {args.data}", file=sys.stderr)
        return 2
    engines = ["c", "python"] if args.engine == "both" else [args.engine]
    if "c" in engines and not linear_native.AVAILABLE:
        print("the compiled search is not built: python only", file=sys.stderr)
        engines.remove("c")
        if not engines:
            return 2
    clock = _cpu if args.cpu else time.perf_counter
    totals: dict[tuple[str, str], dict[str, float]] = {}
    wrong = 0
    faster = dict.fromkeys(engines, 0)
    if not args.quiet:
        print(f"{'history':52} {'engine':>6} {'verdict':>7} {'parse ms':>9} {'check ms':>9} "
              f"{'search':>8} {'e2e ms':>9} {'peak MB':>8} {'dead cfg':>8} {'w':>2} "
              f"{'porcupine ms':>12}")
    for corpus, name, path, model, expected, ref in cases(args.data):
        t0 = clock()
        history = read_history(path)
        parse = clock() - t0
        group = corpus if corpus == "knossos" else name
        for engine in engines:
            m = measure(history, model, args.repeat, args.workers, engine, clock)
            ok = m["valid"] is expected
            wrong += not ok
            e2e = parse + m["check"]
            t = totals.setdefault((group, engine), {"check": 0.0, "search": 0.0, "e2e": 0.0,
                                                     "peak": 0.0, "n": 0})
            t["check"] += m["check"]
            t["search"] += m["search"]
            t["e2e"] += e2e
            t["peak"] = max(t["peak"], m["peak"])
            t["n"] += 1
            faster[engine] += ref is not None and m["search"] * 1e3 <= ref
            if not args.quiet:
                print(f"{corpus + '/' + name:52} {engine:>6} {m['valid']!s:>7}{'' if ok else '!'} "
                      f"{parse * 1e3:9.2f} {m['check'] * 1e3:9.2f} {m['search'] * 1e3:8.2f} "
                      f"{e2e * 1e3:9.2f} {m['peak'] / 2**20:8.1f} {m['configs']:8d} "
                      f"{m['workers']:>2} {'' if ref is None else f'{ref:12.3f}'}")
    print()
    print(f"{'corpus':16} {'files':>5} {'engine':>6} {'check ms':>9} {'search':>8} {'e2e ms':>9} "
          f"{'peak MB':>8} {'porcupine ms':>13}")
    for (group, engine), t in totals.items():
        ref = PORCUPINE_MS.get(group)
        print(f"{group:16} {int(t['n']):5d} {engine:>6} {t['check'] * 1e3:9.1f} "
              f"{t['search'] * 1e3:8.1f} {t['e2e'] * 1e3:9.1f} {t['peak'] / 2**20:8.1f} "
              f"{'' if ref is None else f'{ref:13.0f}'}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    for engine in engines:
        print(f"{engine}: histories searched as fast as Porcupine or faster: {faster[engine]} "
              f"of {sum(1 for c in cases(args.data) if c[5] is not None)}")
    print(f"process peak RSS {rss:.0f} MB; wrong verdicts: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
