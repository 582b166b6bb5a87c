"""The database under test is the one jepsy started: ports free before, ours answering after.

Issue 16: an etcd that jepsy had not started held 2379/2380 on the nodes; jepsy's
own etcd failed to bind (said only in its log), the foreign one answered the
readiness check, and the run was judged against a database nobody killed.  So
every built-in module, around starting its daemons:

* ``check_free`` before the start: every port it will listen on is free, else
  ``DBError`` (exit 254) naming who holds it and the way out
  (``n1: port 2380 is in use by pid 4711 (etcd); stop it, or test it with
  --db-opt existing=true``);
* ``check_ours`` once the node answers: the process in the module's pidfile is
  alive and the listener on its client port belongs to it (the same process,
  or one in the session ``setsid`` made it lead: daemons that fork workers, or
  a shell that execs the program).

Both read the node's listening TCP sockets with ``ss -Htlnp`` (iproute2, on every
node jepsy reaches), as root so that other users' processes are named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from jepsy.control import sh
from jepsy.dbs.pidfile import Pidfile
from jepsy.errors import DBError
from jepsy.protocols import Test

__all__ = ["check_free", "check_ours", "listeners", "parse_ss"]

_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)')


def parse_ss(output: str, port: int) -> list[tuple[int, str]]:
    """``(pid, command name)`` of the processes listening on ``port`` in ``ss -Htlnp``
    output; a listener whose process ss cannot name is ``(0, "?")``."""
    got: list[tuple[int, str]] = []
    for line in output.splitlines():
        words = line.split()
        if len(words) < 4 or not words[3].endswith(f":{port}"):
            continue
        users = _USER.findall(line)
        if users:
            got.extend((int(pid), name) for name, pid in users)
        else:
            got.append((0, "?"))
    return sorted(set(got))


def listeners(test: Test, node: str, port: int) -> list[tuple[int, str]]:
    out = test.remote.execute(node, f"ss -Htlnp {sh(f'sport = :{port}')}", sudo=True,
                              check=False).stdout
    return parse_ss(out, port)


def check_free(test: Test, node: str, ports: Iterable[int], db: str) -> None:
    """``DBError`` naming the holder of the first of ``ports`` something listens on."""
    for port in ports:
        held = listeners(test, node, port)
        if held:
            who = ", ".join(f"pid {pid} ({name})" if pid else "a process ss cannot name"
                            for pid, name in held)
            raise DBError(f"{node}: port {port} is in use by {who}; stop it, or test it with "
                          f"--db-opt existing=true (jepsy starts its own {db} there)")


def check_ours(test: Test, node: str, port: int, pid: Pidfile | str, db: str) -> None:
    """``DBError`` unless the process jepsy started is alive and it (or its session) is
    what listens on ``port``.  ``pid`` is its pidfile, or a shell command printing
    its PID (PostgreSQL's ``postmaster.pid`` starts with it)."""
    source = f"cat {pid.path}" if isinstance(pid, Pidfile) else pid
    pid_text = test.remote.execute(node, f"{source} 2>/dev/null", sudo=True,
                                   check=False).stdout.strip()
    if not pid_text.isdigit() or not test.remote.execute(
            node, f"kill -0 {pid_text}", sudo=True, check=False).ok:
        raise DBError(f"{node}: the {db} jepsy started is not running (its PID: "
                      f"{pid_text or 'none'}), although port {port} answered")
    ours = int(pid_text)
    held = listeners(test, node, port)
    if any(p == ours for p, _ in held):
        return
    named = [p for p, _ in held if p]
    if named:
        sids = test.remote.execute(
            node, f"ps -o sid= -p {','.join(str(p) for p in named)} 2>/dev/null",
            sudo=True, check=False).stdout.split()
        if str(ours) in sids:
            return
    who = ", ".join(f"pid {p} ({name})" for p, name in held) or "nothing ss can see"
    raise DBError(f"{node}: port {port} is answered by {who}, not by the {db} jepsy started "
                  f"(pid {ours}); stop the other one, or test it with --db-opt existing=true")
