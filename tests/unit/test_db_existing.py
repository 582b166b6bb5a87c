"""Existing deployments (``jepsy.dbs.existing``) and the port checks (``jepsy.dbs.ports``), on a
FakeRemote: what is checked, what is sent to a node, what a user is told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jepsy.dbs.etcd import ExistingEtcd
from jepsy.dbs.existing import Deployment, run_prefix
from jepsy.dbs.pidfile import Pidfile
from jepsy.dbs.ports import check_free, check_ours, parse_ss
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError, DBError
from jepsy.inventory import Node
from jepsy.protocols import HasLogFiles, Killable, Pausable, Test

SS = """LISTEN 0 4096 10.0.0.11:2380 0.0.0.0:* users:(("etcd",pid=4711,fd=7))
LISTEN 0 4096 127.0.0.1:2379 0.0.0.0:* users:(("etcd",pid=4711,fd=8),("etcd",pid=4712,fd=8))
LISTEN 0 4096 10.0.0.11:23790 0.0.0.0:*
"""
VARS = {"jepsy_db_pidfile": "/run/etcd.pid", "jepsy_db_start": "systemctl start etcd",
        "jepsy_db_logs": ["/var/log/etcd/*.log"]}


def make_test(remote: FakeRemote, nemesis: tuple[str, ...] = (), **vars: Any) -> Test:
    specs = {n: Node(n, f"10.0.0.{11 + i}", vars={**VARS, **vars}) for i, n in enumerate(("n1", "n2"))}
    return Test(name="etcd-register-kill", nodes=["n1", "n2"], node_specs=specs, remote=remote,
                opts={"nemesis": list(nemesis)}, store_dir=Path("/store/x/20261203T080000"))


def test_parse_ss_names_listeners_of_one_port() -> None:
    assert parse_ss(SS, 2380) == [(4711, "etcd")]
    assert parse_ss(SS, 2379) == [(4711, "etcd"), (4712, "etcd")]
    assert parse_ss(SS, 23790) == [(0, "?")]
    assert parse_ss(SS, 790) == []


def test_check_free_names_who_holds_the_port() -> None:
    remote = FakeRemote(lambda node, cmd: (0, SS, "") if "ss -Htlnp" in cmd and node == "n2" else None)
    test = make_test(remote)
    check_free(test, "n1", (2379, 2380), "etcd")
    with pytest.raises(DBError, match=r"^n2: port 2379 is in use by pid 4711 \(etcd\), pid 4712 "
                                      r"\(etcd\); stop it, or test it with --db-opt existing=true"):
        check_free(test, "n2", (2379, 2380), "etcd")


@pytest.mark.parametrize(("pid", "sid", "ok"), [("4711", "", True), ("4700", "4700\n", True),
                                               ("4700", "1\n", False)])
def test_check_ours_accepts_our_process_or_its_session(pid: str, sid: str, ok: bool) -> None:
    def answer(node: str, cmd: str) -> tuple[int, str, str] | None:
        if cmd.startswith("cat /run/jepsy/etcd.pid"):
            return 0, pid + "\n", ""
        if "ss -Htlnp" in cmd:
            return 0, SS, ""
        if cmd.startswith("ps -o sid="):
            return 0, sid, ""
        return None

    test = make_test(FakeRemote(answer))
    if ok:
        check_ours(test, "n1", 2380, Pidfile("/run/jepsy/etcd.pid"), "etcd")
    else:
        with pytest.raises(DBError, match=r"port 2380 is answered by pid 4711 \(etcd\), not by the "
                                          r"etcd jepsy started \(pid 4700\)"):
            check_ours(test, "n1", 2380, Pidfile("/run/jepsy/etcd.pid"), "etcd")


def test_check_ours_when_our_process_died() -> None:
    remote = FakeRemote(lambda node, cmd: (1, "", "") if cmd.startswith("kill -0") else
                        (0, "4711\n", "") if cmd.startswith("cat") else None)
    with pytest.raises(DBError, match="the etcd jepsy started is not running"):
        check_ours(make_test(remote), "n1", 2379, Pidfile("/run/jepsy/etcd.pid"), "etcd")


def test_existing_deployment_checks_what_the_faults_need() -> None:
    db = ExistingEtcd({"existing": True})
    assert all(isinstance(db, p) for p in (Killable, Pausable, HasLogFiles))
    dead = FakeRemote(lambda node, cmd: (1, "", "") if "kill -0" in cmd else
                      (0, "4711\n", "") if cmd.startswith("head -n 1") else None)
    test = make_test(dead, ("kill",))
    assert db.problems(dead, test.node_specs["n1"], ("kill",)) == [
        "jepsy_db_pidfile /run/etcd.pid names pid 4711, which is not running"]
    with pytest.raises(DBError, match=r"^n1: existing etcd: jepsy_db_pidfile /run/etcd\.pid names"):
        db.setup(test, "n1")
    nocmd = FakeRemote(lambda node, cmd: (1, "", "") if cmd.startswith("command -v") else None)
    node = Node("n1", "10.0.0.11", vars={"jepsy_db_start": "etcd-ctl start"})
    assert db.problems(nocmd, node, ("kill",)) == [
        "jepsy_db_pidfile is not set (kill and pause act on the PID it names)",
        "jepsy_db_start: 'etcd-ctl' is not a command on this node"]
    assert db.problems(nocmd, Node("n1", "h"), ("partition",)) == []


def test_existing_kill_pause_start_and_logs_go_through_the_inventory() -> None:
    remote = FakeRemote(lambda node, cmd: (0, "/var/log/etcd/a.log\n", "")
                        if cmd.startswith("for f") else None)
    db, test = ExistingEtcd({"existing": True}), make_test(remote)
    db.kill(test, "n1")
    db.pause(test, "n1")
    db.resume(test, "n1")
    db.start(test, "n1")
    kill, pause, resume, start = remote.on("n1")
    assert kill == 'p=$(head -n 1 /run/etcd.pid 2>/dev/null); [ -n "$p" ] && kill -KILL "$p"'
    assert pause.endswith('kill -STOP "$p"') and resume.endswith('kill -CONT "$p"')
    assert start == "systemctl start etcd"
    assert all(sudo for _, _, sudo in remote.commands)
    assert db.log_files(test, "n1") == ["/var/log/etcd/a.log"]
    failing = FakeRemote(lambda node, cmd: (5, "", "Unit etcd.service not found.\n"))
    with pytest.raises(DBError, match=r"^n1: jepsy_db_start `systemctl start etcd` failed \(exit 5\): "
                                      r"Unit etcd.service not found\.$"):
        db.start(make_test(failing), "n1")


def test_run_prefix_and_bad_variables() -> None:
    test = make_test(FakeRemote())
    assert run_prefix(test) == "etcd-register-kill/20261203T080000"
    with pytest.raises(ConfigError, match="jepsy_db_logs must be a list of globs"):
        Deployment.of(Node("n1", "h", vars={"jepsy_db_logs": {"a": 1}}))
    assert Deployment.of(Node("n1", "h", vars={"jepsy_db_logs": "/x/*.log"})).logs == ("/x/*.log",)
