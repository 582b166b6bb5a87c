"""Network partitions with iptables, in a chain jepsy owns.

A partition is a *grudge*: ``{node: [nodes whose packets it drops]}``.  Each
node gets the rules of its own grudge in the chain ``jepsy`` (jumped to from
the top of ``INPUT``), applied on all nodes in parallel over the open SSH
connections.  Healing removes that chain and its jump, and nothing else: other
firewall rules on the node are never touched (a blunt flush would break hosts
that run their own firewall).

Shapes (``start-partition`` with value None picks one at random among the
``partition_shapes`` option; a value that is a shape name uses that shape, a
value that is a mapping is applied as the grudge itself):

* ``halves``: the first half of the nodes (inventory order) against the rest;
* ``random-halves``: the same over shuffled nodes;
* ``one``: one random node isolated from all others;
* ``minority-third``: a random third of the nodes (rounded up, always a
  minority) isolated from the rest;
* ``majorities-ring``: every node sees a majority, and no two see the same one
  (on a shuffled ring, each node keeps its nearest neighbours);
* ``bridge``: two halves, and one node in the middle that still sees both;
* ``primaries``: every node the database calls a leader isolated on its own
  (needs ``HasPrimaries``; with no leader elected, nothing is cut, and the
  history says so);
* ``one-way``: asymmetric: a random half drops what the other half sends, but
  not the reverse (a TCP connection then fails both ways, datagrams flow one way).

In the history, the request op names the shape (drawn by the schedule with
the run's seeded rng) and the completion is the grudge actually applied,
``{"n1": ["n3", "n4"], ...}``, with every node as a key.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.claims import Applied
from jepsy.control import on_nodes, sh
from jepsy.errors import ConfigError
from jepsy.options import Option, declare, names, read
from jepsy.protocols import HasPrimaries, NemesisPackage, Test

from .family import Family, package
from .nodestate import HEAL_TIMEOUT, PARTITION_CHAIN, heal_script
from .targets import parse_list

__all__ = ["PartitionNemesis", "family", "grudge", "nemesis"]

CHAIN = PARTITION_CHAIN
SHAPES = ("halves", "random-halves", "one", "minority-third", "majorities-ring", "bridge",
          "primaries", "one-way")
# Shapes picked at random when the user names none: those that need nothing of the database.
DEFAULT_SHAPES = ("halves", "random-halves", "one", "minority-third", "majorities-ring", "bridge",
                  "one-way")

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


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves that cannot see each other, and one node that sees everyone."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    middle = shuffled.pop()
    half = len(shuffled) // 2
    out = complete_grudge([shuffled[:half], shuffled[half:]])
    out[middle] = []
    return out


def grudge(shape: str, nodes: Sequence[str], rng: random.Random,
           primaries: Sequence[str] = ()) -> Grudge:
    """The grudge of a named shape over ``nodes`` (``primaries`` for the shape of that name)."""
    if len(nodes) < 2:
        raise ConfigError("a partition needs at least two nodes")
    nodes = list(nodes)
    if shape == "halves":
        half = len(nodes) // 2
        return complete_grudge([nodes[:half], nodes[half:]])
    if shape == "random-halves":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        half = len(shuffled) // 2
        return complete_grudge([shuffled[:half], shuffled[half:]])
    if shape == "one":
        loner = rng.choice(nodes)
        return complete_grudge([[loner], [n for n in nodes if n != loner]])
    if shape == "minority-third":
        size = min(-(-len(nodes) // 3), (len(nodes) - 1) // 2) or 1
        cut = rng.sample(nodes, size)
        return complete_grudge([cut, [n for n in nodes if n not in cut]])
    if shape == "majorities-ring":
        return majorities_ring(nodes, rng)
    if shape == "bridge":
        if len(nodes) < 3:
            raise ConfigError("a bridge partition needs at least three nodes")
        return bridge(nodes, rng)
    if shape == "primaries":
        leaders = [p for p in nodes if p in primaries]
        rest = [n for n in nodes if n not in leaders]
        return complete_grudge([[p] for p in leaders] + ([rest] if rest else []))
    if shape == "one-way":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        half = len(shuffled) // 2
        deaf, talkers = shuffled[:half], shuffled[half:]
        return {n: (sorted(talkers) if n in deaf else []) for n in nodes}
    raise ConfigError(f"unknown partition shape {shape!r}; known: {', '.join(SHAPES)}")


def drop_command(sources: Sequence[str]) -> str:
    """Shell command that makes the chain hold exactly these DROP rules (idempotent)."""
    parts = [
        f"iptables -w -N {CHAIN} 2>/dev/null || true",
        f"iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {CHAIN}",
        f"iptables -w -F {CHAIN}",
    ]
    parts += [sh("iptables", "-w", "-A", CHAIN, "-s", ip, "-j", "DROP") for ip in sources]
    return " && ".join(parts)


HEAL_COMMAND = heal_script(["partition"])


class PartitionNemesis:
    """Handles ``start-partition`` (value: a shape name, a grudge, or None) and ``stop-partition``.

    The completion value of ``start-partition`` is the grudge applied.  Rules
    go to every node in parallel; a node that fails to take them fails the op
    (recorded with its error), and the next heal removes whatever did apply.
    """

    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, shapes: Sequence[str] = DEFAULT_SHAPES, db: Any = None) -> None:
        unknown = [s for s in shapes if s not in SHAPES]
        if unknown:
            raise ConfigError(f"unknown partition shape {unknown[0]!r}; known: {', '.join(SHAPES)}")
        if "primaries" in shapes and not isinstance(db, HasPrimaries):
            raise ConfigError("partition shape 'primaries' needs a database that can name its "
                              "leader (HasPrimaries)")
        self.shapes = list(shapes)
        self.db = db

    def setup(self, test: Test) -> None:
        """Check for iptables, end leftovers; a bridge needs three nodes, so fewer drop that shape."""
        if len(test.nodes) < 3 and "bridge" in self.shapes and len(self.shapes) > 1:
            self.shapes.remove("bridge")
        # As root: on Debian /usr/sbin is not on a sudo user's PATH.
        on_nodes(test.nodes, lambda n: test.remote.execute(n, "command -v iptables", sudo=True))
        self.heal(test)

    def grudge_for(self, test: Test, value: Any) -> Grudge:
        """The grudge an op value asks for (a shape, an explicit grudge, or None: a random shape)."""
        if isinstance(value, Mapping):
            unknown = sorted({str(n) for n in value} - set(test.nodes))
            if unknown:
                raise ConfigError(f"grudge names unknown node(s) {', '.join(unknown)}")
            return {str(k): sorted(str(x) for x in v) for k, v in value.items()}
        shape = str(value or test.rng.choice(self.shapes))
        leaders: list[str] = []
        if shape == "primaries":
            if not isinstance(self.db, HasPrimaries):
                raise ConfigError("partition shape 'primaries' needs a database with HasPrimaries")
            leaders = self.db.primaries(test)
        return grudge(shape, test.nodes, test.rng, leaders)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-partition":
            g = self.grudge_for(test, op.get("value"))
            return self.apply(test, g)
        if op["f"] == "stop-partition":
            self.heal(test)
            return None
        raise ConfigError(f"partition nemesis cannot do {op['f']!r}")

    def apply(self, test: Test, g: Mapping[str, Sequence[str]]) -> Applied:
        """Rules on every node; the grudge, with the nodes whose rules failed ``missed``.

        A node that drops nothing is in neither list; the partition took
        effect where a node's rules to drop someone went in.
        """
        got = on_nodes(test.nodes, lambda n: test.remote.execute(
            n, drop_command([test.address(m) for m in g.get(n, [])]), sudo=True),
            raise_errors=False)
        missed = {n: f"iptables failed: {' '.join(str(r).split())}" for n, r in got.items()
                  if isinstance(r, Exception)}
        if len(missed) == len(got):  # nothing went in anywhere: the op failed
            raise next(e for e in got.values() if isinstance(e, Exception))
        return Applied(dict(g), [n for n in test.nodes if g.get(n) and n not in missed], missed)

    def heal(self, test: Test) -> None:
        on_nodes(test.nodes, lambda n: test.remote.execute(n, HEAL_COMMAND, sudo=True,
                                                            timeout=HEAL_TIMEOUT))

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing, which the runner always does."""


OPTIONS = (
    Option("partition_shapes", None, "shapes to draw from, comma-separated (default: all; "
           "primaries only when the database names its leader)", parse=names),
)


def family(opts: Mapping[str, Any]) -> Family:
    """Options ``partition_shapes`` (comma-separated; by default every shape, ``primaries``
    only when the database can name its leaders) and ``database``."""
    opts = read(OPTIONS, opts)
    db = opts.get("database")
    default = [*DEFAULT_SHAPES, *(["primaries"] if isinstance(db, HasPrimaries) else [])]
    nem = PartitionNemesis(parse_list(opts.get("partition_shapes"), default), db)
    # Drawn from the nemesis's list when asked, so shapes that setup ruled out are never chosen.
    return Family("partition", nem, lambda ctx: {"f": "start-partition",
                                                 "value": ctx.rng.choice(nem.shapes)},
                  {"f": "stop-partition"})


@declare(*OPTIONS)
def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis partition``: a partition of a random shape every ``nemesis_interval`` seconds."""
    return package(family(opts), float(opts.get("nemesis_interval", 5.0)))
