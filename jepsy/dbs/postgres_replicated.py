"""PostgreSQL 15 with streaming replicas: the first node is the primary, every other a hot standby.

``--db postgres-replicated``.  Provisioning: the primary is made exactly as
the single-node ``postgres`` module makes its server (fresh ``initdb``, a
password per test, a ``setsid`` daemon of ours), then allows replication
connections; each replica waits for the primary to
answer, copies it with ``pg_basebackup -R`` (which writes the standby
configuration) and starts as a hot standby; setup returns once the replica
answers queries.  There is no automatic failover: the primary stays the
primary, and ``primaries`` names it.

Options (``--db-opt``), besides those of ``postgres`` (``isolation``,
``op_timeout``):

* ``reads`` = ``primary`` (default) or ``replicas``: with ``replicas``, a
  transaction that only reads runs on the worker's own node (a replica, or the
  primary for workers bound to it).  A hot standby cannot run serializable
  transactions, so reads there run at repeatable read, as PostgreSQL advises;
  and a replica lags its primary, so such reads may be stale.
* ``synchronous`` = ``false`` (default) or ``true``: commits wait until a
  replica has flushed them (``synchronous_standby_names='ANY 1 (*)'``).

Kill, start, pause and resume act on each node's postmaster process group
(``setsid``), found from its ``postmaster.pid``, never by name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs.build import DEPLOY_OPTIONS, refuse
from jepsy.dbs.postgres import DATA_DIR, LOG_FILE, PORT, USER, PostgresDB
from jepsy.dbs.postgres import OPTIONS as SINGLE_OPTIONS
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, boolean, choice, declare, number, read
from jepsy.protocols import Client, Test

__all__ = ["ReplicatedPostgresDB", "postgres_replicated_db"]

PASS_FILE = "/var/lib/jepsy/pg.pass"


OPTIONS = (
    *(o for o in SINGLE_OPTIONS if o.name != "ready_timeout"),
    Option("reads", "primary", "where reads go: the primary, or the worker's hot standby",
           parse=choice("primary", "replicas")),
    Option("synchronous", False, "synchronous replication (commits wait for a standby)",
           parse=boolean),
    Option("ready_timeout", 90.0, "seconds to wait for the primary and its standbys",
           parse=number),
)



class ReplicatedPostgresDB:
    """The DB protocol for a primary and hot standbys, plus Killable, Pausable, HasLogFiles,
    HasPrimaries.  The single-node module does the primary's provisioning."""

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.single = PostgresDB(self.opts)  # the primary's initdb, start command, connect, level
        self.reads = str(self.opts["reads"])
        if self.reads not in ("primary", "replicas"):
            raise ConfigError(f"--db-opt reads={self.reads}: expected primary or replicas")
        self.synchronous = bool(self.opts["synchronous"])
        self.ready_timeout = float(self.opts["ready_timeout"])

    @property
    def level(self) -> str:
        return self.single.level

    @property
    def password(self) -> str:
        return self.single.password

    def primary(self, test: Test) -> str:
        return test.nodes[0]

    def connect(self, host: str, timeout: float | None = None) -> Any:
        return self.single.connect(host, timeout)

    # -- provisioning --------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        if node == self.primary(test):
            self._setup_primary(test, node)
        else:
            self._setup_replica(test, node)

    def _setup_primary(self, test: Test, node: str) -> None:
        self.single.setup(test, node)
        r = test.remote
        # PostgreSQL 15's defaults already stream (wal_level=replica, max_wal_senders=10,
        # hot_standby=on); what we change is all reloadable, so no restart is needed.
        conf = ["wal_keep_size = '256MB'"]
        if self.synchronous:
            conf.append("synchronous_standby_names = 'ANY 1 (*)'")
        r.execute(node, f"cat >> {DATA_DIR}/postgresql.conf && "
                        f"echo 'host replication all 0.0.0.0/0 scram-sha-256' >> {DATA_DIR}/pg_hba.conf",
                  sudo=True, stdin="\n".join(conf) + "\n")
        conn = self.connect(test.address(node))
        try:
            conn.run("SELECT pg_reload_conf()")
        finally:
            conn.close()

    def _setup_replica(self, test: Test, node: str) -> None:
        r = test.remote
        bindir = self.single._bin(test, node)
        self.teardown(test, node)
        self._await_primary(test)
        r.execute(node, f"mkdir -p {DATA_DIR} && chown postgres {DATA_DIR} && chmod 700 {DATA_DIR}",
                  sudo=True)
        primary = test.address(self.primary(test))
        # The password goes through a private file, never the command line (ps shows that);
        # the standby's primary_conninfo (written by -R) names that file, so it stays until
        # teardown.
        passfile = PASS_FILE
        r.execute(node, f"umask 077 && cat > {passfile} && chown postgres {passfile}", sudo=True,
                  stdin=f"{primary}:{PORT}:*:{USER}:{self.password}\n")
        copy = "su postgres -s /bin/sh -c " + sh(
            f"PGPASSFILE={passfile} {bindir}/pg_basebackup -h {primary} -p {PORT} -U {USER} "
            f"-D {DATA_DIR} -R -X stream -c fast")
        for attempt in range(5):
            # The primary may still be starting or reloading: try again then.
            backup = r.execute(node, copy, sudo=True, timeout=300, check=False)
            if backup.ok:
                break
            r.execute(node, f"rm -rf {DATA_DIR}/* {DATA_DIR}/.[!.]*", sudo=True, check=False)
            time.sleep(1 + attempt)
            self._await_primary(test)
        else:
            raise DBError(f"{node}: pg_basebackup from {primary} failed: {backup.describe()}")
        self.single.start_checked(test, node, bindir)

    def _await_primary(self, test: Test) -> None:
        """Replicas are set up in parallel with the primary: wait until it accepts replication."""
        deadline = time.monotonic() + self.ready_timeout
        host = test.address(self.primary(test))
        while time.monotonic() < deadline:
            try:
                conn = self.connect(host, 2.0)
                rows = conn.run("SELECT count(*) FROM pg_hba_file_rules "
                                "WHERE 'replication' = ANY(database)")
                conn.close()
                if rows and rows[0][0] > 0:
                    return
            except Exception:  # not up yet: pg8000 raises several kinds while a server starts
                pass
            time.sleep(0.3)
        raise DBError(f"the primary {self.primary(test)} did not come up accepting replication "
                      f"within {self.ready_timeout:g} s")

    def _stop(self, test: Test, node: str) -> None:
        # The postmaster and each of its children (they each call setsid(): see
        # PostgresDB.signal_command), so that no startup process outlives a kill.
        cont, kill = self.single.signal_command("CONT"), self.single.signal_command("9")
        test.remote.execute(node, f"( {cont} ); ( {kill} ); rm -f {DATA_DIR}/postmaster.pid",
                            sudo=True, check=False)

    def teardown(self, test: Test, node: str) -> None:
        self._stop(test, node)
        test.remote.execute(node, f"rm -rf {DATA_DIR} {PASS_FILE}", sudo=True, check=False)

    # -- optional powers -----------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.single.signal_command("9"), sudo=True, check=False)

    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"rm -f {DATA_DIR}/postmaster.pid", sudo=True, check=False)
        test.remote.execute(node, self.single._start_command(test, node, self.single._bin(test, node)),
                            sudo=True)

    def pause(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.single.signal_command("STOP"), sudo=True, check=False)

    def resume(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.single.signal_command("CONT"), sudo=True, check=False)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [LOG_FILE]

    def primaries(self, test: Test) -> list[str]:
        return [self.primary(test)]

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.postgres_replicated_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def postgres_replicated_db(opts: Mapping[str, Any]) -> ReplicatedPostgresDB:
    refuse("postgres-replicated", opts)
    return ReplicatedPostgresDB(opts)
