"""Every error jepsy raises on purpose, and the exit code each one maps to.

The tree, drawn once::

    JepsyError                      exit 255 unless a subclass says otherwise
    ├── ConfigError                 254: bad CLI flag, inventory, unknown db/workload/nemesis
    │   └── HistoryError            254: a history file that cannot be read (with its line)
    ├── LabError                    254: the local lab cannot be built (not root, missing tool)
    ├── RemoteError                 254: talking to a node failed
    │   ├── ConnectError            cannot reach or authenticate to a node
    │   ├── CommandFailed           a command ran and exited non-zero
    │   └── CommandTimeout          a command did not finish in time
    ├── DBError                     254: the database could not be set up on the nodes
    └── CheckerError                255: a checker crashed (``check_safe`` turns it into unknown)

The CLI catches ``JepsyError`` and prints ``jepsy: <message>`` on one line, then
exits with ``exit_code``.  Anything else is a bug: it exits 255 with a traceback
in ``jepsy.log`` and one line on the terminal.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class ExitCode(IntEnum):
    """Jepsen's exit codes: the contract with CI jobs."""

    VALID = 0
    INVALID = 1
    UNKNOWN = 2
    CONFIG = 254
    INTERNAL = 255

    @classmethod
    def for_valid(cls, valid: Any) -> ExitCode:
        """Map a checker's ``valid`` field (True, False or "unknown") to an exit code."""
        if valid is True:
            return cls.VALID
        if valid is False:
            return cls.INVALID
        return cls.UNKNOWN


class JepsyError(Exception):
    """Base of every deliberate jepsy error; ``str(err)`` is the one line shown to users."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(JepsyError):
    """The user asked for something jepsy cannot do as stated."""

    exit_code = ExitCode.CONFIG


class HistoryError(ConfigError):
    """A history file is malformed; the message names the file and line."""


class LabError(JepsyError):
    """The local lab cannot be built, inspected or removed."""

    exit_code = ExitCode.CONFIG


class RemoteError(JepsyError):
    """Talking to one or more nodes failed.

    ``results`` maps node name to whatever that node answered (a ``Result`` or an
    exception), so a caller can see which nodes succeeded before the failure.
    """

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, results: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.results: dict[str, Any] = dict(results or {})


class ConnectError(RemoteError):
    """A node could not be reached or refused our credentials."""


class CommandFailed(RemoteError):
    """A remote command exited non-zero; ``result`` holds its output."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class CommandTimeout(RemoteError):
    """A remote command did not finish within its timeout."""


class DBError(JepsyError):
    """The database could not be installed, configured or started."""

    exit_code = ExitCode.CONFIG


class CheckerError(JepsyError):
    """A checker failed internally (not a verdict: a crash)."""
