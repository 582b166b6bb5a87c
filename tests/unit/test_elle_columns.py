"""The columnar form of transactional histories (``elle.columns``) and ``check_file``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jepsy.checkers.elle import checker as checker_module
from jepsy.checkers.elle import list_append, synth
from jepsy.checkers.elle.columns import from_jsonl, from_ops
from jepsy.checkers.elle.txn import Txn, extract_txns
from jepsy.history import Op


def _plain(txns: list[Txn]) -> list[tuple[Any, ...]]:
    return [(t.id, t.index, t.invoke_index, t.process, t.type, t.invoke_time, t.complete_time,
             [tuple(m) for m in t.mops]) for t in txns]


def _odd_history() -> list[Op]:
    """Every pairing shape ``extract_txns`` accepts, and ops it skips."""
    rows: list[tuple[str, Any, str, Any]] = [
        ("ok", 7, "txn", [["r", 1, [5]]]),                       # a completion with no invoke
        ("invoke", 0, "txn", [["append", 1, 5], ["r", 2, None]]),
        ("info", "nemesis", "start", None),                       # not a client
        ("ok", 0, "txn", [["append", 1, 5], ["r", 2, [3, 4]]]),
        ("invoke", 1, "txn", [["append", 2, 9]]),
        ("invoke", 1, "txn", [["append", 2, 10]]),                # invoked again: the first is info
        ("fail", 1, "txn", [["append", 2, 10]]),
        ("invoke", 2, "read", None),                              # not a txn
        ("invoke", 3, "txn", [["r", 1, None]]),
        ("info", 3, "txn", [["r", 1, None]]),
        ("invoke", 4, "txn", [["append", 3, 1]]),                 # never completes
    ]
    return [Op(index=i, time=None if i == 4 else 10 * i, type=typ, process=p, f=f, value=v)
            for i, (typ, p, f, v) in enumerate(rows)]


def test_columns_pair_like_extract_txns() -> None:
    h = _odd_history()
    cols = from_ops(h)
    assert cols is not None
    assert _plain(cols.txn_objs(np.arange(len(cols)))) == _plain(extract_txns(h))


def test_jsonl_stream_equals_ops(tmp_path: Path) -> None:
    h = synth.history("list-append", 300, processes=4, keys=3, seed=5, fail_rate=0.1, info_rate=0.05)
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in h))
    a, b = from_ops(h), from_jsonl(path)
    assert a is not None and b is not None
    for name in a.__dataclass_fields__:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_what_columns_cannot_hold_goes_to_the_general_path() -> None:
    base = Op(index=0, time=1, type="invoke", process=0, f="txn", value=[["append", "x", 1]])
    assert from_ops([base]) is None                                            # a string key
    assert from_ops([Op(index=0, time=1, type="invoke", process=0, f="txn",
                        value=[["append", 1, [1]]])]) is None                  # a list value
    assert from_ops([Op(index=0, time=1, type="invoke", process=0, f="txn",
                        value=[["append", 1]])]) is None                       # malformed micro-op
    r = list_append().check([base, Op(index=1, time=2, type="ok", process=0, f="txn",
                                      value=[["append", "x", 1]])], {})
    assert r["valid"] is True


def test_check_file_same_as_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checker_module, "FAST_FROM_BYTES", 0)
    monkeypatch.setattr(checker_module, "FAST_FROM_OPS", 0)
    h = synth.inject(synth.history("list-append", 200, processes=5, keys=4, seed=9), "G-single")
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in h))
    checker = list_append()
    for hist_path, ops in ((path, h), (path, h[: len(h) - 6])):
        if ops is not h:
            hist_path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in ops))
        got, want = checker.check_file(hist_path, {}), checker.check(ops, {})
        for r in (got, want):
            r["stats"].pop("analysis_seconds")
            r["stats"].pop("search_seconds")
        assert got == want
    assert checker.check_file(path, {})["valid"] is True
