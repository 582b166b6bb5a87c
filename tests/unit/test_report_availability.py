"""The report's Availability section data: windows, bars and recovery marks in page units."""

from __future__ import annotations

from jepsy.checkers.availability import AvailabilityChecker
from jepsy.report.html import page_data, render_html
from tests.unit.test_availability import OPTS, history, part


def test_page_carries_windows_and_marks_in_page_units() -> None:
    h = history(30, lambda t, n: not (10 <= t < 18 or 22 <= t < 24), part(10, 15))
    avail = AvailabilityChecker(expect_recovery=1).check(h, OPTS)
    results = {"valid": False, "checker": {"valid": False, "availability": avail}}
    data = page_data(h, results, {"options": {"concurrency": 3}})
    a = data["availability"]
    assert a["valid"] is False and a["explanation"].startswith("After the heal at 15 s")
    assert [w["kind"] for w in a["windows"]] == ["calm", "partition", "calm"]
    part_w = a["windows"][1]
    assert (part_w["t0"], part_w["t1"]) == (10e6, 15e6)  # microseconds, like the charts
    assert [s["name"] for s in part_w["sides"]] == ["majority", "isolated"]
    assert [n["name"] for n in part_w["nodes"]] == ["n1", "n2", "n3"]
    kinds = [(m["kind"], m["t"]) for m in a["marks"]]
    assert ("heal", 15e6) in kinds and ("recovered", 18e6) in kinds
    assert any(k == "relapse" for k, _ in kinds)
    page = render_html(h, results, {})
    assert "J.availabilitySection" in page and "J.markRecoveries" in page


def test_runs_without_an_availability_result_have_no_section() -> None:
    h = history(2, lambda t, n: True)
    assert page_data(h, {"valid": True, "checker": {"valid": True}}, {})["availability"] is None
