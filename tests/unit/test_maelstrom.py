"""``--db maelstrom`` without a lab: the router on loopback with the example programs,
its services, the clients' outcome mapping, topologies, and the two new checkers."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from jepsy.checkers.eventual_counter import eventual_counter
from jepsy.checkers.kafka import kafka
from jepsy.dbs.maelstrom import topology
from jepsy.dbs.maelstrom_clients import client_for
from jepsy.dbs.upload import interpreter_check
from jepsy.errors import ConfigError
from jepsy.history import Op
from jepsy.maelstrom import ROUTER
from jepsy.maelstrom.router import KV, Services

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "maelstrom"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextmanager
def routers(tmp: Path, program: str, n: int = 3) -> Iterator[tuple[list[int], list[int]]]:
    """``n`` routers on loopback running ``program``; yields their client ports and PIDs."""
    ports = free_ports(2 * n)
    nodes = [f"n{i + 1}" for i in range(n)]
    peers = ",".join(f"{node}=127.0.0.1:{ports[n + i]}" for i, node in enumerate(nodes))
    procs = []
    try:
        for i, node in enumerate(nodes):
            procs.append(subprocess.Popen(
                [sys.executable, str(ROUTER), "--node", node, "--nodes", ",".join(nodes),
                 "--peers", peers, "--client-port", str(ports[i]), "--peer-port", str(ports[n + i]),
                 "--program-pidfile", str(tmp / f"{node}.pid"),
                 "--topology", json.dumps(topology("line", nodes)),
                 "--cmd", f"{sys.executable} {EXAMPLES / program}"],
                stderr=open(tmp / f"{node}.log", "w"), start_new_session=True))  # noqa: SIM115
        deadline = time.monotonic() + 20
        for p in ports[:n]:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, (tmp / "n1.log").read_text()
                    time.sleep(0.05)
        yield ports[:n], [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def request(port: int, body: dict[str, Any], timeout: float = 3) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(json.dumps({"body": {**body, "msg_id": 7}}).encode() + b"\n")
        reply: dict[str, Any] = json.loads(s.makefile("rb").readline())["body"]
        return reply


def test_broadcast_reaches_every_node_along_a_line(tmp_path: Path) -> None:
    with routers(tmp_path, "broadcast.py") as (ports, _):
        assert request(ports[0], {"type": "broadcast", "message": 1})["type"] == "broadcast_ok"
        assert request(ports[2], {"type": "broadcast", "message": 2})["type"] == "broadcast_ok"
        deadline = time.monotonic() + 5
        while True:
            seen = [request(p, {"type": "read"})["messages"] for p in ports]
            if all(s == [1, 2] for s in seen) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert seen == [[1, 2]] * 3


def test_lin_kv_service_and_a_killed_program_started_again(tmp_path: Path) -> None:
    with routers(tmp_path, "lin_kv.py") as (ports, pids):
        assert request(ports[1], {"type": "read", "key": 1})["code"] == 20
        assert request(ports[1], {"type": "write", "key": 1, "value": 5})["type"] == "write_ok"
        assert request(ports[2], {"type": "cas", "key": 1, "from": 4, "to": 6})["code"] == 22
        assert request(ports[0], {"type": "cas", "key": 1, "from": 5, "to": 6})["type"] == "cas_ok"
        assert request(ports[2], {"type": "read", "key": 1})["value"] == 6
        pid = int((tmp_path / "n2.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        with pytest.raises(OSError):  # no answer from a dead program: the client times out
            request(ports[1], {"type": "read", "key": 1}, timeout=0.5)
        os.kill(pids[1], signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while int((tmp_path / "n2.pid").read_text()) == pid:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        assert request(ports[1], {"type": "read", "key": 1})["value"] == 6
        assert (tmp_path / "n2.log").read_text().count("initialised") == 2


def test_services_answer_as_maelstrom_defines() -> None:
    s = Services(seed=1)

    def ask(dest: str, body: dict[str, Any], src: str = "n1") -> dict[str, Any]:
        got = s.handle({"src": src, "dest": dest, "body": {**body, "msg_id": 3}})
        assert got is not None and got["dest"] == src and got["body"]["in_reply_to"] == 3
        return dict(got["body"])

    assert ask("lin-kv", {"type": "cas", "key": "x", "from": 1, "to": 2})["code"] == 20
    assert ask("lin-kv", {"type": "cas", "key": "x", "from": 1, "to": 2,
                          "create_if_not_exists": True})["type"] == "cas_ok"
    assert ask("lin-kv", {"type": "read", "key": "x"})["value"] == 2
    assert ask("lin-tso", {"type": "ts"})["ts"] < ask("lin-tso", {"type": "ts"})["ts"]
    assert ask("seq-kv", {"type": "bogus"})["code"] == 10
    assert s.handle({"src": "n1", "dest": "lin-kv", "body": {"type": "read_ok"}}) is None


def test_seq_kv_reads_move_forward_per_client_but_may_be_stale() -> None:
    kv = KV("seq", random.Random(4))
    for v in range(50):
        kv.handle("n1", {"type": "write", "key": "k", "value": v})
    other = [kv.handle("n2", {"type": "read", "key": "k"}).get("value") for _ in range(30)]
    seen = [v for v in other if v is not None]
    assert seen == sorted(seen), "a client never goes back in time"
    assert kv.handle("n1", {"type": "read", "key": "k"})["value"] == 49, "nor misses its own write"
    assert any(v != 49 for v in other), "others may read stale values"


def test_topologies() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    assert topology("line", nodes)["n3"] == ["n2", "n4"]
    assert topology("total", nodes)["n1"] == ["n2", "n3", "n4", "n5"]
    assert topology("grid", nodes) == {"n1": ["n2", "n4"], "n2": ["n1", "n3", "n5"],
                                       "n3": ["n2"], "n4": ["n1", "n5"], "n5": ["n2", "n4"]}
    assert topology("tree2", nodes)["n1"] == ["n2", "n3"]
    with pytest.raises(ConfigError):
        topology("star", nodes)


def test_interpreter_check_reads_the_shebang(tmp_path: Path) -> None:
    env = tmp_path / "a"
    env.write_text("#!/usr/bin/env -S python3 -u\n")
    direct = tmp_path / "b"
    direct.write_text("#!/opt/ruby/bin/ruby\n")
    binary = tmp_path / "c"
    binary.write_bytes(b"\x7fELF")
    assert interpreter_check(str(env)) == "command -v python3 >/dev/null"
    assert interpreter_check(str(direct)) == "[ -x /opt/ruby/bin/ruby ]"
    assert interpreter_check(str(binary)) is None


class FakeRouter:
    """Answers each request with the next canned body (after a late stray answer)."""

    def __init__(self, answers: list[dict[str, Any] | None]) -> None:
        import threading

        self.answers = answers
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        conn, _ = self.srv.accept()
        f = conn.makefile("rb")
        for answer in self.answers:
            req = json.loads(f.readline())["body"]
            if answer is None:
                continue  # no answer: the client times out
            conn.sendall(json.dumps({"src": "n1", "body": {"in_reply_to": -5}}).encode() + b"\n")
            conn.sendall(json.dumps({"src": "n1", "body": {**answer, "in_reply_to": req["msg_id"]}})
                         .encode() + b"\n")


def test_clients_map_maelstrom_errors_to_fail_and_info() -> None:
    from jepsy.inventory import Node
    from jepsy.protocols import Test

    fake = FakeRouter([{"type": "write_ok"}, {"type": "error", "code": 22},
                       {"type": "error", "code": 13}, {"type": "error", "code": 20},
                       {"type": "error", "code": 1000}])
    test = Test(name="t", nodes=["n1"], node_specs={"n1": Node(name="n1", host="127.0.0.1")},
                remote=None)  # type: ignore[arg-type]
    c = client_for("lin-kv", {"port": fake.port, "op_timeout": 1}).open(test, "n1")
    assert c.invoke(test, {"f": "write", "value": [1, 2]})["type"] == "ok"
    assert c.invoke(test, {"f": "cas", "value": [1, [3, 4]]})["type"] == "fail"
    assert c.invoke(test, {"f": "write", "value": [1, 3]})["type"] == "info"
    assert c.invoke(test, {"f": "read", "value": [1, None]}) == {"type": "ok", "value": [1, None]}
    got = c.invoke(test, {"f": "read", "value": [1, None]})
    assert got["type"] == "fail" and got["error"].startswith("1000")
    with pytest.raises(ConfigError):
        client_for("bank", {})


def op(i: int, t: str, p: int, f: str, v: Any) -> Op:
    return Op(index=i, time=i, type=t, process=p, f=f, value=v)


def test_kafka_checker_finds_lost_duplicate_and_backwards() -> None:
    good = [op(0, "invoke", 0, "send", ["a", 1]), op(1, "ok", 0, "send", ["a", 1, 0]),
            op(2, "invoke", 0, "send", ["a", 2]), op(3, "ok", 0, "send", ["a", 2, 3]),
            op(4, "invoke", 1, "poll", ["a"]),
            op(5, "ok", 1, "poll", {"from": {"a": 0}, "msgs": {"a": [[0, 1], [3, 2]]}}),
            op(6, "invoke", 1, "commit", None), op(7, "ok", 1, "commit", {"a": 3}),
            op(8, "invoke", 1, "list-committed", None), op(9, "ok", 1, "list-committed", {"a": 3})]
    assert kafka().check(good, {})["valid"] is True
    bad = [*good[:4], op(4, "invoke", 1, "poll", ["a"]),
           op(5, "ok", 1, "poll", {"from": {"a": 0}, "msgs": {"a": [[0, 1], [4, 2], [5, 9]]}}),
           op(6, "invoke", 0, "send", ["a", 4]), op(7, "ok", 0, "send", ["a", 4, 0]),
           *good[6:8], op(8, "invoke", 1, "list-committed", None),
           op(9, "ok", 1, "list-committed", {"a": 1})]
    got = kafka().check(bad, {})
    assert got["valid"] is False
    assert set(got["anomaly_types"]) == {"duplicate", "inconsistent-offsets", "lost",
                                         "send-nonmonotonic", "committed-regression"}


def test_eventual_counter_allows_stale_reads_but_not_a_wrong_final_read() -> None:
    adds = [op(0, "invoke", 0, "add", 2), op(1, "ok", 0, "add", 2),
            op(2, "invoke", 1, "read", None), op(3, "ok", 1, "read", 0),
            op(4, "invoke", 0, "add", 3), op(5, "info", 0, "add", 3)]
    final_ok = [*adds, op(6, "invoke", 2, "read", None), op(7, "ok", 2, "read", 5)]
    assert eventual_counter().check(final_ok, {})["valid"] is True
    final_bad = [*adds, op(6, "invoke", 2, "read", None), op(7, "ok", 2, "read", 1)]
    assert eventual_counter().check(final_bad, {})["valid"] is False
    assert eventual_counter().check(adds, {})["valid"] == "unknown"
    impossible = [*adds[:2], op(2, "invoke", 1, "read", None), op(3, "ok", 1, "read", 9)]
    assert eventual_counter().check(impossible, {})["impossible_count"] == 1
