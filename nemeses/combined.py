"""Several fault families in one run: ``--nemesis partition,packet,clock,kill,pause``.

``combine(names, opts, db)`` is what the CLI calls with the names the user
gave.  One name gives that family's own package.  Several give one
``CombinedNemesis`` (each op goes to the family whose ``fs`` holds its ``f``;
``heal`` heals every family, even when one of them fails, and then raises) and
one seeded random schedule: every ``nemesis_interval`` seconds a family is
drawn with the run's rng; if it has a fault in force that fault is ended,
otherwise a fault of it is started (so faults of different families overlap,
up to ``nemesis_max_faults`` at a time, default all of them).  Each start and
end is recorded by the runner as ``info`` ops of process ``nemesis``, the
completion naming the targets.

Families from plugins that give only a ``NemesisPackage`` (no ``Family``)
keep their own generator, run alongside the random schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jepsy import generator as gen
from jepsy import registry
from jepsy.claims import HealFailed
from jepsy.errors import ConfigError
from jepsy.protocols import Nemesis, NemesisPackage, PreparesNodes, Test

from .family import Family

__all__ = ["CombinedNemesis", "combine", "random_schedule"]

# The order in which heal failures are reported.
HEAL_ORDER = ("pause", "partition", "packet", "clock", "power", "kill")
# Families whose heal starts the database again: they heal after every other one.
RESTARTS_DB = frozenset({"kill"})


class CombinedNemesis:
    """Dispatches ops by ``f`` to the family that handles it."""

    def __init__(self, nemeses: Mapping[str, Nemesis]) -> None:
        self.nemeses = dict(nemeses)
        self.by_f: dict[str, Nemesis] = {}
        for name, nem in self.nemeses.items():
            for f in nem.fs:
                if f in self.by_f:
                    raise ConfigError(f"two nemeses handle {f!r} (one of them is {name!r})")
                self.by_f[f] = nem
        self.fs = frozenset(self.by_f)

    def setup(self, test: Test) -> None:
        for nem in self.nemeses.values():
            nem.setup(test)

    def prepare(self, test: Test) -> None:
        """Each family's ``prepare`` (``PreparesNodes``) before the database starts."""
        for nem in self.nemeses.values():
            if isinstance(nem, PreparesNodes):
                nem.prepare(test)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        nem = self.by_f.get(str(op["f"]))
        if nem is None:
            raise ConfigError(f"no nemesis handles {op['f']!r}")
        return nem.invoke(test, op)

    def _ordered(self) -> list[tuple[str, Nemesis]]:
        rank = {name: i for i, name in enumerate(HEAL_ORDER)}
        return sorted(self.nemeses.items(), key=lambda kv: rank.get(kv[0], len(rank)))

    def heal(self, test: Test) -> None:
        """Every family's heal; the failures are raised together after all were tried.

        Families heal concurrently (each already in parallel over the nodes):
        they touch different things (chains, qdiscs, clocks, processes), and
        the time to a healed cluster is the slowest family, not their sum.  The
        one exception is the kill family, whose heal starts the database again:
        it runs after the others, so that it never starts a database on a
        power-loss filesystem that the power family's heal is about to unmount
        (the order ``jepsy heal`` follows too: ``HEAL_ORDER``).
        """
        def one(name: str, nem: Nemesis) -> Exception | None:
            try:
                nem.heal(test)
                return None
            except Exception as e:
                test.log.error("healing %s failed: %s", name, e)
                return e

        ordered = self._ordered()
        stages = [[(n, nem) for n, nem in ordered if n not in RESTARTS_DB],
                  [(n, nem) for n, nem in ordered if n in RESTARTS_DB]]
        errors: list[tuple[str, Exception]] = []
        for stage in (s for s in stages if s):
            with ThreadPoolExecutor(max_workers=len(stage)) as pool:
                futures = [(name, pool.submit(one, name, nem)) for name, nem in stage]
                errors += [(name, e) for name, fut in futures if (e := fut.result()) is not None]
        if errors:
            detail = "; ".join(f"{n}: {e}" for n, e in errors)
            raise HealFailed(f"heal failed for {len(errors)} fault families: {detail}", errors)

    def teardown(self, test: Test) -> None:
        for nem in self.nemeses.values():
            nem.teardown(test)


class _Random(gen.Gen):
    """Every ``interval`` s: draw a family; end its fault if one is in force, else start one."""

    def __init__(self, families: Sequence[Family], interval: float, max_faults: int) -> None:
        self.families = list(families)
        self.interval = interval
        self.max_faults = max_faults
        self.active: set[str] = set()
        self.next_at: float | None = None

    def next(self, ctx: gen.Context) -> gen.Next:
        if not ctx.is_nemesis or not self.families:
            return None
        if self.next_at is None:
            self.next_at = ctx.time + self.interval
        if ctx.time < self.next_at:
            return gen.Pending(self.next_at - ctx.time)
        self.next_at = ctx.time + self.interval
        fam = self.families[ctx.rng.randrange(len(self.families))]
        if fam.name not in self.active and len(self.active) >= self.max_faults:
            fam = next(f for f in self.families if f.name == ctx.rng.choice(sorted(self.active)))
        if fam.name in self.active:
            self.active.discard(fam.name)
            return dict(fam.stop)
        self.active.add(fam.name)
        return fam.start(ctx)


def random_schedule(families: Sequence[Family], interval: float, max_faults: int | None = None) -> Any:
    """The combined schedule as a generator spec (fresh state every time it is built)."""
    limit = max_faults or len(families)
    return gen.defer(lambda ctx: _Random(families, interval, max(1, limit)))


class _Any(gen.Gen):
    """Ops from whichever of several generators has one ready first."""

    def __init__(self, specs: Sequence[Any]) -> None:
        self.gens = [gen.build(s) for s in specs]

    def next(self, ctx: gen.Context) -> gen.Next:
        waits: list[float] = []
        for g in list(self.gens):
            out = g.next(ctx)
            if isinstance(out, dict):
                return out
            if isinstance(out, gen.Pending):
                waits.append(out.wait)
            else:
                self.gens.remove(g)
        return gen.Pending(min(waits)) if waits else None


def _family(name: str, opts: Mapping[str, Any]) -> Family | NemesisPackage:
    """The ``Family`` of a built-in name when its module has one, else its package."""
    module = registry.builtin_module("nemeses", name)
    if module is not None:
        make = getattr(module, f"{name}_family", None) or getattr(module, "family", None)
        if make is not None:
            fam: Family = make(opts)
            return fam
    package: NemesisPackage = registry.load("nemeses", name)(opts)
    return package


def combine(names: Sequence[str], opts: Mapping[str, Any], db: Any = None) -> NemesisPackage:
    """One package for the families ``names``; ``db`` reaches families that act through it."""
    wanted = [n for n in dict.fromkeys(names) if n != "none"]
    full = {**opts, "database": db}
    strategy = str(opts.get("nemesis_strategy") or "random")
    if strategy not in ("random", "guided"):
        raise ConfigError(f"unknown nemesis strategy {strategy!r}; known: random, guided")
    if opts.get("nemesis_schedule") is not None or (strategy == "guided" and wanted):
        return _planned(wanted, full, strategy)
    if len(wanted) <= 1:
        single: NemesisPackage = registry.load("nemeses", wanted[0] if wanted else "none")(full)
        return single
    parts = {n: _family(n, full) for n in wanted}
    families = [p for p in parts.values() if isinstance(p, Family)]
    others = [p for p in parts.values() if isinstance(p, NemesisPackage)]
    nemesis = CombinedNemesis({n: (p.nemesis) for n, p in parts.items()})
    interval = float(opts.get("nemesis_interval", 5.0))
    max_faults = opts.get("nemesis_max_faults")
    schedule = random_schedule(families, interval, int(max_faults) if max_faults else None)
    spec = gen.defer(lambda ctx: _Any([schedule, *(o.generator for o in others)]))
    return NemesisPackage(nemesis, spec)


def _planned(names: Sequence[str], opts: Mapping[str, Any], strategy: str) -> NemesisPackage:
    """An explicit schedule (``nemesis_schedule``, a ``Schedule``; its families join ``names``)
    or the guided policy, over the families' ``Family`` records."""
    from . import guided, schedule

    plan: schedule.Schedule | None = opts.get("nemesis_schedule")
    wanted = list(dict.fromkeys([*names, *(plan.families if plan is not None else [])]))
    parts = {n: _family(n, opts) for n in wanted}
    odd = [n for n, p in parts.items() if not isinstance(p, Family)]
    if odd:
        raise ConfigError(f"nemesis {odd[0]!r} has no fault family record: it cannot follow an "
                          "explicit schedule or the guided strategy")
    families = [p for p in parts.values() if isinstance(p, Family)]
    nemesis = CombinedNemesis({f.name: f.nemesis for f in families})
    if plan is not None:
        return NemesisPackage(nemesis, schedule.replay(plan))
    state = opts.get("guided_state")
    limit = opts.get("time_limit")
    return NemesisPackage(nemesis, guided.guided(families, float(opts.get("nemesis_interval", 5.0)),
                                                 str(state) if state else None,
                                                 float(limit) if limit else None))
