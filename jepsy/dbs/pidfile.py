"""Shell commands for a daemon of ours tracked by a pidfile: start, signal, kill, stop.

Every DB module starts its processes the same way: ``setsid`` (a session and
process group of their own), output appended to a log, stdin from /dev/null,
the PID written to a pidfile; and it ends, freezes and thaws them by that PID,
never by name.  ``group=True`` signals the whole process group (daemons that fork
workers, or a shell that execs the program), which ``setsid`` made the daemon lead.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from jepsy.protocols import Test

__all__ = ["Pidfile", "PidfileDaemon"]


@dataclass(frozen=True)
class Pidfile:
    path: str
    group: bool = False

    def signal(self, sig: str) -> str:
        """``kill -SIG`` to the daemon (or its process group).

        A group is named ``-PID`` right after the signal, without ``--``: bash and
        dash (Debian's /bin/sh) both take that form, and dash rejects ``--``.
        """
        target = f"-$(cat {self.path})" if self.group else f"$(cat {self.path})"
        return f"kill -{sig} {target}"

    def running(self) -> str:
        """Exits 0 iff the pidfile names a live process."""
        return f"[ -f {self.path} ] && kill -0 $(cat {self.path})"

    @property
    def start_record(self) -> str:
        """Where ``start`` keeps the script that started the daemon (``PATH.start``), so that
        ``jepsy heal`` can start a database jepsy killed without the run that killed it."""
        return f"{self.path}.start"

    def start(self, command: str, log: str, prefix: str = "") -> str:
        """Start ``command`` (already quoted) unless it runs already; ``prefix`` goes
        before ``setsid`` (e.g. libfaketime's environment).  The start script is also
        written to ``start_record`` (run from ``/``, it starts the daemon the same way)."""
        script = (f"if {self.running()} 2>/dev/null; then exit 0; fi; "
                  f"{prefix}setsid {command} >> {log} 2>&1 < /dev/null & echo $! > {self.path}")
        return f"printf '%s\\n' {shlex.quote(script)} > {self.start_record} 2>/dev/null; {script}"

    def kill(self) -> str:
        """SIGKILL now (the data stays, for a restart)."""
        return f"[ -f {self.path} ] && {self.signal('9')}; rm -f {self.path}"

    def stop(self) -> str:
        """End it whatever its state: thawed first, so that a paused daemon dies at once."""
        return (f"if [ -f {self.path} ]; then {self.signal('CONT')} 2>/dev/null; "
                f"{self.signal('9')} 2>/dev/null; rm -f {self.path}; fi")


class PidfileDaemon:
    """The kill, pause, resume and log-files powers of a DB whose daemon a ``Pidfile`` tracks.

    A DB module that starts one daemon per node with ``Pidfile.start`` inherits
    these (they satisfy ``Killable``, ``Pausable`` and ``HasLogFiles``), names its
    ``pidfile`` and ``log_file``, and defines ``start(test, node)`` itself: how to
    start the daemon again after a kill is the module's own business.
    """

    pidfile: ClassVar[Pidfile]
    log_file: ClassVar[str]

    def running(self, test: Test, node: str) -> bool:
        """True iff the daemon is alive on ``node``."""
        return test.remote.execute(node, self.pidfile.running(), sudo=True, check=False).ok

    def kill(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.pidfile.kill(), sudo=True, check=False)

    def pause(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.pidfile.signal("STOP"), sudo=True, check=False)

    def resume(self, test: Test, node: str) -> None:
        test.remote.execute(node, self.pidfile.signal("CONT"), sudo=True, check=False)

    def log_files(self, test: Test, node: str) -> list[str]:
        return [self.log_file]
