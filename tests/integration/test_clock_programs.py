"""Clock faults reach programs that read the clock through libc: Debian's Python 3.11 and a C program.

Both run on lab nodes under the node's libfaketime (``faketime_env``, with
jepsy's clockfix shim), sleep the ways programs do (Python's ``time.sleep``,
which libfaketime 0.9.10 alone breaks with EINVAL, a timed ``Event.wait``;
C's ``nanosleep`` and an absolute ``clock_nanosleep`` on the monotonic clock)
and keep writing the wall time they see.  Under bumps either way they keep
running and see the offsets; after the reset, none.  Then a whole ``jepsy
test --db process`` of the Python example server under ``--nemesis clock``,
which before the shim ended ``unknown`` with no operation succeeding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy.control import on_nodes
from jepsy.lab import Lab
from jepsy.nemeses.clock import ClockNemesis, faketime_env, install_clockfix
from jepsy.protocols import Test as RunSpec
from tests.integration.conftest import lab_running
from tests.integration.test_nemesis_partition import lab_test

pytestmark = pytest.mark.integration

LAB, SUBNET = "ht1", "10.141.0"
ROOT = Path(__file__).resolve().parents[2]

PY = """
import os, sys, threading, time
out, ev = sys.argv[1], threading.Event()
while True:
    time.sleep(0.05)
    ev.wait(0.02)
    with open(out + ".tmp", "w") as f:
        f.write(repr(time.time()))
    os.replace(out + ".tmp", out)
"""

C = r"""
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    for (;;) {
        struct timespec d = {0, 50000000}, now, m;
        nanosleep(&d, NULL);
        clock_gettime(CLOCK_MONOTONIC, &m);
        m.tv_nsec += 20000000;
        if (m.tv_nsec >= 1000000000) { m.tv_sec++; m.tv_nsec -= 1000000000; }
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &m, NULL) != 0) return 3;
        clock_gettime(CLOCK_REALTIME, &now);
        FILE *f = fopen(tmp, "w");
        if (!f) return 2;
        fprintf(f, "%ld.%09ld", (long)now.tv_sec, now.tv_nsec);
        fclose(f);
        rename(tmp, argv[1]);
    }
}
"""

PROGRAMS = {"py": "python3 /run/jepsy/prog.py /run/jepsy/py.now",
            "c": "/run/jepsy/prog-c /run/jepsy/c.now"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_running(LAB, SUBNET, nodes=3) as running:
        yield running


@pytest.fixture(scope="module")
def programs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunSpec, ClockNemesis]]:
    """Both programs on every node, started under faketime, and a clock nemesis set up."""
    work = tmp_path_factory.mktemp("clockprogs")
    (work / "prog.py").write_text(PY)
    (work / "prog.c").write_text(C)
    subprocess.run(["gcc", "-O1", "-o", str(work / "prog-c"), str(work / "prog.c")], check=True)
    t = lab_test(lab, db="process", nemesis=["clock"])
    nem = ClockNemesis({"db": "process"})

    def start(node: str) -> None:
        assert install_clockfix(t, node), "the clockfix shim was not built (pip install needs gcc)"
        t.remote.execute(node, "mkdir -p /run/jepsy && echo +0 > /run/jepsy/faketime")
        t.remote.upload(node, str(work / "prog.py"), "/run/jepsy/prog.py")
        t.remote.upload(node, str(work / "prog-c"), "/run/jepsy/prog-c")
        t.remote.execute(node, "chmod 755 /run/jepsy/prog-c")
        for name, cmd in PROGRAMS.items():
            t.remote.execute(node, f"{faketime_env()} setsid {cmd} >/run/jepsy/{name}.log 2>&1 "
                             f"</dev/null & echo $! > /run/jepsy/{name}.pid")

    try:
        on_nodes(t.nodes, start)
        nem.setup(t)
        yield t, nem
    finally:
        nem.heal(t)
        on_nodes(t.nodes, lambda n: t.remote.execute(
            n, "for p in py c; do [ -f /run/jepsy/$p.pid ] && kill $(cat /run/jepsy/$p.pid); done; true",
            check=False), raise_errors=False)
        t.remote.close()


def seen(t: RunSpec, node: str) -> dict[str, float]:
    """What each program last wrote, minus this machine's time (after a moment, so it is fresh)."""
    time.sleep(0.4)
    out = t.remote.execute(node, "cat /run/jepsy/py.now; echo; cat /run/jepsy/c.now").stdout.split()
    now = time.time()
    return {"py": float(out[0]) - now, "c": float(out[1]) - now}


def alive(t: RunSpec, node: str) -> list[str]:
    got = t.remote.execute(node, "for p in py c; do kill -0 $(cat /run/jepsy/$p.pid) 2>/dev/null "
                                 "&& echo $p; done; true").stdout.split()
    return sorted(got)


def test_python_and_c_keep_running_and_see_the_offsets(programs: tuple[RunSpec, ClockNemesis]) -> None:
    t, nem = programs
    assert all(alive(t, n) == ["c", "py"] for n in t.nodes)
    assert all(abs(v) < 0.5 for n in t.nodes for v in seen(t, n).values())
    for delta in (90.0, -3690.0, 0.25):  # +90 s, then to -1 h, then a little forward
        done = nem.invoke(t, {"f": "start-clock", "value": {"mode": "bump", "targets": ["n2"],
                                                           "deltas": {"n2": delta}}})
        assert done.took_effect == ["n2"], done
        want = done.value["n2"]["offset"]
        got = seen(t, "n2")
        assert got == {"py": pytest.approx(want, abs=0.5), "c": pytest.approx(want, abs=0.5)}, got
        assert all(abs(v) < 0.5 for v in seen(t, "n1").values())
        assert alive(t, "n2") == ["c", "py"], t.remote.execute("n2", "cat /run/jepsy/py.log").stdout
    nem.invoke(t, {"f": "stop-clock"})
    assert all(abs(v) < 0.5 for v in seen(t, "n2").values())
    assert all(alive(t, n) == ["c", "py"] for n in t.nodes)


def test_a_python_server_under_clock_faults_is_tested_not_unknown(
        lab: Lab, programs: tuple[RunSpec, ClockNemesis], tmp_path: Path) -> None:
    jepsy = [sys.executable, "-c", "from jepsy.cli import main; main()"]
    run = subprocess.run(
        [*jepsy, "test", "--inventory", str(lab.inventory_path), "--db", "process",
         "--db-opt", f"bin={ROOT / 'examples' / 'kvserver.py'}", "--workload", "register",
         "--nemesis", "clock", "--nemesis-interval", "1", "--time-limit", "8", "--recovery", "1",
         "--seed", "3", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert run.returncode == 0, (run.stdout[-2000:], results.get("reason"))
    assert results["stats"]["ok"] > 20 and results["faults"]["clock"]["took_effect"] >= 1
