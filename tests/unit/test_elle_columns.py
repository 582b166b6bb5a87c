"""The columnar form of transactional histories (``elle.columns``) and ``check_file``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jepsy.checkers.elle import checker as checker_module
from jepsy.checkers.elle import list_append, synth
from jepsy.checkers.elle.columns import _columns, from_jsonl, from_ops
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


# --- the C builder (_columns.c): the Python builder's columns, or a refusal ------------------

def _both(path: Path) -> tuple[Any, Any]:
    from jepsy.checkers.elle.columns import _from_jsonl_c

    return _from_jsonl_c(path), from_jsonl(path, compiled=False)


def _assert_same(c_cols: Any, py_cols: Any) -> None:
    assert py_cols is not None
    for name in py_cols.__dataclass_fields__:
        a, b = getattr(c_cols, name), getattr(py_cols, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_c_builder_takes_jepsy_jsonl_and_equals_the_python_builder(tmp_path: Path) -> None:
    pytest.importorskip("jepsy.checkers.elle._columns")
    h = synth.history("list-append", 400, processes=5, keys=4, seed=3, fail_rate=0.1, info_rate=0.05)
    h += _odd_history()  # every pairing shape, with processes that are open again
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in h))
    c_cols, py_cols = _both(path)
    assert c_cols is not None  # taken, not refused
    _assert_same(c_cols, py_cols)
    from jepsy.checkers.elle._columns import Builder

    b = Builder()
    assert b.feed_ops(h)  # the Op list too: taken, and the same columns
    _assert_same(_columns(b.finish()), from_ops(h, compiled=False))


@pytest.mark.parametrize(("text", "taken", "py_takes"), [
    # what it takes
    ('{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","value":[["append",1,2]]}\n\n'
     ' {"process":0, "f":"txn","value":[ ["append" ,1, 2] , ["r",1,[ 2 , -3 ]],["r",2,null] ],'
     '"index":1,"time":null,"type":"ok","error":{"a":[1.5e-10,true,false,null,"x\\n\\"y"]}}\r\n',
     True, True),
    ('{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","value":[["append",1,2]]}\n'
     '{"index":1,"time":2,"type":"fail","process":0,"f":"txn","value":[["append",1,2]]}\n'
     '{"index":2,"time":3,"type":"info","process":"nemesis","f":"start","value":{"n1":[1,"a\\/b"]}}\n'
     '{"index":3,"time":4,"type":"ok","process":5,"f":"txn","value":[]}\n'
     '{"index":4,"time":-9223372036854775808,"type":"invoke","process":-1,"f":"txn",'
     '"value":[["w",9223372036854775807,0]]}', True, True),
    # what the Python builder refuses too
    ('{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","value":[["append",1,2]],"x":1}\n',
     False, False),
    ('{"index":0,"time":1,"type":"invoke","process":0,"f":"txn"}\n{"index":1,"time":1,"type":"ok",'
     '"process":0,"f":"txn","value":null}\n', False, False),
    ('{"index":0,"time":1.5,"type":"invoke","process":0,"f":"txn","value":[]}\n', False, False),
    ('{"index":0,"time":1,"type":"invoke","process":true,"f":"txn","value":[]}\n', False, False),
    ('{"index":0,"time":1,"type":"maybe","process":0,"f":"txn","value":[]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["append",1]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["append",1,[2]]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r",1,3]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["cas",1,3]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r",1,[1,]]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r","k",[1]]]}\n', False, False),
    ('{"index":0,"time":1,"type":"ok","process":"p","f":"r","value":[01]}\n', False, False),
    # what it refuses, to the Python builder, which takes it (or refuses as well)
    ('{"index":2,"time":3,"type":"info","process":"nemesis","f":"start","value":{"n1":["é"]}}\n',
     False, True),  # non-ASCII, even in a skipped value
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r",1,[1]]],"index":0}\n', False, True),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"t\\u0078n","value":[["r",1,[1]]]}\n', False, True),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r",1,[1]]],"error":1e400}\n',
     False, False),
    ('{"index":0,"time":1,"type":"ok","process":0,"f":"txn","value":[["r",1,[99999999999999999999]]]}\n',
     False, False),
])
def test_c_builder_equals_the_python_builder_or_refuses(tmp_path: Path, text: str, taken: bool,
                                                        py_takes: bool) -> None:
    pytest.importorskip("jepsy.checkers.elle._columns")
    path = tmp_path / "h.jsonl"
    path.write_text(text, encoding="utf-8")
    c_cols, py_cols = _both(path)
    assert (c_cols is not None) == taken
    assert (py_cols is not None) == py_takes
    if c_cols is not None:
        _assert_same(c_cols, py_cols)
    assert (from_jsonl(path) is None) == (py_cols is None)  # either way, the Python builder's answer
    if py_cols is not None and c_cols is None:
        _assert_same(from_jsonl(path), py_cols)


# --- Jepsen EDN into columns (read_history's ops, then the C builder) ------------------------

def _edn(ops: list[Op]) -> str:
    """Jepsen's own spelling: keywords for types, functions and micro-op names."""
    def mop(m: list[Any]) -> str:
        v = "nil" if m[2] is None else ("[" + " ".join(map(str, m[2])) + "]" if isinstance(m[2], list)
                                        else str(m[2]))
        return f"[:{m[0]} {m[1]} {v}]"

    lines = []
    for op in ops:
        value = ("[" + " ".join(mop(m) for m in op.value) + "]" if op.f == "txn" else "nil")
        process = op.process if isinstance(op.process, int) else f":{op.process}"
        time = "" if op.time is None else f" :time {op.time}"
        lines.append(f"{{:index {op.index}{time}, :type :{op.type}, :process {process}, :f :{op.f}, "
                     f":value {value}}}")
    return "\n".join(lines) + "\n"


def test_check_file_reads_edn_through_the_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jepsen EDN: read once into ``Op``s, then columns from them (``from_ops``) decide; and
    edited files (an index that is not the op's position, an unknown op type) give what the
    general path gives on the ops read, or the reader's one-line error."""
    pytest.importorskip("jepsy.checkers.elle._columns")
    from jepsy.checkers.elle import columns
    from jepsy.errors import HistoryError
    from jepsy.history import read_history

    monkeypatch.setattr(checker_module, "FAST_FROM_BYTES", 0)
    monkeypatch.setattr(checker_module, "FAST_FROM_OPS", 0)
    h = synth.history("list-append", 200, processes=5, keys=4, seed=9)
    path = tmp_path / "history.edn"
    path.write_text(_edn(h))
    assert columns.from_file(path) is None  # not without Op records
    calls: list[Any] = []
    real = columns.from_ops

    def from_ops(ops: Any, compiled: bool = True) -> Any:
        calls.append(real(ops, compiled))
        return calls[-1]

    monkeypatch.setattr(columns, "from_ops", from_ops)
    checker = list_append()

    def same(got: dict[str, Any], want: dict[str, Any]) -> None:
        for r in (got, want):
            r["stats"].pop("analysis_seconds")
            r["stats"].pop("search_seconds")
        assert got == want

    same(checker.check_file(path, {}), checker._check(h, {}))
    assert len(calls) == 1 and calls[0] is not None  # the columns, built once, decided
    h2 = synth.history("list-append", 300, processes=4, keys=3, seed=7, fail_rate=0.1, info_rate=0.05)
    h2 += [Op(index=len(h2) + i, time=op.time, type=op.type, process=op.process, f=op.f,
              value=op.value) for i, op in enumerate(_odd_history())]
    for text in (_edn(h2), _edn(h2).replace("{:index 3 :time", "{:index 30 :time"),
                 _edn(h2).replace(":type :info, :process :nemesis", ":type :odd, :process :nemesis")):
        path.write_text(text)
        try:
            ops = read_history(path)
        except HistoryError as e:
            with pytest.raises(HistoryError, match=re.escape(str(e))):
                checker.check_file(path, {})
            continue
        same(checker.check_file(path, {}), checker._check(ops, {}))


def test_a_json_array_history_goes_to_the_columns_without_op_records(tmp_path: Path) -> None:
    """A history stored as one JSON array of ops: ``from_file`` builds its columns with the C
    builder's ``feed_ops_array``, the same as the columns of the ops read from it."""
    pytest.importorskip("jepsy.checkers.elle._columns")
    import msgspec

    from jepsy.checkers.elle.columns import from_file
    from jepsy.history import read_history

    h = synth.history("list-append", 200, processes=3, keys=2, seed=3, fail_rate=0.1, info_rate=0.05)
    path = tmp_path / "history.json"
    path.write_bytes(msgspec.json.encode([op.to_json() for op in h]))
    cols = from_file(path)
    assert cols is not None
    _assert_same(cols, from_ops(read_history(path)))
