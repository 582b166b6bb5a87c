"""A database's throughput on the power-loss filesystem against a plain directory.

Redis (Debian's ``redis-server``, with its AOF on) runs on this machine, bound to
127.0.0.1, once with its data directory plain and once with jepsy's power-loss
filesystem mounted over it, exactly as ``--nemesis power`` mounts it on a node;
``redis-benchmark`` drives SETs (each appended to the AOF) through 20
connections, for ``appendfsync everysec`` (a write syscall per event-loop turn,
one fsync a second) and ``always`` (an fsync per turn).  The goal: at least half
the plain directory's throughput.  Needs root and /dev/fuse.

    sudo .venv/bin/python benchmarks/bench_power.py [--requests 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POWERFS = Path(__file__).resolve().parents[1] / "nemeses" / "powerfs.py"
PORT = 16399


def wait(cond: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(cond) or not cond():
        if time.monotonic() > deadline:
            sys.exit(f"bench_power: timed out waiting for {what}")
        time.sleep(0.05)


def redis_throughput(data: Path, fsync: str, requests: int) -> float:
    conf = (f"port {PORT}\nbind 127.0.0.1\nprotected-mode no\ndir {data}\nappendonly yes\n"
            f"appendfsync {fsync}\nsave \"\"\ndaemonize no\n")
    (data / "redis.conf").write_text(conf)
    server = subprocess.Popen(["redis-server", str(data / "redis.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait(lambda: subprocess.run(["redis-cli", "-p", str(PORT), "ping"], capture_output=True,
                                    text=True).stdout.strip() == "PONG", "redis")
        out = subprocess.run(["redis-benchmark", "-p", str(PORT), "-t", "set", "-n", str(requests),
                              "-c", "20", "-d", "64", "-r", "100000", "-q"],
                             capture_output=True, text=True, check=True).stdout
        m = re.search(r"SET: ([\d.]+) requests per second", out.replace("\r", "\n"))
        if not m:
            sys.exit(f"bench_power: cannot read redis-benchmark's output: {out[-200:]}")
        return float(m.group(1))
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not shutil.which("redis-server"):
        sys.exit("bench_power: needs root, /dev/fuse and redis-server")
    print(f"{'appendfsync':12s} {'plain dir SET/s':>16s} {'power-loss fs SET/s':>20s} {'ratio':>6s}"
          f"   (median of {args.repeat}, alternating)")
    for fsync in ("everysec", "always"):
        base_runs, got_runs = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                plain, powered = Path(tmp) / "plain", Path(tmp) / "powered"
                plain.mkdir()
                powered.mkdir()
                base_runs.append(redis_throughput(plain, fsync, args.requests))
                fs = subprocess.Popen([sys.executable, str(POWERFS), "mount", str(powered),
                                       "--socket", f"{tmp}/ctl.sock"])
                try:
                    mark = f" {powered} fuse.jepsy-power "
                    wait(lambda m=mark: m in Path("/proc/mounts").read_text(), "mount")
                    got_runs.append(redis_throughput(powered, fsync, args.requests))
                finally:
                    fs.terminate()
                    fs.wait(timeout=30)
        base, got = statistics.median(base_runs), statistics.median(got_runs)
        print(f"{fsync:12s} {base:16,.0f} {got:20,.0f} {got / base:6.2f}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

if __name__ == "__main__":
    main()
