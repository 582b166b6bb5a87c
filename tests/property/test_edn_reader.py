"""The C EDN reader against the general one, on random histories and damaged ones.

``read_history`` takes the C reader's ops when it gives any, else the general
reader's (jepsy/edn.py), whose errors name file and line.  So whatever the
text: where the general reader raises, ``read_history`` raises the same one-line
error (the C reader refused); where it reads, ``read_history`` gives the same
ops, field for field at every depth (``repr`` tells 1 from True and 1.0, and
str from a subclass), with the same locations and extra fields.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsy import edn
from jepsy import history as h
from jepsy.errors import HistoryError

_names = st.from_regex(r"\A[a-z][a-z0-9\-]{0,6}(/[a-z]{1,3})?\Z")
keywords = _names.map(edn.Keyword)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | texts | keywords)
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(keywords | texts | st.integers(-5, 5), inner, max_size=3)
                   | st.frozensets(st.integers(-5, 5) | _names, max_size=3)
                   | st.frozensets(scalars, max_size=3)),
    max_leaves=10,
)

_FIELDS = {
    "index": st.integers(0, 3),
    "time": st.none() | st.integers(0, 10**12),
    "type": st.sampled_from(["invoke", "ok", "fail", "info"]).map(edn.Keyword),
    "process": st.integers(0, 3) | st.just(edn.Keyword("nemesis")),
    "f": keywords | texts,
    "value": values,
    "error": values,
    "shard": values,  # not one of jepsy's: goes to extra
}


@st.composite
def op_maps(draw: st.DrawFn) -> dict[Any, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(_FIELDS)), unique=True))
    if draw(st.booleans()):  # mostly the fields an op needs
        keys = sorted(set(keys) | {"type", "f"})
    return {edn.Keyword(k): draw(_FIELDS[k]) for k in keys}


@st.composite
def histories(draw: st.DrawFn) -> str:
    ops = draw(st.lists(op_maps(), max_size=6))
    sep = draw(st.sampled_from(["\n", " ", ",\n ", "\n; a comment\n"]))
    body = sep.join(edn.dumps(op) for op in ops)
    return draw(st.sampled_from([body + "\n", f"[{body}]\n", f"({body})"]))


def _seen(ops: list[h.Op]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(repr(o), h.location(o), dict(o.extra)) for o in ops]


def _agree(path: Path, text: str) -> None:
    path.write_text(text)
    data = path.read_bytes()
    try:
        want = h._read_general(str(path), data)
    except HistoryError as e:
        try:
            h.read_history(path)
        except HistoryError as got:
            assert str(got) == str(e)
        else:
            raise AssertionError(f"read, where the general reader said {e}") from None
        return
    got = h.read_history(path)
    assert got == want
    assert _seen(got) == _seen(want)


_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(text=histories())
def test_random_histories_read_as_the_general_reader_reads_them(tmp_path_factory: Any, text: str) -> None:
    _agree(tmp_path_factory.mktemp("edn") / "h.edn", text)


@_SETTINGS
@given(text=histories(), seed=st.integers(0, 2**32))
def test_damaged_histories_read_or_fail_as_the_general_reader_does(tmp_path_factory: Any, text: str,
                                                                   seed: int) -> None:
    rnd = random.Random(seed)
    chars = list(text)
    for _ in range(rnd.randint(1, 3)):
        at = rnd.randrange(len(chars) + 1)
        what = rnd.choice('[](){}#:;,"\\ \n0a.-eNu_')
        how = rnd.randrange(3)
        if how == 0 or at == len(chars):
            chars.insert(at, what)
        elif how == 1:
            chars[at] = what
        else:
            del chars[at]
    _agree(tmp_path_factory.mktemp("edn") / "h.edn", "".join(chars))
