"""Benchmark start-up: ``jepsy --help`` and ``jepsy check`` of a one-operation history.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 21] [--baseline DIR] [--instructions]

Runs each command ``--repeat`` times as a child process of this tree's ``.venv``
(and of ``DIR/.venv`` with ``--baseline``, alternating, so that both see the same
machine) and prints the best and the median of the child's CPU time (user + system),
which a busy machine disturbs far less than the wall clock, beside the wall clock's
best.  ``--instructions`` also counts the instructions each command executes once
under valgrind, a figure no load can move.  ``python -c pass`` is the floor.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = "tests/data/knossos/cas-register/bad/immediate-failure.edn"


def commands(tree: Path) -> dict[str, list[str]]:
    venv = tree / ".venv" / "bin"
    return {
        "python -c pass": [str(venv / "python"), "-c", "pass"],
        "jepsy --help": [str(venv / "jepsy"), "--help"],
        "jepsy check (1 op)": [str(venv / "jepsy"), "check", "--model", "cas-register",
                               str(tree / SMALL)],
    }


def run_once(cmd: list[str]) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def instructions(cmd: list[str]) -> int | None:
    """Instructions ``cmd`` executes, counted by valgrind (None without valgrind)."""
    if shutil.which("valgrind") is None:
        return None
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                         capture_output=True, text=True, check=False).stderr
    m = re.search(r"Collected : (\d+)", out)
    return int(m.group(1)) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout with its own .venv (installed), for 'before'")
    ap.add_argument("--instructions", action="store_true")
    args = ap.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), **trees}
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):  # alternate trees and commands: both see the same load
        for label, tree in trees.items():
            for name, cmd in commands(tree).items():
                samples.setdefault((label, name), []).append(run_once(cmd))
    print(f"{'tree':10s} {'command':22s} {'cpu best':>9s} {'cpu median':>11s} {'wall best':>10s}"
          + ("  instructions" if args.instructions else ""))
    for (label, name), runs in samples.items():
        cpus = sorted(c for c, _ in runs)
        walls = sorted(w for _, w in runs)
        line = (f"{label:10s} {name:22s} {cpus[0] * 1000:7.1f}ms {cpus[len(cpus) // 2] * 1000:9.1f}ms "
                f"{walls[0] * 1000:8.1f}ms")
        if args.instructions:
            n = instructions(commands(trees[label])[name])
            line += f"  {n / 1e6:9.1f} M" if n is not None else "  (no valgrind)"
        print(line)


if __name__ == "__main__":
    main()
