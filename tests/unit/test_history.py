"""The history contract: JSONL streaming, EDN and JSON readers, pairing, clear errors."""

from __future__ import annotations

import itertools
import json
import pickle
import threading
from pathlib import Path

import pytest
from msgspec import structs

from jepsy import edn
from jepsy.errors import HistoryError
from jepsy.history import HistoryWriter, Op, dumps_edn, location, pair, pair_positions, read_history


def test_writer_streams_flushed_lines_in_index_order(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)
    w.record("invoke", 0, "write", [1, 2])
    # Flushed as written: a reader (or a crash) sees the line before close.
    assert json.loads(path.read_text())["f"] == "write"

    def worker(p: int) -> None:
        for _ in range(200):
            w.record("invoke", p, "read", None)
            w.record("ok", p, "read", 3)

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.record("info", "nemesis", "start-partition", {"n1": ["n2"]})
    w.close()
    ops = read_history(path)
    assert [op.index for op in ops] == list(range(len(ops))) == [op.index for op in w.ops]
    assert all(a.time is not None and b.time is not None and a.time <= b.time
               for a, b in itertools.pairwise(ops))
    assert ops[-1].process == "nemesis" and ops[-1].value == {"n1": ["n2"]}
    assert len(pair(ops)) == 1 + 800


def test_edn_reader_handles_jepsen_forms() -> None:
    text = """; a comment
    [{:process 0, :type :invoke, :f :cas, :value [1 2]}
     {:process :nemesis :type :info :f :start :value #{:n1 :n2}}
     {:process 0, :type :ok, :f :cas, :value [1 2] :error #_ignored nil
      :extra #object[java.lang.Object 0x1 "x"] :s "a\\"b\\nc" :c \\a :ratio 1/2 :big 12N}]"""
    forms = edn.loads(text)
    assert forms[0] == {"process": 0, "type": "invoke", "f": "cas", "value": [1, 2]}
    assert forms[1]["value"] == frozenset({"n1", "n2"})
    assert isinstance(forms[1]["process"], edn.Keyword)
    assert forms[2]["s"] == 'a"b\nc' and forms[2]["c"] == "a" and forms[2]["ratio"] == 0.5
    assert forms[2]["big"] == 12 and isinstance(forms[2]["extra"], edn.Tagged)


def test_edn_reader_skips_comments_discards_and_tags_at_any_level() -> None:
    assert edn.loads_all("1 ;c\n ") == [1]
    assert edn.loads_all(";only a comment\n") == []
    assert edn.loads_all("#_ #_ 1 2 3 [4 #_ 5]") == [3, [4]]
    assert edn.loads_all("#t #_ 1 2") == [edn.Tagged("t", 2)]
    assert edn.loads("\n#_ 0 {:a #{1}}") == {"a": frozenset({1})}


@pytest.mark.parametrize("text, message", [
    ("[1 2", "never closed"),
    ("{:a 1 :b}", "odd number"),
    ('"abc', "unterminated string"),
    ("[1 2)", "closed by"),
])
def test_edn_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(edn.EDNError, match=message):
        edn.loads_all("\n" + text)


def test_edn_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as w:
        w.record("invoke", 0, "cas", [1, [2, 3]])
        w.record("fail", 0, "cas", [1, [2, 3]], error="compare failed")
        w.record("info", "nemesis", "start-partition", {"n1": ["n2"]})
    ops = read_history(path)
    edn_path = tmp_path / "h.edn"
    edn_path.write_text(dumps_edn(ops))
    assert ":type :invoke" in edn_path.read_text() and ":process :nemesis" in edn_path.read_text()
    again = read_history(edn_path)
    assert [(o.type, o.process, o.f, o.value, o.error) for o in again] == [
        (o.type, o.process, o.f, o.value, o.error) for o in ops]


@pytest.mark.parametrize("lines, message", [
    (['{"type": "invoke", "process": 0, "f": "read"}', "{not json"], ":2: not valid JSON"),
    (['{"type": "done", "process": 0, "f": "read"}'], ":1: unknown op type 'done'"),
    (['{"type": "ok", "process": [1], "f": "read"}'], ":1: process must be"),
    (['{"type": "ok", "process": 0}'], ":1: op has no 'f'"),
    (["[1, 2]"], "form 1 is not an op map"),
    (["{\"type\": \"ok\", \"f\": \"read\"}", "17"], ":2: expected a JSON object"),
])
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match=message) as e:
        read_history(path)
    assert "\n" not in str(e.value)


def test_pairing_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"type": "ok", "process": 3, "f": "read", "index": 0}\n')
    with pytest.raises(HistoryError, match=r"h.jsonl:1: ok of process 3 has no invoke"):
        pair(read_history(path))
    path.write_text('{"type": "invoke", "process": 3, "f": "read"}\n'
                    '{"type": "invoke", "process": 3, "f": "read"}\n')
    with pytest.raises(HistoryError, match=r"h.jsonl:2: process 3 invokes again while .*h.jsonl:1 is"):
        pair(read_history(path))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such history file"):
        read_history(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    assert read_history(tmp_path / "empty.jsonl") == []


def test_json_array_format(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{"type": "invoke", "process": 1, "f": "txn", "value": [["r", 1, None]]},
                                {"type": "ok", "process": 1, "f": "txn", "value": [["r", 1, [2]]]}]))
    ops = read_history(path)
    assert [o.type for o in ops] == ["invoke", "ok"] and ops[1].value == [["r", 1, [2]]]


def test_pair_positions_takes_loose_histories_and_pair_is_it_strict() -> None:
    def op(i: int, typ: str, p: int | str, f: str = "read") -> Op:
        return Op(index=i, time=i, type=typ, process=p, f=f)

    h = [op(0, "ok", 1),                       # a completion without an invoke: a call of its own
         op(1, "invoke", 2), op(2, "info", "nemesis", "start"),
         op(3, "invoke", 2),                    # invokes again: the first call stays open
         op(4, "invoke", 3), op(5, "ok", 2), op(6, "fail", 3), op(7, "invoke", 4)]
    assert pair_positions(h) == [(0, 0), (1, None), (3, 5), (4, 6), (7, None)]
    with pytest.raises(HistoryError, match="ok of process 1 has no invoke"):
        pair_positions(h, strict=True)
    assert pair(h[1:2] + h[4:]) == [(h[1], h[5]), (h[4], h[6]), (h[7], None)]


def test_ops_compare_and_hash_as_events_and_copy_with_msgspec(tmp_path: Path) -> None:
    a = Op(index=0, time=1, type="ok", process=0, f="read", value=2, extra={"k": 1}, where="x:1")
    b = Op(0, 1, "ok", 0, "read", 2)
    assert a == b and hash(a) == hash(b) and a != structs.replace(b, value=3)
    assert structs.replace(a, f="add").extra == {"k": 1}
    assert pickle.loads(pickle.dumps(a)) == a
    assert "extra={'k': 1}" in repr(a)


def test_fast_reader_locations_need_indices_by_position(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = [{"index": i + 5, "time": i, "type": "invoke", "process": i, "f": "read", "value": None}
             for i in range(3)]
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    ops = read_history(path)
    assert [o.index for o in ops] == [5, 6, 7] and location(ops[2]) == f"{path}:3"
    # a field named like the hidden ones goes to extra, as any other field does
    path.write_text('{"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "r", "jepsy:where": 1}\n')
    (op,) = read_history(path)
    assert op.extra == {"jepsy:where": 1} and location(op) == f"{path}:1"


def test_an_unknown_type_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = '{"index": 0, "time": 0, "type": "invoke", "process": 0, "f": "r"}\n'
    path.write_text(good * 3 + '{"index": 3, "time": 0, "type": "done", "process": 0, "f": "r"}\n')
    with pytest.raises(HistoryError, match=r"h.jsonl:4: unknown op type 'done'") as e:
        read_history(path)
    assert "\n" not in str(e.value)
