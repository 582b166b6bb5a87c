"""jepsy: Jepsen-style black-box testing of distributed databases.

What users import to extend jepsy lives here: the role protocols (``DB``,
``Client``, ``Nemesis``, ``Checker``), the records they exchange (``Op``,
``Test``, ``Workload``, ``NemesisPackage``), checker composition, and the
history reader/writer.  Generators are in ``jepsy.generator``, models for the
linearizability checker in ``jepsy.models``, test doubles in ``jepsy.testing``.
"""

from __future__ import annotations

from jepsy.checkers import Checker, check_safe, compose
from jepsy.errors import ExitCode, JepsyError
from jepsy.history import HistoryWriter, Op, read_history
from jepsy.protocols import DB, Client, Nemesis, NemesisPackage, Test, Workload

__version__ = "0.1.0"

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
