"""The bring-your-own path, for ``--db process`` and ``--db maelstrom`` alike: directories
as ``--bin``, a missing ``#!`` interpreter named, a member port of the system's own,
``jepsy doctor --bin``, lab ``--subnet`` errors, and processes named with their node."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from jepsy.history import Op


def op(i: int, t: str, p: int, f: str, v: Any) -> Op:
    return Op(index=i, time=i, type=t, process=p, f=f, value=v)

def fake_test(remote: Any, nodes: tuple[str, ...] = ("n1", "n2")) -> Any:
    from jepsy.inventory import Node
    from jepsy.protocols import Test

    specs = {n: Node(n, f"10.0.0.{i + 11}") for i, n in enumerate(nodes)}
    return Test(name="t", nodes=list(nodes), node_specs=specs, remote=remote)


def test_process_takes_a_directory_and_a_peer_port(tmp_path: Path) -> None:
    from jepsy.dbs.process import ProcessDB
    from jepsy.doubles import FakeRemote

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("#!/usr/bin/env python3\n")
    db = ProcessDB({"bin": str(tmp_path / "app"), "port": 9000, "peer_port": 7000,
                    "cmd": "{bin}/main.py --peers {peers} --raft {peer_peers} --listen {peer_port}"})
    remote = FakeRemote()
    test = fake_test(remote)
    assert shlex_split(db.command(test, "n1")) == [
        "/opt/jepsy/process/app/main.py", "--peers", "n2=10.0.0.12:9000",
        "--raft", "n2=10.0.0.12:7000", "--listen", "7000"]
    with pytest.raises(Exception, match="no 200"):  # nothing answers /health: past the upload
        db.ready_timeout = 0.01
        db.setup(test, "n1")
    assert remote.uploads[0][2] == "/tmp/jepsy-process-n1.tgz"
    assert any("tar xzf /tmp/jepsy-process-n1.tgz -C /opt/jepsy/process" in c for c in remote.on("n1"))
    assert "command -v python3 >/dev/null" in remote.on("n1")


def test_a_missing_interpreter_is_named(tmp_path: Path) -> None:
    from jepsy.dbs.maelstrom import MaelstromDB
    from jepsy.dbs.process import ProcessDB
    from jepsy.doubles import FakeRemote
    from jepsy.errors import DBError

    prog = tmp_path / "node.rb"
    prog.write_text("#!/usr/bin/env ruby\nputs 1\n")
    remote = FakeRemote(handler=lambda node, cmd: (1, "", "") if "command -v ruby" in cmd else None)
    with pytest.raises(DBError, match=r"'#!/usr/bin/env ruby', and that interpreter is not installed"):
        ProcessDB({"bin": str(prog)}).setup(fake_test(remote), "n1")
    remote = FakeRemote(handler=lambda node, cmd: (4, "", "") if "router.py" in cmd else None)
    with pytest.raises(DBError, match=r"'#!/usr/bin/env ruby', and that interpreter is not installed"):
        MaelstromDB({"bin": str(prog)}).setup(fake_test(remote), "n1")


def shlex_split(s: str) -> list[str]:
    import shlex

    return shlex.split(s)


def test_lab_subnet_must_be_three_octets(capsys: pytest.CaptureFixture[str]) -> None:
    from jepsy.cli import main

    with pytest.raises(SystemExit) as e:
        main(["lab", "up", "--name", "hm5", "--subnet", "10.78.0.0/24"])
    assert e.value.code == 254
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give the first three octets" in err


def test_doctor_takes_bin_and_db_opts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``jepsy doctor --db process --bin`` builds the DB from them and runs its preflight."""
    from jepsy import doctor
    from jepsy.cli import main
    from jepsy.doubles import FakeRemote
    from jepsy.protocols import Test

    prog = tmp_path / "node.rb"
    prog.write_text("#!/usr/bin/env ruby\n")
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    n1:\n      ansible_host: 127.0.0.1\n")
    seen: list[Any] = []

    def diagnose(remote: Any, nodes: Any, db: Any = None) -> list[Any]:
        seen.append(db)
        fake = FakeRemote(handler=lambda node, cmd: (1, "", "") if "ruby" in cmd else None)
        test = Test(name="doctor", nodes=["n1"], node_specs={}, remote=fake)
        return [doctor.NodeReport("n1", {"db": False}, db.preflight(test, "n1"))]

    monkeypatch.setattr(doctor, "diagnose", diagnose)
    monkeypatch.setattr(doctor, "SSHRemote", lambda *a, **k: contextlib.nullcontext())
    with pytest.raises(SystemExit):
        main(["doctor", "-i", str(inv), "--db", "process", "--bin", str(prog),
              "--db-opt", "port=9000"])
    assert seen[0].port == 9000


def test_processes_are_named_with_their_node() -> None:
    from jepsy.placement import node_of, with_nodes
    from jepsy.report.data import ops_columns

    nodes = ["n1", "n2", "n3"]
    assert node_of(15, nodes, 6) == "n1" and node_of(4, nodes, 6) == "n2"
    assert node_of("nemesis", nodes, 6) is None
    verdict = {"valid": False, "text": "read of 3 by process 15 (invoked 1 s) on key 2; process 4",
               "explanation": [{"text": "write by process 4 (on n2) and process 5"}]}
    assert with_nodes(verdict, nodes, 6) == {
        "valid": False, "text": "read of 3 by process 15 (on n1) (invoked 1 s) on key 2; process 4 (on n2)",
        "explanation": [{"text": "write by process 4 (on n2) and process 5 (on n3)"}]}
    history = [op(0, "invoke", 4, "read", None), op(1, "ok", 4, "read", 1)]
    assert ops_columns(history, 6, nodes)["lanes"] == ["p4 (n2)"]
    assert ops_columns(history, 6)["lanes"] == ["p4"]
