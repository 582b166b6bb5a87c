"""The power nemesis's order of actions on a node, against a fake remote (no FUSE, no lab)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from jepsy.dbs.pidfile import Pidfile
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError
from jepsy.inventory import Node
from jepsy.nemeses import power
from jepsy.nemeses.nodestate import heal_script
from jepsy.protocols import Test


class DB:
    data_dir = "/var/lib/jepsy/x"

    def __init__(self, remote: FakeRemote) -> None:
        self.remote = remote

    def kill(self, test: Test, node: str) -> None:
        self.remote.execute(node, "KILL")

    def start(self, test: Test, node: str) -> None:
        self.remote.execute(node, "START")


def answer(node: str, command: str) -> tuple[int, str, str] | None:
    if " ctl " in command and command.endswith(" drop"):
        return 0, '{"dropped": {"files": 2, "pages": 7}}\n', ""
    if " ctl " in command:
        return 0, '{"ok": true}\n', ""
    return None


def make(remote: FakeRemote) -> tuple[Test, power.PowerNemesis]:
    nodes = {n: Node(name=n, host=n) for n in ("n1", "n2", "n3")}
    test = Test(name="t", nodes=list(nodes), node_specs=nodes, remote=remote, rng=random.Random(1))
    nem = power.family({"database": DB(remote), "power_targets": "all"}).nemesis
    assert isinstance(nem, power.PowerNemesis)
    return test, nem


def test_a_power_loss_kills_then_drops_and_the_restore_lifts_the_fence_before_starting() -> None:
    remote = FakeRemote(handler=answer)
    test, nem = make(remote)
    lost = nem.invoke(test, {"f": "start-power", "value": ["n2"]})
    assert lost.value == {"n2": {"files": 2, "pages": 7}} and lost.took_effect == ["n2"]
    cmds = [c for n, c, _ in remote.commands if n == "n2"]
    assert cmds.index("KILL") < next(i for i, c in enumerate(cmds) if c.endswith(" drop"))
    assert nem.invoke(test, {"f": "stop-power"}) == ["n2"]
    cmds = [c for n, c, _ in remote.commands if n == "n2"]
    assert next(i for i, c in enumerate(cmds) if c.endswith(" restore")) < cmds.index("START")
    assert not any(c == "KILL" for n, c, _ in remote.commands if n != "n2")
    nem.heal(test)  # nothing is down any more: nothing starts twice
    assert [c for _, c, _ in remote.commands].count("START") == 1


def test_teardown_runs_the_power_heal_script_everywhere() -> None:
    remote = FakeRemote(handler=answer)
    test, nem = make(remote)
    nem.teardown(test)
    script = heal_script(["power"])
    assert sorted(n for n, c, _ in remote.commands if c.endswith(script)) == ["n1", "n2", "n3"]


def test_a_database_without_a_data_directory_is_refused() -> None:
    class NoDir:
        def kill(self, test: Test, node: str) -> None: ...

        def start(self, test: Test, node: str) -> None: ...

    with pytest.raises(ConfigError, match="HasDataDir"):
        power.family({"database": NoDir()})
    with pytest.raises(ConfigError, match="power_targets"):
        power.family({"database": DB(FakeRemote()), "power_targets": "everywhere"})


def test_the_runner_prepares_before_the_database_is_set_up_and_tears_down_after(tmp_path: Path) -> None:
    from collections.abc import Mapping
    from typing import Any

    from jepsy import generator as gen
    from jepsy.checkers import FnChecker
    from jepsy.protocols import PreparesNodes, Workload
    from jepsy.run import Plan, run_test

    calls: list[str] = []

    class Client:
        def open(self, test: Test, node: str) -> Client:
            return self

        def setup(self, test: Test) -> None: ...

        def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
            return {"type": "ok"}

        def teardown(self, test: Test) -> None: ...

        def close(self, test: Test) -> None: ...

    class RecordingDB:
        def setup(self, test: Test, node: str) -> None:
            calls.append("db.setup")

        def teardown(self, test: Test, node: str) -> None:
            calls.append("db.teardown")

        def client(self, workload: str, test: Test) -> Client:
            return Client()

    class Preparing:
        fs = frozenset({"x"})

        def prepare(self, test: Test) -> None:
            calls.append("prepare")

        def setup(self, test: Test) -> None:
            calls.append("nemesis.setup")

        def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
            return None

        def heal(self, test: Test) -> None: ...

        def teardown(self, test: Test) -> None:
            calls.append("nemesis.teardown")

    assert isinstance(Preparing(), PreparesNodes)
    test = Test(name="p", nodes=["n1"], node_specs={}, remote=FakeRemote(), rng=random.Random(1))
    workload = Workload(name="w", generator=gen.repeat({"f": "w"}),
                        checker=FnChecker(lambda h, o: {"valid": True}), fs=frozenset({"w"}))
    plan = Plan(test=test, db=RecordingDB(), workload=workload, nemesis=Preparing(), concurrency=1,
                time_limit=0.1, recovery=0.0, nemesis_generator=None)
    run_test(plan, tmp_path)
    assert calls == ["prepare", "db.setup", "nemesis.setup", "db.teardown", "nemesis.teardown"]


class PidDB(DB):
    """A database whose daemon a pidfile tracks (``jepsy heal`` restarts it from its start record)."""

    pidfile = Pidfile("/run/jepsy/x.pid")


def test_the_mount_and_a_power_loss_record_the_pidfile_that_jepsy_heal_restarts_from() -> None:
    remote = FakeRemote(handler=answer)
    nodes = {n: Node(name=n, host=n) for n in ("n1", "n2")}
    test = Test(name="t", nodes=list(nodes), node_specs=nodes, remote=remote, rng=random.Random(1))
    nem = power.family({"database": PidDB(remote), "power_targets": "all"}).nemesis
    assert isinstance(nem, power.PowerNemesis)
    nem.mount(test, "n1")
    assert any(c.endswith('echo "$! /var/lib/jepsy/x /run/jepsy/x.pid" >> /run/jepsy/faults/power.mounts')
               for c in remote.on("n1"))
    nem.invoke(test, {"f": "start-power", "value": ["n2"]})
    assert "echo /run/jepsy/x.pid > /run/jepsy/faults/power.down" in remote.on("n2")[0]
    # A module without a pidfile records "-" and the time of the loss.
    plain = power.family({"database": DB(remote)}).nemesis
    assert isinstance(plain, power.PowerNemesis) and plain.pidfile == "-"


def test_teardown_forgets_a_power_loss_before_it_unmounts() -> None:
    # The database was torn down on purpose: the heal script must not start it again.
    remote = FakeRemote(handler=answer)
    test, nem = make(remote)
    nem.teardown(test)
    last = remote.on("n1")[-1]
    assert last.index("rm -f /run/jepsy/faults/power.down") < last.index("power.mounts")


def _power_part(state: Path) -> str:
    return heal_script(["power"]).replace("/run/jepsy/faults", str(state))


def test_the_heal_starts_a_database_the_power_fault_stopped_from_its_start_record(tmp_path: Path) -> None:
    # The node-side script itself, on this machine: state in tmp_path, the "database" a sleep.
    state, pidfile = tmp_path / "faults", tmp_path / "db.pid"
    state.mkdir()
    (state / "power.mounts").write_text(f"999999999 {tmp_path}/not-mounted {pidfile}\n")
    (state / "power.down").write_text(f"{pidfile}\n")
    Path(f"{pidfile}.start").write_text(f"sleep 30 & echo $! > {pidfile}\n")
    out = subprocess.run(["sh", "-c", _power_part(state)], capture_output=True, text=True, check=True)
    try:
        pid = int(pidfile.read_text())
        assert out.stdout.strip() == ("healed power: database stopped by the power fault started "
                                      f"again (pid {pid})")
        assert not (state / "power.down").exists() and not (state / "power.mounts").exists()
        assert subprocess.run(["kill", "-0", str(pid)]).returncode == 0
    finally:
        subprocess.run(["kill", pidfile.read_text().strip()], check=False)
    # A start record that starts nothing: the record stays, for ``jepsy heal`` to name it.
    Path(f"{pidfile}.start").write_text("true\n")
    pidfile.unlink()
    (state / "power.down").write_text(f"{pidfile}\n")
    out = subprocess.run(["sh", "-c", _power_part(state)], capture_output=True, text=True, check=True)
    assert out.stdout == "" and (state / "power.down").exists()
    # No pidfile: named as left stopped, record gone (the next run starts it).
    (state / "power.down").write_text("1700000000\n")
    out = subprocess.run(["sh", "-c", _power_part(state)], capture_output=True, text=True, check=True)
    assert "left stopped; the next test run starts it" in out.stdout
    assert not (state / "power.down").exists()


def test_power_heals_before_kill_restarts() -> None:
    # A database the kill fault left down must not start on a powered-off filesystem.
    full = heal_script()
    assert full.index("power.mounts") < full.index("/run/jepsy/faults/killed")
    part = heal_script(["power"])
    holders, sync, term = part.index("kill -KILL $held"), part.index(" sync "), part.index("kill -TERM")
    assert holders < sync < term < part.index("umount -l") < part.index("power.down ]; then k=")
