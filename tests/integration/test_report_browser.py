"""The HTML report in a real browser: headless Chromium draws every section, runs the
page's self-test of its interactive parts, and raises no JavaScript error.

Chromium (Debian's ``chromium`` package) is started with flags that keep it
off the network, with a fresh profile, and only ever opens local files.  The
test skips when it is not installed.  Screenshots are saved under
``artifacts/`` at the top of the checkout (gitignored) and their paths printed.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from jepsy.report import write_all, write_report
from jepsy.report.samples import write_sample_run
from tests.conftest import DATA, REPO

pytestmark = pytest.mark.integration

ARTIFACTS = REPO / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def _chromium() -> str:
    for name in (os.environ.get("JEPSY_CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _browse(page: Path, *extra: str, fragment: str = "", timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="jepsy-chromium-") as profile:
        cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000", *extra,
               page.resolve().as_uri() + fragment]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _dom_checks(dom: str, sections: list[str]) -> None:
    m = re.search(r'<body[^>]*data-rendered="([^"]*)"', dom)
    assert m, "the page did not start"
    rendered = m.group(1).split()
    errors = re.search(r'<pre id="jepsy-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors is not None
    assert html.unescape(errors.group(1)).strip() == "", html.unescape(errors.group(1))
    for s in sections:
        assert s in rendered, f"section {s} not drawn (drawn: {rendered})"
    assert 'data-selftest="done"' in dom


def _screenshot(page: Path, name: str, height: int = 4000) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / f"report-{name}.png"
    out.unlink(missing_ok=True)
    _browse(page, f"--screenshot={out}", f"--window-size=1400,{height}")
    assert out.is_file() and out.stat().st_size > 20_000
    print(f"\nscreenshot: {out}")
    return out


def test_register_run_report_renders(tmp_path: Path) -> None:
    write_sample_run(tmp_path, n_ops=600)
    assert write_all(tmp_path) == []
    page = tmp_path / "report.html"
    dom = _browse(page, "--dump-dom", fragment="#jepsy-selftest")
    _dom_checks(dom, ["summary", "timeline", "faults", "latency", "throughput", "clocks",
                      "checker-linearizable", "checker-stats", "logs"])
    # The latency, throughput and clock charts followed the timeline's zoom and steered it back.
    assert 'data-zoomsync="ok 3"' in dom, re.search(r'data-zoomsync="[^"]*"', dom)
    assert "The partial linearization" in dom and "cannot be placed" in dom
    assert 'href="nodes/n1/db.log"' in dom
    _screenshot(page, "register")


def test_hostile_values_are_shown_not_run(tmp_path: Path) -> None:
    write_sample_run(tmp_path, n_ops=300, hostile=True)
    assert write_all(tmp_path) == []
    page = tmp_path / "report.html"
    dom = _browse(page, "--dump-dom", fragment="#jepsy-selftest")
    _dom_checks(dom, ["summary", "timeline", "checker-linearizable"])
    # The values' markup became text: no element from the history exists in the DOM.
    assert "<title>jepsy: sample&lt;b&gt;&amp;amp; (INVALID)</title>" in dom
    assert "pwned" not in re.search(r"<title>.*?</title>", dom, re.S).group(0)  # type: ignore[union-attr]
    assert "<img src=" not in dom and "<b>bold</b>" not in dom
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in dom
    _screenshot(page, "hostile", 2600)


def test_transactional_anomaly_report_renders(tmp_path: Path) -> None:
    source = DATA / "elle" / "elle-cli" / "elle" / "paper-example.edn"
    from jepsy import registry
    from jepsy.history import read_history

    history = read_history(source)
    result = registry.load("checkers", "list-append")().check(history, {})
    assert result["valid"] is False
    page = tmp_path / "elle.html"
    assert write_report(page, history, result, source=str(source)) == []
    dom = _browse(page, "--dump-dom", fragment="#jepsy-selftest")
    _dom_checks(dom, ["summary", "timeline", "checker-transactional"])
    assert "G-single" in dom and 'aria-label="dependency cycle"' in dom
    _screenshot(page, "elle", 2600)


def test_a_run_with_nothing_stored_still_renders(tmp_path: Path) -> None:
    assert len(write_all(tmp_path)) == 3  # no results, no test.json, no history
    dom = _browse(tmp_path / "report.html", "--dump-dom", fragment="#jepsy-selftest")
    _dom_checks(dom, ["summary", "timeline", "faults", "logs"])
    assert "results.json is missing" in dom


@pytest.mark.slow
def test_a_large_history_stays_usable(tmp_path: Path) -> None:
    write_sample_run(tmp_path, n_ops=100_000, concurrency=20, keys=2000, stale=False)
    t = time.perf_counter()
    assert write_all(tmp_path) == []
    took = time.perf_counter() - t
    page = tmp_path / "report.html"
    print(f"\n100k operations: report written in {took:.1f} s, {page.stat().st_size / 1e6:.1f} MB")
    dom = _browse(page, "--dump-dom", fragment="#jepsy-selftest", timeout=300)
    _dom_checks(dom, ["summary", "timeline", "latency", "throughput", "checker-linearizable"])
    _screenshot(page, "100k", 2400)
