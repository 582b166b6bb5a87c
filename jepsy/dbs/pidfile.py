"""Shell commands for a daemon of ours tracked by a pidfile: start, signal, kill, stop.

Every DB module starts its processes the same way: ``setsid`` (a session and
process group of their own), output appended to a log, stdin from /dev/null,
the PID written to a pidfile; and it ends, freezes and thaws them by that PID,
never by name.  ``group=True`` signals the whole process group (daemons that fork
workers, or a shell that execs the program), which ``setsid`` made the daemon lead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pidfile"]


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

    def start(self, command: str, log: str, prefix: str = "") -> str:
        """Start ``command`` (already quoted) unless it runs already; ``prefix`` goes
        before ``setsid`` (e.g. libfaketime's environment)."""
        return (f"if {self.running()} 2>/dev/null; then exit 0; fi; "
                f"{prefix}setsid {command} >> {log} 2>&1 < /dev/null & echo $! > {self.path}")

    def kill(self) -> str:
        """SIGKILL now (the data stays, for a restart)."""
        return f"[ -f {self.path} ] && {self.signal('9')}; rm -f {self.path}"

    def stop(self) -> str:
        """End it whatever its state: thawed first, so that a paused daemon dies at once."""
        return (f"if [ -f {self.path} ]; then {self.signal('CONT')} 2>/dev/null; "
                f"{self.signal('9')} 2>/dev/null; rm -f {self.path}; fi")
