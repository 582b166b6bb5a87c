"""PostgreSQL (Debian's ``postgresql``, 15) on the first node, at a chosen isolation level.

Provisioning: install the package when no server binary is present (stopping
the cluster its postinst may start), ``initdb`` a fresh cluster of ours under
``/var/lib/jepsy/pg`` with a password generated per test (SCRAM), and run
``postgres`` as a daemon of ours (``setsid``: its own process group, so a kill
takes the postmaster and every backend at once).  The other nodes of the
inventory run nothing: this module tests one server's isolation, not
replication (replicas are a separate module's business).

Options (``--db-opt``): ``isolation`` = ``serializable`` (default),
``repeatable-read``, ``read-committed`` or ``read-uncommitted``;
``op_timeout`` (seconds, default 5).

Clients speak SQL through pg8000 (pure Python).  Outcomes: a serialization
failure, deadlock or any error before COMMIT is ``fail`` (PostgreSQL rolled the
transaction back); a lost connection or timeout during COMMIT is ``info``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import ensure_package, faketime_prefix, wait_for
from jepsy.dbs.build import DEPLOY_OPTIONS, refuse
from jepsy.dbs.existing import ExistingDeployment, is_existing, run_prefix
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, choice, declare, number, read
from jepsy.protocols import Client, Test

__all__ = ["ExistingPostgres", "PostgresDB", "postgres_db"]

DATA_DIR = "/var/lib/jepsy/pg"
LOG_FILE = "/var/log/jepsy/postgres.log"
PORT = 5432
USER = "jepsy"
LEVELS = {"serializable": "SERIALIZABLE", "repeatable-read": "REPEATABLE READ",
          "read-committed": "READ COMMITTED", "read-uncommitted": "READ UNCOMMITTED"}
OPTIONS = (
    Option("isolation", "serializable", "the transactions' isolation level", parse=choice(*LEVELS)),
    Option("ready_timeout", 60.0, "seconds to wait for the server", parse=number),
    Option("op_timeout", 5.0, "seconds the client waits for each answer", parse=number),
)
_FIND_BIN = "ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1"


class PostgresDB:
    """The DB protocol for one PostgreSQL server, plus Killable, Pausable, HasLogFiles."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        level = str(self.opts["isolation"])
        if level not in LEVELS:
            raise ConfigError(f"unknown isolation level {level!r}; known: {', '.join(LEVELS)}")
        self.level = LEVELS[level]
        self.password = secrets.token_hex(16)
        self.ready_timeout = float(self.opts["ready_timeout"])

    def preflight(self, test: Test, node: str) -> list[str]:
        """Problems that stop a test before it starts (for ``jepsy doctor``)."""
        if test.remote.execute(node, _FIND_BIN, check=False).stdout.strip():
            return []
        return ["PostgreSQL is not installed: apt-get install postgresql "
                "(for the local lab: jepsy lab up --packages postgresql)"]

    def version(self, test: Test, node: str) -> str:
        if node != self.primary(test):
            return "not running (replica-less module)"
        return test.remote.execute(node, f"$({_FIND_BIN})/postgres --version").stdout.strip()

    def primary(self, test: Test) -> str:
        return test.nodes[0]

    def _bin(self, test: Test, node: str) -> str:
        found = test.remote.execute(node, _FIND_BIN, check=False).stdout.strip()
        if found:
            return found
        ensure_package(test, node, _FIND_BIN + " | grep -q .", "postgresql", "PostgreSQL",
                       ("postgresql",))
        return test.remote.execute(node, _FIND_BIN).stdout.strip()

    def _start_command(self, test: Test, node: str, bindir: str) -> str:
        argv = [f"{bindir}/postgres", "-D", DATA_DIR, "-c", f"listen_addresses={test.address(node)}",
                "-c", f"port={PORT}", "-c", "unix_socket_directories=/run/jepsy",
                "-c", "max_connections=200", "-c", "fsync=on"]
        prepare, wrap = faketime_prefix(test, node)
        daemon = f"{wrap}setsid {sh(*argv)} >> {LOG_FILE} 2>&1 < /dev/null &"
        return (f"mkdir -p /run/jepsy /var/log/jepsy && chown postgres /run/jepsy && "
                f"touch {LOG_FILE} && chown postgres {LOG_FILE} && cd / && {prepare}"
                f"su postgres -s /bin/sh -c {sh(daemon)}")

    def setup(self, test: Test, node: str) -> None:
        if node != self.primary(test):
            return
        bindir = self._bin(test, node)
        self.teardown(test, node)
        r = test.remote
        r.execute(node, f"mkdir -p {DATA_DIR} && chown postgres {DATA_DIR} && chmod 700 {DATA_DIR}",
                  sudo=True)
        pwfile = "/run/jepsy-pg-pw"
        r.execute(node, f"umask 077 && mkdir -p /run && cat > {pwfile} && chown postgres {pwfile}",
                  sudo=True, stdin=self.password + "\n")
        init = r.execute(node, "su postgres -s /bin/sh -c " + sh(
            f"{bindir}/initdb -D {DATA_DIR} -U {USER} --pwfile={pwfile} --auth-local=trust "
            "--auth-host=scram-sha-256 -E UTF8 --no-instructions"), sudo=True, timeout=120, check=False)
        r.execute(node, f"rm -f {pwfile}", sudo=True, check=False)
        if not init.ok:
            raise DBError(f"{node}: initdb failed: {init.describe()}")
        r.execute(node, f"echo 'host all all 0.0.0.0/0 scram-sha-256' >> {DATA_DIR}/pg_hba.conf", sudo=True)
        self.start_checked(test, node, bindir)

    def start_checked(self, test: Test, node: str, bindir: str) -> None:
        """Start the server of a prepared data directory: the port free before, and
        after, our postmaster (``postmaster.pid``'s first line) is what answers."""
        check_free(test, node, (PORT,), "PostgreSQL")
        test.remote.execute(node, self._start_command(test, node, bindir), sudo=True)
        self._await_ready(test, node)
        check_ours(test, node, PORT, f"head -n 1 {DATA_DIR}/postmaster.pid", "PostgreSQL")

    def _await_ready(self, test: Test, node: str) -> None:
        def answers() -> None:
            conn = self.connect(test.address(node), 2.0)
            try:
                conn.run("SELECT 1")
            finally:
                conn.close()

        try:
            wait_for(answers, self.ready_timeout, f"{node}: PostgreSQL")
        except DBError as e:
            tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout.strip()
            raise DBError(f"{e}; log: {tail[-300:]}") from None

    def connect(self, host: str, timeout: float | None = None) -> Any:
        import pg8000.native

        return pg8000.native.Connection(USER, host=host, port=PORT, database="postgres",
                                        password=self.password,
                                        timeout=timeout or float(self.opts["op_timeout"]))

    def _pid(self) -> str:
        return f"$(head -n 1 {DATA_DIR}/postmaster.pid 2>/dev/null)"

    def signal_command(self, sig: str) -> str:
        """``kill -SIG`` to the postmaster and to every child of it, each as a group.

        PostgreSQL's children each call ``setsid()``, so the postmaster's own group
        holds the postmaster alone.  A SIGKILL to that group left a child that does
        not soon notice its parent's death alive: the startup process fsyncing the
        whole data directory after a crash (slow on the power-loss filesystem) went
        on with its fsyncs (EIO after the power loss), held the shared memory, and
        every restart refused ("pre-existing shared memory block is still in use").
        For ``9``, waits (up to 10 s) until none of them is left but a zombie."""
        wait = ("; all=$(echo $p $c | tr ' ' ,); for i in $(seq 50); do "
                "ps -o stat= -p $all | grep -qv '^Z' || break; sleep 0.2; done") if sig == "9" else ""
        return (f"p={self._pid()}; [ -n \"$p\" ] || exit 0; c=$(pgrep -P $p); "
                f"for x in $p $c; do kill -{sig} $x -$x 2>/dev/null; done{wait}")

    def teardown(self, test: Test, node: str) -> None:
        if node != self.primary(test):
            return
        test.remote.execute(node, f"( {self.signal_command('CONT')} ); ( {self.signal_command('9')} ); "
                                  f"rm -rf {DATA_DIR}", sudo=True, check=False)

    def kill(self, test: Test, node: str) -> None:
        if node == self.primary(test):
            test.remote.execute(node, self.signal_command("9"), sudo=True, check=False)

    def start(self, test: Test, node: str) -> None:
        if node == self.primary(test):
            test.remote.execute(node, f"rm -f {DATA_DIR}/postmaster.pid", sudo=True, check=False)
            test.remote.execute(node, self._start_command(test, node, self._bin(test, node)), sudo=True)

    def pause(self, test: Test, node: str) -> None:
        if node == self.primary(test):
            test.remote.execute(node, self.signal_command("STOP"), sudo=True, check=False)

    def resume(self, test: Test, node: str) -> None:
        if node == self.primary(test):
            test.remote.execute(node, self.signal_command("CONT"), sudo=True, check=False)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [LOG_FILE] if node == self.primary(test) else []

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.postgres_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


class ExistingPostgres(ExistingDeployment):
    """A PostgreSQL server that already runs: ``existing=true`` (see ``jepsy.dbs.existing``).

    Endpoint variables (of the first node, the server the clients use):
    ``jepsy_db_client_port`` (default 5432), ``jepsy_db_user`` (default ``postgres``),
    ``jepsy_db_name`` (the database, default ``postgres``) and
    ``jepsy_db_password_env`` (the environment variable holding the password,
    never the password itself).  Everything a run creates is in a schema of its
    own, ``jepsy_<test>_<run>`` (every connection sets ``search_path`` to it), so
    ``cleanup=true`` is one ``DROP SCHEMA ... CASCADE``.  The PID file may be
    PostgreSQL's ``postmaster.pid`` (its first line is the postmaster's PID).
    """

    name = "PostgreSQL"

    def __init__(self, opts: Mapping[str, Any]) -> None:
        super().__init__(opts)
        self.level = PostgresDB(opts).level
        self.params: dict[str, Any] = {}
        self.schema: str | None = None

    def primary(self, test: Test) -> str:
        return test.nodes[0]

    def _learn(self, test: Test) -> None:
        v = test.node_specs[test.nodes[0]].vars
        env = v.get("jepsy_db_password_env")
        password = os.environ.get(str(env)) if env else None
        if env and password is None:
            raise ConfigError(f"jepsy_db_password_env names {env}, which is not set")
        self.params = {"user": str(v.get("jepsy_db_user") or "postgres"),
                       "database": str(v.get("jepsy_db_name") or "postgres"),
                       "port": int(v.get("jepsy_db_client_port") or PORT), "password": password}

    def connect(self, host: str, timeout: float | None = None) -> Any:
        import pg8000.native

        conn = pg8000.native.Connection(host=host, timeout=timeout or float(
            self.opts.get("op_timeout", 5.0)), **self.params)
        if self.schema is not None:
            conn.run(f'SET search_path TO "{self.schema}"')
        return conn

    def answer(self, test: Test, node: str) -> None:
        if not self.params:
            self._learn(test)
        conn = self.connect(test.address(node), 2.0)
        try:
            conn.run("SELECT 1")
        finally:
            conn.close()

    def setup(self, test: Test, node: str) -> None:
        self._learn(test)
        super().setup(test, node)
        if node == self.primary(test):
            schema = "jepsy_" + re.sub(r"[^a-z0-9]+", "_", run_prefix(test).lower())[:50]
            conn = self.connect(test.address(node))
            try:
                conn.run(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            finally:
                conn.close()
            self.schema = schema

    def version(self, test: Test, node: str) -> str:
        conn = self.connect(test.address(node), 5.0)
        try:
            got = conn.run("SHOW server_version")[0][0]
        finally:
            conn.close()
        return f"PostgreSQL {got} (running, existing deployment)"

    def clean(self, test: Test) -> None:
        if self.schema is None:
            return
        conn = self.connect(test.address(self.primary(test)), 10.0)
        try:
            conn.run(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            conn.close()

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.postgres_clients import client_for

        return client_for(workload, self, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def postgres_db(opts: Mapping[str, Any]) -> PostgresDB | ExistingPostgres:
    refuse("postgres", opts, existing=True)
    if is_existing(opts):
        return ExistingPostgres(opts)
    return PostgresDB(opts)

