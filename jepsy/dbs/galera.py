"""MariaDB with Galera (Debian's ``mariadb-server`` 10.11 and ``galera-4``) on every node.

Provisioning: install the packages when ``mariadbd`` is absent (their services
are stopped), then per node a fresh data directory under
``/var/lib/jepsy/mysql`` (``mariadb-install-db``) and ``mariadbd`` as a daemon
of ours: ``setsid`` (its own process group, which also holds the state
transfer scripts it spawns), a pidfile, a log under ``/var/log/jepsy``.  The
first node bootstraps the cluster (``--wsrep-new-cluster``) and creates the
test's user (a password per test); every other node waits for it and joins,
receiving a state transfer by rsync.  Setup returns once the node reports
``wsrep_ready=ON`` and ``Synced``.

Options (``--db-opt``):

* ``isolation``: ``repeatable-read`` (MariaDB's default), ``serializable``,
  ``read-committed`` or ``read-uncommitted``;
* ``snapshot_isolation``: ``true`` turns on ``innodb_snapshot_isolation``
  (MariaDB 10.11.8 and later): a repeatable-read transaction that would
  update a row changed since its snapshot fails instead of overwriting it;
* ``sync_wait``: ``wsrep_sync_wait`` for clients (default 0: a node may answer
  reads before applying writes other nodes have committed; 1: reads wait);
* ``op_timeout`` (client, seconds, default 5), ``ready_timeout`` (default 120).

Kill, start, pause and resume act on the process group in the pidfile, never
by name.  Galera is multi-primary: ``primaries`` names every synced node.

Not started under libfaketime for lab clock faults (it did not come up
under it in a trial run); test its clock on VMs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import ensure_package
from jepsy.dbs.build import DEPLOY_OPTIONS, refuse
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, boolean, choice, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["GaleraDB", "galera_db"]

DATA_DIR = "/var/lib/jepsy/mysql"
CONF = "/var/lib/jepsy/galera.cnf"
LOG_FILE = "/var/log/jepsy/mariadb.log"
PID_FILE = "/run/jepsy/mariadb.pid"
PID = Pidfile(PID_FILE, group=True)
SOCKET = "/run/jepsy-mysql/mariadb.sock"
PORT = 3306
USER = "jepsy"
DATABASE = "jepsy"
LEVELS = {"serializable": "SERIALIZABLE", "repeatable-read": "REPEATABLE READ",
          "read-committed": "READ COMMITTED", "read-uncommitted": "READ UNCOMMITTED"}


OPTIONS = (
    Option("isolation", "repeatable-read", "the transactions' isolation level",
           parse=choice(*LEVELS)),
    Option("snapshot_isolation", False, "innodb_snapshot_isolation=ON: a write over a row "
           "changed since the transaction's snapshot fails", parse=boolean),
    Option("sync_wait", 0, "wsrep_sync_wait (0: reads may lag the cluster)", parse=integer),
    Option("ready_timeout", 120.0, "seconds to wait for the cluster", parse=number),
    Option("op_timeout", 5.0, "seconds the client waits for each answer", parse=number),
)


class GaleraDB(PidfileDaemon):
    """The DB protocol for a Galera cluster, plus Killable, Pausable, HasLogFiles, HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        level = str(self.opts["isolation"])
        if level not in LEVELS:
            raise ConfigError(f"unknown isolation level {level!r}; known: {', '.join(LEVELS)}")
        self.level = LEVELS[level]
        self.snapshot_isolation = bool(self.opts["snapshot_isolation"])
        self.sync_wait = int(self.opts["sync_wait"])
        self.password = secrets.token_hex(16)
        self.ready_timeout = float(self.opts["ready_timeout"])

    def config(self, test: Test, node: str) -> str:
        ip = test.address(node)
        lines = [
            "[mariadbd]", f"datadir={DATA_DIR}", f"socket={SOCKET}", f"port={PORT}",
            f"bind-address={ip}", "user=mysql", "binlog_format=ROW", "default_storage_engine=InnoDB",
            "innodb_autoinc_lock_mode=2", "innodb_buffer_pool_size=64M", "innodb_log_file_size=48M",
            "performance_schema=OFF", "skip-name-resolve", "max_connections=200",
            "wsrep_on=ON", "wsrep_provider=/usr/lib/galera/libgalera_smm.so",
            "wsrep_cluster_name=jepsy",
            "wsrep_cluster_address=gcomm://" + ",".join(test.address(n) for n in test.nodes),
            f"wsrep_node_address={ip}", f"wsrep_node_name={node}", "wsrep_sst_method=rsync",
            "wsrep_provider_options=\"gcache.size=64M\"",
        ]
        if self.snapshot_isolation:
            lines.append("innodb_snapshot_isolation=ON")
        return "\n".join(lines) + "\n"

    def _start_command(self, bootstrap: bool = False) -> str:
        argv = ["mariadbd", f"--defaults-file={CONF}"] + (["--wsrep-new-cluster"] if bootstrap else [])
        return (f"mkdir -p /run/jepsy /var/log/jepsy /run/jepsy-mysql && chown mysql: /run/jepsy-mysql && "
                f"cd {DATA_DIR} && "
                + PID.start(sh(*argv), LOG_FILE))

    def install(self, test: Test, node: str) -> None:
        ensure_package(test, node, "command -v mariadbd && [ -f /usr/lib/galera/libgalera_smm.so ]",
                       "mariadb-server galera-4 rsync", "MariaDB/Galera", ("mariadb",))

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        r = test.remote
        # mariadbd drops to the mysql user, and so does the rsync daemon of a state
        # transfer, which must be able to write the data directory.
        # (A lab node made before the package was installed has its own /etc/passwd
        # without that user: add it there.)
        r.execute(node, "id -u mysql >/dev/null 2>&1 || useradd --system --no-create-home "
                        "--shell /usr/sbin/nologin --user-group mysql", sudo=True)
        r.execute(node, f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy /run/jepsy-mysql && "
                        f"chown mysql: {DATA_DIR} /run/jepsy-mysql && rm -f {LOG_FILE}", sudo=True)
        r.execute(node, f"cat > {CONF}", sudo=True, stdin=self.config(test, node))
        init = r.execute(node, f"mariadb-install-db --defaults-file={CONF} --user=mysql "
                               f"--auth-root-authentication-method=socket --skip-test-db",
                         sudo=True, timeout=180, check=False)
        if not init.ok:
            raise DBError(f"{node}: mariadb-install-db failed: {init.describe()}")
        first = node == test.nodes[0]
        check_free(test, node, (PORT, 4567), "MariaDB/Galera")
        if not first:
            self._await_ready(test, test.nodes[0])  # join only a cluster that exists
        r.execute(node, self._start_command(bootstrap=first), sudo=True)
        if first:
            self._await_socket(test, node)
            sql = (f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{self.password}'; "
                   f"GRANT ALL ON *.* TO '{USER}'@'%'; CREATE DATABASE IF NOT EXISTS {DATABASE};")
            r.execute(node, f"mariadb --socket={SOCKET} -u root", sudo=True, stdin=sql)
        self._await_ready(test, node)
        check_ours(test, node, PORT, PID, "MariaDB/Galera")

    def _await_socket(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if test.remote.execute(node, f"mariadb --socket={SOCKET} -u root -e 'SELECT 1'",
                                   sudo=True, check=False).ok:
                return
            self._check_running(test, node)
            time.sleep(0.5)
        raise DBError(f"{node}: MariaDB did not open its socket within {self.ready_timeout:g} s")

    def _check_running(self, test: Test, node: str) -> None:
        if not self.running(test, node):
            tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
            raise DBError(f"{node}: mariadbd exited during startup: {tail.strip()[-400:]}")

    def synced(self, host: str) -> bool:
        try:
            conn = self.connect(host, 2.0)
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW STATUS WHERE Variable_name IN "
                                "('wsrep_ready', 'wsrep_local_state_comment')")
                    status = {str(k): str(v) for k, v in cur.fetchall()}
            finally:
                conn.close()
        except Exception:  # pymysql raises several kinds while a server starts or joins
            return False
        return status.get("wsrep_ready") == "ON" and status.get("wsrep_local_state_comment") == "Synced"

    def _await_ready(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.synced(test.address(node)):
                return
            time.sleep(0.5)
        tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
        raise DBError(f"{node}: Galera node not synced after {self.ready_timeout:g} s: "
                      f"{tail.strip()[-400:]}")

    def connect(self, host: str, timeout: float | None = None) -> Any:
        import pymysql  # type: ignore[import-untyped]

        t = timeout or float(self.opts["op_timeout"])
        return pymysql.connect(host=host, port=PORT, user=USER, password=self.password,
                               database=DATABASE, connect_timeout=t, read_timeout=t, write_timeout=t,
                               autocommit=True)

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(
            node, f"{PID.stop()}; rm -rf {DATA_DIR} {CONF}",
            sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        """Rejoin the cluster (never bootstrap again: that would split it)."""
        test.remote.execute(node, self._start_command(), sudo=True)

    def primaries(self, test: Test) -> list[str]:
        return [n for n in test.nodes if self.synced(test.address(n))]

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.galera_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def galera_db(opts: Mapping[str, Any]) -> GaleraDB:
    refuse("galera", opts)
    return GaleraDB(opts)
