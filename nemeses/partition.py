"""Network partitions with iptables, in a chain jepsy owns.

A partition is a *grudge*: ``{node: [nodes whose packets it drops]}``.  Each
node gets the rules of its own grudge in the chain ``jepsy`` (jumped to from
the top of ``INPUT``), applied on all nodes in parallel over the open SSH
connections.  Healing flushes and deletes that chain and its jump, and nothing
else: other firewall rules on the node are never touched.

Shapes (``start-partition`` with value None picks one at random per the
``shapes`` option):

* ``halves``: the nodes, shuffled, cut into two halves (the smaller one first);
* ``one``: one random node isolated from all others;
* ``majorities-ring``: every node sees a majority, and no two see the same one
  (Jepsen's ring): on a shuffled ring, each node keeps its nearest neighbours.

The value recorded in the history on completion is the grudge actually applied.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy import generator as gen
from jepsy.control import on_nodes, sh
from jepsy.errors import ConfigError
from jepsy.protocols import Nemesis, NemesisPackage, Test

__all__ = ["PartitionNemesis", "grudge", "nemesis", "no_nemesis"]

CHAIN = "jepsy"
SHAPES = ("halves", "one", "majorities-ring")

Grudge = dict[str, list[str]]


def complete_grudge(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops every node outside its own component."""
    everyone = [n for c in components for n in c]
    out: Grudge = {}
    for comp in components:
        for n in comp:
            out[n] = sorted(m for m in everyone if m not in comp)
    return out


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    majority = n // 2 + 1
    out: Grudge = {}
    for i, node in enumerate(ring):
        # A window of `majority` consecutive ring positions, this node at its middle.
        start = i - (majority - 1) // 2
        sees = {ring[(start + k) % n] for k in range(majority)}
        out[node] = sorted(m for m in ring if m not in sees)
    return out


def grudge(shape: str, nodes: Sequence[str], rng: random.Random) -> Grudge:
    """The grudge of a named shape over ``nodes``."""
    if len(nodes) < 2:
        raise ConfigError("a partition needs at least two nodes")
    if shape == "halves":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        half = len(shuffled) // 2
        return complete_grudge([shuffled[:half], shuffled[half:]])
    if shape == "one":
        loner = rng.choice(list(nodes))
        return complete_grudge([[loner], [n for n in nodes if n != loner]])
    if shape == "majorities-ring":
        return majorities_ring(nodes, rng)
    raise ConfigError(f"unknown partition shape {shape!r}; known: {', '.join(SHAPES)}")


def drop_command(sources: Sequence[str]) -> str:
    """Shell command that makes the chain hold exactly these DROP rules."""
    parts = [
        f"iptables -w -N {CHAIN} 2>/dev/null || true",
        f"iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {CHAIN}",
        f"iptables -w -F {CHAIN}",
    ]
    parts += [sh("iptables", "-w", "-A", CHAIN, "-s", ip, "-j", "DROP") for ip in sources]
    return " && ".join(parts)


HEAL_COMMAND = (f"iptables -w -D INPUT -j {CHAIN} 2>/dev/null; iptables -w -F {CHAIN} 2>/dev/null; "
                f"iptables -w -X {CHAIN} 2>/dev/null; true")


class PartitionNemesis:
    """Handles ``start-partition`` and ``stop-partition``."""

    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, shapes: Sequence[str] = SHAPES) -> None:
        unknown = [s for s in shapes if s not in SHAPES]
        if unknown:
            raise ConfigError(f"unknown partition shape {unknown[0]!r}; known: {', '.join(SHAPES)}")
        self.shapes = list(shapes)

    def setup(self, test: Test) -> None:
        on_nodes(test.nodes, lambda n: test.remote.execute(n, "command -v iptables", check=True))
        self.heal(test)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-partition":
            shape = op.get("value") or test.rng.choice(self.shapes)
            g = grudge(str(shape), test.nodes, test.rng)
            self.apply(test, g)
            return g
        if op["f"] == "stop-partition":
            self.heal(test)
            return None
        raise ConfigError(f"partition nemesis cannot do {op['f']!r}")

    def apply(self, test: Test, g: Mapping[str, Sequence[str]]) -> None:
        on_nodes(test.nodes, lambda n: test.remote.execute(
            n, drop_command([test.address(m) for m in g.get(n, [])]), sudo=True))

    def heal(self, test: Test) -> None:
        on_nodes(test.nodes, lambda n: test.remote.execute(n, HEAL_COMMAND, sudo=True))

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing, which the runner always does."""


class NoNemesis:
    """No faults at all (a control run)."""

    fs: frozenset[str] = frozenset()

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        raise ConfigError(f"no nemesis to do {op['f']!r}")

    def heal(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass


def schedule(interval: float, start: Mapping[str, Any], stop: Mapping[str, Any]) -> Any:
    """Wait, start a fault, wait, stop it; again and again."""
    return gen.cycle([gen.sleep(interval), dict(start), gen.sleep(interval), dict(stop)])


def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    shapes = opts.get("partition_shapes") or SHAPES
    if isinstance(shapes, str):
        shapes = [s.strip() for s in shapes.split(",") if s.strip()]
    nem: Nemesis = PartitionNemesis(shapes)
    interval = float(opts.get("nemesis_interval", 5.0))
    return NemesisPackage(nem, schedule(interval, {"f": "start-partition"}, {"f": "stop-partition"}))


def no_nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    return NemesisPackage(NoNemesis(), None)
