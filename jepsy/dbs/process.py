"""Your own system: upload a program to every node and run it from a command template.

``--db process --db-opt bin=./myraft --db-opt "cmd={bin} --id {node} --peers {peers}"``

Provisioning, per node: upload ``bin`` (a file; made executable) to
``/opt/jepsy/process/``, make a fresh data directory, and start the command as
a daemon of ours: ``setsid`` (so the program and every child share one process
group, which kill and pause address as a whole), a pidfile, stdout and stderr
appended to a log under ``/var/log/jepsy``.  Setup returns once the node
answers ``GET /health`` with 200 (see the README for the protocol), or fails
with the log's last lines if the program exits first.

Placeholders in ``cmd`` (each substituted shell-quoted): ``{bin}`` the
uploaded program, ``{node}`` this node's name, ``{index}`` its position in the
inventory (from 0), ``{ip}`` its address, ``{port}`` the protocol port,
``{peers}`` the other nodes as ``name=ip:port,...``, ``{cluster}`` every node
the same way (inventory order), ``{data}`` the node's data directory (wiped at
teardown); ``{peer_port}``, ``{peer_peers}`` and ``{peer_cluster}`` the same with
the system's own port between members (``--db-opt peer_port=``, default ``port``).
``bin`` may be a directory, uploaded whole (``{bin}`` is then the directory).

Options (``--db-opt``): ``bin`` (required), ``cmd`` (default
``{bin} --id {node} --port {port} --cluster {cluster} --data {data}``),
``port`` (default 8080), ``ready_timeout`` (seconds, default 30),
``op_timeout`` (client, seconds, default 2).

Kill, start, pause and resume act on the process group recorded in the
pidfile, never by name; ``primaries`` asks every node's ``/health`` and names
those that answer ``"leader": true``.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import faketime_prefix
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.ports import check_free, check_ours
from jepsy.dbs.upload import bundle, check_template, first_program, interpreter, interpreter_check
from jepsy.errors import ConfigError, DBError
from jepsy.options import Option, declare, integer, number, read
from jepsy.protocols import Client, Test

__all__ = ["ProcessDB", "process_db"]

BIN_DIR = "/opt/jepsy/process"
DATA_DIR = "/var/lib/jepsy/process"
LOG_FILE = "/var/log/jepsy/process.log"
PID_FILE = "/run/jepsy/process.pid"
PID = Pidfile(PID_FILE, group=True)
DEFAULT_CMD = "{bin} --id {node} --port {port} --cluster {cluster} --data {data}"
PLACEHOLDERS = frozenset({"bin", "node", "index", "ip", "port", "peers", "cluster", "data",
                          "peer_port", "peer_peers", "peer_cluster"})


def health(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """The body of ``GET /health`` if it answered 200 (``{}`` for a non-JSON body), else None."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


OPTIONS = (
    Option("bin", None, "the program to upload and run on every node (required)"),
    Option("cmd", None, "the command template (default: {bin} --id {node} --port {port} "
           "--cluster {cluster} --data {data})"),
    Option("port", 8080, "the port jepsy talks HTTP to on every node", parse=integer),
    Option("peer_port", None, "the program's own port between members, for {peer_peers} and "
           "{peer_cluster} (default: port)", parse=integer),
    Option("ready_timeout", 30.0, "seconds to wait for GET /health", parse=number),
    Option("op_timeout", 2.0, "seconds jepsy waits for each answer", parse=number),
)


class ProcessDB(PidfileDaemon):
    """The DB protocol for a user's program, plus Killable, Pausable, HasLogFiles, HasPrimaries."""

    data_dir = DATA_DIR  # HasDataDir: where --nemesis power mounts its filesystem

    pidfile = PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = read(OPTIONS, opts)
        bin_opt = self.opts.get("bin")
        if not bin_opt:
            raise ConfigError("--db process needs the program to run: --db-opt bin=PATH")
        self.local_bin = os.path.abspath(str(bin_opt))
        if not os.path.exists(self.local_bin):
            raise ConfigError(f"--db-opt bin={bin_opt}: no such file or directory")
        self.is_dir = os.path.isdir(self.local_bin)
        self.cmd = str(self.opts.get("cmd") or DEFAULT_CMD)
        check_template(self.cmd, PLACEHOLDERS, "--db-opt cmd")
        self.port = int(self.opts["port"])
        # The system's own port between members, when it has one (Raft's): {peer_peers}.
        self.peer_port = int(self.opts["peer_port"] or self.port)
        self.ready_timeout = float(self.opts["ready_timeout"])
        self.remote_bin = f"{BIN_DIR}/{os.path.basename(self.local_bin.rstrip('/'))}"
        self._tarball: str | None = None

    def command(self, test: Test, node: str) -> str:
        """The user's command for ``node``, placeholders filled in and shell-quoted."""
        def addr(n: str, port: int) -> str:
            return f"{n}={test.address(n)}:{port}"

        values = {"bin": self.remote_bin, "node": node, "index": test.nodes.index(node),
                  "ip": test.address(node), "port": self.port,
                  "peers": ",".join(addr(n, self.port) for n in test.nodes if n != node),
                  "cluster": ",".join(addr(n, self.port) for n in test.nodes), "data": DATA_DIR,
                  "peer_port": self.peer_port,
                  "peer_peers": ",".join(addr(n, self.peer_port) for n in test.nodes if n != node),
                  "peer_cluster": ",".join(addr(n, self.peer_port) for n in test.nodes)}
        return self.cmd.format(**{k: shlex.quote(str(v)) for k, v in values.items()})

    def _start_command(self, test: Test, node: str) -> str:
        # Clock faults in the lab: the program runs under the node's libfaketime control
        # file, as every DB must (a program that reads the clock without libc, as Go
        # programs do, is not moved by it; the clock nemesis says so).
        prepare, wrap = faketime_prefix(test, node)
        # `exec` (env and sh exec too) so that the pidfile names the program itself, which
        # setsid made the leader of its own process group: kill -- -PID reaches its children.
        daemon = f"{wrap}sh -c {sh('exec ' + self.command(test, node))}"
        return (f"mkdir -p {DATA_DIR} /var/log/jepsy /run/jepsy && cd {DATA_DIR} && "
                + PID.start(daemon, LOG_FILE, prefix=prepare))

    def setup(self, test: Test, node: str) -> None:
        self.teardown(test, node)
        r = test.remote
        r.execute(node, f"mkdir -p {BIN_DIR} && rm -f {LOG_FILE}", sudo=True)
        if self.is_dir:  # uploaded whole, as one tarball; {bin} is the directory
            staged = f"/tmp/jepsy-process-{node}.tgz"
            if self._tarball is None:  # made once, shared by every node
                self._tarball = bundle({os.path.basename(self.remote_bin): self.local_bin})
            r.upload(node, self._tarball, staged)
            r.execute(node, f"rm -rf {sh(self.remote_bin)} && tar xzf {staged} -C {BIN_DIR} && "
                            f"rm -f {staged}", sudo=True)
        else:
            r.upload(node, self.local_bin, self.remote_bin)
            r.execute(node, f"chmod 755 {sh(self.remote_bin)}", sudo=True)
        local = first_program(self.cmd, self.local_bin)
        check = interpreter_check(local) if local else None
        if local and check and not r.execute(node, check, check=False).ok:
            raise DBError(f"{node}: {os.path.basename(local)} starts with '#!{interpreter(local)}', "
                          "and that interpreter is not installed on the node")
        check_free(test, node, (self.port,), "program")
        r.execute(node, self._start_command(test, node), sudo=True)
        self._await_ready(test, node)
        check_ours(test, node, self.port, PID, "program")

    def preflight(self, test: Test, node: str) -> list[str]:
        """For ``jepsy doctor --db process --bin ...``: the program's ``#!`` interpreter."""
        local = first_program(self.cmd, self.local_bin)
        check = interpreter_check(local) if local else None
        if local and check and not test.remote.execute(node, check, check=False).ok:
            return [f"{os.path.basename(local)} starts with '#!{interpreter(local)}', "
                    "and that interpreter is not installed"]
        return []

    def _await_ready(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if health(test.address(node), self.port) is not None:
                return
            if not self.running(test, node):
                tail = test.remote.execute(node, f"tail -n 5 {LOG_FILE}", check=False).stdout
                raise DBError(f"{node}: the program exited during startup: {tail.strip()[-400:]}")
            time.sleep(0.2)
        raise DBError(f"{node}: no 200 from GET /health on port {self.port} "
                      f"after {self.ready_timeout:g} s")

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(
            node, f"{PID.stop()}; rm -rf {DATA_DIR}",
            sudo=True, check=False)

    # -- optional powers (kill, pause, resume, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._start_command(test, node), sudo=True)

    def primaries(self, test: Test) -> list[str]:
        """Nodes whose ``/health`` says ``"leader": true`` (unreachable nodes are not)."""
        leaders = []
        for node in test.nodes:
            got = health(test.address(node), self.port)
            if got and got.get("leader") is True:
                leaders.append(node)
        return leaders

    def client(self, workload: str, test: Test) -> Client:
        """An HTTP+JSON client (``jepsy.dbs.http_client``) for register, set, list-append
        or rw-register."""
        from jepsy.dbs.http_client import client_for

        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(*OPTIONS)
def process_db(opts: Mapping[str, Any]) -> ProcessDB:
    return ProcessDB(opts)
