"""The C column builder (``elle/_columns.c``) against the Python one, on mangled JSONL.

Its contract: whenever it takes a file, its columns are the Python builder's;
otherwise it refuses, and the Python builder decides.  Random byte edits of a
valid history (most of which make the file malformed, or odd in some
corner of JSON) probe that it never takes what the Python builder would
refuse or read differently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsy.checkers.elle import fastpath, synth
from jepsy.checkers.elle.columns import _columns, _from_jsonl_c, from_jsonl, from_ops
from jepsy.history import Op
from tests.property.test_elle_props import _tamper

pytest.importorskip("jepsy.checkers.elle._columns")

_BASE = "".join(json.dumps(op.to_json()) + "\n" for op in [
    *synth.history("list-append", 12, processes=3, keys=2, seed=1, fail_rate=0.2, info_rate=0.1),
]) + '{"index":99,"time":null,"type":"info","process":"nemesis","f":"start","value":{"a":[1.5,"x"]}}\n'
_PIECES = ['"', "\\", "\\u0041", "[", "]", "{", "}", ",", ":", " ", "\n", "\r", "-", "0", "1", "9" * 20,
           ".5", "e5", "e400", "null", "true", "é", "\x01", '"r"', '"w"', '"append"', '"ok"', '"fail"',
           '"invoke"', '"txn"', '"index":1', '"x":1']


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(_BASE)), st.integers(0, 3), st.sampled_from(_PIECES)),
                      min_size=1, max_size=3))
def test_c_builder_takes_only_what_python_reads_the_same(tmp_path: Path,
                                                          edits: list[tuple[int, int, str]]) -> None:
    text = _BASE
    for at, cut, piece in edits:
        at = min(at, len(text))
        text = text[:at] + piece + text[at + cut:]
    path = tmp_path / "h.jsonl"
    path.write_text(text, encoding="utf-8")
    c_cols = _from_jsonl_c(path)
    if c_cols is None:
        return
    py_cols = from_jsonl(path, compiled=False)
    assert py_cols is not None, text
    for name in py_cols.__dataclass_fields__:
        a, b = getattr(c_cols, name), getattr(py_cols, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), (name, text)


_OPS = [op.to_json() for op in synth.history("list-append", 20, processes=3, keys=2, seed=2, fail_rate=0.2,
                                              info_rate=0.1)]


_EDITS = st.lists(st.tuples(st.integers(0, len(_OPS) - 1), st.sampled_from(
    ["drop", "swap", "type", "process", "f", "time", "value", "nemesis", "index"]), st.integers(0, 5)),
    max_size=6)


def _edited(edits: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    """``_OPS`` with dropped, swapped and retyped ops, strings for processes, odd values."""
    ops = [dict(op) for op in _OPS]
    for at, how, x in edits:
        at = min(at, len(ops) - 1)
        if how == "drop" and len(ops) > 1:
            del ops[at]
        elif how == "swap" and at + 1 < len(ops):
            ops[at], ops[at + 1] = ops[at + 1], ops[at]
        elif how == "type":
            ops[at]["type"] = ["invoke", "ok", "fail", "info", "ok", "other"][x]
        elif how == "process":
            ops[at]["process"] = [0, 1, 2, "nemesis", -7, 2**40][x]
        elif how == "f":
            ops[at]["f"] = ["txn", "read", "txn", "txn", "", "start"][x]
        elif how == "time":
            ops[at]["time"] = [None, 0, -1, 2**62, 5, None][x]
        elif how == "value":
            ops[at]["value"] = [None, [], [["r", 0, None]], [["r", 1, []]], [["w", 0, 3]], {"a": 1}][x]
        elif how == "nemesis":
            ops.insert(at, {"index": 1000 + x, "time": None, "type": "info", "process": "nemesis",
                            "f": "start", "value": [x, {"why": "a\nb"}], "error": "e"})
        elif how == "index":
            ops[at]["index"] = x
    return ops


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(edits=_EDITS, spaced=st.booleans())
def test_c_builder_pairs_as_python_does(tmp_path: Path, edits: list[tuple[int, str, int]],
                                        spaced: bool) -> None:
    """Well-formed JSON lines, odd histories: the same columns, or both refuse."""
    sep = (", ", ": ") if spaced else (",", ":")
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(op, separators=sep) + "\n" for op in _edited(edits)))
    c_cols, py_cols = _from_jsonl_c(path), from_jsonl(path, compiled=False)
    assert (c_cols is None) == (py_cols is None)  # nothing here is outside what it takes
    if c_cols is not None and py_cols is not None:
        _same(c_cols, py_cols)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_EDITS)
def test_c_builder_reads_an_ops_array_as_the_op_reader_does(edits: list[tuple[int, str, int]]) -> None:
    """``feed_ops_array`` (a JSON-array history's way in) against msgspec's ``Op`` and ``from_ops``: the
    same columns, or a refusal where those ops would not be read, or not by position."""
    from jepsy.checkers.elle._columns import Builder

    js = json.dumps(_edited(edits)).encode()
    b = Builder()
    c_cols = _columns(b.finish()) if b.feed_ops_array(js) else None
    try:
        ops = msgspec.json.decode(js, type=list[Op])
    except msgspec.ValidationError:
        assert c_cols is None
        return
    py_cols = from_ops(ops) if [op.index for op in ops] == list(range(len(ops))) else None
    assert (c_cols is None) == (py_cols is None)
    if c_cols is not None and py_cols is not None:
        _same(c_cols, py_cols)


def _same(a: Any, b: Any) -> None:
    for name in b.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


# --- the fast path's C loops (``elle/_fastpath.c``) against its NumPy ones ------------------

def _txn_mutations(h: list[Op], draw: Any) -> list[Op]:
    """Committed transactions that read and append one key, in every order, some wrongly."""
    out = list(h)
    oks = [i for i, op in enumerate(h) if op.type == "ok" and op.value]
    for _ in range(draw(st.integers(1, 4)) if oks else 0):
        i = draw(st.sampled_from(oks))
        mops = [list(m) for m in out[i].value]
        j = draw(st.integers(0, len(mops) - 1))
        f, k, v = mops[j]
        new = draw(st.sampled_from(["read-after", "read-before", "read-again", "wrong-again",
                                    "future", "swap"]))
        seen = v if f == "r" and v else []
        if new == "read-after" and f == "append":  # correct: what it read plus its own append
            mops.insert(j + 1, ["r", k, [*draw(st.sampled_from([[], [v]])), v]])
        elif new == "read-before" and f == "append":
            mops.insert(j, ["r", k, draw(st.sampled_from([None, [], [v]]))])  # [v]: a future read
        elif new == "read-again" and f == "r":
            mops.insert(j + 1, ["r", k, v])
        elif new == "wrong-again" and f == "r":
            mops.insert(j + 1, ["r", k, seen[:-1] if seen else [10**6]])
        elif new == "future" and f == "r":
            mops.insert(j, ["append", k, 10**6 + i])
            mops.append(["append", k, 2 * 10**6 + i])
        elif new == "swap" and len(mops) > 1:
            mops[0], mops[-1] = mops[-1], mops[0]
        out[i] = Op(index=out[i].index, time=out[i].time, type="ok", process=out[i].process, f="txn",
                    value=mops)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 80), processes=st.integers(1, 6), keys=st.integers(1, 4),
       seed=st.integers(0, 10**6), data=st.data())
def test_fast_path_loops_agree_in_c_and_numpy(n: int, processes: int, keys: int, seed: int,
                                              data: st.DataObject) -> None:
    pytest.importorskip("jepsy.checkers.elle._fastpath")

    h = synth.history("list-append", n, processes=processes, keys=keys, seed=seed, fail_rate=0.1,
                      info_rate=0.05, writes_per_key=8)
    how = data.draw(st.sampled_from(["valid", "tamper", "shape", "txn"]))
    if how == "tamper":
        h = _tamper(h, data.draw)
    elif how == "shape":
        h = synth.inject(h, data.draw(st.sampled_from(["G1b", "internal", "future-read", "G1a"])))
    elif how == "txn":
        h = _txn_mutations(h, data.draw)
    cols = from_ops(h)
    assert cols is not None
    answers = []
    for native in (None, False):  # None: import the C loops; False: the NumPy ones
        saved, fastpath._NATIVE = fastpath._NATIVE, native
        try:
            answers.append(fastpath.clean_list_append(cols))
        finally:
            fastpath._NATIVE = saved
    assert answers[0] == answers[1]
    if how == "valid":
        assert answers[0] is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_EDITS, odd=st.sampled_from([None, True, 1.5, "txn-sub", "k"]))
def test_c_builder_reads_op_lists_as_the_python_builder_does(edits: list[tuple[int, str, int]],
                                                            odd: Any) -> None:
    """``from_ops`` by ``feed_ops`` against the Python builder, on ops with odd fields too."""

    class Sub(str):
        pass

    ops = [Op(**d) for d in _edited(edits)]
    if odd is not None and ops:  # a bool, a float, a str subclass or a string key somewhere
        i = len(ops) // 2
        d = {k: getattr(ops[i], k) for k in ("index", "time", "type", "process", "f", "value")}
        if odd is True:
            d["process"] = True
        elif odd == 1.5:
            d["time"] = 1.5
        elif odd == "txn-sub":
            d["f"] = Sub("txn")
        elif isinstance(d["value"], list) and d["value"]:
            d["value"] = [["append", "k", 1], *d["value"]]
        ops[i] = Op(**d)
    try:
        py_cols = from_ops(ops, compiled=False)
    except (TypeError, AttributeError):
        with pytest.raises((TypeError, AttributeError)):
            from_ops(ops)
        return
    cols = from_ops(ops)
    assert (cols is None) == (py_cols is None)
    if cols is not None and py_cols is not None:
        _same(cols, py_cols)
