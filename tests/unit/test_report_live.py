"""The terminal: the live panel, plain lines for CI logs, and the end-of-run summary."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from jepsy.history import Op
from jepsy.live import live_view, print_summary
from jepsy.report import write_all
from jepsy.report.samples import write_sample_run
from jepsy.run import RunState

ELLE = {"valid": False, "anomaly_types": ["G-single", "G0"], "anomaly_counts": {"G-single": 2, "G0": 1},
        "anomalies": {"G-single": [{"text": "G-single (read skew). Let T3 be op 7."}],
                      "G0": [{"text": "G0 (write cycle)."}]}, "not": ["snapshot-isolation"]}


def _state() -> RunState:
    s = RunState(time_limit=60.0)
    s.phase = "running"
    for i in range(9):
        s.count(Op(i, 0, ("ok", "fail", "info")[i % 3], i, "read" if i % 2 else "write"))
    s.faults["partition"] = {"n1": ["n3", "n4"], "n3": ["n1"], "n2": []}
    s.faults["kill"] = ["n2"]
    return s


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    colors = "standard" if terminal else None
    return Console(file=out, force_terminal=terminal, width=140, color_system=colors), out


def test_summary_names_verdicts_anomalies_and_files(tmp_path: Path) -> None:
    results = write_sample_run(tmp_path, n_ops=200)
    write_all(tmp_path)
    results["checker"]["elle"] = ELLE
    console, out = _console(terminal=False)
    print_summary(results, console)
    text = out.getvalue()
    assert "\x1b[" not in text and "┃" not in text  # plain: no escapes, no table art
    assert "  linearizable: INVALID: " in text and "  stats: valid: 200 operations" in text
    assert "  elle: INVALID: anomalies: G-single (2), G0; not snapshot-isolation" in text
    assert "  elle: G-single ×2: G-single (read skew). Let T3 be op 7." in text
    assert "  elle: G0 ×1: G0 (write cycle)." in text
    assert f"report: {tmp_path / 'report.html'}" in text and f"junit: {tmp_path / 'junit.xml'}" in text
    assert "verdict: INVALID" in text


def test_summary_on_a_terminal_is_a_coloured_table(tmp_path: Path) -> None:
    results = json.loads(json.dumps(write_sample_run(tmp_path, n_ops=100)))
    console, out = _console(terminal=True)
    print_summary(results, console)
    text = out.getvalue()
    assert "\x1b[" in text and "what it found" in text and "INVALID" in text


def test_no_color_gives_plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    console, out = _console(terminal=True)
    print_summary({"test": "t", "valid": True, "checker": {"valid": True, "stats": {"valid": True}}}, console)
    assert "  stats: valid: valid" in out.getvalue() and "┃" not in out.getvalue()


def test_live_panel_shows_phase_counts_and_faults() -> None:
    console, out = _console(terminal=True)
    with live_view(_state(), console=console):
        time.sleep(0.6)
    text = out.getvalue()  # what the terminal was sent while the panel was up
    for words in ("running", "s left", "ops/s", "read", "write", "total", "partition",
                  "n1 -x- n3,n4; n3 -x- n1", "kill", "n2"):
        assert words in text, words


def test_plain_lines_on_phase_changes() -> None:
    state = _state()
    console, out = _console(terminal=False)
    with live_view(state, console=console, plain_every=60.0):
        time.sleep(0.4)
        state.phase = "healing"
        with state.lock:
            state.faults.clear()
        time.sleep(0.6)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines  # one line for the phase change, none from the timer yet
    assert lines[0].startswith("[healing]") and "ok 3 fail 3 info 3" in lines[0]
    assert lines[0].endswith("faults: none")
