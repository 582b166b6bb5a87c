"""``--db-opt existing=true``: test a deployment that already runs (staging), and leave it so.

jepsy installs nothing, configures nothing and wipes nothing.  What it may do
to the service it learns from the inventory, as host or group variables:

* ``jepsy_db_pidfile``: the PID file of the service's main process (kill
  sends SIGKILL to it, pause SIGSTOP, resume SIGCONT; read as root);
* ``jepsy_db_start`` / ``jepsy_db_stop``: shell commands run with sudo
  (``systemctl start etcd``); start brings a killed service back, stop is how
  to kill when there is no PID file;
* ``jepsy_db_logs``: a list of globs of log files to collect (none if unset);
* per-module endpoint variables (``jepsy_db_client_port`` ...), read by the module.

Setup checks, per node, what the run's faults need (a readable, live PID file
for kill or pause, a start command whose program exists for kill) and that the
service answers; a problem is a ``DBError`` (exit 254) in one line.  Teardown
puts the deployment back as jepsy found it: a paused process is thawed, a
stopped one started with ``jepsy_db_start`` (its stderr quoted if that fails),
and setup waits until the node answers again; the data stays.  With
``cleanup=true`` the module removes exactly what this run wrote (the workloads
write under a prefix carrying the test's name and run, see ``run_prefix``).

A module builds its existing-deployment DB by subclassing ``ExistingDeployment``
and defining ``answer`` (raise while the node does not answer), ``client``,
``clean`` and optionally ``version``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jepsy.control import Remote, sh
from jepsy.dbs import wait_for
from jepsy.errors import ConfigError, DBError
from jepsy.inventory import Node
from jepsy.options import Option, boolean
from jepsy.protocols import Client, Test

__all__ = ["EXISTING_OPTIONS", "Deployment", "ExistingDeployment", "is_existing", "run_prefix"]

EXISTING_OPTIONS: tuple[Option, ...] = (
    Option("existing", False, "test the deployment that already runs on the nodes (inventory "
                              "variables jepsy_db_pidfile, jepsy_db_start, jepsy_db_stop, "
                              "jepsy_db_logs)", parse=boolean),
    Option("cleanup", False, "with existing=true: remove what this run wrote, at the end",
           parse=boolean),
)


def is_existing(opts: Mapping[str, Any]) -> bool:
    return boolean(opts.get("existing", False))


def run_prefix(test: Test) -> str:
    """``<test name>/<run id>``: the part of every key, table or path a run writes on an
    existing deployment (the run id is the store directory's name, so that a rerun
    of the same test starts from empty keys)."""
    run = test.store_dir.name if test.store_dir is not None else "run"
    return f"{test.name}/{run}"


@dataclass(frozen=True)
class Deployment:
    """What the inventory says about the service on one node."""

    pidfile: str | None
    start: str | None
    stop: str | None
    logs: tuple[str, ...]

    @classmethod
    def of(cls, node: Node) -> Deployment:
        v = node.vars
        logs = v.get("jepsy_db_logs") or ()
        if isinstance(logs, str):
            logs = (logs,)
        if not isinstance(logs, (list, tuple)):
            raise ConfigError(f"{node.name}: jepsy_db_logs must be a list of globs")
        return cls(str(v["jepsy_db_pidfile"]) if v.get("jepsy_db_pidfile") else None,
                   str(v["jepsy_db_start"]) if v.get("jepsy_db_start") else None,
                   str(v["jepsy_db_stop"]) if v.get("jepsy_db_stop") else None,
                   tuple(str(g) for g in logs))

    def pid(self) -> str:
        """Shell words for the PID the PID file names (empty if unreadable); its first
        line, as PostgreSQL's ``postmaster.pid`` has more."""
        return f"$(head -n 1 {sh(self.pidfile or '/nonexistent')} 2>/dev/null)"

    def alive(self) -> str:
        return f'p={self.pid()}; [ -n "$p" ] && kill -0 "$p"'


class ExistingDeployment:
    """DB, Killable, Pausable and HasLogFiles for a service jepsy did not start."""

    name = "database"
    ready_timeout = 60.0

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.ready_timeout = float(self.opts.get("ready_timeout", self.ready_timeout))
        self.cleanup = boolean(self.opts.get("cleanup", False))

    # -- hooks for the module --------------------------------------------------
    def answer(self, test: Test, node: str) -> None:
        """Raise (anything) unless ``node`` answers as a member of the deployment."""
        raise NotImplementedError

    def clean(self, test: Test) -> None:
        """Remove what this run wrote (``run_prefix``); the cluster answers."""
        raise NotImplementedError

    def client(self, workload: str, test: Test) -> Client:
        raise NotImplementedError

    # -- checks ----------------------------------------------------------------
    def problems(self, remote: Remote, node: Node, nemeses: tuple[str, ...]) -> list[str]:
        """What stops a run with these nemeses on ``node`` (for setup and ``jepsy doctor``)."""
        d = Deployment.of(node)
        out: list[str] = []
        n = node.name
        need_pid = "pause" in nemeses or ("kill" in nemeses and d.stop is None)
        if d.pidfile is None:
            if need_pid:
                out.append("jepsy_db_pidfile is not set (kill and pause act on the PID it names)")
        elif not remote.execute(n, f"[ -r {sh(d.pidfile)} ]", sudo=True, check=False).ok:
            out.append(f"jepsy_db_pidfile {d.pidfile}: missing or unreadable")
        elif not remote.execute(n, d.alive(), sudo=True, check=False).ok:
            pid = remote.execute(n, f"head -n 1 {sh(d.pidfile)}", sudo=True,
                                 check=False).stdout.strip()
            out.append(f"jepsy_db_pidfile {d.pidfile} names pid {pid or '(nothing)'}, "
                       "which is not running")
        if "kill" in nemeses or d.start is not None:
            if d.start is None:
                out.append("jepsy_db_start is not set (a killed service is started with it)")
            else:
                words = shlex.split(d.start)
                if words and not remote.execute(n, f"command -v {sh(words[0])}", sudo=True,
                                                check=False).ok:
                    out.append(f"jepsy_db_start: {words[0]!r} is not a command on this node")
        return out

    def preflight(self, test: Test, node: str) -> list[str]:
        """For ``jepsy doctor``: the PID file alive, the start command present, the
        endpoints answering (as for a run with kill and pause)."""
        out = self.problems(test.remote, test.node_specs[node], ("kill", "pause"))
        try:
            self.answer(test, node)
        except Exception as e:
            out.append(f"the {self.name} endpoint does not answer ({e})")
        return out

    # -- DB ----------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        nemeses = tuple(test.opts.get("nemesis", ()))
        problems = self.problems(test.remote, test.node_specs[node], nemeses)
        if problems:
            raise DBError(f"{node}: existing {self.name}: {problems[0]}")
        wait_for(lambda: self.answer(test, node), self.ready_timeout,
                 f"{node}: existing {self.name}")

    def teardown(self, test: Test, node: str) -> None:
        """Leave the deployment running and answering, its data kept; clean up if asked."""
        self.restore(test, node)
        if self.cleanup and node == test.nodes[0]:
            self.clean(test)

    def restore(self, test: Test, node: str) -> None:
        d = Deployment.of(test.node_specs[node])
        if d.pidfile is not None:
            test.remote.execute(node, f'p={d.pid()}; [ -n "$p" ] && kill -CONT "$p"', sudo=True,
                                check=False)
        if not self.running(test, node):
            self.start(test, node)
        wait_for(lambda: self.answer(test, node), self.ready_timeout,
                 f"{node}: existing {self.name} after the test")

    # -- Killable, Pausable ------------------------------------------------------
    def running(self, test: Test, node: str) -> bool:
        d = Deployment.of(test.node_specs[node])
        if d.pidfile is None:
            try:
                self.answer(test, node)
                return True
            except Exception:
                return False
        return test.remote.execute(node, d.alive(), sudo=True, check=False).ok

    def kill(self, test: Test, node: str) -> None:
        d = Deployment.of(test.node_specs[node])
        if d.pidfile is not None:
            test.remote.execute(node, f'p={d.pid()}; [ -n "$p" ] && kill -KILL "$p"', sudo=True,
                                check=False)
        elif d.stop is not None:
            self._run(test, node, d.stop, "jepsy_db_stop")

    def start(self, test: Test, node: str) -> None:
        d = Deployment.of(test.node_specs[node])
        if d.start is None:
            raise DBError(f"{node}: jepsy_db_start is not set: cannot start the existing "
                          f"{self.name} again")
        self._run(test, node, d.start, "jepsy_db_start")

    def _run(self, test: Test, node: str, command: str, var: str) -> None:
        got = test.remote.execute(node, command, sudo=True, check=False, timeout=120)
        if not got.ok:
            err = (got.stderr or got.stdout).strip().splitlines()
            raise DBError(f"{node}: {var} `{command}` failed (exit {got.exit_code}): "
                          f"{err[-1][:300] if err else 'no output'}")

    def pause(self, test: Test, node: str) -> None:
        d = Deployment.of(test.node_specs[node])
        test.remote.execute(node, f'p={d.pid()}; [ -n "$p" ] && kill -STOP "$p"', sudo=True,
                            check=False)

    def resume(self, test: Test, node: str) -> None:
        d = Deployment.of(test.node_specs[node])
        test.remote.execute(node, f'p={d.pid()}; [ -n "$p" ] && kill -CONT "$p"', sudo=True,
                            check=False)

    # -- HasLogFiles -------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> list[str]:
        globs = Deployment.of(test.node_specs[node]).logs
        if not globs:
            return []
        out = test.remote.execute(
            node, "for f in " + " ".join(globs) + '; do [ -f "$f" ] && echo "$f"; done; true',
            sudo=True, check=False).stdout
        return [line for line in out.splitlines() if line]
