"""One line per checker: the words CI, the terminal and the store browser show.

A checker result is whatever the checker returned (see ``jepsy.checkers``);
these functions read it defensively, so a new or malformed result still gets a
line, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["checker_results", "headline", "verdict_word"]

_MAX = 400


def verdict_word(valid: Any) -> str:
    """``valid``, ``INVALID`` or ``unknown``."""
    return "valid" if valid is True else "INVALID" if valid is False else "unknown"


def checker_results(checker: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The named results inside ``results["checker"]``.

    A composed checker's result is ``{"valid": ..., name: result, ...}``; a
    single checker's result is itself (named ``checker``).  Composed results
    inside composed results are flattened as ``outer/inner``.  Non-dict
    entries are skipped.
    """
    if not isinstance(checker, dict):
        return
    if _is_composed(checker):
        for name, result in checker.items():
            if name == "valid" or not isinstance(result, dict) or "valid" not in result:
                continue
            if _is_composed(result):
                for inner, r in checker_results(result):
                    yield f"{name}/{inner}", r
            else:
                yield str(name), result
    elif "valid" in checker:
        yield "checker", checker


def _is_composed(result: dict[str, Any]) -> bool:
    """Only ``valid`` and named sub-results (dicts with their own ``valid``)."""
    subs = [v for k, v in result.items() if k != "valid"]
    return bool(subs) and all(isinstance(v, dict) and "valid" in v for v in subs)


def _clip(text: str, limit: int | None = _MAX) -> str:
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


# A sentence ends at a full stop followed by a capital; "e.g. element 795" and
# "i.e. the" do not end one (cutting there left "...; e.g." and nothing after).
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)\.\s+(?=[A-Z])")


def _first_sentence(text: str) -> str:
    m = _SENTENCE_END.search(text)
    return text if m is None else text[:m.start() + 1]


def _anomalies(result: dict[str, Any]) -> str:
    types = result.get("anomaly_types")
    if not isinstance(types, list) or not types:
        return ""
    counts = result.get("anomaly_counts") if isinstance(result.get("anomaly_counts"), dict) else {}
    parts = []
    for t in types:
        n = counts.get(t) if counts else None
        parts.append(f"{t} ({n})" if isinstance(n, int) and n > 1 else str(t))
    line = "anomalies: " + ", ".join(parts)
    ruled_out = result.get("not")
    if isinstance(ruled_out, list) and ruled_out:
        line += "; not " + ", ".join(str(m) for m in ruled_out)
    return line


def headline(result: Any, limit: int | None = _MAX) -> str:
    """The one line that says what a checker found (its anomaly's headline when invalid).

    Clipped to ``limit`` characters (None: never, as the terminal summary wants).
    """
    if not isinstance(result, dict):
        return ""
    valid = result.get("valid")
    if result.get("error") and valid is not False:
        return _clip(f"checker error: {result['error']}", limit)
    anomalies = _anomalies(result)
    if valid is False and anomalies:
        return _clip(anomalies, limit)
    expl = result.get("explanation")
    if valid is False and isinstance(expl, dict) and isinstance(expl.get("text"), str):
        return _clip(_first_sentence(expl["text"]), limit)
    for field in ("text", "reason", "message"):
        if isinstance(result.get(field), str) and result[field]:
            return _clip(_first_sentence(result[field]) if valid is False else result[field], limit)
    if "count" in result and "ok" in result:
        return (f"{result.get('count')} operations: {result.get('ok', 0)} ok, "
                f"{result.get('fail', 0)} fail, {result.get('info', 0)} info")
    if anomalies:
        return _clip(anomalies, limit)
    return verdict_word(valid)
