"""The HTML report: one self-contained file, nothing fetched when it is viewed.

``render_html(history, results, test_info, run_dir)`` returns the page.  The
page's CSS and JavaScript (the ``*.css``/``*.js`` files next to this module)
are inlined; the data goes in a ``<script type="application/json">`` block,
serialized with ``<``, ``>`` and ``&`` escaped (and non-ASCII as ``\\u``
escapes, which covers U+2028/9), so no value from the history can end the
block or open a tag.  The page's scripts write untrusted text only through
``textContent``; a Content-Security-Policy meta tag forbids any fetch.

History values come from the database under test and are untrusted.  The
only text placed in the HTML itself (the title, the verdict) goes through
``html.escape``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jepsy import __version__
from jepsy.history import Op
from jepsy.report.availability import availability_data
from jepsy.report.data import faults_data, ops_columns, prune, time_divisor
from jepsy.report.linear import linear_views
from jepsy.report.summary import checker_results, headline, verdict_word

__all__ = ["page_data", "render_html", "script_json"]

_HERE = Path(__file__).parent
# Order matters: later files use what earlier ones define.
_MARKER = re.compile(r"\{\{[A-Z0-9_]+\}\}|/\*(?:CSS|JS)\*/")
_SCRIPTS = ("util.js", "view.js", "timeline.js", "charts.js", "linear.js", "cycle.js", "availability.js",
            "main.js")


def script_json(data: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _kind(result: Mapping[str, Any]) -> str:
    if "anomalies" in result or "anomaly_types" in result:
        return "transactional"
    if "keys" in result or "model" in result or isinstance(result.get("explanation"), dict):
        return "linearizable"
    if "by_f" in result:
        return "stats"
    return "generic"


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "checker"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _duration(history: Sequence[Op], results: Mapping[str, Any]) -> str:
    times = [op.time for op in history if op.time is not None]
    parts = []
    if times:
        parts.append(f"{(max(times) - min(times)) / 1e9:.1f} s of history")
    timings = results.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("total_s"), (int, float)):
        parts.append(f"{timings['total_s']:.1f} s in all")
    return ", ".join(parts)


def _logs(run_dir: Path | None, listed: Any) -> list[dict[str, Any]]:
    """Node log files: those results.json lists, plus any found under nodes/."""
    found: dict[str, set[str]] = {}
    if isinstance(listed, dict):
        for node, files in listed.items():
            if isinstance(files, list):
                found.setdefault(str(node), set()).update(str(f) for f in files)
    if run_dir is not None:
        nodes = run_dir / "nodes"
        try:
            for d in sorted(p for p in nodes.iterdir() if p.is_dir()):
                found.setdefault(d.name, set()).update(f.name for f in d.iterdir() if f.is_file())
        except OSError:
            pass
    def href(node: str, name: str) -> str:
        return "nodes/" + quote(node, safe="") + "/" + quote(name, safe="")

    return [{"node": node, "files": [{"name": f, "href": href(node, f)} for f in sorted(files)]}
            for node, files in sorted(found.items()) if files]


def _faults_missed(tally: Any) -> str | None:
    """Per fault family, where its faults did not take effect (from ``results["faults"]``)."""
    if not isinstance(tally, dict):
        return None
    parts = []
    for fam, t in tally.items():
        if isinstance(t, dict) and t.get("started"):
            missed = t.get("missed") if isinstance(t.get("missed"), dict) else {}
            line = f"{fam}: {t.get('took_effect', 0)} of {t['started']} took effect"
            if missed:
                line += " (" + "; ".join(f"{n}: {w}" if n != "*" else str(w)
                                         for n, w in missed.items()) + ")"
            parts.append(line)
    return "; ".join(parts) or None


def page_data(history: Sequence[Op], results: Mapping[str, Any], test_info: Mapping[str, Any],
              run_dir: Path | None = None, source: str | None = None,
              problems: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the page draws, as plain JSON-able data."""
    options = test_info.get("options") if isinstance(test_info.get("options"), dict) else {}
    conc = options.get("concurrency") if isinstance(options, dict) else None
    nodes = test_info.get("nodes")
    ops = ops_columns(history, conc if isinstance(conc, int) and conc > 0 else None,
                      [str(n) for n in nodes] if isinstance(nodes, list) else ())
    row_of_invoke = {idx: row for row, idx in enumerate(ops["inv"])}
    checkers: list[dict[str, Any]] = []
    linear: dict[str, list[dict[str, Any]]] = {}
    taken: set[str] = set()
    for name, result in checker_results(results.get("checker")):
        kind = _kind(result)
        checkers.append({"name": name, "slug": _slug(name, taken), "valid": result.get("valid"),
                         "headline": headline(result), "kind": kind, "result": prune(result)})
        if kind == "linearizable" and result.get("valid") is not True:
            views = linear_views(history, result, row_of_invoke)
            if views:
                linear[name] = views
    versions = {"jepsy": str(test_info.get("jepsy_version") or __version__)}
    db_version = test_info.get("db_version", test_info.get("version"))
    if isinstance(db_version, dict):  # {node: version}: one entry, or each node's
        distinct = sorted({str(v) for v in db_version.values()})
        db_version = distinct[0] if len(distinct) == 1 else "; ".join(
            f"{n}: {v}" for n, v in sorted(db_version.items()))
    if db_version is not None:
        versions[str(test_info.get("db") or "database")] = str(db_version)
    summary = {
        "valid": results.get("valid"), "test": results.get("test") or test_info.get("name"),
        "db": test_info.get("db"), "workload": test_info.get("workload"),
        "nemesis": test_info.get("nemesis"), "nodes": results.get("nodes") or test_info.get("nodes"),
        "seed": test_info.get("seed"), "command_line": test_info.get("command_line"),
        "versions": versions, "duration": _duration(history, results),
        "operations": f"{ops['n']} client operations, {len(history)} history events",
        "timings": results.get("timings") if isinstance(results.get("timings"), dict) else None,
        "incomplete": results.get("incomplete"), "exit_code": results.get("exit_code"),
        "reproducer_of": results.get("reproducer_of"),
        "reason": results.get("reason"), "faults_missed": _faults_missed(results.get("faults")),
        "stats": results.get("stats") if isinstance(results.get("stats"), dict) else None,
        "run_dir": str(run_dir) if run_dir is not None else results.get("run_dir"),
        "source": source,
    }
    return {
        "title": str(summary["test"] or source or "jepsy report"),
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "jepsy_version": __version__,
        "python": sys.version.split()[0],
        "summary": prune(summary),
        "ops": ops,
        "faults": faults_data(history),
        "availability": availability_data(results.get("checker"), time_divisor(history)),
        "checkers": checkers,
        "linear": linear,
        "logs": _logs(run_dir, results.get("logs")),
        "problems": list(problems),
    }


def _asset(name: str) -> str:
    text = (_HERE / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script or style tag")
    return text


def render_html(history: Sequence[Op], results: Mapping[str, Any], test_info: Mapping[str, Any],
                run_dir: Path | None = None, source: str | None = None,
                problems: Sequence[str] = ()) -> str:
    """The complete report page (see the module docstring for what makes it safe)."""
    data = page_data(history, results, test_info, run_dir, source, problems)
    valid = results.get("valid")
    page = (_HERE / "report.html").read_text(encoding="utf-8")
    pieces = {
        "{{VERSION}}": html.escape(__version__),
        "{{TITLE}}": html.escape(f"jepsy: {data['title']} ({verdict_word(valid)})"),
        "{{H1}}": html.escape(data["title"]),
        "{{VERDICT}}": html.escape(verdict_word(valid)),
        "{{VERDICT_CLASS}}": "valid" if valid is True else "invalid" if valid is False else "unknown",
        "/*CSS*/": _asset("report.css"),
        "/*JS*/": "\n".join(_asset(s) for s in _SCRIPTS),
    }
    pieces["{{DATA}}"] = script_json(data)
    # One pass over the template: text put in is never searched for markers again.
    return _MARKER.sub(lambda m: pieces[m.group(0)], page)
