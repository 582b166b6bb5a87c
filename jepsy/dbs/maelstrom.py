"""Maelstrom-protocol programs on real nodes: ``--db maelstrom --bin PROGRAM``.

A learner's node (Gossip Glomers, Maelstrom's tutorial) speaks JSON lines on
stdin and stdout.  On every node jepsy uploads its router
(``jepsy/maelstrom/router.py``) beside the program; the router starts the
program, sends it ``init`` (and ``topology`` for broadcast), carries its
messages to the other nodes' routers over real TCP (so partitions, packet
faults, kills and pauses act on them), answers the ``lin-kv``/``seq-kv``/
``lww-kv``/``lin-tso`` services from the services node, and takes the
workers' requests on the client port.  What the router guarantees is in its
docstring and the README.

Provisioning, per node: one tarball holding the router and ``bin`` (a file, or
a directory uploaded whole) is unpacked into ``/opt/jepsy/maelstrom``; the
router runs as our daemon (``PidfileDaemon``: setsid, pidfile, log under
``/var/log/jepsy``); the program's own stderr goes to the same log.  Setup
returns once the router accepts clients, which it does only after the program
answered ``init``.

Options (``--db-opt``): ``bin`` (required; ``--bin`` says the same), ``cmd``
(default ``{bin}``; placeholders ``{bin}`` the uploaded file or directory,
``{node}``, ``{data}`` the node's working directory), ``port`` (client port,
default 8070), ``peer_port`` (between routers, default 8071),
``services_node`` (default the first node), ``stall_ms`` (a link whose data
stays unacknowledged this long is dropped, default 1000), ``ready_timeout``
(seconds, default 30), ``op_timeout`` (client, seconds, default 2).

Faults: kill is SIGKILL to the program's process group (the router stays, as
the network does) and start asks the router (SIGUSR1) to start it again and
send ``init`` anew; pause and resume are SIGSTOP/SIGCONT to the program.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import time
from collections.abc import Mapping
from typing import Any

from jepsy.control import sh
from jepsy.dbs import faketime_prefix
from jepsy.dbs.pidfile import Pidfile, PidfileDaemon
from jepsy.dbs.upload import bundle, check_template, first_program, interpreter, interpreter_check
from jepsy.errors import ConfigError, DBError
from jepsy.maelstrom import ROUTER
from jepsy.options import Option, declare, integer, number
from jepsy.protocols import Client, Test

__all__ = ["MaelstromDB", "maelstrom_db", "topology"]

HOME = "/opt/jepsy/maelstrom"
DATA_DIR = "/var/lib/jepsy/maelstrom"
LOG_FILE = "/var/log/jepsy/maelstrom.log"
ROUTER_PID = Pidfile("/run/jepsy/maelstrom-router.pid", group=True)
PROGRAM_PID = Pidfile("/run/jepsy/maelstrom-program.pid", group=True)
PLACEHOLDERS = frozenset({"bin", "node", "data"})
TOPOLOGIES = ("grid", "line", "total", "tree2", "tree3", "tree4")


def topology(shape: str, nodes: list[str]) -> dict[str, list[str]]:
    """Neighbours of every node in one of Maelstrom's broadcast topology shapes.

    ``grid``: nodes laid out row by row in a square, each linked to the nodes
    above, below, left and right; ``line``: a chain; ``total``: everyone;
    ``treeN``: a tree in inventory order where each node has up to N children.
    """
    n = len(nodes)
    links: dict[str, set[str]] = {x: set() for x in nodes}

    def link(a: int, b: int) -> None:
        links[nodes[a]].add(nodes[b])
        links[nodes[b]].add(nodes[a])

    if shape == "grid":
        width = max(1, int(n ** 0.5 + 0.999))
        for i in range(n):
            if (i + 1) % width and i + 1 < n:
                link(i, i + 1)
            if i + width < n:
                link(i, i + width)
    elif shape == "line":
        for i in range(n - 1):
            link(i, i + 1)
    elif shape == "total":
        for i in range(n):
            for j in range(i + 1, n):
                link(i, j)
    elif shape.startswith("tree") and shape[4:].isdigit() and int(shape[4:]) >= 1:
        k = int(shape[4:])
        for i in range(1, n):
            link(i, (i - 1) // k)
    else:
        raise ConfigError(f"--workload-opt topology={shape}: known: {', '.join(TOPOLOGIES)}")
    return {x: sorted(links[x], key=nodes.index) for x in nodes}


class MaelstromDB(PidfileDaemon):
    """The DB protocol for a Maelstrom-protocol program, plus Killable, Pausable, HasLogFiles."""

    pidfile = PROGRAM_PID
    log_file = LOG_FILE

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        bin_opt = self.opts.get("bin")
        if not bin_opt:
            raise ConfigError("--db maelstrom needs the program to run: --bin PATH")
        self.local_bin = os.path.abspath(str(bin_opt))
        if not os.path.exists(self.local_bin):
            raise ConfigError(f"--bin {bin_opt}: no such file or directory")
        self.is_dir = os.path.isdir(self.local_bin)
        self.cmd = str(self.opts.get("cmd") or "{bin}")
        if self.is_dir and self.cmd == "{bin}":
            raise ConfigError(f"--bin {bin_opt} is a directory: say which program in it to run, "
                              "e.g. --cmd '{bin}/main.py'")
        check_template(self.cmd, PLACEHOLDERS, "--cmd")
        try:
            self.port = int(self.opts.get("port", 8070))
            self.peer_port = int(self.opts.get("peer_port", 8071))
            self.stall_ms = int(self.opts.get("stall_ms", 1000))
            self.ready_timeout = float(self.opts.get("ready_timeout", 30))
        except ValueError as e:
            raise ConfigError(f"--db-opt: {e}") from None
        self.remote_bin = f"{HOME}/{os.path.basename(self.local_bin.rstrip('/'))}"
        self._tarball: str | None = None

    # -- provisioning ---------------------------------------------------------------
    def _bundle(self) -> str:
        """One tarball with the router and the program (made once, shared by every node)."""
        if self._tarball is None:
            self._tarball = bundle({"router.py": str(ROUTER),
                                    os.path.basename(self.local_bin.rstrip("/")): self.local_bin})
        return self._tarball

    def command(self, test: Test, node: str) -> str:
        """The router's command line for ``node``, the user's command inside it."""
        values = {"bin": self.remote_bin, "node": node, "data": DATA_DIR}
        program = self.cmd.format(**{k: shlex.quote(str(v)) for k, v in values.items()})
        _, wrap = faketime_prefix(test, node)
        wl = test.opts.get("workload_opts", {})
        args = ["python3", f"{HOME}/router.py", "--node", node, "--nodes", ",".join(test.nodes),
                "--peers", ",".join(f"{n}={test.address(n)}:{self.peer_port}" for n in test.nodes),
                "--client-port", str(self.port), "--peer-port", str(self.peer_port),
                "--services-node", str(self.opts.get("services_node") or test.nodes[0]),
                "--stall-ms", str(self.stall_ms), "--program-pidfile", PROGRAM_PID.path,
                "--dir", DATA_DIR, "--seed", str(test.opts.get("seed", 0)),
                "--cmd", f"{wrap}{program}"]
        if test.opts.get("workload") == "broadcast":
            shape = str(wl.get("topology", "grid"))
            args += ["--topology", json.dumps(topology(shape, test.nodes))]
        return shlex.join(args)

    def setup(self, test: Test, node: str) -> None:
        """Upload, then one command: end what an earlier run left, unpack, check that python3
        and the program's ``#!`` interpreter are there, start the router."""
        r = test.remote
        staged = f"/tmp/jepsy-maelstrom-{node}.tgz"
        r.upload(node, self._bundle(), staged)
        local = first_program(self.cmd, self.local_bin)
        interp = interpreter_check(local) if local else None
        got = r.execute(node, " && ".join([
            f"{{ {self._stop()}; true; }}",
            f"mkdir -p {HOME} {DATA_DIR} /var/log/jepsy /run/jepsy",
            f"rm -f {LOG_FILE}",
            f"tar xzf {staged} -C {HOME}",
            f"rm -f {staged}",
            f"chmod 755 {sh(self.remote_bin)}" if not self.is_dir else "true",
            "{ command -v python3 >/dev/null || exit 3; }",
            f"{{ {interp} || exit 4; }}" if interp else "true",
            f"cd {DATA_DIR}",
            ROUTER_PID.start(self.command(test, node), LOG_FILE)]), sudo=True, check=False)
        if got.exit_code == 3:
            raise DBError(f"{node}: python3 is missing; jepsy's Maelstrom router needs it on every node")
        if got.exit_code == 4 and local:
            raise DBError(f"{node}: {os.path.basename(local)} starts with '#!{interpreter(local)}', "
                          "and that interpreter is not installed on the node")
        if not got.ok:
            raise DBError(f"{node}: could not install or start the router: {got.describe()}")
        self._await_ready(test, node)

    def preflight(self, test: Test, node: str) -> list[str]:
        """For ``jepsy doctor``: python3 (the router's) and the program's ``#!`` interpreter."""
        problems = []
        if not test.remote.execute(node, "command -v python3", check=False).ok:
            problems.append("python3 is missing (jepsy's Maelstrom router needs it)")
        local = first_program(self.cmd, self.local_bin)
        check = interpreter_check(local) if local else None
        if local and check and not test.remote.execute(node, check, check=False).ok:
            problems.append(f"{os.path.basename(local)} starts with '#!{interpreter(local)}', "
                            "and that interpreter is not installed")
        return problems

    def _await_ready(self, test: Test, node: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        host = test.address(node)
        next_look = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, self.port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() >= next_look:  # looking costs an SSH round trip: once a second
                next_look = time.monotonic() + 1.0
                r = test.remote
                if not r.execute(node, ROUTER_PID.running(), sudo=True, check=False).ok:
                    tail = r.execute(node, f"tail -n 8 {LOG_FILE}", check=False).stdout
                    raise DBError(f"{node}: jepsy's router exited during startup: {tail.strip()[-600:]}")
                if r.execute(node, f"grep -q 'no answer to init' {LOG_FILE}", check=False).ok:
                    tail = r.execute(node, f"tail -n 8 {LOG_FILE}", check=False).stdout
                    raise DBError(f"{node}: the program did not answer init: {tail.strip()[-600:]}")
            time.sleep(0.05)
        raise DBError(f"{node}: the router took no clients on port {self.port} "
                      f"after {self.ready_timeout:g} s")

    def _stop(self) -> str:
        return f"{PROGRAM_PID.stop()}; {ROUTER_PID.stop()}; rm -rf {DATA_DIR}"

    def teardown(self, test: Test, node: str) -> None:
        test.remote.execute(node, self._stop(), sudo=True, check=False)

    # -- optional powers (kill, pause, resume, running, log files: PidfileDaemon) ----
    def start(self, test: Test, node: str) -> None:
        """Ask the router to start the program again (it sends ``init`` anew)."""
        test.remote.execute(node, ROUTER_PID.signal("USR1"),
                            sudo=True, check=False)

    def client(self, workload: str, test: Test) -> Client:
        from jepsy.dbs.maelstrom_clients import client_for

        return client_for(workload, {**self.opts, **test.opts.get("workload_opts", {})})


@declare(
    Option("bin", None, "your Maelstrom-protocol program: a file, or a directory uploaded whole "
           "(--bin says the same)"),
    Option("cmd", None, "how to run it (placeholders {bin}, {node}, {data}); default {bin}"),
    Option("port", 8070, "TCP port of each node's router for jepsy's clients", parse=integer),
    Option("peer_port", 8071, "TCP port the routers carry node-to-node messages on", parse=integer),
    Option("services_node", None, "node whose router answers lin-kv, seq-kv, lww-kv and lin-tso "
           "[default: the first]"),
    Option("stall_ms", 1000, "a link whose data stays unacknowledged this long is dropped, "
           "with what it held (TCP_USER_TIMEOUT)", parse=integer),
    Option("ready_timeout", 30.0, "seconds to wait for each router to take clients", parse=number),
    Option("op_timeout", 2.0, "seconds a client waits for each answer", parse=number),
)
def maelstrom_db(opts: Mapping[str, Any]) -> MaelstromDB:
    return MaelstromDB(opts)
