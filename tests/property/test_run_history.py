"""The runner's history contract, under clients that fail, time out and crash at random.

Whatever the clients do: every invoke has exactly one completion or none (the
run ended), a process never invokes again after an ``info``, indexes are the
positions, times never go backwards, and the run ends with the heal.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsy import generator as gen
from jepsy.checkers import FnChecker
from jepsy.doubles import FakeRemote
from jepsy.history import read_history
from jepsy.protocols import Test, Workload
from jepsy.run import Plan, run_test


class FlakyClient:
    def __init__(self, rng: random.Random, weights: tuple[int, int, int, int]) -> None:
        self.rng, self.weights = rng, weights

    def open(self, test: Test, node: str) -> FlakyClient:
        return self

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        outcome = self.rng.choices(["ok", "fail", "info", "raise"], self.weights)[0]
        if outcome == "raise":
            raise RuntimeError("client exploded")
        return {"type": outcome, "value": op.get("value")}

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        pass


class FlakyDB:
    def __init__(self, client: FlakyClient) -> None:
        self._client = client

    def setup(self, test: Test, node: str) -> None:
        pass

    def teardown(self, test: Test, node: str) -> None:
        pass

    def client(self, workload: str, test: Test) -> FlakyClient:
        return self._client


class CountingNemesis:
    fs = frozenset({"start-x", "stop-x"})

    def __init__(self) -> None:
        self.heals = 0

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        return {"did": op["f"]}

    def heal(self, test: Test) -> None:
        self.heals += 1

    def teardown(self, test: Test) -> None:
        pass


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), concurrency=st.integers(1, 6),
       weights=st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(0, 2))
       .filter(lambda w: sum(w) > 0))
def test_history_contract_under_random_outcomes(tmp_path_factory: Any, seed: int, concurrency: int,
                                                weights: tuple[int, int, int, int]) -> None:
    run_dir: Path = tmp_path_factory.mktemp("run")
    rng = random.Random(seed)
    nemesis = CountingNemesis()
    test = Test(name="prop", nodes=["n1", "n2"], node_specs={}, remote=FakeRemote(),
                rng=random.Random(seed))
    workload = Workload(
        name="flaky", generator=gen.repeat(lambda c: {"f": "w", "value": c.rng.randrange(9)}),
        final_generator=gen.each_thread({"f": "r"}),
        checker=FnChecker(lambda h, o: {"valid": True}), fs=frozenset({"w", "r"}))
    plan = Plan(test=test, db=FlakyDB(FlakyClient(rng, weights)), workload=workload,
                nemesis=nemesis, concurrency=concurrency, time_limit=0.4, recovery=0.0,
                nemesis_generator=gen.cycle([gen.sleep(0.1), {"f": "start-x"}, {"f": "stop-x"}]))
    results = run_test(plan, run_dir)
    history = read_history(run_dir / "history.jsonl")
    assert [op.index for op in history] == list(range(len(history)))
    assert all(a.time is not None and b.time is not None and a.time <= b.time
               for a, b in itertools.pairwise(history))
    open_: dict[Any, Any] = {}
    retired: set[Any] = set()
    for op in history:
        if not op.is_client:
            continue
        if op.type == "invoke":
            assert op.process not in open_ and op.process not in retired
            open_[op.process] = op
        else:
            assert open_.pop(op.process).f == op.f
            if op.type == "info":
                retired.add(op.process)
    assert not open_, "every invoke completed (no run was interrupted)"
    assert history[-1].process == "nemesis" or any(o.f == "heal" for o in history)
    assert [o.f for o in history if o.f == "heal"] == ["heal"] and nemesis.heals == 1
    # Each worker's final read ran after the heal.
    heal_at = next(o.index for o in history if o.f == "heal")
    finals = [o for o in history if o.f == "r" and o.type == "invoke"]
    assert len(finals) == concurrency and all(o.index > heal_at for o in finals)
    assert json.loads((run_dir / "results.json").read_text())["valid"] == results["valid"]


@pytest.mark.parametrize("keep", [True, False])
def test_generators_see_the_history_only_when_the_run_keeps_it(tmp_path: Path, keep: bool) -> None:
    """``Plan.keep_history`` (set for the guided strategy) is what fills ``Context.history``;
    without it the run's memory stays flat and generators see nothing."""
    seen: list[int] = []

    class Look(gen.Gen):
        """The nemesis thread's generator: notes what the history holds, asks again later.
        (It once returned a generator spec where an op is due, which crashed the run at its
        first call, so the assertion below rested on how many ops came before that.)"""

        def next(self, ctx: gen.Context) -> gen.Next:
            seen.append(len(ctx.history))
            return gen.Pending(0.05)

    test = Test(name="keep", nodes=["n1"], node_specs={}, remote=FakeRemote(), rng=random.Random(1))
    workload = Workload(name="flaky", generator=gen.repeat({"f": "w", "value": 1}),
                        checker=FnChecker(lambda h, o: {"valid": True}), fs=frozenset({"w"}))
    plan = Plan(test=test, db=FlakyDB(FlakyClient(random.Random(1), (1, 0, 0, 0))),
                workload=workload, nemesis=CountingNemesis(), concurrency=2, time_limit=0.5,
                recovery=0.0, nemesis_generator=Look(), keep_history=keep)
    results = run_test(plan, tmp_path)
    assert results["incomplete"] is None and results["valid"] is True
    assert len(seen) > 3 and (max(seen) > 10 if keep else max(seen) == 0)
