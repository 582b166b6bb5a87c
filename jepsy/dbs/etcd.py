"""etcd (Debian's ``etcd-server``, 3.4, or the build the user gives) on every node, and its clients.

Provisioning, per node: install the package when ``etcd`` is absent (and stop
and disable the service its postinst may start on a real host), then run etcd
as a daemon of ours: ``setsid``, a pidfile, a log file, data under
``/var/lib/jepsy/etcd``.  The cluster is formed statically from the inventory
(``--initial-cluster``); setup returns once the node reports healthy.  Kill,
start, pause and resume act on the PID in the pidfile, never by name.

Which build runs: ``binary=``, ``tarball=``, ``package=`` or ``version=`` (see
``jepsy.dbs.build``; releases come from etcd's GitHub releases, checked against
their ``SHA256SUMS``).  Before the start the ports 2379 and 2380 must be free,
and after it the process in our pidfile must be what answers (``jepsy.dbs.ports``).
``existing=true`` tests an etcd that already runs (``ExistingEtcd``, see
``jepsy.dbs.existing``): endpoint variable ``jepsy_db_client_port``.

Clients (``jepsy.dbs.etcd_clients``) speak etcd's v3 JSON gateway over plain
HTTP; reads are linearizable unless ``--db-opt serializable=true`` asks for
etcd's serializable reads.  ``--db-opt pre_vote=true`` starts etcd with
``--pre-vote`` (Raft's pre-vote, off by default in 3.4): see the README's
finding on recovery after a partition heals.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any

from jepsy.control import on_nodes, sh
from jepsy.dbs import ensure_package, faketime_prefix, wait_for
from jepsy.dbs.build import DEPLOY_OPTIONS, Build, BuildSpec, install, resolve
from jepsy.dbs.etcd_clients import CLIENT_PORT, EtcdError, b64, client_for, port_of, post
from jepsy.dbs.existing import ExistingDeployment, is_existing, run_prefix
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import DBError
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["SPEC", "EtcdDB", "ExistingEtcd", "etcd_db"]

DATA_DIR = "/var/lib/jepsy/etcd"
LOG_FILE = "/var/log/jepsy/etcd.log"
PID_FILE = "/run/jepsy/etcd.pid"
PID = Pidfile(PID_FILE)
PEER_PORT = 2380
SPEC = BuildSpec(
    db="etcd", program="etcd", version_command="{program} --version | head -n 1",
    mirror="https://github.com/etcd-io/etcd/releases/download",
    release_url="{mirror}/v{version}/etcd-v{version}-linux-amd64.tar.gz",
    checksum_url="{mirror}/v{version}/SHA256SUMS")


def _health(host: str, port: int) -> None:
    """Raise unless etcd at ``host:port`` reports itself healthy."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/health")
        body = conn.getresponse().read()
    finally:
        conn.close()
    if json.loads(body).get("health") not in ("true", True):
        raise DBError(body.decode(errors="replace"))


def _leaders(test: Test) -> list[str]:
    """Nodes that call themselves leader, asked over the gateway (all at once: paused
    or cut-off nodes must not make the question slow)."""

    def leads(node: str) -> bool:
        conn = http.client.HTTPConnection(test.address(node), port_of(test, node), timeout=1.0)
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


OPTIONS = (
    Option("ready_timeout", 60.0, "seconds to wait for every member to answer", parse=number),
    Option("election_ms", 1000, "etcd's --election-timeout, in ms", parse=integer),
    Option("heartbeat_ms", 100, "etcd's --heartbeat-interval, in ms", parse=integer),
    Option("serializable", False, "serializable reads: any member answers, without the leader "
           "(linearizable reads otherwise)", parse=boolean),
    Option("op_timeout", 2.0, "seconds the client waits for each answer", parse=number),
    Option("pre_vote", False, "etcd's --pre-vote: a member rejoining after a partition asks "
           "before it campaigns (off by default in etcd 3.4, on in 3.5)", parse=boolean),
)


class EtcdDB(PidfileDaemon):
    """The DB protocol for etcd, plus Killable, Pausable, HasLogFiles and HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.ready_timeout = float(self.opts["ready_timeout"])
        self.build: Build | None = resolve(SPEC, self.opts)
        self.programs: dict[str, str] = {}

    def program(self, node: str) -> str:
        """The etcd this node runs: the uploaded build's, else Debian's on the PATH."""
        return self.programs.get(node, "etcd")

    # -- provisioning --------------------------------------------------------
    def _start_command(self, test: Test, node: str) -> str:
        ip = test.address(node)
        cluster = ",".join(f"{n}=http://{test.address(n)}:{PEER_PORT}" for n in test.nodes)
        argv = [
            self.program(node), "--name", node, "--data-dir", DATA_DIR,
            "--listen-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--listen-client-urls", f"http://{ip}:{CLIENT_PORT},http://127.0.0.1:{CLIENT_PORT}",
            "--advertise-client-urls", f"http://{ip}:{CLIENT_PORT}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"jepsy-{test.name}",
            "--heartbeat-interval", str(self.opts["heartbeat_ms"]),
            "--election-timeout", str(self.opts["election_ms"]),
        ]
        # pre_vote=true: a member rejoining after a partition asks before it campaigns, so its
        # inflated term does not depose a working leader (off by default in etcd 3.4).
        if self.opts["pre_vote"]:
            argv.append("--pre-vote=true")
        # etcd is a Go program and reads the clock without libc, so libfaketime does not
        # move its clock; it runs under it all the same, and the clock nemesis says so.
        prepare, wrap = faketime_prefix(test, node)
        return (f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy && cd / && "
                + PID.start(sh(*argv), LOG_FILE, prefix=prepare + wrap))

    def preflight(self, test: Test, node: str) -> list[str]:
        """Problems that stop a test before it starts (for ``jepsy doctor``)."""
        if self.build is not None or test.remote.execute(node, "command -v etcd", check=False).ok:
            return []
        return ["etcd is not installed: apt-get install etcd-server "
                "(for the local lab: jepsy lab up --packages etcd-server)"]

    def version(self, test: Test, node: str) -> str:
        """The version of the etcd this node ran (asked of that binary, not of dpkg)."""
        return test.remote.execute(
            node, SPEC.version_command.format(program=sh(self.program(node)))).stdout.strip()

    def install(self, test: Test, node: str) -> None:
        if self.build is not None:
            self.programs[node] = install(test, node, SPEC, self.build).program
            return
        # The package's postinst may start a default single-node etcd: not ours.
        ensure_package(test, node, "command -v etcd", "etcd-server", "etcd", ("etcd",), timeout=600)

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        check_free(test, node, (CLIENT_PORT, PEER_PORT), "etcd")
        test.remote.execute(node, self._start_command(test, node), sudo=True)
        self._await_ready(test, node)
        check_ours(test, node, CLIENT_PORT, PID, "etcd")

    def _await_ready(self, test: Test, node: str) -> None:
        def healthy() -> None:
            _health(test.address(node), CLIENT_PORT)

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
        return _leaders(test)

    def client(self, workload: str, test: Test) -> Client:
        """A client for ``workload`` (see ``jepsy.dbs.etcd_clients``); it sees the db options
        and the workload's (accounts, totals ...)."""
        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


class ExistingEtcd(ExistingDeployment):
    """An etcd cluster that already runs: ``existing=true`` (see ``jepsy.dbs.existing``)."""

    name = "etcd"

    def answer(self, test: Test, node: str) -> None:
        _health(test.address(node), port_of(test, node))

    def version(self, test: Test, node: str) -> str:
        """What the running member says it is (``GET /version``)."""
        conn = http.client.HTTPConnection(test.address(node), port_of(test, node), timeout=2)
        try:
            conn.request("GET", "/version")
            got = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return f"etcd Version: {got.get('etcdserver', '?')} (running, existing deployment)"

    def clean(self, test: Test) -> None:
        """Delete every key under this run's prefix, through the first node that answers."""
        prefix = f"jepsy/{run_prefix(test)}/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        last: Exception | None = None
        for node in test.nodes:
            conn = http.client.HTTPConnection(test.address(node), port_of(test, node), timeout=5)
            try:
                post(conn, "/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(end)})
                return
            except (OSError, http.client.HTTPException, ValueError, EtcdError) as e:
                last = e
            finally:
                conn.close()
        raise DBError(f"cleanup=true: could not delete the keys under {prefix} ({last})")

    def primaries(self, test: Test) -> list[str]:
        return _leaders(test)

    def client(self, workload: str, test: Test) -> Client:
        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def etcd_db(opts: Mapping[str, Any]) -> EtcdDB | ExistingEtcd:
    """``existing=true``: the deployment as it runs; otherwise etcd started by jepsy,
    from Debian's package or the build the options name."""
    if is_existing(opts):
        resolve(SPEC, opts)  # refuses a build option next to existing=true
        return ExistingEtcd(opts)
    return EtcdDB(opts)

