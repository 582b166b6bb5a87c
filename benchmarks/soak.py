"""Soak: long ``jepsy test`` runs, printing jepsy's resident memory (RSS) as they go.

Two phases, each one ``jepsy test`` process whose ``/proc/PID/status`` is sampled:

1. ``memory`` (the in-process linearizable double) at full rate (``--rate 0``): the
   most operations per second jepsy can record, so growth per operation shows;
2. etcd on a lab of this script's own (``--lab``, ``--subnet``) at the default rate,
   with partitions, so SSH, the nemesis and real clients run for as long.

Prints one line per sample, then per phase: RSS at the 5-minute mark (or at a third of
the phase, for short runs), the largest RSS after it until the time limit, the growth
between them (the goal: at most 10 %), the check's peak RSS (apart: the checker reads
the whole history back; ``--max-check-mib`` ends a check that passes it), the run's
operations, exit code and check time.  The default is an hour
per phase; ``--minutes 5`` runs a short one.  Needs root for the lab (as every lab
does); ``--skip-etcd`` runs the memory phase alone, without a lab, and ``--skip-memory``
the etcd phase alone: two such processes side by side finish an hour's soak in an hour.
During the check, samples come every 5 s at most, and the process's peak RSS (VmHWM)
is reported too.  The ``memory`` database logs what it holds once a minute; each
sample line shows it ("db holds N keys, B bytes"), apart from jepsy's own memory.

    .venv/bin/python benchmarks/soak.py --minutes 60
    .venv/bin/python benchmarks/soak.py --minutes 5 --every 30
    .venv/bin/python benchmarks/soak.py --minutes 60 --skip-etcd &
    .venv/bin/python benchmarks/soak.py --minutes 60 --skip-memory --lab ht9 --subnet 10.179.0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident set size of ``pid`` in MiB (``field="VmHWM"``: its peak so far; None once
    it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def db_held(run_store: Path) -> str:
    """The last "memory db holds N keys, B bytes" the run logged ("" for other databases):
    the database's own data, apart from jepsy's memory."""
    for log in sorted(run_store.glob("*/*/jepsy.log"))[-1:]:
        with contextlib.suppress(OSError):
            lines = [x for x in log.read_text(errors="replace").splitlines()
                     if "memory db holds " in x]
            if lines:
                return lines[-1].split("memory db holds ", 1)[1]
    return ""


def soak(name: str, args: list[str], minutes: float, every: float, store: Path,
         max_check_mib: float = 8192.0) -> dict[str, object]:
    """Run one ``jepsy test`` for ``minutes``, sampling its RSS every ``every`` seconds.

    Samples up to the time limit are the run; later ones are the check (the checker
    reads the whole history back).  Growth is measured over the run only, from the
    5-minute mark; the check's peak is reported apart.  A check whose RSS passes
    ``max_check_mib`` is ended (SIGTERM) so that a shared machine is not driven out of
    memory, and the summary says so.
    """
    log = store / f"{name}.log"
    limit = int(minutes * 60)
    cmd = [*JEPSY, "test", *args, "--time-limit", str(limit), "--store", str(store / name)]
    print(f"== {name}: {' '.join(cmd[3:])}", flush=True)
    t0 = time.monotonic()
    stopped = None
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "NO_COLOR": "1"})
        samples: list[tuple[float, float]] = []
        hwm = 0.0
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            hwm = max(hwm, rss_mib(proc.pid, "VmHWM") or 0.0)
            if rss is not None:
                samples.append((time.monotonic() - t0, rss))
                held = db_held(store / name)
                print(f"  {name:6} t={samples[-1][0]:7.0f} s  rss {rss:7.1f} MiB"
                      + (f"  (db holds {held})" if held else ""), flush=True)
                if samples[-1][0] > limit and rss > max_check_mib and stopped is None:
                    stopped = round(rss, 1)
                    print(f"  {name:6} check passed {max_check_mib:.0f} MiB: ending it", flush=True)
                    proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):  # the check: closer samples
                proc.wait(timeout=every if time.monotonic() - t0 <= limit else min(every, 5.0))
    mark = min(300.0, minutes * 60 / 3)
    # The run: samples up to the time limit (and the second after it, for the sample taken
    # at the limit); the check's samples, every 5 s from then on, are apart.
    run = [(t, r) for t, r in samples if t <= limit + 1.0]
    base = next((r for t, r in run if t >= mark), run[-1][1] if run else 0.0)
    peak = max([r for t, r in run if t >= mark] or [base])
    check = [r for t, r in samples if t > limit + 1.0]
    try:
        results = json.loads((store / name / "latest" / "results.json").read_text())
    except (OSError, ValueError):
        results = {}
    ops = (results.get("stats") or {}).get("count")
    if ops is None:  # no results (a check ended early): count the recorded completions
        with contextlib.suppress(OSError), (store / name / "latest" / "history.jsonl").open() as h:
            ops = sum(1 for line in h if '"type": "invoke"' not in line)
    summary = {
        "phase": name, "minutes": minutes, "rss_at_mark_mib": round(base, 1), "mark_s": mark,
        "rss_peak_run_mib": round(peak, 1),
        "growth_pct": round(100 * (peak - base) / base, 1) if base else None,
        "rss_peak_check_mib": round(max(check), 1) if check else None,
        "peak_rss_whole_process_mib": round(hwm, 1),  # VmHWM, as last seen before the exit
        "check_stopped_at_mib": stopped,
        "exit_code": proc.returncode, "ops": ops,
        "check_s": (results.get("timings") or {}).get("check_s"), "valid": results.get("valid"),
        "db_holds_at_end": db_held(store / name) or None,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    print(f"-- {name}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "phase"),
          flush=True)
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="length of each phase (default 60)")
    p.add_argument("--every", type=float, default=60.0, help="seconds between samples (default 60)")
    p.add_argument("--lab", default="ht3", help="lab name for the etcd phase (default ht3)")
    p.add_argument("--subnet", default="10.173.0", help="the lab's subnet (default 10.173.0)")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--skip-etcd", action="store_true", help="only the memory phase")
    p.add_argument("--skip-memory", action="store_true",
                   help="only the etcd phase (run it beside a --skip-etcd process so both phases"
                        " of an hour's soak end within about an hour on a machine with 2+ cores)")
    p.add_argument("--keep", action="store_true", help="keep the stored runs (default: removed)")
    p.add_argument("--max-check-mib", type=float, default=8192.0,
                   help="end a check whose RSS passes this (default 8192: a shared machine)")
    p.add_argument("--check-timeout", type=float, default=3600.0,
                   help="the memory phase's linearizability budget, s (default 3600)")
    a = p.parse_args()
    store = Path(tempfile.mkdtemp(prefix="jepsy-soak-"))
    out: list[dict[str, object]] = [] if a.skip_memory else [
        soak("memory", ["--nodes", "n1,n2,n3", "--db", "memory", "--rate", "0", "--seed", "1",
                        # the default budget (120 s) is for ordinary runs, not ~15 M ops
                        "--workload-opt", f"check_timeout={a.check_timeout}"],
             a.minutes, a.every, store, a.max_check_mib)]
    if not a.skip_etcd:
        lab_dir = f"/srv/jepsy-lab-{a.lab}"
        lab = [*JEPSY, "lab"]
        subprocess.run([*lab, "up", "--name", a.lab, "--subnet", a.subnet, "--dir", lab_dir,
                        "--nodes", str(a.nodes), "--packages", "etcd-server"],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            out.append(soak("etcd", ["--inventory", f"{lab_dir}/inventory.yaml", "--db", "etcd",
                                     "--nemesis", "partition", "--seed", "1"],
                            a.minutes, a.every, store, a.max_check_mib))
        finally:
            subprocess.run([*lab, "down", "--name", a.lab, "--dir", lab_dir],
                           stdout=subprocess.DEVNULL)
    print(json.dumps(out, indent=1))
    if not a.keep:
        shutil.rmtree(store, ignore_errors=True)
    else:
        print(f"runs kept in {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
