"""The HTML report: self-contained, every untrusted value escaped, data intact."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jepsy.history import Op
from jepsy.report import write_all, write_report
from jepsy.report.html import render_html, script_json
from jepsy.report.samples import HOSTILE, write_sample_run


def _data_block(page: str) -> Any:
    m = re.search(r'<script type="application/json" id="jepsy-data">(.*?)</script>', page, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("hostile")
    write_sample_run(run, hostile=True, n_ops=200)
    assert write_all(run) == []
    return run


def test_script_json_cannot_close_the_block() -> None:
    text = script_json({"v": "</script><script>alert(1)</script>", "w": "a & b > c", "u": "\u2028\u2029"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text)["v"] == "</script><script>alert(1)</script>"


def test_hostile_values_stay_text(hostile_run: Path) -> None:
    page = (hostile_run / "report.html").read_text()
    # Only the page's own two script elements (data, code): nothing from the history.
    assert page.count("<script") == 2
    assert page.lower().count("</script") == 2
    assert "<img" not in page and "<b>" not in page and "<!--" not in page
    # Text put in the HTML itself is escaped (the test name is hostile too).
    assert "<title>jepsy: sample&lt;b&gt;&amp;amp; (INVALID)</title>" in page
    assert '<h1 id="title">sample&lt;b&gt;&amp;amp;</h1>' in page
    # The page's scripts never parse strings as HTML.
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page


def test_hostile_values_round_trip_through_the_data(hostile_run: Path) -> None:
    data = _data_block((hostile_run / "report.html").read_text())
    shown = set(data["ops"]["strings"])
    for value in HOSTILE:
        assert any(value in s for s in shown), value
    lin = data["linear"]["linearizable"][0]
    assert lin["explanation"]["text"].startswith(("read", "write", "cas"))
    assert data["summary"]["test"] == "sample<b>&amp;"


def test_page_is_self_contained(hostile_run: Path) -> None:
    page = (hostile_run / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=', page)
    assert not re.search(r"https?://", page.split('id="jepsy-data"')[0])


def test_sections_and_views_are_in_the_data(tmp_path: Path) -> None:
    results = write_sample_run(tmp_path, n_ops=300)
    assert results["valid"] is False
    write_all(tmp_path)
    data = _data_block((tmp_path / "report.html").read_text())
    assert [c["name"] for c in data["checkers"]] == ["linearizable", "stats"]
    assert data["checkers"][0]["kind"] == "linearizable" and data["checkers"][0]["valid"] is False
    views = data["linear"]["linearizable"]
    assert views, "an invalid key gets a linearizability view"
    view = views[0]
    assert view["stuck"] in view["rows"] and all(r in view["rows"] for r in view["prefix"])
    # States were replayed along the partial linearization, one per step.
    assert view["states_after"] is not None and len(view["states_after"]) == len(view["prefix"])
    assert {p["kind"] for p in data["faults"]["periods"]} == {"partition"}
    assert set(data["faults"]["clock"]) == {"n1", "n2", "n3", "n4", "n5"}
    assert data["logs"] == [{"node": n, "files": [{"name": "db.log", "href": f"nodes/{n}/db.log"}]}
                            for n in ("n1", "n2")]


def test_write_all_reports_problems_instead_of_raising(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"index": 0, "type": "bogus"}\n')
    (tmp_path / "results.json").write_text("[1, 2]")
    problems = write_all(tmp_path)
    assert any("results.json is not a JSON object" in p for p in problems)
    assert any("test.json is missing" in p for p in problems)
    assert any(p.startswith("history:") for p in problems)
    page = (tmp_path / "report.html").read_text()
    assert "unknown" in page and (tmp_path / "junit.xml").is_file()
    assert any("test.json is missing" in p for p in _data_block(page)["problems"])


def test_write_all_on_an_empty_directory(tmp_path: Path) -> None:
    problems = write_all(tmp_path)
    assert len(problems) == 3
    assert (tmp_path / "report.html").is_file() and (tmp_path / "junit.xml").is_file()


def test_write_report_for_a_transactional_result(tmp_path: Path) -> None:
    history = [
        Op(0, 0, "invoke", 0, "txn", [["append", "x", 1], ["r", "y", None]]),
        Op(1, 10, "ok", 0, "txn", [["append", "x", 1], ["r", "y", [1]]]),
    ]
    result = {"valid": False, "anomaly_types": ["G1c"], "anomaly_counts": {"G1c": 1},
              "anomalies": {"G1c": [{"type": "G1c", "cycle": [0, 1], "text": "T0 <script> T1",
                                     "txns": [{"id": 0, "op": 1, "process": 0, "type": "ok", "value": []}],
                                     "edges": [{"from": 0, "to": 1, "kind": "wr", "text": "<b>why</b>"}]}]},
              "not": ["read-committed"]}
    out = tmp_path / "check.html"
    assert write_report(out, history, result, source="h<1>.edn") == []
    page = out.read_text()
    assert "h&lt;1&gt;.edn" in page and "<b>why</b>" not in page
    data = _data_block(page)
    assert data["checkers"][0]["name"] == "transactional"
    assert data["checkers"][0]["headline"] == "anomalies: G1c; not read-committed"
    assert data["ops"]["time_unit"] == "ns" and data["ops"]["n"] == 1


def test_a_title_that_looks_like_a_marker_is_not_replaced() -> None:
    results = {"valid": True, "test": "{{DATA}} /*JS*/", "checker": {"valid": True}}
    page = render_html([], results, {})
    assert "<title>jepsy: {{DATA}} /*JS*/ (valid)</title>" in page
    assert '<h1 id="title">{{DATA}} /*JS*/</h1>' in page
    assert _data_block(page)["title"] == "{{DATA}} /*JS*/"
    assert page.count("try { J.main(); }") == 1


def test_versions_of_the_database_nodes() -> None:
    same = {"db": "etcd", "db_version": {"n1": "3.4.23", "n2": "3.4.23"}}
    page = render_html([], {"valid": True, "checker": {"valid": True}}, same)
    assert _data_block(page)["summary"]["versions"] == {"jepsy": "0.1.0", "etcd": "3.4.23"}
    mixed = {"db": "etcd", "db_version": {"n2": "3.5", "n1": "3.4"}}
    page = render_html([], {"valid": True, "checker": {"valid": True}}, mixed)
    assert _data_block(page)["summary"]["versions"]["etcd"] == "n1: 3.4; n2: 3.5"


def test_write_report_for_a_linearizability_result(tmp_path: Path) -> None:
    from jepsy.checkers.linear import check_history
    from jepsy.checkers.linear.models import cas_register

    history = [Op(0, 0, "invoke", 0, "write", 1), Op(1, 10_000_000, "ok", 0, "write", 1),
               Op(2, 20_000_000, "invoke", 1, "read", None), Op(3, 30_000_000, "ok", 1, "read", 2)]
    result = check_history(history, cas_register())
    out = tmp_path / "lin.html"
    assert write_report(out, history, result, source="h.jsonl") == []
    data = _data_block(out.read_text())
    assert data["checkers"][0]["name"] == "linearizable" and data["checkers"][0]["valid"] is False
    (view,) = data["linear"]["linearizable"]
    assert view["stuck"] == 1 and view["prefix"] == [0] and view["labels"]["1"] == "read → 2"
