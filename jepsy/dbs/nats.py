"""NATS with JetStream (Debian's ``nats-server``, 2.9) as one cluster of every node.

Provisioning, per node: install the package when absent (its service, if the
package started one, is stopped: not ours); write ``nats.conf`` under
``/var/lib/jepsy/nats`` (the data directory: JetStream keeps its streams, its
key-value buckets and its Raft logs in ``jetstream/`` there); start
``nats-server`` as a daemon of ours (``setsid``, a pidfile, a log under
``/var/log/jepsy``).  Every server is named after its node, joins the cluster
``jepsy`` with a route to every node (port 6222), listens for clients on 4222
and serves its monitoring endpoints on 8222.  Setup returns when the client port
answers, that listener is ours (``jepsy.dbs.ports``), and ``/healthz`` says the
server's JetStream is healthy (a meta leader is known and the server is
current with it): only then can a stream with replicas be created.  The
streams and buckets themselves are made by the workload's client ``setup``
(``jepsy.dbs.nats_clients``), with ``replicas`` replicas each.

Durability, as shipped in 2.9: JetStream answers a publish once the stream's
Raft group has the message in a majority of the replicas' logs, and writes its
files with the page cache's help; it fsyncs them every two minutes (the file
store's fixed sync interval; 2.9 has no setting for it: ``jetstream {
sync_interval: ... }`` is an unknown field there, refused at start).  So a
power loss of every node may take up to two minutes of acknowledged messages
with it; ``--nemesis power`` shows how much.

Options (``--db-opt``): ``replicas`` (the stream's and bucket's replica count,
default 3), ``kv_direct`` (the bucket allows direct gets: any replica answers a
read, default false), ``op_timeout`` (client seconds, default 5),
``ready_timeout`` (default 120).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any

from jepsy.dbs import ensure_package
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["CLIENT_PORT", "CLUSTER_PORT", "MONITOR_PORT", "STREAM", "NatsDB", "nats_db"]

DATA_DIR = "/var/lib/jepsy/nats"
LOG_FILE = "/var/log/jepsy/nats.log"
PID = Pidfile("/run/jepsy/nats.pid")
CLIENT_PORT = 4222
CLUSTER_PORT = 6222
MONITOR_PORT = 8222
STREAM = "jepsy"
SUBJECT = "jepsy.log"
BUCKET = "jepsy"

OPTIONS = (
    Option("replicas", 3, "replicas of the stream and the key-value bucket", parse=integer),
    Option("kv_direct", False, "the bucket answers reads from any replica (allow_direct)",
           parse=boolean),
    Option("op_timeout", 5.0, "seconds each client operation may take", parse=number),
    Option("ready_timeout", 120.0, "seconds to wait for JetStream at setup", parse=number),
)


class NatsDB(PidfileDaemon):
    """The DB protocol for a NATS JetStream cluster, plus Killable, Pausable, HasLogFiles,
    HasPrimaries (the stream's Raft leader) and HasDataDir."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem
    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.replicas = int(self.opts["replicas"])
        if self.replicas < 1 or self.replicas > 5:
            raise ConfigError(f"replicas must be 1 to 5 (JetStream's limit), not {self.replicas}")
        self.kv_direct = bool(self.opts["kv_direct"])
        self.ready_timeout = float(self.opts["ready_timeout"])

    # -- configuration -------------------------------------------------------
    def config(self, test: Test, node: str) -> str:
        routes = ", ".join(f"nats-route://{test.address(n)}:{CLUSTER_PORT}" for n in test.nodes)
        return "\n".join([
            f"server_name: {node}",
            f"listen: 0.0.0.0:{CLIENT_PORT}",
            f"http: {MONITOR_PORT}",
            # The default 1 MB pending limit and 2 s ping are for the Internet; a test's
            # partitions should be noticed within a few seconds.
            "ping_interval: \"2s\"", "ping_max: 2", "write_deadline: \"2s\"",
            f"jetstream {{ store_dir: {json.dumps(DATA_DIR)}, "
            "max_memory_store: 64MB, max_file_store: 1GB }",
            f"cluster {{ name: jepsy, listen: 0.0.0.0:{CLUSTER_PORT}, routes: [{routes}] }}",
        ]) + "\n"

    def _start_command(self) -> str:
        return (f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy && cd {DATA_DIR} && "
                + PID.start(f"nats-server -c {DATA_DIR}/nats.conf", LOG_FILE))

    # -- provisioning --------------------------------------------------------
    def install(self, test: Test, node: str) -> None:
        ensure_package(test, node, "command -v nats-server", "nats-server", "nats-server",
                       ("nats-server",))

    def setup(self, test: Test, node: str) -> None:
        if len(test.nodes) < self.replicas:
            raise ConfigError(f"replicas={self.replicas} needs at least that many nodes "
                              f"(the inventory has {len(test.nodes)})")
        self.install(test, node)
        self.teardown(test, node)
        check_free(test, node, (CLIENT_PORT, CLUSTER_PORT, MONITOR_PORT), "nats-server")
        r = test.remote
        r.execute(node, f"mkdir -p {DATA_DIR} /var/log/jepsy && rm -f {LOG_FILE}", sudo=True)
        r.execute(node, f"cat > {DATA_DIR}/nats.conf", sudo=True, stdin=self.config(test, node))
        r.execute(node, self._start_command(), sudo=True)
        self._await(test, node, lambda: self._healthz(test, node), "JetStream healthy (/healthz)")
        check_ours(test, node, CLIENT_PORT, PID, "nats-server")

    def _monitor(self, test: Test, node: str, path: str) -> Any:
        """The JSON answer of the monitoring endpoint ``path`` on ``node`` (raises OSError/ValueError)."""
        url = f"http://{test.address(node)}:{MONITOR_PORT}{path}"
        try:
            with urllib.request.urlopen(url, timeout=3) as got:
                return json.loads(got.read())
        except urllib.error.HTTPError as e:  # /healthz answers 503 with a JSON body
            return json.loads(e.read() or b"{}")

    def _healthz(self, test: Test, node: str) -> bool:
        return bool(self._monitor(test, node, "/healthz").get("status") == "ok")

    def _await(self, test: Test, node: str, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except (OSError, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            if not self.running(test, node):
                raise DBError(f"{node}: nats-server exited during startup: {self._tail(test, node)}")
            time.sleep(0.5)
        raise DBError(f"{node}: not {what} after {self.ready_timeout:g} s ({last}): "
                      f"{self._tail(test, node)}")

    def _tail(self, test: Test, node: str) -> str:
        return test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout.strip()[-400:]

    def teardown(self, test: Test, node: str) -> None:
        # The data directory may be the power nemesis's mount point: empty it, keep it.
        test.remote.execute(node, f"{PID.stop()}; rm -rf {DATA_DIR}/* {DATA_DIR}/.[!.]*",
                            sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(), sudo=True)

    def primaries(self, test: Test) -> list[str]:
        """The node of the stream's Raft leader (else the bucket's), as most nodes report it.

        Every node is asked: right after a partition heals some still know no leader, or
        an old one; the name most of them give wins."""
        votes: Counter[str] = Counter()
        for node in test.nodes:
            try:
                jsz = self._monitor(test, node, "/jsz?streams=true")
            except (OSError, ValueError):
                continue
            leaders: dict[str, str] = {}
            for account in jsz.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    leader = (stream.get("cluster") or {}).get("leader")
                    if leader:
                        leaders[str(stream.get("name"))] = str(leader)
            for name in (STREAM, f"KV_{BUCKET}"):
                if leaders.get(name) in test.nodes:
                    votes[leaders[name]] += 1
                    break
        return [votes.most_common(1)[0][0]] if votes else []

    def version(self, test: Test, node: str) -> str:
        return str(test.remote.execute(node, "nats-server --version", check=False).stdout.strip())

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.nats_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS)
def nats_db(opts: Mapping[str, Any]) -> NatsDB:
    return NatsDB(opts)
