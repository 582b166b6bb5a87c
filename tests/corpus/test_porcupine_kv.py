"""Porcupine's key-value histories get the verdicts of Porcupine's own tests.

``c01-ok``, ``c10-ok``, ``c50-ok`` are linearizable; the ``-bad`` ones are not
(porcupine_test.go, with its kv model: per-key string, get of a missing key is
"").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsy.checkers.linear import check_history
from jepsy.checkers.linear import native as linear_native
from jepsy.checkers.linear.models import kv
from jepsy.history import read_history
from tests.property.test_linear_native import assert_same_search

DATA = Path(__file__).resolve().parents[1] / "data" / "porcupine-kv"
# The verdict tests run once per search engine (compiled and Python).
pytestmark = pytest.mark.usefixtures("linear_engine")
CASES = [(f"c{n}-{v}", v == "ok") for n in ("01", "10", "50") for v in ("ok", "bad")]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("workers", [1, 2])
def test_kv_verdict(name: str, expected: bool, workers: int) -> None:
    path = DATA / f"{name}.txt"
    result = check_history(read_history(path), kv(), timeout=120, workers=workers)
    assert result["valid"] is expected, result.get("text")
    if expected:
        assert all(k["valid"] is True for k in result["keys"].values())
    else:
        bad = [k for k, v in result["keys"].items() if v["valid"] is False]
        assert bad
        assert "get" in result["explanation"]["op"]["f"] or result["explanation"]["text"]


def test_all_keys_gives_every_verdict() -> None:
    path = DATA / "c10-bad.txt"
    result = check_history(read_history(path), kv(), all_keys=True, workers=1)
    assert result["valid"] is False
    assert all(v["valid"] in (True, False) for v in result["keys"].values())
    assert len(result["keys"]) == 10


@pytest.mark.skipif(not linear_native.AVAILABLE, reason="the compiled search is not built")
@pytest.mark.parametrize("name", ["c01-ok", "c01-bad", "c10-ok", "c10-bad"])  # c50: memory-bound
def test_both_engines_search_alike(name: str) -> None:
    path = DATA / f"{name}.txt"
    assert_same_search(read_history(path), kv())
