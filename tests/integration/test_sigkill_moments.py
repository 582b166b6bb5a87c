"""SIGKILL jepsy at 20 random moments of a faulty run; after each ``jepsy heal`` nothing is left.

Each moment is a fresh ``jepsy test`` (etcd, register workload, nemeses
partition, clock, kill, pause, packet and power every 0.5 s) on a 3-node lab,
killed with SIGKILL a random time (uniform in 0-15 s, seeded:
``JEPSY_SIGKILL_SEED``) after its first fault completed.  Power faults put
etcd's data directory on the power-loss filesystem (FUSE, mounted by the run
before etcd starts), as the README's power findings do.  Then ``jepsy heal
--inventory`` must succeed, and this test looks at every node for itself (not
through jepsy's own verification): no iptables rule naming jepsy, no
netem/tbf qdisc, no faketime offset or recorded clock state, no process in
state T, and the etcd jepsy started is running (a database the kill or power
fault left down is a fault not healed), unless the heal could not start it
and said so (exit 2, ``STILL database ...``).  What was in force at each kill
is printed and must cover most fault families, power among them, so that
the test kills jepsy in the middle of faults rather than between them.

What "healed" means for a power fault: the node is left as a finished run's
teardown leaves it, with the database running.  The power-loss filesystem is
gone (no ``fuse.jepsy-power`` mount, no filesystem process, no ``power.mounts``
or ``power.down`` record): whatever ran on it was stopped (it could not outlive
the unmount), every page still pending was written back, and it was
unmounted; etcd was then started again from its start record, on the plain
directory.  A filesystem still mounted, even with its power on, is a fault
not healed: nothing would ever unmount it, and the next run, with or without
``--nemesis power``, would find jepsy's filesystem under its database.  After
the test's own teardown (what a finished run does: etcd torn down, the power
nemesis's teardown) nothing of the power fault may remain either.

Slow (about 20 runs' setup): ``pytest -m slow tests/integration/test_sigkill_moments.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy.control import on_nodes
from jepsy.dbs.etcd import PID_FILE, EtcdDB
from jepsy.lab import Lab
from jepsy.nemeses import power
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import lab_test

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAB, SUBNET = "ht2", "10.172.0"
MOMENTS = 20
NEMESES = "partition,clock,kill,pause,packet,power"
POWER_STATS = (f"for s in {power.RUN_DIR}/*.sock; do [ -S \"$s\" ] && "
               f"python3 {power.REMOTE_DIR}/powerfs.py ctl \"$s\" stats; done 2>/dev/null")
JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]

# One word per fault in force on a node (what the kill left behind, before the heal).
IN_FORCE = (
    "iptables -w -S 2>/dev/null | grep -q -- '-j jepsy$' && echo partition; "
    "{ tc qdisc show 2>/dev/null | grep -Eq 'netem|tbf| fa17: ' || "
    "iptables -w -S 2>/dev/null | grep -q -- '-j jepsy-loss$'; } && echo packet; "
    "[ -f /run/jepsy/faketime ] && awk '{exit ($1 + 0 == 0)}' /run/jepsy/faketime && echo clock; "
    "ps -eo stat= | grep -q '^T' && echo pause; "
    # A power loss: the filesystem refuses every change (its power is off).
    f"{{ {POWER_STATS}; }} | grep -q '\"off\": true' && echo power; "
    # A kill: the database jepsy killed is down (a power loss kills it too, without this record).
    f"[ -f /run/jepsy/faults/killed ] && ! {{ [ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE}) "
    "2>/dev/null; } && echo kill; true"
)
# One line per thing that must not be there after the heal.
LEFT = (
    "iptables -w -S 2>/dev/null | grep jepsy | sed 's/^/iptables: /'; "
    "tc qdisc show 2>/dev/null | grep -E 'netem|tbf| fa17: ' | sed 's/^/qdisc: /'; "
    "[ -f /run/jepsy/faketime ] && awk '($1 + 0 != 0) {print \"faketime offset \" $1}' /run/jepsy/faketime; "
    "for f in clock.offset clock.strobe.pid clock.ntp; do "
    "[ -e /run/jepsy/faults/$f ] && echo clock state $f; done; "
    "ps -eo args= | grep -v grep | grep -q jepsy-strobe && echo clock strobe running; "
    "ps -eo pid=,stat=,comm= | awk '$2 ~ /^T/ {print \"stopped process \" $1 \" \" $3}'; "
    "grep ' fuse.jepsy-power ' /proc/mounts | sed 's/^/power mount: /'; "
    f"{{ {POWER_STATS}; }} | grep '\"off\": true' | sed 's/^/power off: /'; "
    "ps -eo pid=,args= | grep -v grep | grep 'powerfs.py mount' | sed 's/^/power filesystem process: /'; "
    "for f in power.mounts power.down; do [ -e /run/jepsy/faults/$f ] && echo power state $f; done; "
    f"{{ [ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE}) 2>/dev/null && "
    "ps -o comm= -p $(cat " + PID_FILE + ") | grep -qx etcd; } || echo database not running; true"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Lab, RunSpec]]:
    with lab_running(LAB, SUBNET, nodes=3, packages=["etcd-server", "fuse3"]) as lab:
        t = lab_test(lab)
        try:
            yield lab, t
        finally:
            stop_etcd(t)
            t.remote.close()


def stop_etcd(t: RunSpec) -> None:
    """What a finished run's teardown does (a SIGKILLed jepsy never got to it): the database's
    teardown, then the power nemesis's."""
    db = EtcdDB({})
    on_nodes(t.nodes, lambda n: db.teardown(t, n), raise_errors=False)
    power.family({"database": db}).nemesis.teardown(t)


def per_node(t: RunSpec, script: str) -> dict[str, list[str]]:
    got = on_nodes(t.nodes, lambda n: t.remote.execute(n, script, sudo=True, timeout=30))
    return {n: [x for x in r.stdout.splitlines() if x.strip()] for n, r in got.items()}


def first_fault_done(history: Path) -> bool:
    try:
        text = history.read_text()
    except OSError:
        return False
    return any('"process": "nemesis"' in line and '"type": "info"' in line and "took-effect" in line
               for line in text.splitlines())


def kill_at(lab: Lab, store: Path, seed: int, delay: float) -> float:
    """A faulty run SIGKILLed ``delay`` s after its first fault completed; seconds it ran."""
    t0 = time.monotonic()
    run = subprocess.Popen(
        [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "etcd",
         "--workload", "register", "--nemesis", NEMESES,
         "--nemesis-interval", "0.5", "--time-limit", "120", "--seed", str(seed),
         "--store", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 120
        while not first_fault_done(store / "latest" / "history.jsonl"):
            assert run.poll() is None, f"jepsy test exited {run.returncode} before any fault"
            assert time.monotonic() < deadline, "no fault within 120 s"
            time.sleep(0.05)
        time.sleep(delay)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL, run.returncode  # still running when killed
    return time.monotonic() - t0


def healthy_after(t: RunSpec, limit: float = 20.0) -> float | None:
    """Seconds until every node's etcd answers ``/health`` with true (None: not within ``limit``).

    The heal's "started again" only says a process runs; this says the cluster it restarted
    works (a database that came back unable to serve is not healed).
    """
    t0 = time.monotonic()
    waiting = set(t.nodes)
    while waiting and time.monotonic() - t0 < limit:
        for node in sorted(waiting):
            conn = http.client.HTTPConnection(t.address(node), 2379, timeout=2)
            try:
                conn.request("GET", "/health")
                if json.loads(conn.getresponse().read()).get("health") in (True, "true"):
                    waiting.discard(node)
            except (OSError, ValueError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        if waiting:
            time.sleep(0.2)
    return None if waiting else time.monotonic() - t0


def started_again(heal_stdout: str) -> list[str]:
    """``node by family`` for each database the heal started again (its lines: ``n1: a; b``)."""
    return [f"{line.split(': ', 1)[0]} by {item.split(':')[0]}"
            for line in heal_stdout.splitlines() if ": " in line
            for item in line.split(": ", 1)[1].split("; ") if "started again" in item]


def database_down_and_said(node: str, left: list[str], healed: subprocess.CompletedProcess[str]) -> bool:
    """The one thing left is the database not running, and the heal said so (exit 2, STILL)."""
    return (left == ["database not running"] and healed.returncode == 2
            and f"{node}: STILL database" in healed.stdout)


def test_sigkill_at_random_moments_then_heal_leaves_nothing(
        cluster: tuple[Lab, RunSpec], tmp_path: Path) -> None:
    lab, t = cluster
    seed = int(os.environ.get("JEPSY_SIGKILL_SEED", str(time.time_ns() % 100000)))
    rng = random.Random(seed)
    print(f"\nseed {seed} (JEPSY_SIGKILL_SEED={seed} repeats these moments); nemeses {NEMESES}")
    t0 = time.monotonic()
    seen: Counter[str] = Counter()
    exits: Counter[int] = Counter()
    restarted: Counter[str] = Counter()  # by which family's heal
    problems: list[str] = []
    said = 0
    slowest = 0.0  # seconds from the heal's end to a healthy etcd on every node
    unmount_stops = 0  # nodes where the heal stopped a running etcd to unmount its filesystem
    for i in range(MOMENTS):
        delay = rng.uniform(0, 15)
        ran = kill_at(lab, tmp_path / f"m{i}", seed=rng.randrange(1 << 30), delay=delay)
        left_by_kill = per_node(t, IN_FORCE)
        families = sorted({f for v in left_by_kill.values() for f in v})
        seen.update(families)
        healed = subprocess.run([*JEPSY, "heal", "--inventory", str(lab.inventory_path)],
                                capture_output=True, text=True, timeout=180)
        exits[healed.returncode] += 1
        restarts = started_again(healed.stdout)
        restarted.update(r.split(" by ")[1] for r in restarts)
        left = per_node(t, LEFT)
        healthy = healthy_after(t) if not any(left.values()) else None
        health = "etcd NOT healthy within 20 s" if healthy is None else f"etcd healthy after {healthy:.1f} s"
        if healthy is not None:
            slowest = max(slowest, healthy)
        unmount_stops += healed.stdout.count("to unmount it")
        in_force = {f: sorted(n for n, v in left_by_kill.items() if f in v) for f in families}
        print(f"moment {i:2}: killed {delay:5.2f} s after the first fault ({ran:5.1f} s into the run);"
              f" in force: {in_force or 'nothing'}; heal exit {healed.returncode};"
              f" started again: {', '.join(restarts) or 'nothing'};"
              f" left: {({n: v for n, v in left.items() if v}) or 'nothing'};"
              f" {health}"
              "\n    heal said: "
              + " | ".join(x for x in healed.stdout.splitlines() if "nothing to heal" not in x),
              flush=True)
        named = {n for n, v in left.items() if v and database_down_and_said(n, v, healed)}
        said += len(named)
        unexplained = {n: v for n, v in left.items() if v and n not in named}
        if unexplained or (healed.returncode != 0 and not named) or (healthy is None and not named):
            problems.append(f"moment {i} (delay {delay:.2f} s, in force {families}): heal exit "
                            f"{healed.returncode}: {healed.stdout.strip()} {healed.stderr.strip()}; "
                            f"left {left}")
        stop_etcd(t)
    # The test's own teardown (stop_etcd, as a finished run's) leaves nothing of the power fault.
    after = per_node(t, LEFT.replace("echo database not running", "true"))
    print(f"faults in force at the kills, over {MOMENTS} moments: {dict(seen)}; heal exit codes: "
          f"{dict(exits)}; databases started again by the heal: {dict(restarted) or 'none'}; "
          f"of them stopped to unmount the filesystem: {unmount_stops}; not started and said so: "
          f"{said}; healthy at most {slowest:.1f} s after a heal; {time.monotonic() - t0:.0f} s")
    assert problems == [], "\n".join(problems)
    assert not any(after.values()), f"left after the teardown: {after}"
    # The kills hit the middle of faults: at least four of the six families were caught in
    # force, power among them.
    assert len(seen) >= 4 and seen["power"] > 0, seen
