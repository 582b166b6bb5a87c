"""Partition shapes (as grudges) and the iptables commands the partition nemesis sends."""

from __future__ import annotations

import random

import pytest

from jepsy.errors import ConfigError
from jepsy.nemeses.nodestate import heal_script
from jepsy.nemeses.partition import (
    DEFAULT_SHAPES,
    SHAPES,
    PartitionNemesis,
    complete_grudge,
    drop_command,
    grudge,
    nemesis,
)

from .test_nemesis_targets import commands, fake_test

NODES = ["n1", "n2", "n3", "n4", "n5"]


def components(g: dict[str, list[str]]) -> list[set[str]]:
    """Groups of nodes that see each other both ways (for symmetric grudges)."""
    seen: list[set[str]] = []
    for n in g:
        comp = {m for m in g if m not in g[n]}
        if comp not in seen:
            seen.append(comp)
    return seen


def test_halves_follow_inventory_order() -> None:
    g = grudge("halves", NODES, random.Random(0))
    assert g["n1"] == ["n3", "n4", "n5"] and g["n5"] == ["n1", "n2"]


@pytest.mark.parametrize("seed", range(25))
def test_symmetric_shapes(seed: int) -> None:
    rng = random.Random(seed)
    for shape in ("halves", "random-halves", "one", "minority-third", "majorities-ring", "bridge"):
        g = grudge(shape, NODES, rng)
        assert set(g) == set(NODES), shape
        for a, dropped in g.items():
            assert a not in dropped
            for b in dropped:
                assert a in g[b], f"{shape}: {a} drops {b} but not the reverse"


@pytest.mark.parametrize("seed", range(25))
def test_shape_sizes(seed: int) -> None:
    rng = random.Random(seed)
    assert sorted(map(len, components(grudge("random-halves", NODES, rng)))) == [2, 3]
    assert sorted(map(len, components(grudge("one", NODES, rng)))) == [1, 4]
    assert sorted(map(len, components(grudge("minority-third", NODES, rng)))) == [2, 3]
    assert sorted(map(len, components(grudge("minority-third", NODES[:3], rng)))) == [1, 2]
    ring = grudge("majorities-ring", NODES, rng)
    sees = [frozenset(m for m in NODES if m not in ring[n]) for n in NODES]
    assert all(len(s) == 3 for s in sees) and len(set(sees)) == 5
    b = grudge("bridge", NODES, rng)
    middle = [n for n in NODES if not b[n]]
    assert len(middle) == 1
    assert all(len(b[n]) == 2 and middle[0] not in b[n] for n in NODES if n != middle[0])


@pytest.mark.parametrize("seed", range(10))
def test_one_way_is_asymmetric(seed: int) -> None:
    g = grudge("one-way", NODES, random.Random(seed))
    deaf = [n for n in NODES if g[n]]
    talkers = [n for n in NODES if not g[n]]
    assert len(deaf) == 2 and len(talkers) == 3
    assert all(sorted(g[n]) == sorted(talkers) for n in deaf)


def test_primaries_isolates_each_leader() -> None:
    g = grudge("primaries", NODES, random.Random(0), primaries=["n2", "n4"])
    assert g["n2"] == ["n1", "n3", "n4", "n5"] and g["n4"] == ["n1", "n2", "n3", "n5"]
    assert g["n1"] == ["n2", "n4"]
    assert all(v == [] for v in grudge("primaries", NODES, random.Random(0)).values())


def test_complete_grudge_and_errors() -> None:
    assert complete_grudge([["a"], ["b", "c"]]) == {"a": ["b", "c"], "b": ["a"], "c": ["a"]}
    with pytest.raises(ConfigError):
        grudge("halves", ["n1"], random.Random(0))
    with pytest.raises(ConfigError, match="unknown partition shape"):
        grudge("thirds", NODES, random.Random(0))
    with pytest.raises(ConfigError, match="HasPrimaries"):
        PartitionNemesis(["primaries"])


def test_drop_command_owns_its_chain() -> None:
    cmd = drop_command(["10.0.0.2", "10.0.0.3"])
    assert "iptables -w -N jepsy" in cmd and "iptables -w -I INPUT 1 -j jepsy" in cmd
    assert "iptables -w -F jepsy" in cmd and "-A jepsy -s 10.0.0.3 -j DROP" in cmd
    # Never a flush of INPUT or of every chain, never a policy change.
    for word in cmd.split(" && "):
        assert not word.rstrip().endswith("-F") and "-P " not in word and "-F INPUT" not in word


def test_heal_removes_only_jepsys_chain() -> None:
    script = heal_script(["partition"])
    assert "iptables -w -D INPUT -j jepsy" in script and "iptables -w -X jepsy" in script
    assert "-F INPUT" not in script and "iptables -F;" not in script and "-P " not in script


def test_invoke_applies_each_nodes_grudge_by_address() -> None:
    t = fake_test()
    nem = PartitionNemesis()
    done = nem.invoke(t, {"f": "start-partition", "value": {"n1": ["n2"], "n2": ["n1"]}})
    assert done.value == {"n1": ["n2"], "n2": ["n1"]} and done.took_effect == ["n1", "n2"]
    assert "-s 10.9.0.12 -j DROP" in commands(t, "n1")[-1]
    assert "-s 10.9.0.11 -j DROP" in commands(t, "n2")[-1]
    assert "DROP" not in commands(t, "n3")[-1]
    assert nem.invoke(t, {"f": "stop-partition"}) is None
    assert all("iptables -w -X jepsy" in commands(t, n)[-1] for n in t.nodes)
    with pytest.raises(ConfigError, match="n9"):
        nem.invoke(t, {"f": "start-partition", "value": {"n9": ["n1"]}})


def test_package_schedule_names_a_shape_in_the_request() -> None:
    from jepsy import generator as gen

    pkg = nemesis({"nemesis_interval": 1.0, "partition_shapes": "bridge,one"})
    g = gen.build(pkg.generator)
    ctx = gen.Context(thread="nemesis", time=0.0, rng=random.Random(2))
    assert isinstance(g.next(ctx), gen.Pending)
    ctx.time = 1.0
    op = g.next(ctx)
    assert isinstance(op, dict) and op["f"] == "start-partition" and op["value"] in ("bridge", "one")
    assert set(DEFAULT_SHAPES) <= set(SHAPES) and "primaries" not in DEFAULT_SHAPES
