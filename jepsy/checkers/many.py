"""``jepsy check`` of many histories in one process: one line per file, then a summary.

A corpus of small histories (Knossos's, a night of test runs) is mostly fixed
cost per file when each is a new process: starting Python, importing, building
the checker.  Here the checker is built once and each file costs its reading
and its check.  A file that cannot be read, or whose values the model cannot
take, is reported on its line and counted; the others are still checked.

The exit code follows ``jepsy test --test-count``'s (``wiring.suite_exit_code``):
254 if any history was unreadable, else 2 if any was unknown, else 1 if any was
invalid, else 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from jepsy.errors import ExitCode, JepsyError
from jepsy.history import read_history

__all__ = ["check_many"]


def _first_line(result: dict[str, Any]) -> str:
    expl = result.get("explanation")
    text = expl.get("text") if isinstance(expl, dict) else None
    text = text or result.get("text") or result.get("reason") or ""
    return str(text).strip().split("\n", 1)[0]


def check_many(files: Sequence[str], checker: Any, as_json: bool, echo: Callable[[str], None]) -> int:
    """Check each of ``files`` with ``checker``; print a line each and a summary; the exit code."""
    import msgspec  # noqa: F401  (once for all files: the fast readers then serve small ones too)

    counts = {"valid": 0, "INVALID": 0, "unknown": 0, "error": 0}
    t0 = time.perf_counter()
    per_file: list[float] = []
    for path in files:
        t = time.perf_counter()
        try:
            ops = read_history(path)
            result = checker.check(ops, {})
        except JepsyError as e:
            per_file.append(time.perf_counter() - t)
            counts["error"] += 1
            message = " | ".join(x.strip() for x in str(e).splitlines() if x.strip())
            echo(json.dumps({"file": path, "error": message}) if as_json else f"{path}: error: {message}")
            continue
        ms = (time.perf_counter() - t) * 1000
        per_file.append(ms / 1000)
        valid = result.get("valid")
        verdict = "valid" if valid is True else "INVALID" if valid is False else "unknown"
        counts[verdict] += 1
        if as_json:
            echo(json.dumps({"file": path, "ms": round(ms, 3), **result}, default=str))
            continue
        line = f"{path}: {verdict} ({len(ops)} ops, {ms:.1f} ms)"
        if valid is not True:
            first = _first_line(result)
            line += f": {first}" if first else ""
        echo(line)
    total = time.perf_counter() - t0
    per_file.sort()
    median = per_file[len(per_file) // 2] * 1000 if per_file else 0.0
    summary = (f"{len(files)} histories: {counts['valid']} valid, {counts['INVALID']} invalid, "
               f"{counts['unknown']} unknown, {counts['error']} unreadable; {total:.2f} s "
               f"(median {median:.2f} ms per file)")
    if as_json:
        echo(json.dumps({"summary": {**counts, "files": len(files), "seconds": round(total, 6)}}))
    else:
        echo(summary)
    if counts["error"]:
        return int(ExitCode.CONFIG)
    if counts["unknown"]:
        return int(ExitCode.UNKNOWN)
    if counts["INVALID"]:
        return int(ExitCode.INVALID)
    return int(ExitCode.VALID)
