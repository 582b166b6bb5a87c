"""Every Knossos history gets the verdict Knossos's own tests give it (see VERDICTS.md).

Models as in ``knossos/core_test.clj``: ``cas-register`` with initial value 0
(Knossos's reading of an ``:ok :read nil``: it learned nothing), the
multi-register with ``{x 0, y 0}``, and the mutex.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jepsy.checkers.linear import check_history
from jepsy.checkers.linear import native as linear_native
from jepsy.checkers.linear.models import Model, cas_register, multi_register, mutex
from jepsy.history import read_history
from tests.property.test_linear_native import assert_same_search

DATA = Path(__file__).resolve().parents[1] / "data" / "knossos"
# The verdict tests run once per search engine (compiled and Python).
pytestmark = pytest.mark.usefixtures("linear_engine")


def _rows() -> list[tuple[str, bool]]:
    tsv = DATA / "verdicts.tsv"
    if not tsv.exists():
        return []
    with tsv.open() as f:
        return [(r["file"], r["expected_valid"] == "true") for r in csv.DictReader(f, delimiter="\t")]


ROWS = _rows()


def _model(path: str) -> Model:
    if path.startswith("multi-register"):
        return multi_register({"x": 0, "y": 0})
    if path.startswith("mutex"):
        return mutex()
    return cas_register(0)


def test_corpus_is_all_there() -> None:
    assert len(ROWS) == 122


@pytest.mark.parametrize(("path", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_knossos_verdict(path: str, expected: bool) -> None:
    result = check_history(read_history(DATA / path), _model(path), timeout=60, workers=1)
    assert result["valid"] is expected, result.get("text")
    if not expected:
        assert result["explanation"]["text"]
        assert result["explanation"]["states"]


def test_cas_failure_points_at_the_documented_read() -> None:
    """VERDICTS.md: the failing op of cas-failure.edn is process 70's read of 0 (index 491)."""
    path = DATA / "cas-register/bad/cas-failure.edn"
    result = check_history(read_history(path), cas_register(0), workers=1)
    op = result["explanation"]["op"]
    assert (op["process"], op["f"], op["output"]) == (70, "read", 0)
    assert op["completion_index"] == 491 or op["index"] == 491


def test_immediate_failure_explains_the_read() -> None:
    path = DATA / "cas-register/bad/immediate-failure.edn"
    result = check_history(read_history(path), cas_register(0), workers=1)
    assert result["explanation"]["states"] == [0]
    assert "read of 3" in result["text"] and "hold 0" in result["text"]


@pytest.mark.skipif(not linear_native.AVAILABLE, reason="the compiled search is not built")
def test_both_engines_search_alike_on_every_file() -> None:
    """Long histories (bitsets of many words): the C loop finds what the Python one finds."""
    for path, _ in ROWS:
        history = read_history(DATA / path)
        assert_same_search(history, _model(path))
