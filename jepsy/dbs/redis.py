"""Redis (Debian's ``redis-server`` and ``redis-sentinel``, 7) with Sentinel failover.

Provisioning, per node: install the packages when ``redis-server`` is absent
(stopping the services their postinst may start), then run two daemons of
ours, each with ``setsid``, a pidfile and a log under ``/var/log/jepsy``:

* ``redis-server`` on port 6379 with append-only persistence; the first node
  of the inventory starts as the primary, every other as its replica;
* ``redis-sentinel`` on port 26379, monitoring the primary under the name
  ``jepsy`` with a quorum of a majority of the nodes.

Both read configuration files under ``/var/lib/jepsy/redis`` that they may
rewrite: Sentinel records failovers there, and reconfigures each server with
``REPLICAOF`` and ``CONFIG REWRITE``, so a server killed and started again
comes back in the role Sentinel last gave it (as with any real deployment).
Setup returns once the server answers and its sentinel knows the primary and
every other sentinel, so that failover works from the first second.

Kill, start, pause and resume act on ``redis-server`` by its pidfile (the
sentinels keep running, as they would on their own hosts); ``primaries``
names every server whose ``ROLE`` is ``master`` (two during a split brain).

Which build runs: Debian's, or ``binary=`` (a ``redis-server``, or a build
directory holding one), ``tarball=`` or ``package=`` (see ``jepsy.dbs.build``;
Redis publishes sources only, so there is no ``version=``).  Both daemons run
the same ``redis-server``.  Ports 6379 and 26379 must be free before the start,
and our daemons must be what answers on them after (``jepsy.dbs.ports``).

Options (``--db-opt``): ``down_after_ms`` (Sentinel's ``down-after-milliseconds``,
default 2000), ``failover_timeout_ms`` (default 10000), ``op_timeout``
(client, seconds, default 1), ``ready_timeout`` (default 60).

Clients (``jepsy.dbs.redis_clients``) ask Sentinel for the current primary,
their own node's sentinel first, as an application on that node would.

Not started under libfaketime for lab clock faults: Redis aborts under it
("unexpected recursive calls to clock_gettime"); test its clock on VMs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import ensure_package
from jepsy.dbs.build import DEPLOY_OPTIONS, Build, BuildSpec, install, resolve
from jepsy.dbs.existing import ExistingDeployment, is_existing, run_prefix
from jepsy.dbs.pidfile import Pidfile
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import DBError
from jepsy.options import Option, choice, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["MASTER_NAME", "PORT", "SENTINEL_PORT", "RedisDB", "redis_db"]

PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "jepsy"
DATA_DIR = "/var/lib/jepsy/redis"
LOG_DIR = "/var/log/jepsy"
PID_DIR = "/run/jepsy"


def _pidfile(daemon: str) -> Pidfile:
    """The pidfile of ``redis`` or ``sentinel``."""
    return Pidfile(f"{PID_DIR}/{daemon}.pid")

DAEMONS = ("redis", "sentinel")
SPEC = BuildSpec(db="redis", program="redis-server", version_command="{program} --version",
                 kinds=("binary", "tarball", "package"))


def _conn(host: str, port: int, timeout: float) -> Any:
    import redis

    return redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       decode_responses=True)


OPTIONS = (
    Option("ready_timeout", 60.0, "seconds to wait for Redis and Sentinel on every node",
           parse=number),
    Option("down_after_ms", 2000, "Sentinel's down-after-milliseconds", parse=integer),
    Option("failover_timeout_ms", 10000, "Sentinel's failover-timeout, in ms", parse=integer),
    Option("op_timeout", 1.0, "seconds the client waits for each answer", parse=number),
    Option("appendfsync", "everysec", "when Redis fsyncs its append-only file",
           parse=choice("always", "everysec", "no")),
)



def _masters(test: Test, connect: Callable[[str], Any]) -> list[str]:
    """The nodes whose server says its ROLE is master (unreachable or paused ones name none)."""
    leaders = []
    for node in test.nodes:
        try:
            with connect(node) as server:
                role = server.execute_command("ROLE")
        except Exception:  # redis-py raises many kinds; such a server names no role
            continue
        if role and role[0] == "master":
            leaders.append(node)
    return leaders


class RedisDB:
    """The DB protocol for Redis with Sentinel, plus Killable, Pausable, HasLogFiles, HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.ready_timeout = float(self.opts["ready_timeout"])
        self.down_after = int(self.opts["down_after_ms"])
        self.failover_timeout = int(self.opts["failover_timeout_ms"])
        self.appendfsync = str(self.opts["appendfsync"])  # always | everysec | no
        self.build: Build | None = resolve(SPEC, self.opts)
        self.programs: dict[str, str] = {}

    def program(self, node: str | None) -> str:
        """The ``redis-server`` this node runs: the uploaded build's, else Debian's."""
        return self.programs.get(node or "", "redis-server")

    def version(self, test: Test, node: str) -> str:
        """The version of the ``redis-server`` this node ran (asked of that binary)."""
        return test.remote.execute(
            node, SPEC.version_command.format(program=sh(self.program(node)))).stdout.strip()

    # -- configuration -------------------------------------------------------
    def primary(self, test: Test) -> str:
        """The node that starts as primary (Sentinel may move the role later)."""
        return test.nodes[0]

    def server_conf(self, test: Test, node: str) -> str:
        lines = [f"bind {test.address(node)} 127.0.0.1", f"port {PORT}", "protected-mode no",
                 f"dir {DATA_DIR}", "appendonly yes", f"appendfsync {self.appendfsync}", "daemonize no",
                 f"replica-announce-ip {test.address(node)}"]
        if node != self.primary(test):
            lines.append(f"replicaof {test.address(self.primary(test))} {PORT}")
        return "\n".join(lines) + "\n"

    def sentinel_conf(self, test: Test, node: str) -> str:
        quorum = len(test.nodes) // 2 + 1
        return "\n".join([
            f"bind {test.address(node)} 127.0.0.1", f"port {SENTINEL_PORT}", "protected-mode no",
            "daemonize no", f"dir {DATA_DIR}", f"sentinel announce-ip {test.address(node)}",
            f"sentinel monitor {MASTER_NAME} {test.address(self.primary(test))} {PORT} {quorum}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after}",
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]) + "\n"

    def _start_command(self, daemon: str, node: str | None = None) -> str:
        conf = f"{DATA_DIR}/{daemon}.conf"
        argv = [self.program(node), conf] + (["--sentinel"] if daemon == "sentinel" else [])
        pid, log = _pidfile(daemon), f"{LOG_DIR}/{daemon}.log"
        return (f"mkdir -p {PID_DIR} {LOG_DIR} && cd {DATA_DIR} && "
                + pid.start(sh(*argv), log))

    # -- provisioning --------------------------------------------------------
    def install(self, test: Test, node: str) -> None:
        if self.build is not None:
            self.programs[node] = install(test, node, SPEC, self.build).program
            return
        # The packages' postinst may start default instances on ports we need: not ours.
        ensure_package(test, node, "command -v redis-server && command -v redis-sentinel",
                       "redis-server redis-sentinel", "Redis", ("redis-sentinel", "redis-server"),
                       timeout=600)

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        r = test.remote
        r.execute(node, f"mkdir -p {DATA_DIR} {LOG_DIR} && rm -f {LOG_DIR}/redis.log "
                        f"{LOG_DIR}/sentinel.log", sudo=True)
        r.execute(node, f"cat > {DATA_DIR}/redis.conf", sudo=True, stdin=self.server_conf(test, node))
        r.execute(node, f"cat > {DATA_DIR}/sentinel.conf", sudo=True,
                  stdin=self.sentinel_conf(test, node))
        check_free(test, node, (PORT, SENTINEL_PORT), "Redis")
        r.execute(node, self._start_command("redis", node), sudo=True)
        r.execute(node, self._start_command("sentinel", node), sudo=True)
        self._await_ready(test, node)
        check_ours(test, node, PORT, _pidfile("redis"), "Redis")
        check_ours(test, node, SENTINEL_PORT, _pidfile("sentinel"), "Redis Sentinel")

    def _await_ready(self, test: Test, node: str) -> None:
        """The server answers PING, and the sentinel knows the primary and all other sentinels."""
        deadline = time.monotonic() + self.ready_timeout
        host, last = test.address(node), "no answer"
        want = len(test.nodes) - 1
        while time.monotonic() < deadline:
            try:
                with _conn(host, PORT, 1.0) as server:
                    server.ping()
                with _conn(host, SENTINEL_PORT, 1.0) as sentinel:
                    info = sentinel.execute_command("SENTINEL", "MASTER", MASTER_NAME)
                state = dict(zip(info[::2], info[1::2], strict=False)) if isinstance(info, list) else info
                others = int(state.get("num-other-sentinels", 0))
                if others >= want:
                    return
                last = f"sentinel sees {others} of {want} other sentinels"
            except Exception as e:  # redis-py raises many kinds while a server starts
                last = str(e) or type(e).__name__
            time.sleep(0.25)
        tail = test.remote.execute(node, f"tail -n 3 {LOG_DIR}/redis.log {LOG_DIR}/sentinel.log",
                                   check=False).stdout
        raise DBError(f"{node}: Redis/Sentinel not ready after {self.ready_timeout:g} s ({last}); "
                      f"logs: {tail.strip()[-400:]}")

    def _stop(self, daemon: str) -> str:
        return _pidfile(daemon).stop()

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(node, f"{self._stop('redis')}; {self._stop('sentinel')}; rm -rf {DATA_DIR}",
                            sudo=True, check=False)

    # -- optional powers -----------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._stop("redis"), sudo=True, check=False)

    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command("redis", node), sudo=True)

    def pause(self, test: Test, node: str) -> None:
        test.remote.execute(node, _pidfile("redis").signal("STOP"), sudo=True, check=False)

    def resume(self, test: Test, node: str) -> None:
        test.remote.execute(node, _pidfile("redis").signal("CONT"), sudo=True, check=False)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [f"{LOG_DIR}/{d}.log" for d in DAEMONS]

    def primaries(self, test: Test) -> list[str]:
        """Every node whose server says its ROLE is master (unreachable ones are not)."""
        return _masters(test, lambda node: _conn(test.address(node), PORT, 1.0))

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.redis_clients import client_for

        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


class ExistingRedis(ExistingDeployment):
    """A Redis that already runs: ``existing=true`` (see ``jepsy.dbs.existing``).

    Endpoint variables: ``jepsy_db_client_port`` (default 6379); with
    ``jepsy_db_sentinel_port`` clients follow that Sentinel to the primary named
    ``jepsy_db_master_name`` (default ``mymaster``), else they talk to their own
    node's server (writes to a replica fail).  Kill and pause act on the server
    of ``jepsy_db_pidfile``; sentinels are left alone.
    """

    name = "Redis"

    def _conn(self, test: Test, node: str) -> Any:
        port = int(test.node_specs[node].vars.get("jepsy_db_client_port") or PORT)
        return _conn(test.address(node), port, 2.0)

    def answer(self, test: Test, node: str) -> None:
        with self._conn(test, node) as server:
            server.ping()

    def version(self, test: Test, node: str) -> str:
        with self._conn(test, node) as server:
            info = server.info("server")
        return f"Redis server v={info.get('redis_version', '?')} (running, existing deployment)"

    def clean(self, test: Test) -> None:
        """Delete this run's keys on every server that calls itself master."""
        pattern = f"jepsy:{run_prefix(test)}:*"
        for node in test.nodes:
            try:
                with self._conn(test, node) as server:
                    if server.execute_command("ROLE")[0] != "master":
                        continue
                    keys = list(server.scan_iter(match=pattern, count=1000))
                    if keys:
                        server.delete(*keys)
            except Exception as e:  # redis-py raises many kinds
                test.log.warning("%s: cleanup=true could not delete %s: %s", node, pattern, e)

    def primaries(self, test: Test) -> list[str]:
        return _masters(test, lambda node: self._conn(test, node))

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.redis_clients import client_for

        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def redis_db(opts: Mapping[str, Any]) -> RedisDB | ExistingRedis:
    if is_existing(opts):
        resolve(SPEC, opts)  # refuses a build option next to existing=true
        return ExistingRedis(opts)
    return RedisDB(opts)
