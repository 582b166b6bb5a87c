"""Benchmark start-up: ``jepsy --help`` and ``jepsy check`` of a one-operation history.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 21] [--baseline DIR] [--runtime DIR]
                                                 [--instructions]

Runs each command ``--repeat`` times as a child process of this tree's ``.venv``
(and of ``DIR/.venv`` with ``--baseline``, alternating, so that both see the same
machine) and prints the best and the median of the child's CPU time (user + system),
which a busy machine disturbs far less than the wall clock, beside the wall clock's
best.  ``--instructions`` also counts the instructions each command executes once
under valgrind (with ``PYTHONHASHSEED=0``: a random hash seed moves the count by
about a million), a figure no load can move.

Two floors are printed with them: ``python -c pass`` (the interpreter) and
``import click, msgspec`` (the two libraries every ``jepsy check`` imports: the
command line, fixed by the design, and the history records and JSON reader).

``--runtime DIR`` also measures jepsy as a user gets it: this tree installed
(``pip install``, not editable) into a virtualenv at DIR, made if missing, with
jepsy's own dependencies only.  The development ``.venv`` holds mypy and with it
``typing_extensions``, which msgspec imports whenever it is installed (9 M
instructions, about 3 ms, of every ``jepsy check`` there).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = "tests/data/knossos/cas-register/bad/immediate-failure.edn"


def commands(venv: Path) -> dict[str, list[str]]:
    """The commands measured, run with the virtualenv at ``venv``."""
    bin_ = venv / "bin"
    return {
        "python -c pass": [str(bin_ / "python"), "-c", "pass"],
        "import click, msgspec": [str(bin_ / "python"), "-c", "import click, msgspec"],
        "jepsy --help": [str(bin_ / "jepsy"), "--help"],
        "jepsy check (1 op)": [str(bin_ / "jepsy"), "check", "--model", "cas-register",
                               str(ROOT / SMALL)],
    }


def make_runtime(venv: Path) -> None:
    """(Re)install this tree into the virtualenv ``venv`` (made if missing), without dev tools."""
    python = str(venv / "bin" / "python")
    if not (venv / "bin" / "python").exists():
        base = getattr(sys, "_base_executable", sys.executable)  # this .venv's interpreter
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT)], check=True)
    else:  # the tree as it is now (same version number: pip would keep the old copy)
        subprocess.run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                        str(ROOT)], check=True)
    subprocess.run([python, "-m", "compileall", "-q", str(venv / "lib")], check=False,
                   stdout=subprocess.DEVNULL)


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
                         capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONHASHSEED": "0"}).stderr
    m = re.search(r"Collected : (\d+)", out)
    return int(m.group(1)) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout with its own .venv (installed), for 'before'")
    ap.add_argument("--runtime", type=Path, default=None,
                    help="a virtualenv for this tree installed without dev tools (made if missing)")
    ap.add_argument("--instructions", action="store_true")
    args = ap.parse_args()
    trees = {"this tree": ROOT / ".venv"}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve() / ".venv", **trees}
    if args.runtime is not None:
        make_runtime(args.runtime.resolve())
        trees["runtime"] = args.runtime.resolve()
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):  # alternate trees and commands: both see the same load
        for label, tree in trees.items():
            for name, cmd in commands(tree).items():
                samples.setdefault((label, name), []).append(run_once(cmd))
    print(f"{'venv':10s} {'command':22s} {'cpu best':>9s} {'cpu median':>11s} {'wall best':>10s}"
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
