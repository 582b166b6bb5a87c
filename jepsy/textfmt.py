"""The plain text history format of Plume, PolySI and dbcop, read into jepsy ops.

One micro-op per line, ``r(key,value,session,txn)`` or ``w(key,value,session,txn)``.
Lines of one transaction are contiguous and in program order; transaction ids
are global.  Two conventions of that format matter to a checker:

* ``txn == -1`` marks a write of an *aborted* transaction.  Consecutive ``-1``
  lines of one session form one aborted transaction, which becomes an
  ``invoke`` + ``fail`` pair (its writes must never be observed).  Reads with
  ``-1`` carry no information and are dropped.
* A read of value ``0`` is a read of the initial state: writers use unique
  non-zero values per key.  We turn it into ``["r", k, None]``, the register
  workload's spelling of "nothing written yet", so the rw-register checker
  treats both formats alike.

Every committed transaction becomes ``invoke`` + ``ok`` with ``f`` "txn",
``process`` = its session, and ``time`` None: the format records no times, so
checkers must not infer any real-time order between its transactions (the ops
are adjacent in the list only because the format lists them one by one).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from jepsy.errors import HistoryError
from jepsy.history import Op

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_text_history"]

_LINE = re.compile(r"\s*([rw])\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*$")


def read_text_history(path: Path, text: str) -> list[Op]:
    """Parse the text format; ``HistoryError`` names the file and line of bad input."""
    # Group lines into transactions: (session, txn id, aborted, [mops]) in file order.
    groups: list[tuple[int, int, list[list[Any]]]] = []
    current: tuple[int, int] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise HistoryError(f"{path}:{lineno}: expected r(key,value,session,txn) or "
                               f"w(key,value,session,txn), got {line.strip()[:60]!r}")
        kind, key, value, session, txn = m.group(1), *map(int, m.groups()[1:])
        if txn == -1 and kind == "r":
            continue
        if current != (session, txn):
            groups.append((session, txn, []))
            current = (session, txn)
        if kind == "r":
            groups[-1][2].append(["r", key, None if value == 0 else value])
        else:
            groups[-1][2].append(["w", key, value])
    ops: list[Op] = []
    for session, txn, mops in groups:
        extra = {"txn-id": txn}
        completion = "fail" if txn == -1 else "ok"
        invoke_value = [[f, k, None] if f == "r" else [f, k, v] for f, k, v in mops]
        ops.append(Op(index=len(ops), time=None, type="invoke", process=session, f="txn",
                      value=invoke_value, extra=dict(extra)))
        ops.append(Op(index=len(ops), time=None, type=completion, process=session, f="txn",
                      value=mops, extra=dict(extra)))
    return ops
