"""etcd (Debian's ``etcd-server``, 3.4) on every node, and its clients.

Provisioning, per node: install the package when ``etcd`` is absent (and stop
and disable the service its postinst may start on a real host), then run etcd
as a daemon of ours: ``setsid``, a pidfile, a log file, data under
``/var/lib/jepsy/etcd``.  The cluster is formed statically from the inventory
(``--initial-cluster``); setup returns once the node reports healthy.  Kill,
start, pause and resume act on the PID in the pidfile, never by name.

Clients (``jepsy.dbs.etcd_clients``) speak etcd's v3 JSON gateway over plain
HTTP; reads are linearizable unless ``--db-opt serializable=true`` asks for
etcd's serializable reads.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any

from jepsy.control import Remote, on_nodes, sh
from jepsy.dbs import ensure_package, faketime_prefix, wait_for
from jepsy.dbs.etcd_clients import CLIENT_PORT, EtcdError, client_for, post
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.errors import DBError
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["EtcdDB", "etcd_db"]

DATA_DIR = "/var/lib/jepsy/etcd"
LOG_FILE = "/var/log/jepsy/etcd.log"
PID_FILE = "/run/jepsy/etcd.pid"
PID = Pidfile(PID_FILE)
PEER_PORT = 2380


OPTIONS = (
    Option("ready_timeout", 60.0, "seconds to wait for every member to answer", parse=number),
    Option("election_ms", 1000, "etcd's --election-timeout, in ms", parse=integer),
    Option("heartbeat_ms", 100, "etcd's --heartbeat-interval, in ms", parse=integer),
    Option("serializable", False, "serializable reads: any member answers, without the leader "
           "(linearizable reads otherwise)", parse=boolean),
    Option("op_timeout", 2.0, "seconds the client waits for each answer", parse=number),
)


class EtcdDB(PidfileDaemon):
    """The DB protocol for etcd, plus Killable, Pausable, HasLogFiles and HasPrimaries."""

    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.ready_timeout = float(self.opts["ready_timeout"])

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
            "--heartbeat-interval", str(self.opts["heartbeat_ms"]),
            "--election-timeout", str(self.opts["election_ms"]),
        ]
        # etcd is a Go program and reads the clock without libc, so libfaketime does not
        # move its clock; it runs under it all the same, and the clock nemesis says so.
        prepare, wrap = faketime_prefix(test, node)
        return (f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy && cd / && "
                + PID.start(sh(*argv), LOG_FILE, prefix=prepare + wrap))

    def preflight(self, remote: Remote, node: str) -> list[str]:
        """Problems that stop a test before it starts (for ``jepsy doctor``)."""
        if remote.execute(node, "command -v etcd", check=False).ok:
            return []
        return ["etcd is not installed: apt-get install etcd-server "
                "(for the local lab: jepsy lab up --packages etcd-server)"]

    def version(self, test: Test, node: str) -> str:
        return test.remote.execute(node, "etcd --version | head -n 1").stdout.strip()

    def install(self, test: Test, node: str) -> None:
        # The package's postinst may start a default single-node etcd: not ours.
        ensure_package(test, node, "command -v etcd", "etcd-server", "etcd", ("etcd",), timeout=600)

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        test.remote.execute(node, self._start_command(test, node), sudo=True)
        self._await_ready(test, node)

    def _await_ready(self, test: Test, node: str) -> None:
        def healthy() -> None:
            conn = http.client.HTTPConnection(test.address(node), CLIENT_PORT, timeout=2)
            try:
                conn.request("GET", "/health")
                body = conn.getresponse().read()
            finally:
                conn.close()
            if json.loads(body).get("health") not in ("true", True):
                raise DBError(body.decode(errors="replace"))

        def alive() -> None:
            if not self.running(test, node):
                tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
                raise DBError(f"{node}: etcd exited during startup: {tail.strip()[-300:]}")

        wait_for(healthy, self.ready_timeout, f"{node}: etcd", alive)

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(
            node, f"{PID.stop()}; rm -rf {DATA_DIR}", sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(test, node), sudo=True)

    def primaries(self, test: Test) -> list[str]:
        """Nodes that call themselves leader, asked over the gateway (all at once: paused
        or cut-off nodes must not make the question slow)."""

        def leads(node: str) -> bool:
            conn = http.client.HTTPConnection(test.address(node), CLIENT_PORT, timeout=1.0)
            try:
                status = post(conn, "/v3/maintenance/status", {})
            except (OSError, http.client.HTTPException, ValueError, EtcdError):
                return False
            finally:
                conn.close()
            header = status.get("header", {})
            return bool(status.get("leader")) and status.get("leader") == header.get("member_id")

        answers = on_nodes(test.nodes, leads, raise_errors=False)
        return [n for n in test.nodes if answers.get(n) is True]

    def client(self, workload: str, test: Test) -> Client:
        """A client for ``workload`` (see ``jepsy.dbs.etcd_clients``); it sees the db options
        and the workload's (accounts, totals ...)."""
        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS)
def etcd_db(opts: Mapping[str, Any]) -> EtcdDB:
    return EtcdDB(opts)

