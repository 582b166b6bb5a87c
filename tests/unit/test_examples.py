"""The extension examples of docs/ARCHITECTURE.md (examples/jepsy_counter) run as documented:
the four roles together through the real runner, and the checker catches what it should."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy import options
from jepsy.history import Op
from jepsy.run import Plan, run_test

from .test_nemesis_targets import commands, fake_test

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def examples_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))


def test_the_four_roles_run_together_and_the_history_is_valid(tmp_path: Path) -> None:
    from jepsy_counter import db, nemesis, workload

    test = fake_test(3)
    wl_opts = options.resolve("workload 'increments'", [options.declared(workload.workload)],
                              {"read_fraction": "0.3"}, flag="--workload-opt")
    pkg = nemesis.nemesis({"nemesis_interval": 0.2})
    plan = Plan(test=test, db=db.counter_db({}), workload=workload.workload(wl_opts),
                nemesis=pkg.nemesis, nemesis_generator=pkg.generator, concurrency=3,
                time_limit=1.0, rate=200, recovery=0)
    results = run_test(plan, tmp_path)
    assert results["valid"] is True, results["checker"]
    checked = results["checker"]["monotonic-reads"]
    assert checked["reads"] > 10 and checked["anomalies"] == []
    drops = [c for n in test.nodes for c in commands(test, n) if "drop_caches" in c]
    assert drops, "the nemesis dropped no cache"
    assert (tmp_path / "report.html").exists()


def test_the_checker_finds_a_read_that_went_back() -> None:
    from jepsy_counter.checker import monotonic_reads

    h = [Op(0, 0, "invoke", 0, "read"), Op(1, 1, "ok", 0, "read", 5),
         Op(2, 2, "invoke", 1, "read"), Op(3, 3, "ok", 1, "read", 3),   # after 5: went back
         Op(4, 4, "invoke", 0, "read"), Op(5, 6, "invoke", 2, "read"),
         Op(6, 7, "ok", 2, "read", 6), Op(7, 8, "ok", 0, "read", 5)]    # concurrent: fine
    got = monotonic_reads().check(h, {})
    assert got["valid"] is False
    assert got["anomalies"] == [{"read": 3, "value": 3, "earlier_read": 1, "earlier_value": 5}]
    assert monotonic_reads().check(h[:2] + h[4:], {})["valid"] is True
