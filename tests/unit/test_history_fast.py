"""The fast readers (msgspec, and C for EDN) give exactly what the general readers give."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jepsy import history as h
from jepsy.errors import HistoryError

JSONL = [
    '{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "write", "value": 3}\n'
    '{"index": 1, "time": 9, "type": "ok", "process": 0, "f": "write", "value": 3}\n',
    # an extra field goes to extra: the count of keys sends it to the general reader
    '{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "put", "value": 3, "key": "k"}\n',
    # a nested object and a string holding '":' do not confuse the count
    '{"index": 0, "time": 5, "type": "invoke", "process": "nemesis", "f": "start", '
    '"value": {"a": "x\\":"}, "error": null}\n',
    # blank lines keep their line numbers
    '{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "read", "value": null}\n\n'
    '{"index": 1, "time": 6, "type": "ok", "process": 0, "f": "read", "value": 1}\n',
    # a float time and a missing index: the general reader's conversions
    '{"time": 5.0, "type": "invoke", "process": 0, "f": "read"}\n',
]
EDN = [
    "{:type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]], :process 3, :time 7, :index 0}\n"
    "{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [2]]], :process 3, :time 9, :index 1}\n",
    # Knossos: one vector, no times or indices, a comment
    "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n ; a comment\n"
    " {:process 0, :type :fail, :f :cas, :value [1 2], :error :mismatch}]\n",
    # things the C translator refuses: sets, tags, symbols, other keys, \\u escapes, 42N
    "{:type :ok, :f :read, :value #{1 2}, :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :read, :value #object[x], :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :read, :value foo, :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :put, :value 1, :key 4, :process 0, :time 1, :index 0}\n",
    '{:type :info, :f :leave, :value ["n1" {"n1" "ERR \\u0041"}], :process :nemesis, :time 1}\n',
    "{:type :ok, :f :add, :value 42N, :process 0, :time 1, :index 0}\n",
    '{:type :info, :f :leave, :value ["n1" {"n1" "no \\"leader\\""}], :process :nemesis, :time 1}\n',
]


def _general(p: Path) -> list[h.Op]:
    text = p.read_text()
    if p.suffix == ".jsonl":
        return h._read_jsonl(p, text.splitlines())
    return h._read_edn(p, text)


@pytest.mark.parametrize("text", JSONL + EDN)
def test_same_ops_and_places(tmp_path: Path, text: str) -> None:
    p = tmp_path / ("h.jsonl" if text.startswith('{"') else "h.edn")
    p.write_text(text)
    got, want = h.read_history(p), _general(p)
    assert got == want
    assert [(h.location(o), o.extra, type(o.value), type(o.type)) for o in got] == \
        [(h.location(o), o.extra, type(o.value), type(o.type)) for o in want]


def test_fast_paths_are_taken(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(JSONL[0])
    assert h._fast_jsonl(p, p.read_bytes()) is not None
    p.write_text(JSONL[1])
    assert h._fast_jsonl(p, p.read_bytes()) is None  # the extra field
    q = tmp_path / "h.edn"
    for text in EDN[:2]:
        q.write_text(text)
        assert h._fast_edn(q, q.read_bytes()) is not None or not _has_c()
    q.write_text(EDN[2])
    assert h._fast_edn(q, q.read_bytes()) is None


def _has_c() -> bool:
    try:
        import jepsy._fastread  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(("text", "message"), [
    ('{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "read"}\n{"index": 1, "ti\n',
     "h.jsonl:2: not valid JSON"),
    ('{"index": 0, "time": 5, "type": "done", "process": 0, "f": "read"}\n', "h.jsonl:1: unknown op type"),
    ("{:type :invoke, :f :read, :process 0}\n{:type :bogus, :f :read, :process 0}\n",
     "h.edn: form 2: unknown op type"),
    ("{:type :invoke, :f :read, :process 0}\n{:type :ok :f\n", "h.edn:2: malformed EDN"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / ("h.jsonl" if text.startswith('{"') else "h.edn")
    p.write_text(text)
    with pytest.raises(HistoryError, match=message.replace(".", r"\.")):
        h.read_history(p)


@pytest.mark.parametrize("with_c", [True, False])
def test_located_shares_f_and_source_with_or_without_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        with_c: bool) -> None:
    if not with_c:
        monkeypatch.setitem(sys.modules, "jepsy._edn_json", None)  # its import then fails
    elif not _has_c():
        pytest.skip("built without the C extension")
    p = tmp_path / "h.jsonl"
    p.write_text(JSONL[0] * 2)
    assert h._fast_jsonl(p, p.read_bytes()) is None  # indices 0 1 0 1 are not positions
    p.write_text(JSONL[0])
    ops = h._fast_jsonl(p, p.read_bytes())
    assert ops is not None and ops[0].f is ops[1].f
    assert [h.location(o) for o in ops] == [f"{p}:1", f"{p}:2"]
