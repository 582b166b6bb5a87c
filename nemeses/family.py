"""A fault family as data: its nemesis, how to start one fault, how to end it.

Every built-in family module has ``family(opts) -> Family`` and the registry
factory ``nemesis(opts) -> NemesisPackage`` built from it with ``package``:
alone, a family alternates start and stop every ``nemesis_interval`` seconds;
``jepsy.nemeses.combined`` draws from several families' ``start``/``stop`` to
make one seeded random schedule.

``start`` is a function of the generator context returning the request op
(random choices, such as a partition's shape or a kill's target, are made
there with the run's seeded rng, so the history's request op shows them);
``stop`` is the op that ends the family's faults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jepsy import generator as gen
from jepsy.protocols import Nemesis, NemesisPackage

__all__ = ["Family", "chooser", "package"]


@dataclass(frozen=True)
class Family:
    name: str
    nemesis: Nemesis
    start: Callable[[gen.Context], dict[str, Any]]
    stop: Mapping[str, Any]


def chooser(f: str, choices: list[Any]) -> Callable[[gen.Context], dict[str, Any]]:
    """An op ``{"f": f, "value": <one of choices>}``, drawn with the context's rng."""
    options = list(choices)
    return lambda ctx: {"f": f, "value": ctx.rng.choice(options)}


def package(fam: Family, interval: float) -> NemesisPackage:
    """The family alone: wait, start a fault, wait, stop it; again and again."""
    return NemesisPackage(fam.nemesis, gen.cycle([
        gen.sleep(interval), gen.limit(1, fam.start), gen.sleep(interval), dict(fam.stop)]))
