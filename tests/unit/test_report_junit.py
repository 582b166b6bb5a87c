"""junit.xml, the results.json schema, and the one-line headlines."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from jepsy.report import write_all
from jepsy.report.junit import junit_xml
from jepsy.report.samples import write_sample_run
from jepsy.report.schema import check_results
from jepsy.report.summary import checker_results, headline

LIN_TEXT = ("read of 3 by process 7 (invoked 1.2 s, returned 1.3 s) cannot be linearized: the "
            "cas-register could only hold 1 then. The longest prefix has 4 operations.")


def _results(**checker: Any) -> dict[str, Any]:
    return {"valid": False, "exit_code": 1, "incomplete": None, "test": "t", "run_dir": "/x",
            "nodes": ["n1"], "stats": {}, "timings": {"total_s": 12.5}, "logs": {},
            "checker": {"valid": False, **checker}}


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_one_case_per_checker_with_the_anomaly_as_failure_message() -> None:
    lin = {"valid": False, "time_s": 0.25, "explanation": {"text": LIN_TEXT}}
    elle = {"valid": False, "anomaly_types": ["G-single", "G2-item"], "anomaly_counts": {"G2-item": 3},
            "not": ["snapshot-isolation"], "anomalies": {"G-single": [{"text": "T1 < T2 < T1"}]}}
    xml = junit_xml(_results(linearizable=lin, elle=elle, stats={"valid": True}), {"seed": 42})
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("time")) == \
        ("3", "2", "0", "12.500")
    cases = _cases(xml)
    failure = cases["linearizable"].find("failure")
    assert failure is not None and cases["linearizable"].get("time") == "0.250"
    assert failure.get("message") == LIN_TEXT.split(". ")[0] + "."
    assert failure.text == LIN_TEXT
    elle_failure = cases["elle"].find("failure")
    assert elle_failure is not None
    assert elle_failure.get("message") == "anomalies: G-single, G2-item (3); not snapshot-isolation"
    assert "G-single: T1 < T2 < T1" in (elle_failure.text or "")
    assert list(cases["stats"]) == []
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["seed"] == "42" and props["verdict"] == "INVALID"


def test_unknown_and_incomplete_are_errors() -> None:
    res = _results(linearizable={"valid": "unknown", "text": "Unknown: timeout"})
    res["incomplete"] = "interrupted by SIGINT"
    cases = _cases(junit_xml(res))
    err = cases["linearizable"].find("error")
    assert err is not None and err.get("type") == "unknown" and err.get("message") == "Unknown: timeout"
    run_err = cases["run"].find("error")
    assert run_err is not None and run_err.get("message") == "run incomplete: interrupted by SIGINT"


def test_no_checker_result_is_not_a_pass() -> None:
    cases = _cases(junit_xml({"valid": "unknown"}))
    assert cases["checker"].find("error") is not None


def test_untrusted_text_always_gives_well_formed_xml() -> None:
    nasty = "<b>\x00\x1b[31m]]> & \ud800 \"'"
    xml = junit_xml(_results(**{nasty: {"valid": False, "text": nasty}}), {"command_line": nasty})
    cases = _cases(xml)
    (name,) = cases
    assert name.startswith("<b>") and "\x00" not in name
    failure = cases[name].find("failure")
    assert failure is not None and "]]> &" in (failure.text or "")


def test_sample_run_results_conform_to_the_schema(tmp_path: Path) -> None:
    results = write_sample_run(tmp_path, n_ops=100)
    assert check_results(results) == []
    assert write_all(tmp_path) == []
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert {c.get("name") for c in root.iter("testcase")} == {"linearizable", "stats"}


def test_schema_departures_are_named() -> None:
    problems = check_results({"valid": "maybe", "exit_code": "1", "incomplete": None, "checker": {}})
    assert "field 'valid' is 'maybe', expected true, false or \"unknown\"" in problems
    assert "field 'exit_code' is str, expected int" in problems
    assert "missing field 'test'" in problems and "field 'checker' has no 'valid'" in problems


def test_checker_results_single_and_composed() -> None:
    single = {"valid": True, "text": "fine"}
    assert list(checker_results(single)) == [("checker", single)]
    nested = {"valid": True, "a": {"valid": True}, "b": {"valid": True, "c": {"valid": True, "x": 1}}}
    assert [n for n, _ in checker_results(nested)] == ["a", "b/c"]
    assert list(checker_results(None)) == []


def test_headlines() -> None:
    assert headline({"valid": "unknown", "error": "KeyError: 'x'"}) == "checker error: KeyError: 'x'"
    assert headline({"valid": True, "count": 3, "ok": 2, "fail": 1, "info": 0}) == \
        "3 operations: 2 ok, 1 fail, 0 info"
    assert headline({"valid": False}) == "INVALID"
    assert headline("nonsense") == ""
    assert len(headline({"valid": False, "text": "x" * 2000})) == 400
