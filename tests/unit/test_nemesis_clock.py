"""Clock faults: which clock each node gets, the commands sent, and the offsets recorded."""

from __future__ import annotations

import random
import re
import subprocess
from typing import Any

import pytest

from jepsy.errors import ConfigError, RemoteError
from jepsy.nemeses import clock
from jepsy.nemeses.clock import ClockNemesis, faketime_env, real_step, strobe_loop
from jepsy.nemeses.nodestate import heal_script, local_boot_id

from .test_nemesis_targets import commands, fake_test


def node_clock(boot_id: str, offsets: dict[str, float]) -> Any:
    """A handler answering boot ids and ``date +%s.%N`` (skewed by the node's faked offset)."""
    import time

    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if cmd == "cat /proc/sys/kernel/random/boot_id":
            return 0, boot_id + "\n", ""
        m = re.search(r"echo ([+-][0-9.]+) > /run/jepsy/faketime", cmd)
        if m:
            offsets[node] = float(m.group(1))
        if cmd.endswith("date +%s.%N"):
            return 0, f"{time.time() + offsets.get(node, 0.0):.6f}\n", ""
        return None
    return handler


def test_lab_nodes_get_faketime_and_offsets_are_measured() -> None:
    offsets: dict[str, float] = {}
    t = fake_test(3, handler=node_clock("other-kernel", offsets), opts={"db": "etcd"})
    nem = ClockNemesis({})
    nem.setup(t)
    assert nem.modes == dict.fromkeys(t.nodes, "faketime")
    done = nem.invoke(t, {"f": "start-clock", "value": {"mode": "bump", "targets": ["n2"],
                                                       "deltas": {"n2": 90.5}}})
    out = done.value
    assert out["n2"]["offset"] == pytest.approx(90.5, abs=0.05) and out["n2"]["bumped"] == 90.5
    assert out["n2"]["requested"] == pytest.approx(90.5, abs=0.05)
    assert out["n1"]["offset"] == pytest.approx(0.0, abs=0.05)
    assert "Go program" in out["n1"]["note"]
    # etcd does not see libfaketime: the bump is recorded as not having reached it.
    assert done.took_effect == [] and "Go program" in done.missed["n2"]
    assert any(c.endswith("echo +90.500000 > /run/jepsy/faketime") for c in commands(t, "n2"))
    assert not any("n + d" in c for n in t.nodes for c in commands(t, n))  # no real clock step
    back = nem.invoke(t, {"f": "stop-clock"})
    assert all(abs(v["offset"]) < 0.05 for v in back.values())


def test_a_node_sharing_our_kernel_never_gets_the_real_clock() -> None:
    t = fake_test(2, handler=node_clock(local_boot_id(), {}), lab=False)
    nem = ClockNemesis({"clock_mode": "auto"})
    nem.setup(t)
    assert nem.modes == {"n1": "faketime", "n2": "faketime"}
    with pytest.raises(RemoteError, match="would move this machine's clock"):
        ClockNemesis({"clock_mode": "real"}).setup(t)


def test_real_hosts_step_the_clock_and_record_the_total() -> None:
    t = fake_test(2, handler=node_clock("a-different-kernel", {}), lab=False)
    nem = ClockNemesis({})
    nem.setup(t)
    assert nem.modes == {"n1": "real", "n2": "real"}
    setup = commands(t, "n1")[-4]  # then the reference is measured (3 samples on a real clock)
    assert commands(t, "n1")[-3:] == ["date +%s.%N"] * 3
    assert "systemctl stop chrony" in setup and "clock.ntp" in setup
    nem.invoke(t, {"f": "start-clock", "value": {"mode": "bump", "targets": ["n1"],
                                                 "deltas": {"n1": -2.0}}})
    step = real_step(-2.0)
    assert step in commands(t, "n1") and "step=-2.000000;" in step and "clock_adjtime" in step
    assert "clock.offset" in step
    nem.heal(t)
    assert any("back=" in c for c in commands(t, "n1"))  # stepped back by the recorded total


def test_scramble_moves_every_node_within_the_spread() -> None:
    offsets: dict[str, float] = {}
    t = fake_test(5, handler=node_clock("x", offsets), seed=3)
    nem = ClockNemesis({"clock_scramble_s": 10})
    nem.setup(t)
    done = nem.invoke(t, {"f": "start-clock", "value": "scramble"})
    out = done.value
    assert set(out) == set(t.nodes) and sorted(done.took_effect) == t.nodes
    assert all(-10.1 <= v["offset"] <= 10.1 for v in out.values())
    assert len({round(v, 1) for v in offsets.values()}) > 1


def test_bump_sizes_span_milliseconds_to_minutes_both_ways() -> None:
    rng = random.Random(0)
    deltas = [ClockNemesis.bump_delta(rng) for _ in range(2000)]
    assert min(map(abs, deltas)) < 0.02 and max(map(abs, deltas)) > 120
    assert any(d < 0 for d in deltas) and any(d > 0 for d in deltas)
    assert all(0.005 <= abs(d) <= 300 for d in deltas)


def test_strobe_loop_is_marked_and_backgrounded_alone() -> None:
    cmd = strobe_loop("faketime", 1.0, 2.0, 0.1, 1.0)
    assert "jepsy-strobe" in cmd and "echo $! > /run/jepsy/faults/clock.strobe.pid" in cmd
    assert " && setsid" not in cmd
    assert "+3.000000" in cmd and "+1.000000" in cmd
    subprocess.run(["sh", "-n", "-c", cmd], check=True)
    subprocess.run(["sh", "-n", "-c", strobe_loop("real", 0.0, 0.5, 0.1, 1.0)], check=True)


def test_faketime_env_and_heal_scripts_parse() -> None:
    env = faketime_env()
    assert "FAKETIME_TIMESTAMP_FILE=/run/jepsy/faketime" in env and "FAKETIME_NO_CACHE=1" in env
    assert "FAKETIME_DONT_FAKE_MONOTONIC=1" in env
    script = heal_script(boot_id="b00t")
    assert "!= b00t" in script  # never steps a clock that shares the controlling kernel
    subprocess.run(["sh", "-n", "-c", script], check=True)


def test_unknown_modes() -> None:
    with pytest.raises(ConfigError):
        clock.family({"clock_modes": "wobble"})
    with pytest.raises(ConfigError):
        ClockNemesis({"clock_mode": "sundial"})


def test_real_clock_shell_steps_and_heal_steps_back(tmp_path: Any) -> None:
    """The real-clock shell, run in a real sh with ``date`` and ``systemctl`` as shell functions.

    Nothing touches this machine's clock: ``date -s`` and ``python3`` (the atomic step)
    only log their arguments, and the state directory is a temporary one.  Here python3
    fails, as where it is missing, so every step falls back to ``date -s``.
    """
    state = str(tmp_path)
    stubs = (f"date() {{ if [ \"$1\" = +%s.%N ]; then echo 1000.000000; "
             f"else echo \"$@\" >> {state}/date.log; fi; }}; "
             f"python3() {{ echo \"$3\" >> {state}/python3.log; return 1; }}; "
             f"systemctl() {{ echo \"$@\" >> {state}/systemctl.log; }}; ")

    def run(script: str) -> str:
        script = stubs + script.replace("/run/jepsy/faults", state).replace(
            "/run/jepsy/faketime", f"{state}/faketime")
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout

    run(real_step(2.5))
    run(real_step(-0.75))
    assert (tmp_path / "clock.offset").read_text().strip() == "1.750000"
    # One relative step each: date reads and sets the clock in one process.
    assert (tmp_path / "date.log").read_text().splitlines() == ["-s +2.500000 seconds",
                                                                 "-s -0.750000 seconds"]
    (tmp_path / "clock.ntp").write_text("chrony\n")
    out = run(heal_script(["clock"], boot_id="the-controlling-host"))
    assert "stepped back by 1.750000 s" in out and "restarted chrony" in out
    assert (tmp_path / "date.log").read_text().splitlines()[-1] == "-s -1.750000 seconds"
    assert not (tmp_path / "clock.offset").exists() and not (tmp_path / "clock.ntp").exists()
    # On a node that reports the controlling host's boot id, the step is refused.
    run(real_step(1.0))
    refused = run(heal_script(["clock"], boot_id=local_boot_id()))
    assert "REFUSED" in refused and (tmp_path / "date.log").read_text().count("-s") == 4
    assert (tmp_path / "python3.log").read_text().split() == ["+2.500000", "-0.750000", "-1.750000",
                                                             "+1.000000"]


def test_the_atomic_step_goes_first_and_date_only_when_it_fails(tmp_path: Any) -> None:
    """A python3 that succeeds (a stub: nothing here steps this machine's clock) leaves ``date`` alone."""
    state = str(tmp_path)
    stubs = (f"date() {{ echo \"$@\" >> {state}/date.log; }}; "
             f"python3() {{ echo \"$3\" >> {state}/python3.log; }}; ")
    script = stubs + real_step(-0.25).replace("/run/jepsy/faults", state)
    subprocess.run(["sh", "-c", script], check=True)
    assert (tmp_path / "python3.log").read_text().split() == ["-0.250000"]
    assert not (tmp_path / "date.log").exists()
    assert (tmp_path / "clock.offset").read_text().strip() == "-0.250000"
    # A strobe's flips are date alone (fast; python3 starts slowly on emulated VMs).
    assert "python3" not in strobe_loop("real", 0.0, 1.0, 0.1, 1.0)


@pytest.mark.parametrize(("delta", "sec", "nsec"), [
    ("+2.500000", 2, 500_000_000), ("-2.500000", -3, 500_000_000), ("-0.000001", -1, 999_999_000),
    ("+1.9999999999", 2, 0), ("+0", 0, 0)])
def test_the_atomic_step_asks_the_kernel_for_a_normalised_offset(
        monkeypatch: pytest.MonkeyPatch, delta: str, sec: int, nsec: int) -> None:
    """The Python the node runs, with ctypes' libc replaced: the struct timex it passes."""
    import ctypes
    import sys

    from jepsy.nemeses.nodestate import _STEP_PY

    calls: list[tuple[int, Any]] = []

    class Libc:
        def clock_adjtime(self, clock_id: int, ref: Any) -> int:
            calls.append((clock_id, ref._obj))
            return 0

    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: Libc())
    monkeypatch.setattr(sys, "argv", ["-c", delta])
    with pytest.raises(SystemExit) as done:
        exec(_STEP_PY, {})
    assert done.value.code == 0
    (clock_id, t), = calls
    assert clock_id == 0 and ctypes.sizeof(t) == 208  # CLOCK_REALTIME; x86-64 struct timex
    assert t.modes == 0x2100 and (t.sec, t.nsec) == (sec, nsec)


def test_a_real_clock_that_does_not_move_is_missed_and_heal_settles_on_the_reference() -> None:
    """A node whose clock ignores steps: the bump is "missed"; the heal finds it at its
    reference and steps nothing more.  A node that drifted is corrected until within 100 ms."""
    import time

    stuck = {"n1": 0.65, "n2": 0.48}  # offsets the nodes had before the test (as doctor saw them)
    steps: list[tuple[str, str]] = []

    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if cmd == "cat /proc/sys/kernel/random/boot_id":
            return 0, "vm-kernel\n", ""
        m = re.search(r"step=([+-][0-9.]+);", cmd)
        if m:
            steps.append((node, m.group(1)))
            if node == "n2":  # n2's clock obeys
                stuck["n2"] += float(m.group(1))
        if cmd.endswith("date +%s.%N"):
            return 0, f"{time.time() + stuck[node]:.6f}\n", ""
        return None

    t = fake_test(2, handler=handler, lab=False)
    nem = ClockNemesis({})
    nem.setup(t)
    assert nem.reference == {"n1": pytest.approx(0.65, abs=0.05), "n2": pytest.approx(0.48, abs=0.05)}
    done = nem.invoke(t, {"f": "start-clock", "value": {"mode": "bump", "targets": "all",
                                                       "deltas": {"n1": 3.0, "n2": -2.0}}})
    assert done.took_effect == ["n2"] and "did not move" in done.missed["n1"]
    assert done.value["n2"]["requested"] == pytest.approx(-1.52, abs=0.05)
    stuck["n2"] += 0.4  # and then it drifts: the heal must come back to the reference, not to 0
    del steps[:]
    nem.heal_offsets(t)
    assert abs(stuck["n2"] - 0.48) <= 0.1
    assert [n for n, _ in steps] == ["n2"]  # n1 stood at its reference: nothing to correct
