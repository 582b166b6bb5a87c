"""The fast readers (msgspec, and C for EDN) give exactly what the general readers give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
# What the C reader takes (it reads them itself) ...
EDN_TAKEN = [
    "{:type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]], :process 3, :time 7, :index 0}\n"
    "{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [2]]], :process 3, :time 9, :index 1}\n",
    # Knossos: one vector, no times or indices, a comment
    "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n ; a comment\n"
    " {:process 0, :type :fail, :f :cas, :value [1 2], :error :mismatch}]\n",
    '{:type :info, :f :leave, :value ["n1" {"n1" "no \\"leader\\""}], :process :nemesis, :time 1}\n',
    # other keys (to extra), sets of atoms, number keys, indices that are not positions
    # (each op then carries its own location), a list at the top, a big integer
    '{:type :info, :f :start-partition, :value [:isolated {"n2" #{"n1"}, "n1" #{"n3" "n2"}}], '
    ':process :nemesis, :shard "config", :index 0}\n',
    "{:type :ok, :f :read, :value {0 100, 1 0, -2 3.5, nil 1e3}, :process 0, :index 0}\n",
    "{:index 1, :type :invoke, :process 2, :value [[ :append 4 2] ]}\n"
    "{:index 7, :type :ok, :process 2, :value [[ :append 4 2] ]}\n",
    "({:process 0, :type :invoke, :f :write, :value 123456789012345678901234567890}\n"
    ' {:process 0, :type :ok, :f :write, :value "caf\u00e9 \\t\\n", :error nil})\n',
    "{:type :ok, :f :put, :value 1, :key 4, :process 0, :time 1, :index 0}\n",
]
# ... and what it refuses (the general reader reads them).
EDN_REFUSED = [
    "{:type :ok, :f :read, :value #object[x], :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :read, :value foo, :process 0, :time 1, :index 0}\n",
    '{:type :info, :f :leave, :value ["n1" {"n1" "ERR \\u0041"}], :process :nemesis, :time 1}\n',
    "{:type :ok, :f :add, :value 42N, :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :read, :value 1, :process 0, :time 1.5, :index 0}\n",
    "{:type :ok, :f :read, :value #{[1 2]}, :process 0, :time 1, :index 0}\n",
    '{:type :ok, :f :read, :value #{1 "a"}, :process 0, :time 1, :index 0}\n',  # does not sort
    "{:type :ok, :f :read, :value {a 1}, :process 0, :time 1, :index 0}\n",
    "{:type :ok, :f :read, :value #_ 1 2, :process 0, :time 1, :index 0}\n",
    "[{:type :ok, :f :read, :process 0}] {:type :ok, :f :read, :process 0}\n",
    "{:type :ok, :f :read, :process 0, :time true}\n",
    "{:type :ok, :f :read, :process 1.0}\n",
    "{:type :ok, :f :read, :process 0, :f :write}\n",
    # found by tests/property/test_edn_reader.py: the key ":error#", and a set value
    # without f (a vector's would give f "txn")
    '[{:value nil, :error#{}, :f "", :index 0, :type :invoke}]\n',
    "{:index 0, :process 0, :value #{}, :type :invoke}\n",
]
EDN = EDN_TAKEN + EDN_REFUSED


def _general(p: Path) -> list[h.Op]:
    return h._read_general(str(p), p.read_bytes())


def _seen(ops: list[h.Op]) -> list[tuple[str, str, dict[str, Any]]]:
    """All an op shows: its fields (``repr`` tells 1 from True and 1.0, str from a
    subclass, at any depth), its location and its extra fields."""
    return [(repr(o), h.location(o), dict(o.extra)) for o in ops]


@pytest.mark.parametrize("text", JSONL + EDN)
def test_same_ops_and_places(tmp_path: Path, text: str) -> None:
    p = tmp_path / ("h.jsonl" if text.startswith('{"') else "h.edn")
    p.write_text(text)
    try:
        want = _general(p)
    except HistoryError as e:  # then the same one-line error
        with pytest.raises(HistoryError) as got_error:
            h.read_history(p)
        assert str(got_error.value) == str(e)
        return
    got = h.read_history(p)
    assert got == want
    assert _seen(got) == _seen(want)
    assert [type(o.value) for o in got] == [type(o.value) for o in want]


DATA = Path(__file__).resolve().parents[1] / "data"
# Files past this size take seconds through the general reader: a slow test reads them.
SMALL = 200_000
# Outside what the fast readers take: an "exception" field holding symbols (EDN), a
# field other than jepsy's (JSON arrays go through msgspec, which refuses them), no
# "time" (elle-cli's own examples).
GENERAL_ONLY = {"elle/elle-cli/jepsen/bank.edn", "elle/elle-cli/jepsen/bank.json",
                "elle/elle-cli/jepsen/counter.json", "elle/elle-cli/elle/paper-example.json",
                "elle/elle-cli/elle/rw-register.json"}


def _histories(small: bool) -> list[Path]:
    return [p for p in sorted(DATA.rglob("*"))
            if p.suffix in (".edn", ".json", ".jsonl") and (p.stat().st_size <= SMALL) == small]


def _same_as_general(paths: list[Path]) -> None:
    for p in paths:
        data = p.read_bytes()
        got, want = h.read_history(p), h._read_general(str(p), data)
        assert got == want, p
        assert _seen(got) == _seen(want), p
        rel = str(p.relative_to(DATA))
        fast = (h._fast_edn if p.suffix == ".edn" else
                h._fast_json_array if data.lstrip()[:1] == b"[" else h._fast_jsonl)(str(p), data)
        assert (fast is None) == (rel in GENERAL_ONLY or (not _has_c() and p.suffix == ".edn")), rel


def test_every_small_history_under_tests_data_reads_as_the_general_reader_reads_it() -> None:
    paths = _histories(small=True)
    assert len(paths) > 100
    _same_as_general(paths)


@pytest.mark.slow
def test_every_large_history_under_tests_data_reads_as_the_general_reader_reads_it() -> None:
    _same_as_general(_histories(small=False))


def test_fast_paths_are_taken(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(JSONL[0])
    assert h._fast_jsonl(p, p.read_bytes()) is not None
    p.write_text(JSONL[1])
    assert h._fast_jsonl(p, p.read_bytes()) is None  # the extra field
    q = tmp_path / "h.edn"
    for text in EDN_TAKEN:
        q.write_text(text)
        assert h._fast_edn(q, q.read_bytes()) is not None or not _has_c(), text
    for text in EDN_REFUSED:
        q.write_text(text)
        assert h._fast_edn(q, q.read_bytes()) is None, text


def _has_c() -> bool:
    return bool(h._c())


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
        monkeypatch.setattr(h, "_fastread", False)  # as when it was not built
    elif not _has_c():
        pytest.skip("built without the C extension")
    p = tmp_path / "h.jsonl"
    p.write_text(JSONL[0] * 2)
    assert h._fast_jsonl(p, p.read_bytes()) is None  # indices 0 1 0 1 are not positions
    p.write_text(JSONL[0])
    ops = h._fast_jsonl(p, p.read_bytes())
    assert ops is not None and ops[0].f is ops[1].f
    assert [h.location(o) for o in ops] == [f"{p}:1", f"{p}:2"]


@pytest.mark.parametrize("text", [
    "; a comment first (Knossos's cas-register-bug.edn)\n[{:process 0, :type :invoke, :f :read}]\n",
    "\n  {:process 0, :type :invoke, :f :read}\n",
    "({:process 0, :type :invoke, :f :read})",
    '{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "read", "value": null}\n',
    '[{"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "read", "value": null}]\n',
])
def test_read_history_sends_each_format_to_its_fast_reader(tmp_path: Path, text: str) -> None:
    if not _has_c() and not text.lstrip().startswith(('{"', '[{"')):
        pytest.skip("built without the C extension")
    p = tmp_path / "h"
    p.write_text(text)
    ops = h.read_history(p)
    # The fast readers give ops one shared Source; the general ones a string each.
    assert len(ops) == 1 and isinstance(ops[0].where, h.Source)
    assert ops == _general(p)


def test_a_history_from_a_pipe_is_read_whole(tmp_path: Path) -> None:
    """A pipe has no size and gives its bytes in pieces: read_history reads to the end."""
    import os
    import threading

    text = "".join(f"{{:process 0, :type :invoke, :f :read, :value {i}}}\n" for i in range(5000))
    fifo = tmp_path / "h.edn"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as f:
            f.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        ops = h.read_history(fifo)
    finally:
        writer.join()
    assert [o.value for o in ops] == list(range(5000))
