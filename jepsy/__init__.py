"""jepsy: Jepsen-style black-box testing of distributed databases.

What users import lives here; everything else is reachable by module.
"""

from __future__ import annotations

from jepsy.checkers import Checker, check_safe, compose
from jepsy.errors import ExitCode, JepsyError
from jepsy.history import HistoryWriter, Op, read_history

__version__ = "0.1.0"

__all__ = [
    "Checker",
    "ExitCode",
    "HistoryWriter",
    "JepsyError",
    "Op",
    "__version__",
    "check_safe",
    "compose",
    "read_history",
]
