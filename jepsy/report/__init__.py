"""Reports of a run: the HTML page, ``junit.xml``, the ``results.json`` schema, the store browser.

``write_all(run_dir)`` is what the runner calls after ``results.json`` is
written, and what ``jepsy report RUN_DIR`` calls: it reads ``history.jsonl``,
``results.json`` and ``test.json`` from the run directory and writes
``report.html`` and ``junit.xml`` next to them.  It never raises on bad or
missing data: it writes what it can and returns the problems as one line of
text each (an empty list when all went well).

``write_report(path, history, result, ...)`` writes a report for a history
checked outside a run (``jepsy check --report``).

Modules: ``data`` (history -> compact columns), ``faults`` (fault periods and
clock offsets from nemesis ops), ``linear`` (the linearizability view's data),
``summary`` (one-line headlines), ``html`` (the page), ``junit``, ``schema``
(the documented ``results.json``), ``serve`` and ``cli`` (commands), ``samples``
(complete sample runs for tests and demos).  The page's own code is in
``report.html``, ``report.css`` and ``*.js`` next to these modules.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jepsy.history import Op

__all__ = ["write_all", "write_report"]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        problems.append(f"{path.name} cannot be read: {e}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name} is not a JSON object")
        return {}
    return data


def _stamp(run_dir: Path) -> str | None:
    try:
        t = time.strptime(run_dir.name[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", t)


def write_all(run_dir: str | os.PathLike[str], history: Sequence[Op] | None = None) -> list[str]:
    """Write ``report.html`` and ``junit.xml`` into ``run_dir``; return the problems met.

    ``history``: the run's ops when the caller has them in memory (the runner),
    which saves reading ``history.jsonl`` back; by default it is read.

    Missing or malformed inputs are problems, not exceptions: the report is
    then drawn from what could be read (a run interrupted before its history
    was written still gets a report that says so).
    """
    from jepsy.errors import HistoryError
    from jepsy.history import read_history
    from jepsy.report.html import render_html
    from jepsy.report.junit import junit_xml
    from jepsy.report.schema import check_results

    run = Path(run_dir)
    problems: list[str] = []
    results = _read_json(run / "results.json", problems)
    problems.extend(f"results.json: {p}" for p in (check_results(results) if results else []))
    test_info = _read_json(run / "test.json", problems)
    if history is None:
        try:
            history = read_history(run / "history.jsonl")
        except HistoryError as e:
            problems.append(f"history: {e}")
            history = []
    try:
        page = render_html(history, results, test_info, run, problems=problems)
    except Exception as e:  # a report with less beats no report
        problems.append(f"report.html: could not draw the history ({type(e).__name__}: {e})")
        try:
            page = render_html([], results, test_info, run, problems=problems)
        except Exception as e2:
            problems.append(f"report.html not written: {type(e2).__name__}: {e2}")
            page = ""
    try:
        if page:
            _write(run / "report.html", page)
        _write(run / "junit.xml", junit_xml(results, test_info, _stamp(run.resolve())))
    except Exception as e:
        problems.append(f"cannot write the report files: {type(e).__name__}: {e}")
    return problems


def write_report(path: str | os.PathLike[str], history: Sequence[Op], result: Mapping[str, Any],
                 *, source: str | None = None, test_info: Mapping[str, Any] | None = None) -> list[str]:
    """Write a report for ``history`` and one checker ``result`` (``jepsy check --report``).

    ``result`` is what the checker returned; ``source`` names the history
    file.  Returns the problems met, like ``write_all``; raises only if the
    file cannot be written.
    """
    from jepsy.report.html import render_html

    problems: list[str] = []
    name = Path(source).name if source else "history"
    checker_name = "checker"
    if isinstance(result, Mapping) and isinstance(result.get("model"), str):
        checker_name = "linearizable"
    elif isinstance(result, Mapping) and "anomalies" in result:
        checker_name = "transactional"
    elif isinstance(result, Mapping) and "windows" in result and "recoveries" in result:
        checker_name = "availability"
    results: dict[str, Any] = {"valid": result.get("valid"), "test": name,
                               "checker": {"valid": result.get("valid"), checker_name: dict(result)}}
    try:
        page = render_html(history, results, dict(test_info or {}), None, source, problems)
    except Exception as e:
        problems.append(f"could not draw the history ({type(e).__name__}: {e})")
        page = render_html([], results, dict(test_info or {}), None, source, problems)
    _write(Path(path), page)
    return problems
