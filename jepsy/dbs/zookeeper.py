"""ZooKeeper (Debian's ``zookeeper``, 3.8) as an ensemble of every node of the inventory.

Provisioning, per node: install the package when its jar is absent (the
``zookeeper`` package starts no service; ``zookeeperd`` would, and is stopped
if present), write ``zoo.cfg`` and ``myid`` under ``/var/lib/jepsy/zookeeper``,
and run ``QuorumPeerMain`` on the JVM as a daemon of ours (``setsid``, a
pidfile, a log under ``/var/log/jepsy``), with a small heap (``heap_mb``,
default 128) because several JVMs share a lab machine.  Setup returns once
the node answers ``srvr`` as leader or follower, which needs a quorum: all
nodes are set up in parallel, so they find each other.

Options (``--db-opt``): ``sync`` (client: ``true`` makes every read call
``sync`` first, so it sees every write committed before it began; ``false``,
the default, reads whatever the connected server has applied),
``tick_ms`` (default 2000) and ``sync_limit`` (ticks a follower may lag
before the leader drops it, default 5; a follower cut off from its leader
keeps serving reads until it notices, up to about ``tick_ms * sync_limit``),
``heap_mb``, ``op_timeout`` (client, seconds, default 2), ``ready_timeout``.

Kill, start, pause and resume act on the PID in the pidfile, never by name;
``primaries`` names the node whose ``srvr`` says ``Mode: leader``.

Which build runs: Debian's, or an upstream binary distribution
(``apache-zookeeper-X-bin.tar.gz``) as ``tarball=``, ``version=X`` (from
archive.apache.org, checked against its ``.sha512``) or ``binary=`` (the
unpacked distribution's directory); its ``bin/zkServer.sh`` marks the root,
``lib/*`` and ``conf/`` (its logging configuration) are the classpath, and
``org.apache.zookeeper.Version`` of that classpath is the recorded version.
The nodes need a JRE (``java``).  Ports 2181, 2888 and 3888 must be free before
the start, and our JVM must be what answers after (``jepsy.dbs.ports``).

Not started under libfaketime for lab clock faults: its JVM then stops
accepting client sessions; test its clock on VMs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import ensure_package
from jepsy.dbs.build import DEPLOY_OPTIONS, Build, BuildSpec, install, refuse, resolve
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.ports import check_free, check_ours
from jepsy.errors import DBError
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["CLIENT_PORT", "ZooKeeperDB", "four_letter", "zookeeper_db"]

CLIENT_PORT = 2181
DATA_DIR = "/var/lib/jepsy/zookeeper"
LOG_FILE = "/var/log/jepsy/zookeeper.log"
PID_FILE = "/run/jepsy/zookeeper.pid"
PID = Pidfile(PID_FILE)
JAR = "/usr/share/java/zookeeper.jar"
SPEC = BuildSpec(
    db="zookeeper", program="zkServer.sh",
    version_command="java -cp \"$(dirname $(dirname {program}))/lib/*\" "
                    "org.apache.zookeeper.Version 2>/dev/null | head -n 1",
    kinds=("binary", "tarball", "version"), mirror="https://archive.apache.org/dist/zookeeper",
    release_url="{mirror}/zookeeper-{version}/apache-zookeeper-{version}-bin.tar.gz",
    checksum_url="{mirror}/zookeeper-{version}/apache-zookeeper-{version}-bin.tar.gz.sha512")


def four_letter(host: str, word: str = "srvr", timeout: float = 2.0) -> str:
    """A four-letter-word command's answer (empty when the server does not answer)."""
    try:
        with socket.create_connection((host, CLIENT_PORT), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def mode(host: str) -> str | None:
    """``leader``, ``follower`` or ``standalone`` from ``srvr``; None when not serving."""
    for line in four_letter(host).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


OPTIONS = (
    Option("tick_ms", 2000, "ZooKeeper's tickTime, in ms", parse=integer),
    Option("sync_limit", 5, "ZooKeeper's syncLimit, in ticks", parse=integer),
    Option("heap_mb", 128, "the JVM's heap, in MiB", parse=integer),
    Option("ready_timeout", 90.0, "seconds to wait for a quorum", parse=number),
    Option("sync", False, "sync before every read (reads from a cut-off follower are stale "
           "without it)", parse=boolean),
    Option("op_timeout", 2.0, "seconds the client waits for each answer", parse=number),
)


class ZooKeeperDB(PidfileDaemon):
    """The DB protocol for a ZooKeeper ensemble, plus Killable, Pausable, HasLogFiles, HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        self.tick_ms = int(self.opts["tick_ms"])
        self.sync_limit = int(self.opts["sync_limit"])
        self.heap_mb = int(self.opts["heap_mb"])
        self.ready_timeout = float(self.opts["ready_timeout"])
        self.readers: Any = None  # the clients' shared read sessions, made with the first client
        self.build: Build | None = resolve(SPEC, self.opts)
        self.roots: dict[str, str] = {}  # node -> root of the uploaded distribution

    def version(self, test: Test, node: str) -> str:
        """The version of the ZooKeeper this node ran (from its own jars)."""
        if node in self.roots:
            program = f"{self.roots[node]}/bin/zkServer.sh"
            return test.remote.execute(node, SPEC.version_command.format(program=sh(program)),
                                       check=False).stdout.strip() or "unknown"
        return test.remote.execute(node, f"java -cp {JAR} org.apache.zookeeper.Version 2>/dev/null "
                                         "| head -n 1", check=False).stdout.strip() or "unknown"

    def config(self, test: Test, node: str) -> str:
        lines = [f"tickTime={self.tick_ms}", "initLimit=10", f"syncLimit={self.sync_limit}",
                 f"dataDir={DATA_DIR}", f"clientPort={CLIENT_PORT}",
                 f"clientPortAddress={test.address(node)}", "admin.enableServer=false",
                 "4lw.commands.whitelist=srvr,ruok,mntr", "maxClientCnxns=200",
                 "autopurge.purgeInterval=0"]
        lines += [f"server.{i + 1}={test.address(n)}:2888:3888" for i, n in enumerate(test.nodes)]
        return "\n".join(lines) + "\n"

    def _start_command(self, node: str | None = None) -> str:
        root = self.roots.get(node or "")
        if root is not None:
            # An upstream distribution: its jars and its own logging configuration.
            logging = ["-cp", f"{root}/conf:{root}/lib/*"]
        else:
            logging = ["-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties",
                       # The log4j binding of slf4j: without it ZooKeeper logs nothing at all
                       # (missing entries on other installations are ignored by the JVM).
                       "-cp", f"/etc/zookeeper/conf:{JAR}:/usr/share/java/slf4j-log4j12.jar:"
                              "/usr/share/java/log4j-1.2.jar"]
        argv = ["java", f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 64)}m", "-XX:+UseSerialGC",
                "-Dzookeeper.root.logger=INFO,CONSOLE", "-Dzookeeper.log.dir=/var/log/jepsy",
                *logging, "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{DATA_DIR}/zoo.cfg"]
        return (f"mkdir -p /var/log/jepsy /run/jepsy && cd {DATA_DIR} && "
                + PID.start(sh(*argv), LOG_FILE))

    def install(self, test: Test, node: str) -> None:
        if self.build is not None:
            if not test.remote.execute(node, "command -v java", check=False).ok:
                raise DBError(f"{node}: a ZooKeeper build needs java on the node "
                              "(apt-get install default-jre-headless)")
            program = install(test, node, SPEC, self.build).program
            self.roots[node] = program.rsplit("/", 2)[0]
            return
        ensure_package(test, node, f"[ -f {JAR} ] && command -v java", "zookeeper", "ZooKeeper",
                       ("zookeeper",))

    def setup(self, test: Test, node: str) -> None:
        self.install(test, node)
        self.teardown(test, node)
        r = test.remote
        r.execute(node, f"mkdir -p {DATA_DIR} /var/log/jepsy && rm -f {LOG_FILE} && "
                        f"echo {test.nodes.index(node) + 1} > {DATA_DIR}/myid", sudo=True)
        r.execute(node, f"cat > {DATA_DIR}/zoo.cfg", sudo=True, stdin=self.config(test, node))
        check_free(test, node, (CLIENT_PORT, 2888, 3888), "ZooKeeper")
        r.execute(node, self._start_command(node), sudo=True)
        self._await_ready(test, node)
        check_ours(test, node, CLIENT_PORT, PID, "ZooKeeper")

    def _await_ready(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if mode(test.address(node)) in ("leader", "follower", "standalone"):
                return
            if not self.running(test, node):
                tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
                raise DBError(f"{node}: ZooKeeper exited during startup: {tail.strip()[-400:]}")
            time.sleep(0.3)
        raise DBError(f"{node}: ZooKeeper not serving in a quorum after {self.ready_timeout:g} s")

    def teardown(self, test: Test, node: str) -> None:
        if self.readers is not None:
            self.readers.close()
        test.remote.execute(
            node, f"{PID.stop()}; rm -rf {DATA_DIR}",
            sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(node), sudo=True)

    def primaries(self, test: Test) -> list[str]:
        return [n for n in test.nodes if mode(test.address(n)) in ("leader", "standalone")]

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.zookeeper_clients import ReadSessions, client_for

        if self.readers is None:
            self.readers = ReadSessions()
        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})}, self.readers)


@declare(*OPTIONS, *DEPLOY_OPTIONS)
def zookeeper_db(opts: Mapping[str, Any]) -> ZooKeeperDB:
    refuse("zookeeper", {"existing": opts.get("existing")})  # existing=true: not yet
    return ZooKeeperDB(opts)
