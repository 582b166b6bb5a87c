"""Database modules: one per database, each a DB (see ``jepsy.protocols``) with its clients.

``wait_for`` is the one readiness loop they share; ``faketime_prefix`` is how
every daemon is started under the node's libfaketime control file when the run
has clock faults on lab nodes (which share this machine's clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from jepsy.errors import DBError
from jepsy.protocols import Test

__all__ = ["ensure_package", "faketime_prefix", "wait_for"]


def ensure_package(test: Test, node: str, present: str, package: str, what: str,
                   services: tuple[str, ...] = (), timeout: float = 900) -> None:
    """Install Debian ``package`` on ``node`` unless the shell test ``present`` passes, then
    stop and disable ``services`` the package may have started (they are not ours).

    ``DBError`` names the node, says why, and for lab nodes (which cannot reach
    package registries) how to pre-install it with ``jepsy lab up --packages``.
    """
    r = test.remote
    if r.execute(node, present, check=False).ok:
        return
    got = r.execute(node, f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {package}",
                    sudo=True, timeout=timeout, check=False)
    if not got.ok:
        hint = (" (lab nodes cannot reach package registries: run "
                f"'jepsy lab up --packages {','.join(package.split())}')"
                if test.node_specs[node].is_lab else "")
        raise DBError(f"{node}: {what} is not installed and apt-get failed{hint}: {got.describe()}")
    for service in services:
        r.execute(node, f"systemctl disable --now {service} 2>/dev/null || "
                        f"service {service} stop 2>/dev/null || true", sudo=True, check=False)


def faketime_prefix(test: Test, node: str) -> tuple[str, str]:
    """``(prepare, wrap)``: a command (as root) creating the node's faketime control file,
    and the words to put before the daemon's command; both empty unless this run has
    clock faults on a lab node.  Programs that read the clock without libc (Go's
    etcd) are not moved by it; the clock nemesis says so in the history.
    """
    if "clock" not in test.opts.get("nemesis", ()) or not test.node_specs[node].is_lab:
        return "", ""
    # Imported here: only runs with clock faults need them.
    from jepsy.nemeses import clock
    from jepsy.nemeses.nodestate import FAKETIME_CONTROL

    prepare = f"[ -f {FAKETIME_CONTROL} ] || {{ {clock.faketime_write(0.0)}; }}; "
    clock.install_clockfix(test, node)  # so that Python 3.11's time.sleep survives libfaketime
    return prepare, clock.faketime_env() + " "


def wait_for(ready: Callable[[], None], timeout: float, what: str,
             check_alive: Callable[[], None] | None = None, interval: float = 0.25) -> None:
    """Call ``ready`` until it returns without raising; ``DBError`` after ``timeout`` seconds.

    ``ready`` raises (anything) while the database is not ready yet; the last
    error is quoted in the timeout message.  ``check_alive`` (optional) raises
    ``DBError`` itself when waiting longer is pointless (the process died).
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            ready()
            return
        except Exception as e:
            last = str(e) or type(e).__name__
        if check_alive is not None:
            check_alive()
        if time.monotonic() >= deadline:
            raise DBError(f"{what} not ready after {timeout:g} s ({last})")
        time.sleep(interval)
