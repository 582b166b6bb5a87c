"""Which consistency models each anomaly rules out: two small lattices.

``IMPLIES_MODEL[m]`` lists the models that ``m`` directly implies (a history
satisfying m satisfies them).  ``FORBIDS[m]`` lists the anomalies m itself
forbids, beyond what its weaker models forbid.  ``IMPLIES_ANOMALY[a]`` lists
anomalies whose presence ``a`` proves (a G0 cycle is also a G1c cycle; a
cycle without process edges is trivially one "with" them; a G-single is a
G-nonadjacent is a G2-item).  Together: the models a set of anomalies rules
out are those forbidding any implied anomaly, and every stronger model.

Sources for the relations: Adya's thesis (G0, G1a-c, G-single, G2-item and the
PL levels), Cerone et al. (read atomic, causal and snapshot isolation with
sessions), Daudjee and Salem (strong session variants), and Elle's treatment
of process and real-time cycles.  Our choices, stated once:

* ``internal`` and ``future-read`` are ruled out from read committed up
  (Plume's reading: a transaction must see its own writes);
* ``thin-air-read`` and ``duplicate-elements`` break even read uncommitted;
* ``causal`` includes session order, so it forbids ``G1c-process``;
  plain ``snapshot-isolation`` (Adya's, without sessions) does not;
* ``causal-stale-read`` (register histories: a cycle of one rw edge closed
  by wr and process edges) is a read older than its own causal past, so
  ``causal`` forbids it; it is also a ``G-single-process``.
"""

from __future__ import annotations

from collections.abc import Iterable

from jepsy.errors import ConfigError

__all__ = ["MODELS", "boundary", "canonical_model", "impossible_models"]

IMPLIES_MODEL: dict[str, tuple[str, ...]] = {
    "strict-serializable": ("strong-session-serializable", "strong-snapshot-isolation"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation",),
    "strong-session-snapshot-isolation": ("snapshot-isolation", "causal"),
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "snapshot-isolation": ("read-atomic",),
    "repeatable-read": ("read-committed",),
    "causal": ("read-atomic",),
    "read-atomic": ("read-committed",),
    "read-committed": ("read-uncommitted",),
    "read-uncommitted": (),
}
MODELS = tuple(IMPLIES_MODEL)

_ALIASES = {
    "strong-serializable": "strict-serializable", "PL-SS": "strict-serializable",
    "PL-3": "serializable", "conflict-serializable": "serializable",
    "PL-2.99": "repeatable-read", "PL-2": "read-committed", "PL-1": "read-uncommitted",
    "PL-SI": "snapshot-isolation", "si": "snapshot-isolation", "SI": "snapshot-isolation",
    "causal-consistency": "causal", "transactional-causal-consistency": "causal",
}

FORBIDS: dict[str, tuple[str, ...]] = {
    "read-uncommitted": ("G0", "duplicate-elements", "thin-air-read"),
    "read-committed": ("G1a", "G1b", "G1c", "internal", "future-read"),
    "read-atomic": ("internal", "future-read"),
    "causal": ("G1c-process", "causal-stale-read"),
    "repeatable-read": ("G2-item", "forced-G-single"),
    "snapshot-isolation": ("G-nonadjacent", "lost-update", "forced-G-single"),
    "strong-session-snapshot-isolation": ("G-nonadjacent-process", "G1c-process", "forced-G-single-process"),
    "strong-snapshot-isolation": ("G-nonadjacent-realtime", "G1c-realtime", "forced-G-single-realtime"),
    "serializable": ("G2-item", "forced-G2"),
    "strong-session-serializable": ("G2-item-process", "G1c-process", "forced-G2-process"),
    "strict-serializable": ("G2-item-realtime", "G1c-realtime", "forced-G2-realtime"),
}

IMPLIES_ANOMALY: dict[str, tuple[str, ...]] = {
    "dirty-update": ("G1a",),
    "incompatible-order": ("G1a",),
    "lost-update": ("G2-item",),
    "causal-stale-read": ("G-single-process",),
}
for _s in ("", "-process", "-realtime"):
    IMPLIES_ANOMALY["forced-G-single" + _s] = ("forced-G2" + _s,)
IMPLIES_ANOMALY["forced-G-single"] += ("forced-G-single-process",)
IMPLIES_ANOMALY["forced-G-single-process"] += ("forced-G-single-realtime",)
IMPLIES_ANOMALY["forced-G2"] = ("forced-G2-process",)
IMPLIES_ANOMALY["forced-G2-process"] = ("forced-G2-realtime",)
for _base in ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item"):
    IMPLIES_ANOMALY[_base] = (_base + "-process",)
    IMPLIES_ANOMALY[_base + "-process"] = (_base + "-realtime",)
for _a, _b in (("G0", "G1c"), ("G-single", "G-nonadjacent"), ("G-nonadjacent", "G2-item")):
    for _s in ("", "-process", "-realtime"):
        IMPLIES_ANOMALY[_a + _s] = (*IMPLIES_ANOMALY.get(_a + _s, ()), _b + _s)


def canonical_model(name: str) -> str:
    """The lattice's name for a model; ``ConfigError`` listing the known ones if unknown."""
    name = _ALIASES.get(name, name)
    if name not in IMPLIES_MODEL:
        raise ConfigError(f"unknown consistency model {name!r}; known: {', '.join(sorted(MODELS))}")
    return name


def _closure(start: Iterable[str], edges: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(edges.get(x, ()))
    return seen


def _implied_by() -> dict[str, tuple[str, ...]]:
    rev: dict[str, list[str]] = {m: [] for m in IMPLIES_MODEL}
    for m, weaker in IMPLIES_MODEL.items():
        for w in weaker:
            rev[w].append(m)
    return {m: tuple(v) for m, v in rev.items()}


_STRONGER = _implied_by()


def impossible_models(anomalies: Iterable[str]) -> set[str]:
    """Every model that a history with these anomalies cannot satisfy."""
    present = _closure(anomalies, IMPLIES_ANOMALY)
    direct = {m for m, forbidden in FORBIDS.items() if present.intersection(forbidden)}
    return _closure(direct, _STRONGER)


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """(``not``, ``also_not``): the weakest models ruled out, and the stronger rest."""
    impossible = impossible_models(anomalies)
    weakest = sorted(m for m in impossible
                     if not _closure(IMPLIES_MODEL[m], IMPLIES_MODEL).intersection(impossible))
    return weakest, sorted(impossible.difference(weakest))
