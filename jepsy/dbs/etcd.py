"""etcd (Debian's ``etcd-server``, 3.4) on every node, and its clients.

Provisioning, per node: install the package when ``etcd`` is absent (and stop
and disable the service its postinst may start on a real host), then run etcd
as a daemon of ours: ``setsid``, a pidfile, a log file, data under
``/var/lib/jepsy/etcd``.  The cluster is formed statically from the inventory
(``--initial-cluster``); setup returns once the node reports healthy.  Kill,
start, pause and resume act on the PID in the pidfile, never by name.

Clients speak etcd's v3 JSON gateway (``/v3/kv/...``) over plain HTTP with a
per-operation timeout, so jepsy needs no gRPC stack.  Reads are linearizable
unless ``--db-opt serializable=true`` asks for etcd's serializable reads.

Outcome mapping (the contract of ``Client.invoke``): a read that errors is
``fail`` (reads change nothing); a refused connection is ``fail`` (the request
was never sent); a compare that does not match is ``fail``; any other error or
timeout of a write or cas is ``info``, because etcd may have applied it.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.errors import ConfigError, DBError, JepsyError
from jepsy.protocols import Client, Test

__all__ = ["EtcdDB", "EtcdRegisterClient", "etcd_db"]

DATA_DIR = "/var/lib/jepsy/etcd"
LOG_FILE = "/var/log/jepsy/etcd.log"
PID_FILE = "/run/jepsy/etcd.pid"
CLIENT_PORT = 2379
PEER_PORT = 2380


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _unb64(s: str) -> str:
    return base64.b64decode(s).decode()


class EtcdDB:
    """The DB protocol for etcd, plus Killable, Pausable, HasLogFiles and HasPrimaries."""

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.ready_timeout = float(self.opts.get("ready_timeout", 60))

    # -- provisioning --------------------------------------------------------
    def _start_command(self, test: Test, node: str) -> str:
        ip = test.address(node)
        cluster = ",".join(f"{n}=http://{test.address(n)}:{PEER_PORT}" for n in test.nodes)
        argv = [
            "etcd", "--name", node, "--data-dir", DATA_DIR,
            "--listen-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--listen-client-urls", f"http://{ip}:{CLIENT_PORT},http://127.0.0.1:{CLIENT_PORT}",
            "--advertise-client-urls", f"http://{ip}:{CLIENT_PORT}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"jepsy-{test.name}",
            "--heartbeat-interval", str(self.opts.get("heartbeat_ms", 100)),
            "--election-timeout", str(self.opts.get("election_ms", 1000)),
        ]
        return (f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy && cd / && "
                f"if [ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE}) 2>/dev/null; then exit 0; fi; "
                f"setsid {sh(*argv)} >> {LOG_FILE} 2>&1 < /dev/null & echo $! > {PID_FILE}")

    def install(self, test: Test, node: str) -> None:
        r = test.remote
        if r.execute(node, "command -v etcd", check=False).ok:
            return
        got = r.execute(node, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server",
                        sudo=True, timeout=600, check=False)
        if not got.ok:
            hint = (" (lab nodes cannot reach package registries: run "
                    "'jepsy lab up --packages etcd-server')" if test.node_specs[node].is_lab else "")
            raise DBError(f"{node}: etcd is not installed and apt-get failed{hint}: {got.describe()}")
        # The package's postinst may start a default single-node etcd: not ours.
        r.execute(node, "systemctl disable --now etcd 2>/dev/null || service etcd stop 2>/dev/null "
                        "|| true", sudo=True, check=False)

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        test.remote.execute(node, self._start_command(test, node), sudo=True)
        self._await_ready(test, node)

    def _await_ready(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection(test.address(node), CLIENT_PORT, timeout=2)
                conn.request("GET", "/health")
                body = conn.getresponse().read()
                conn.close()
                if json.loads(body).get("health") in ("true", True):
                    return
                last = body.decode(errors="replace")
            except (OSError, ValueError, http.client.HTTPException) as e:
                last = str(e) or type(e).__name__
            if not self._running(test, node):
                tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
                raise DBError(f"{node}: etcd exited during startup: {tail.strip()[-300:]}")
            time.sleep(0.25)
        raise DBError(f"{node}: etcd not healthy after {self.ready_timeout:g} s ({last})")

    def _running(self, test: Test, node: str) -> bool:
        return test.remote.execute(
            node, f"[ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE})", sudo=True, check=False).ok

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(
            node, f"if [ -f {PID_FILE} ]; then kill -9 $(cat {PID_FILE}) 2>/dev/null; "
                  f"kill -CONT $(cat {PID_FILE}) 2>/dev/null; rm -f {PID_FILE}; fi; "
                  f"rm -rf {DATA_DIR}", sudo=True, check=False)

    # -- optional powers -----------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"[ -f {PID_FILE} ] && kill -9 $(cat {PID_FILE}); rm -f {PID_FILE}",
                            sudo=True, check=False)

    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(test, node), sudo=True)

    def pause(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"kill -STOP $(cat {PID_FILE})", sudo=True, check=False)

    def resume(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"kill -CONT $(cat {PID_FILE})", sudo=True, check=False)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [LOG_FILE]

    def primaries(self, test: Test) -> list[str]:
        """Nodes that call themselves leader, asked over the gateway."""
        leaders = []
        for node in test.nodes:
            try:
                status = _post(test.address(node), "/v3/maintenance/status", {}, 2.0)
            except (OSError, http.client.HTTPException, ValueError):
                continue
            header = status.get("header", {})
            if status.get("leader") and status.get("leader") == header.get("member_id"):
                leaders.append(node)
        return leaders

    def client(self, workload: str, test: Test) -> Client:
        if workload == "register":
            return EtcdRegisterClient(serializable=_flag(self.opts.get("serializable")),
                                      timeout=float(self.opts.get("op_timeout", 2.0)))
        raise ConfigError(f"etcd has no client for workload {workload!r} (it speaks: register)")


def _flag(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def _post(host: str, path: str, body: Mapping[str, Any], timeout: float,
          conn: http.client.HTTPConnection | None = None) -> dict[str, Any]:
    own = conn is None
    c = conn or http.client.HTTPConnection(host, CLIENT_PORT, timeout=timeout)
    try:
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = c.getresponse()
        data = json.loads(resp.read() or b"{}")
    finally:
        if own:
            c.close()
    if resp.status != 200 or "error" in data:
        raise EtcdError(int(data.get("code", 0)), str(data.get("error") or data.get("message")
                                                       or f"HTTP {resp.status}"))
    result: dict[str, Any] = data
    return result


class EtcdError(JepsyError):
    """etcd answered with an error (gRPC code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd error {code}: {message}")
        self.code = code


class EtcdRegisterClient:
    """Registers on independent keys: ops carry ``[key, value]`` (Jepsen's convention).

    ``read`` of ``[k, None]`` completes with ``[k, v]`` (``None`` if the key is
    absent); ``write [k, v]``; ``cas [k, [old, new]]`` through a transaction
    comparing the value.  Values are stored as decimal strings.
    """

    prefix = "jepsy/register/"

    def __init__(self, serializable: bool = False, timeout: float = 2.0) -> None:
        self.serializable = serializable
        self.timeout = timeout
        self.host: str | None = None
        self.conn: http.client.HTTPConnection | None = None

    def open(self, test: Test, node: str) -> EtcdRegisterClient:
        c = EtcdRegisterClient(self.serializable, self.timeout)
        c.host = test.address(node)
        return c

    def setup(self, test: Test) -> None:
        """Nothing to create: keys start absent."""

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        assert self.host is not None, "invoke before open"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, CLIENT_PORT, timeout=self.timeout)
        try:
            return _post(self.host, path, body, self.timeout, self.conn)
        except BaseException:
            self.conn.close()
            self.conn = None
            raise

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        f = op["f"]
        key, arg = op["value"]
        k = _b64(f"{self.prefix}{key}")
        try:
            if f == "read":
                res = self._call("/v3/kv/range", {"key": k, "serializable": self.serializable})
                kvs = res.get("kvs") or []
                return {"type": "ok", "value": [key, int(_unb64(kvs[0]["value"])) if kvs else None]}
            if f == "write":
                self._call("/v3/kv/put", {"key": k, "value": _b64(str(arg))})
                return {"type": "ok"}
            if f == "cas":
                old, new = arg
                res = self._call("/v3/kv/txn", {
                    "compare": [{"key": k, "target": "VALUE", "result": "EQUAL",
                                 "value": _b64(str(old))}],
                    "success": [{"request_put": {"key": k, "value": _b64(str(new))}}],
                })
                return {"type": "ok" if res.get("succeeded") else "fail",
                        **({} if res.get("succeeded") else {"error": "compare failed"})}
        except ConnectionRefusedError:
            return {"type": "fail", "error": "connection refused"}
        except (OSError, http.client.HTTPException, EtcdError, ValueError) as e:
            kind = "timeout" if isinstance(e, (socket.timeout, TimeoutError)) else str(e) or type(e).__name__
            return {"type": "fail" if f == "read" else "info", "error": kind}
        raise ConfigError(f"etcd register client cannot do {f!r}")

    def teardown(self, test: Test) -> None:
        """Keys are wiped with the data directory."""

    def close(self, test: Test) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def etcd_db(opts: Mapping[str, Any]) -> EtcdDB:
    return EtcdDB(opts)

