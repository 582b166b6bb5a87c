from __future__ import annotations

from pathlib import Path

import pytest

from jepsy.errors import HistoryError
from jepsy.history import read_history


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "h.txt"
    p.write_text(text)
    return p


def test_transactions_sessions_and_initial_reads(tmp_path: Path) -> None:
    h = read_history(write(tmp_path, "w(1,5,0,0)\nr(2,0,0,0)\nr(1,5,1,1)\n"))
    assert [(o.type, o.process, o.f, o.time) for o in h] == [
        ("invoke", 0, "txn", None), ("ok", 0, "txn", None),
        ("invoke", 1, "txn", None), ("ok", 1, "txn", None)]
    assert h[1].value == [["w", 1, 5], ["r", 2, None]]
    assert h[0].value == [["w", 1, 5], ["r", 2, None]]
    assert h[3].value == [["r", 1, 5]]
    assert [o.index for o in h] == [0, 1, 2, 3]


def test_aborted_writes_become_failed_txns_and_aborted_reads_are_dropped(tmp_path: Path) -> None:
    h = read_history(write(tmp_path, "w(1,1,0,-1)\nw(2,1,0,-1)\nr(3,4,0,-1)\nr(1,1,0,1)\n"))
    assert [o.type for o in h] == ["invoke", "fail", "invoke", "ok"]
    assert h[1].value == [["w", 1, 1], ["w", 2, 1]]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"h\.txt:2: expected r\(key,value,session,txn\)"):
        read_history(write(tmp_path, "w(1,1,0,0)\nx(1,1,0,0)\n"))
