"""RabbitMQ (Debian's ``rabbitmq-server``, 3.10) as one cluster of every node of the inventory.

Provisioning, per node: install the package when absent (its service is
stopped: not ours); write a shared Erlang cookie (one per test) and
``rabbitmq.conf`` under ``/var/lib/jepsy/rabbitmq`` (the data directory:
Mnesia, the message stores and the quorum queues' logs live there); start the
broker as a daemon of ours (``setsid``, a pidfile, a log under
``/var/log/jepsy``) as node ``rabbit@<address>`` (long names: nodes need no
resolvable host names).  The first node starts alone; every other node waits
for it, then ``rabbitmqctl stop_app``, ``join_cluster``, ``start_app`` (the
documented way to form a cluster by hand).  Erlang's boot is slow (10 to 60 s
each on a busy 2-core lab), so ``ready_timeout`` defaults to 300 s.  Setup
returns when the node's AMQP port answers and ``cluster_status`` lists every
node as running.

Options (``--db-opt``): ``queue_type`` = ``quorum`` (default; Raft-replicated
over every node) or ``classic-mirrored`` (a classic durable queue with the
policy ``ha-mode: all``, ``ha-sync-mode: automatic``);
``partition_handling`` = ``pause_minority`` (default), ``autoheal`` or
``ignore`` (``cluster_partition_handling``); ``net_ticktime`` (seconds,
default 10 instead of Erlang's 60: how long a silent peer takes to be
declared down, so that partitions of a test's length are noticed);
``op_timeout`` (client seconds,
default 5); ``ready_timeout``.

Clients (``jepsy.dbs.rabbitmq_clients``) speak the ``queue`` workload through
pika with publisher confirms and manual acknowledgements; ``primaries`` names
the node of the queue's leader (quorum) or master (classic mirrored).
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import ensure_package
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, choice, declare, integer, number
from jepsy.protocols import Client, Test

__all__ = ["AMQP_PORT", "QUEUE", "RabbitMQDB", "rabbitmq_db"]

DATA_DIR = "/var/lib/jepsy/rabbitmq"
LOG_FILE = "/var/log/jepsy/rabbitmq.log"
LOG_BASE = "/var/log/jepsy/rabbitmq"
PID = Pidfile("/run/jepsy/rabbitmq.pid", group=True)
AMQP_PORT = 5672
QUEUE = "jepsy.queue"
QUEUE_TYPES = ("quorum", "classic-mirrored")
PARTITION_HANDLING = ("pause_minority", "autoheal", "ignore")
_SBIN = "$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin | sort -V | tail -n 1)"


class RabbitMQDB(PidfileDaemon):
    """The DB protocol for a RabbitMQ cluster, plus Killable, Pausable, HasLogFiles, HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem
    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.queue_type = str(self.opts.get("queue_type", "quorum"))
        if self.queue_type not in QUEUE_TYPES:
            raise ConfigError(f"unknown queue_type {self.queue_type!r}; known: {', '.join(QUEUE_TYPES)}")
        self.partition_handling = str(self.opts.get("partition_handling", "pause_minority"))
        if self.partition_handling not in PARTITION_HANDLING:
            raise ConfigError(f"unknown partition_handling {self.partition_handling!r}; "
                              f"known: {', '.join(PARTITION_HANDLING)}")
        self.ready_timeout = float(self.opts.get("ready_timeout", 300))
        self.net_ticktime = int(self.opts.get("net_ticktime", 10))
        self.cookie = secrets.token_hex(16).upper()

    # -- configuration -------------------------------------------------------
    def node_name(self, test: Test, node: str) -> str:
        return f"rabbit@{test.address(node)}"

    def _env(self, test: Test, node: str) -> str:
        env = {"HOME": DATA_DIR, "RABBITMQ_USE_LONGNAME": "true",
               "RABBITMQ_NODENAME": self.node_name(test, node),
               "RABBITMQ_MNESIA_BASE": f"{DATA_DIR}/mnesia", "RABBITMQ_LOG_BASE": LOG_BASE,
               "RABBITMQ_CONFIG_FILE": f"{DATA_DIR}/rabbitmq.conf",
               "RABBITMQ_ENABLED_PLUGINS_FILE": f"{DATA_DIR}/enabled_plugins",
               "RABBITMQ_PID_FILE": "/run/jepsy/rabbitmq.beam.pid",
               "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-kernel net_ticktime {self.net_ticktime}"}
        return " ".join(f"{k}={sh(v)}" for k, v in env.items())

    def config(self) -> str:
        return "\n".join([
            f"listeners.tcp.default = {AMQP_PORT}", "loopback_users = none",
            f"cluster_partition_handling = {self.partition_handling}",
            # Several brokers share a small lab machine: do not block publishers on its memory.
            "vm_memory_high_watermark.relative = 0.8", "disk_free_limit.absolute = 50MB",
        ]) + "\n"

    def ctl_command(self, test: Test, node: str, args: str) -> str:
        """The shell command running ``rabbitmqctl args`` against ``node``'s broker, with our cookie."""
        return (f"{self._env(test, node)} {_SBIN}/rabbitmqctl -l -q "
                f"-n {self.node_name(test, node)} {args}")

    def ctl(self, test: Test, node: str, args: str, timeout: float = 120, check: bool = True) -> Any:
        return test.remote.execute(node, self.ctl_command(test, node, args), sudo=True,
                                   timeout=timeout, check=check)

    def _start_command(self, test: Test, node: str) -> str:
        return (f"mkdir -p {DATA_DIR} {LOG_BASE} /run/jepsy && cd {DATA_DIR} && "
                + PID.start(f"{_SBIN}/rabbitmq-server", LOG_FILE, prefix=self._env(test, node) + " "))

    # -- provisioning --------------------------------------------------------
    def install(self, test: Test, node: str) -> None:
        ensure_package(test, node, f"ls {_SBIN}/rabbitmq-server", "rabbitmq-server", "RabbitMQ",
                       ("rabbitmq-server",), timeout=600)

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        r = test.remote
        r.execute(node, f"mkdir -p {DATA_DIR} {LOG_BASE} && rm -f {LOG_FILE} && "
                        f"umask 077 && printf %s {self.cookie} > {DATA_DIR}/.erlang.cookie && "
                        f"echo '[].' > {DATA_DIR}/enabled_plugins", sudo=True)
        r.execute(node, f"cat > {DATA_DIR}/rabbitmq.conf", sudo=True, stdin=self.config())
        r.execute(node, self._start_command(test, node), sudo=True)
        self._await_amqp(test, node)
        first = test.nodes[0]
        if node != first:
            self._await_amqp(test, first)
            steps = ["stop_app", f"join_cluster {self.node_name(test, first)}", "start_app"]
            join = test.remote.execute(node, " && ".join(self.ctl_command(test, node, s) for s in steps),
                                       sudo=True, timeout=self.ready_timeout, check=False)
            if not join.ok:
                raise DBError(f"{node}: join_cluster {self.node_name(test, first)} failed: "
                              f"{join.describe()}")
            self._await_amqp(test, node)
        self._await_cluster(test, node)

    def _await_amqp(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((test.address(node), AMQP_PORT), timeout=2):
                    return
            except OSError:
                pass
            if not self.running(test, node):
                raise DBError(f"{node}: RabbitMQ exited during startup: {self._tail(test, node)}")
            time.sleep(0.5)
        raise DBError(f"{node}: RabbitMQ not listening after {self.ready_timeout:g} s: "
                      f"{self._tail(test, node)}")

    def _await_cluster(self, test: Test, node: str) -> None:
        want = {self.node_name(test, n) for n in test.nodes}
        deadline = time.monotonic() + self.ready_timeout
        running: set[str] = set()
        while time.monotonic() < deadline:
            got = self.ctl(test, node, "cluster_status --formatter json", check=False)
            try:
                running = set(json.loads(got.stdout).get("running_nodes", []))
            except ValueError:
                running = set()
            if want <= running:
                return
            time.sleep(1)
        raise DBError(f"{node}: cluster_status lists {sorted(running)} running, not all of {sorted(want)}")

    def _tail(self, test: Test, node: str) -> str:
        return test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout.strip()[-400:]

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"{PID.stop()}; rm -rf {DATA_DIR} {LOG_BASE}", sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(test, node), sudo=True)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [LOG_FILE, f"{LOG_BASE}/{self.node_name(test, node)}.log"]

    def primaries(self, test: Test) -> list[str]:
        """The node of the queue's leader (quorum) or master (classic), as a live node reports it."""
        by_ip = {test.address(n): n for n in test.nodes}
        for node in test.nodes:
            got = self.ctl(test, node, "list_queues name pid leader --formatter json", timeout=30,
                           check=False)
            try:
                rows = json.loads(got.stdout)
            except ValueError:
                continue
            for row in rows:
                if row.get("name") != QUEUE:
                    continue
                who = str(row.get("leader") or row.get("pid") or "")
                m = re.search(r"rabbit@([0-9.]+)", who)
                if m and m.group(1) in by_ip:
                    return [by_ip[m.group(1)]]
            return []
        return []

    def version(self, test: Test, node: str) -> str:
        return str(self.ctl(test, node, "version", timeout=30, check=False).stdout.strip())

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.rabbitmq_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(
    Option("queue_type", "quorum", "quorum (Raft) or classic-mirrored (ha-mode all)",
           parse=choice(*QUEUE_TYPES)),
    Option("partition_handling", "pause_minority", "cluster_partition_handling",
           parse=choice(*PARTITION_HANDLING)),
    Option("net_ticktime", 10, "seconds before Erlang declares a silent peer down", parse=integer),
    Option("op_timeout", 5.0, "seconds each client operation may take", parse=number),
    Option("ready_timeout", 300.0, "seconds to wait for the cluster at setup", parse=number),
)
def rabbitmq_db(opts: Mapping[str, Any]) -> RabbitMQDB:
    return RabbitMQDB(opts)
