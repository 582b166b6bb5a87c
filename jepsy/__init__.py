"""jepsy: Jepsen-style black-box testing of distributed databases.

What users import to extend jepsy lives here: the role protocols (``DB``,
``Client``, ``Nemesis``, ``Checker``), the records they exchange (``Op``,
``Test``, ``Workload``, ``NemesisPackage``), checker composition, and the
history reader/writer.  Generators are in ``jepsy.generator``, models for the
linearizability checker in ``jepsy.checkers.linear``, test doubles in ``jepsy.testing``.
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
_LAZY = {
    "Checker": "jepsy.checkers", "check_safe": "jepsy.checkers", "compose": "jepsy.checkers",
    "ExitCode": "jepsy.errors", "JepsyError": "jepsy.errors",
    "HistoryWriter": "jepsy.history", "Op": "jepsy.history", "read_history": "jepsy.history",
    "DB": "jepsy.protocols", "Client": "jepsy.protocols", "Nemesis": "jepsy.protocols",
    "NemesisPackage": "jepsy.protocols", "Test": "jepsy.protocols", "Workload": "jepsy.protocols",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jepsy' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
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
