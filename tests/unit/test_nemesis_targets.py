"""Target selection, and the helpers the other nemesis unit tests share (a Test over FakeRemote)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError
from jepsy.inventory import Node
from jepsy.nemeses.targets import pick
from jepsy.protocols import Test as RunSpec


def fake_test(n: int = 5, handler: Any = None, seed: int = 1, lab: bool = True,
              opts: dict[str, Any] | None = None) -> RunSpec:
    names = [f"n{i}" for i in range(1, n + 1)]
    specs = {m: Node(m, f"10.9.0.{10 + i}", vars={"jepsy_lab": "/lab"} if lab else {})
             for i, m in enumerate(names, 1)}
    return RunSpec(name="t", nodes=names, node_specs=specs, remote=FakeRemote(handler),
                opts=dict(opts or {}), rng=random.Random(seed))


def commands(test: RunSpec, node: str) -> list[str]:
    remote = test.remote
    assert isinstance(remote, FakeRemote)
    return remote.on(node)


# ---- targets -------------------------------------------------------------------

NODES = ["n1", "n2", "n3", "n4", "n5"]


class _Leader:
    def primaries(self, test: RunSpec) -> list[str]:
        return ["n4"]


@pytest.mark.parametrize("seed", range(20))
def test_target_sizes(seed: int) -> None:
    rng = random.Random(seed)
    assert len(pick("one", NODES, rng)) == 1
    assert 1 <= len(pick("minority", NODES, rng)) <= 2
    assert len(pick("majority", NODES, rng)) == 3
    assert 1 <= len(pick("random", NODES, rng)) <= 5
    assert pick("all", NODES, rng) == NODES


def test_targets_keep_inventory_order_and_are_seeded() -> None:
    a = pick("majority", NODES, random.Random(4))
    assert a == sorted(a, key=NODES.index)
    assert a == pick("majority", NODES, random.Random(4))


def test_primaries_ask_the_database() -> None:
    t = fake_test()
    assert pick("primaries", NODES, t.rng, t, _Leader()) == ["n4"]
    with pytest.raises(ConfigError, match="HasPrimaries"):
        pick("primaries", NODES, t.rng, t, object())


def test_explicit_and_unknown_targets() -> None:
    assert pick(["n3", "n1"], NODES, random.Random(0)) == ["n1", "n3"]
    with pytest.raises(ConfigError, match="n9"):
        pick(["n9"], NODES, random.Random(0))
    with pytest.raises(ConfigError, match="unknown target"):
        pick("most", NODES, random.Random(0))
