"""The unique-ids workload: every worker asks for ids; no id may be handed out twice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.stats import stats
from jepsy.checkers.unique_ids import unique_ids
from jepsy.options import declare
from jepsy.protocols import Workload

__all__ = ["workload"]


@declare()
def workload(opts: Mapping[str, Any]) -> Workload:
    return Workload(name="unique-ids", generator=gen.repeat({"f": "generate", "value": None}),
                    checker=compose({"unique-ids": unique_ids(),
                                     "stats": stats()}),
                    fs=frozenset({"generate"}), opts=dict(opts))
