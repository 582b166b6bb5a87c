"""jepsy: Jepsen-style black-box testing of distributed databases.

What users import to extend jepsy lives here: the role protocols (``DB``,
``Client``, ``Nemesis``, ``Checker``), the records they exchange (``Op``,
``Test``, ``Workload``, ``NemesisPackage``), checker composition, and the
history reader/writer.  Generators are in ``jepsy.generator``, models for the
linearizability checker in ``jepsy.checkers.linear``, test doubles in ``jepsy.doubles``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jepsy.checkers import Checker, check_safe, compose
    from jepsy.errors import ExitCode, JepsyError
    from jepsy.history import HistoryWriter, Op, read_history
    from jepsy.protocols import DB, Client, Nemesis, NemesisPackage, Test, Workload

__version__ = "0.1.0"

# The names below are imported on first use (PEP 562), not with the package: every
# ``jepsy`` command imports this package, and ``jepsy --help`` should not pay for
# the checkers and the history reader.
def __getattr__(name: str) -> Any:
    value: Any
    if name in ("Checker", "check_safe", "compose"):
        from jepsy import checkers

        value = getattr(checkers, name)
    elif name in ("ExitCode", "JepsyError"):
        from jepsy import errors

        value = getattr(errors, name)
    elif name in ("HistoryWriter", "Op", "read_history"):
        from jepsy import history

        value = getattr(history, name)
    elif name in ("DB", "Client", "Nemesis", "NemesisPackage", "Test", "Workload"):
        from jepsy import protocols

        value = getattr(protocols, name)
    else:
        raise AttributeError(f"module 'jepsy' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "DB",
    "Checker",
    "Client",
    "ExitCode",
    "HistoryWriter",
    "JepsyError",
    "Nemesis",
    "NemesisPackage",
    "Op",
    "Test",
    "Workload",
    "__version__",
    "check_safe",
    "compose",
    "read_history",
]
