"""What an Elle analysis found outside cycles: instances per anomaly kind, and their counts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

__all__ = ["MAX_CASES", "Findings"]

MAX_CASES = 50  # instances kept per anomaly kind; the count says how many there were


class Findings:
    """Anomalies reported by ``list_append`` or ``rw_register``, bounded per kind.

    ``anomalies[kind]`` holds the first ``MAX_CASES`` cases (JSON-able dicts, as
    the checker's result shows them); ``counts[kind]`` counts them all.
    """

    def __init__(self) -> None:
        self.anomalies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def report(self, kind: str, case: dict[str, Any]) -> None:
        self.counts[kind] += 1
        if len(self.anomalies[kind]) < MAX_CASES:
            self.anomalies[kind].append(case)
