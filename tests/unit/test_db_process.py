"""``--db process`` and the HTTP+JSON clients.

The DB module is checked for the commands it sends (a ``FakeRemote``); the
clients talk to the real reference server, ``examples/kvserver.py``, run on
loopback, so the protocol's outcome mapping is tested against a real program.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jepsy.dbs import http_client
from jepsy.dbs.process import LOG_FILE, PID_FILE, ProcessDB, health
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError
from jepsy.inventory import Node
from jepsy.protocols import Client, HasLogFiles, HasPrimaries, Killable, Pausable
from jepsy.protocols import Test as RunTest

SERVER = Path(__file__).resolve().parents[2] / "examples" / "kvserver.py"


def make_test(remote: FakeRemote, nodes: tuple[str, ...] = ("n1", "n2", "n3")) -> RunTest:
    specs = {n: Node(n, f"10.0.0.{i + 11}") for i, n in enumerate(nodes)}
    return RunTest(name="t", nodes=list(nodes), node_specs=specs, remote=remote)  # type: ignore[arg-type]


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bin=PATH"):
        ProcessDB({})
    with pytest.raises(ConfigError, match="no such file"):
        ProcessDB({"bin": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match=r"unknown placeholder \{nodes\}"):
        ProcessDB({"bin": str(SERVER), "cmd": "{bin} --peers {nodes}"})


def test_command_fills_placeholders_quoted() -> None:
    db = ProcessDB({"bin": str(SERVER), "port": 9000,
                    "cmd": "{bin} --id {node} --n {index} --ip {ip} --peers {peers} --all {cluster} {data}"})
    cmd = db.command(make_test(FakeRemote()), "n2")
    argv = shlex.split(cmd)
    assert argv[0] == "/opt/jepsy/process/kvserver.py"
    assert argv[1:9] == ["--id", "n2", "--n", "1", "--ip", "10.0.0.12", "--peers",
                         "n1=10.0.0.11:9000,n3=10.0.0.13:9000"]
    assert argv[9:] == ["--all", "n1=10.0.0.11:9000,n2=10.0.0.12:9000,n3=10.0.0.13:9000",
                        "/var/lib/jepsy/process"]
    hostile = ProcessDB({"bin": str(SERVER), "cmd": "{bin} --id {node}"})
    assert shlex.split(hostile.command(make_test(FakeRemote(), ("a;rm -rf /",)), "a;rm -rf /")) == [
        "/opt/jepsy/process/kvserver.py", "--id", "a;rm -rf /"]


def test_powers_act_on_the_process_group_in_the_pidfile() -> None:
    remote = FakeRemote()
    test = make_test(remote)
    db = ProcessDB({"bin": str(SERVER)})
    assert all(isinstance(db, p) for p in (Killable, Pausable, HasLogFiles, HasPrimaries))
    db.kill(test, "n1")
    db.pause(test, "n1")
    db.resume(test, "n1")
    db.teardown(test, "n1")
    sent = remote.on("n1")
    assert f"kill -9 -$(cat {PID_FILE})" in sent[0]
    assert f"kill -STOP -$(cat {PID_FILE})" in sent[1]
    assert f"kill -CONT -$(cat {PID_FILE})" in sent[2]
    assert "rm -rf /var/lib/jepsy/process" in sent[3]
    assert not any("pkill" in c or "killall" in c for c in sent)
    assert db.log_files(test, "n1") == [LOG_FILE]
    start = db._start_command(test, "n1")
    assert "setsid sh -c" in start and f"echo $! > {PID_FILE}" in start and LOG_FILE in start


def test_setup_uploads_starts_and_reports_an_early_exit() -> None:
    def answer(node: str, command: str) -> tuple[int, str, str] | None:
        if command.startswith(f"[ -f {PID_FILE} ]"):
            return (1, "", "")  # the program is not running
        if command.startswith("tail"):
            return (0, "Traceback: boom\n", "")
        return None

    remote = FakeRemote(answer)
    db = ProcessDB({"bin": str(SERVER), "port": 1, "ready_timeout": 5})
    with pytest.raises(Exception, match="exited during startup: Traceback: boom"):
        db.setup(make_test(remote), "n1")
    assert remote.uploads == [("n1", str(SERVER), "/opt/jepsy/process/kvserver.py")]


# -- the clients against the reference server, on loopback --------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(tmp_path: Path, node: str, cluster: str, port: int, mode: str = "safe") -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, str(SERVER), "--id", node, "--port", str(port),
                             "--bind", "127.0.0.1", "--cluster", cluster, "--data",
                             str(tmp_path / node), "--mode", mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while health("127.0.0.1", port, 0.5) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "kvserver did not start"
            time.sleep(0.05)
        yield
    finally:
        proc.kill()
        proc.wait()


def client(workload: str, port: int) -> Client:
    test = make_test(FakeRemote(), ("n1",))
    test.node_specs["n1"] = Node("n1", "127.0.0.1")
    return http_client.client_for(workload, {"port": port, "op_timeout": 3}).open(test, "n1")


def run(c: Client, f: str, value: Any) -> dict[str, Any]:
    return c.invoke(None, {"f": f, "value": value})  # type: ignore[arg-type]


def test_register_set_and_txn_on_the_reference_server(tmp_path: Path) -> None:
    port = free_port()
    with server(tmp_path, "n1", f"n1=127.0.0.1:{port}", port):
        r = client("register", port)
        assert run(r, "read", [1, None]) == {"type": "ok", "value": [1, None]}
        assert run(r, "write", [1, 3])["type"] == "ok"
        assert run(r, "cas", [1, [3, 4]])["type"] == "ok"
        failed = run(r, "cas", [1, [3, 5]])
        assert failed["type"] == "fail" and failed["error"].startswith("409")
        assert run(r, "read", [1, None]) == {"type": "ok", "value": [1, 4]}

        s = client("set", port)
        for e in (3, 1, 2):
            assert run(s, "add", e)["type"] == "ok"
        assert run(s, "read", None) == {"type": "ok", "value": [1, 2, 3]}

        t = client("list-append", port)
        assert run(t, "txn", [["r", "x", None], ["append", "x", 1]])["value"] == [
            ["r", "x", []], ["append", "x", 1]]
        assert run(t, "txn", [["append", "x", 2], ["r", "x", None]])["value"] == [
            ["append", "x", 2], ["r", "x", [1, 2]]]
        w = client("rw-register", port)
        assert run(w, "txn", [["w", "y", 7], ["r", "y", None]])["value"] == [["w", "y", 7], ["r", "y", 7]]
        for c in (r, s, t, w):
            c.close(None)  # type: ignore[arg-type]
            c.close(None)  # type: ignore[arg-type]
    # Safe mode persists: a restarted primary still has what it acknowledged.
    with server(tmp_path, "n1", f"n1=127.0.0.1:{port}", port):
        assert run(client("register", port), "read", [1, None])["value"] == [1, 4]


def test_outcomes_of_refusals_and_timeouts(tmp_path: Path) -> None:
    dead = free_port()
    refused = run(client("register", dead), "write", [1, 1])
    assert refused["type"] == "fail" and refused["error"] == "connection refused"

    # A backup whose primary refuses connections answers 503: nothing was done.
    backup = free_port()
    with server(tmp_path, "n2", f"n1=127.0.0.1:{dead},n2=127.0.0.1:{backup}", backup):
        got = run(client("register", backup), "write", [1, 1])
        assert got["type"] == "fail" and got["error"].startswith("503")
    # A primary that takes the request and never answers: 504, the write may have happened
    # (info); a read that timed out changed nothing (fail).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        mute = silent.getsockname()[1]
        with server(tmp_path, "n2", f"n1=127.0.0.1:{mute},n2=127.0.0.1:{backup}", backup):
            write = run(client("register", backup), "write", [1, 1])
            assert write["type"] == "info" and write["error"].startswith("504")
            read = run(client("register", backup), "read", [1, None])
            assert read["type"] == "fail" and read["error"].startswith("504")
            txn = run(client("list-append", backup), "txn", [["append", "k", 1]])
            assert txn["type"] == "info"


def test_status_codes_map_to_fail_or_info() -> None:
    assert [http_client.outcome(s) for s in (400, 404, 409, 503)] == ["fail"] * 4
    assert [http_client.outcome(s) for s in (500, 502, 504)] == ["info"] * 3
    with pytest.raises(ConfigError, match="speaks: list-append, register, rw-register, set"):
        http_client.client_for("bank", {})


def test_health_body_and_leader(tmp_path: Path) -> None:
    port = free_port()
    with server(tmp_path, "n1", f"n1=127.0.0.1:{port}", port):
        assert health("127.0.0.1", port) == {"node": "n1", "leader": True}
    assert health("127.0.0.1", port, 0.5) is None


def test_clock_faults_in_the_lab_run_the_program_under_libfaketime() -> None:
    db = ProcessDB({"bin": str(SERVER)})
    test = make_test(FakeRemote())
    assert "LD_PRELOAD" not in db._start_command(test, "n1")
    test.opts["nemesis"] = "partition,clock"
    test.node_specs["n1"] = Node("n1", "10.0.0.11", vars={"jepsy_lab": "/srv/jepsy-lab"})
    start = db._start_command(test, "n1")
    assert "setsid env LD_PRELOAD=" in start and "FAKETIME_TIMESTAMP_FILE=" in start
    assert f"echo $! > {PID_FILE}" in start
