"""Which nodes a fault is aimed at: ``one``, ``minority``, ``majority``, ``random``, ``primaries``, ``all``.

A target spec is a name or an explicit list of node names.  Random choices
come only from the ``rng`` given (the test's seeded one), so a run repeats.
``primaries`` asks the database (``HasPrimaries``); when the database cannot
name a leader, or none is elected at that moment, the call raises
``ConfigError`` / returns the empty list rather than guessing, because a fault
recorded as "on the primary" must really have been on it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from jepsy.errors import ConfigError
from jepsy.protocols import HasPrimaries, Test

__all__ = ["TARGETS", "parse_list", "pick"]

TARGETS = ("one", "minority", "majority", "random", "primaries", "all")


def parse_list(value: Any, default: Sequence[str]) -> list[str]:
    """A comma-separated string or a list from ``--nemesis-opt``, else ``default``."""
    if value is None or value == "":
        return list(default)
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return [str(v) for v in value]


def pick(spec: Any, nodes: Sequence[str], rng: random.Random, test: Test | None = None,
         db: Any = None) -> list[str]:
    """The nodes ``spec`` names, in inventory order.

    ``minority`` is a random non-empty set smaller than half; ``majority`` a
    random ``n // 2 + 1``; ``random`` a random non-empty subset of any size.
    """
    nodes = list(nodes)
    if not nodes:
        return []
    if isinstance(spec, (list, tuple)):
        unknown = [n for n in spec if n not in nodes]
        if unknown:
            raise ConfigError(f"target names unknown node(s) {', '.join(map(str, unknown))}")
        return [n for n in nodes if n in spec]
    n = len(nodes)
    if spec == "one":
        chosen = [rng.choice(nodes)]
    elif spec == "minority":
        chosen = rng.sample(nodes, rng.randint(1, max(1, (n - 1) // 2)))
    elif spec == "majority":
        chosen = rng.sample(nodes, n // 2 + 1)
    elif spec == "random":
        chosen = rng.sample(nodes, rng.randint(1, n))
    elif spec == "all":
        chosen = nodes
    elif spec == "primaries":
        if not isinstance(db, HasPrimaries) or test is None:
            raise ConfigError("target 'primaries' needs a database that can name its leader "
                              "(HasPrimaries)")
        chosen = [p for p in db.primaries(test) if p in nodes]
    else:
        raise ConfigError(f"unknown target {spec!r}; known: {', '.join(TARGETS)} or a list of nodes")
    return [x for x in nodes if x in chosen]
