"""The fused path gives exactly the general path's results (linear/fused.py).

Every result is compared whole (verdict, witness, configurations, counts, text,
explanation), but for ``time_s``: on every Knossos history, on random histories
of the register and the mutex (small ones from the property tests' strategies,
and longer ones past one bitset word, with crashes, failures and a nemesis), and
on the histories the fused path must hand back to the general one.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from msgspec import structs

from jepsy.checkers.linear import fused, linearizable
from jepsy.checkers.linear import native as linear_native
from jepsy.checkers.linear.checker import Linearizable
from jepsy.checkers.linear.models import (
    Model,
    cas_register,
    independent,
    multi_register,
    mutex,
    plain_of,
    register,
)
from jepsy.errors import HistoryError
from jepsy.history import Op, read_history
from tests.property.test_linear_oracle import mutex_histories, register_histories

pytestmark = pytest.mark.skipif(not linear_native.AVAILABLE,
                                reason="the compiled search is not built (no C compiler at install)")
KNOSSOS = Path(__file__).resolve().parents[1] / "data" / "knossos"


def _checkers(model: Model, **kw: Any) -> tuple[Linearizable, Linearizable]:
    fast = linearizable(model, engine="c", **kw)
    slow = linearizable(model, engine="c", **kw)
    slow._plain = None  # the general path only
    return fast, slow


def _same(history: list[Op], model: Model, **kw: Any) -> dict[str, Any]:
    fast, slow = _checkers(model, **kw)
    a, b = fast.check(history, {}), slow.check(history, {})
    a.pop("time_s")
    b.pop("time_s")
    assert a == b
    assert list(a) == list(b)  # the same order of fields in results.json
    return a


def _took_fused(history: list[Op], model: Model) -> bool:
    p = plain_of(model)
    assert p is not None
    return fused.check(history, model, p, t0=0.0, deadline=None, max_configs=None, max_bytes=None,
                       workers=1) is not None


def _knossos() -> list[str]:
    with (KNOSSOS / "verdicts.tsv").open() as f:
        return [r["file"] for r in csv.DictReader(f, delimiter="\t") if not r["file"].startswith("multi")]


def test_every_knossos_history_gets_the_same_result() -> None:
    verdicts = []
    for rel in _knossos():
        model = mutex() if rel.startswith("mutex") else cas_register(0)
        history = read_history(KNOSSOS / rel)
        for workers in (1, 2):
            result = _same(history, model, workers=workers)
        assert _took_fused(history, model), rel
        verdicts.append(result["valid"])
    assert verdicts.count(True) == 113 and verdicts.count(False) == 8


def _random_register(rng: random.Random, n_ops: int, procs: int) -> list[Op]:
    """A register run by ``procs`` processes: mostly right, with stale reads now and then."""
    ops: list[Op] = []
    value = 0
    open_: dict[int, tuple[str, Any]] = {}
    while len(ops) < n_ops:
        p = rng.randrange(procs)
        if rng.random() < 0.03:
            ops.append(Op(index=len(ops), time=None, type="info", process="nemesis", f="kill", value=None))
            continue
        if p not in open_:
            f = rng.choice(["read", "read", "write", "cas"])
            v: Any = (None if f == "read" else rng.randrange(4) if f == "write"
                      else [rng.randrange(4), rng.randrange(4)])
            open_[p] = (f, v)
            ops.append(Op(index=len(ops), time=None, type="invoke", process=p, f=f, value=v))
            continue
        f, v = open_.pop(p)
        r = rng.random()
        if r < 0.08:
            typ, out = "info", v
        elif r < 0.2:
            typ, out = "fail", v
        elif f == "read":
            typ, out = "ok", value if rng.random() < 0.97 else rng.choice([None, rng.randrange(4)])
        elif f == "write":
            typ, out, value = "ok", v, v
        elif v[0] == value:
            typ, out, value = "ok", v, v[1]
        else:
            typ, out = "fail", v
        ops.append(Op(index=len(ops), time=None, type=typ, process=p, f=f, value=out))
    return ops


@pytest.mark.parametrize("seed", range(40))
def test_random_register_histories_get_the_same_result(seed: int) -> None:
    rng = random.Random(seed)
    history = _random_register(rng, rng.choice([20, 90, 300]), rng.choice([2, 3, 5]))
    for model in (cas_register(0), cas_register(0, nil_read="absent"), register(0), cas_register()):
        _same(history, model, workers=1)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(register_histories(max_ops=8))
def test_small_register_histories_get_the_same_result(history: list[Op]) -> None:
    _same(history, cas_register(0))
    _same(history, register(0, nil_read="absent"))


@SETTINGS
@given(mutex_histories())
def test_mutex_histories_get_the_same_result(history: list[Op]) -> None:
    _same(history, mutex())


def _ops(*events: tuple[Any, ...]) -> list[Op]:
    return [Op(index=i, time=i, type=t, process=p, f=f, value=v) for i, (t, p, f, v) in enumerate(events)]


def test_keyed_histories_go_the_general_way() -> None:
    history = _ops(("invoke", 0, "write", [1, 3]), ("ok", 0, "write", [1, 3]),
                   ("invoke", 1, "read", [1, None]), ("ok", 1, "read", [1, 3]))
    assert not _took_fused(history, cas_register(0))
    assert _same(history, cas_register(0))["keys"].keys() == {"1"}


def test_malformed_histories_are_reported_by_the_general_path() -> None:
    twice = _ops(("invoke", 0, "write", 1), ("invoke", 0, "write", 2))
    orphan = _ops(("ok", 0, "write", 1),)
    for history in (twice, orphan):
        assert not _took_fused(history, cas_register(0))
        with pytest.raises(HistoryError):
            linearizable(cas_register(0)).check(history, {})


def test_what_the_fused_path_does_not_take() -> None:
    history = _ops(("invoke", 0, "write", 1), ("ok", 0, "write", 1))
    assert _took_fused(history, cas_register(0))
    big_process = [structs.replace(op, process=2**70) for op in history]
    assert not _took_fused(big_process, cas_register(0))
    assert _same(big_process, cas_register(0))["valid"] is True
    # not a list: the general path, same result
    assert linearizable(cas_register(0)).check(tuple(history), {})["valid"] is True  # type: ignore[arg-type]


def test_only_built_in_models_as_built_are_plain() -> None:
    m = cas_register(0)
    assert plain_of(m) is not None and plain_of(mutex()) is not None
    assert plain_of(independent(m)) is None
    assert plain_of(structs.replace(m, step=lambda s, i, o: (True, s))) is None
    assert plain_of(structs.replace(m, state_key=lambda s: s)) is None
    assert linearizable(m, engine="python")._plain is None


def test_budgets_hand_the_search_back() -> None:
    rng = random.Random(7)
    history = _random_register(rng, 300, 5)
    _same(history, cas_register(0), workers=1, max_configs=0)
    _same(history, cas_register(0), workers=1, memory_mb=0.0001)


def test_values_the_search_cannot_hash_go_as_in_the_general_path() -> None:
    """A register holding a list: no canonical values, and the same answer or error as before."""
    history = _ops(("invoke", 0, "write", [1, 2, 3]), ("ok", 0, "write", [1, 2, 3]),
                   ("invoke", 1, "write", [4, 5, 6]), ("invoke", 2, "read", None),
                   ("ok", 2, "read", [1, 2, 3]), ("ok", 1, "write", [4, 5, 6]))
    outcomes = []
    for checker in _checkers(cas_register(0), workers=1):
        try:
            result = checker.check(history, {})
            result.pop("time_s")
            outcomes.append(result)
        except Exception as e:  # the general path's answer, whatever it is, is the reference
            outcomes.append({"error": f"{type(e).__name__}: {e}"})
    assert outcomes[0] == outcomes[1]


def _random_txns(rng: random.Random, n_ops: int, procs: int) -> list[Op]:
    """Transactions over registers x, y (and z, absent at first): mostly right, now and then
    a stale read; crashes, failures, malformed micro-ops and reads of None among them."""
    ops: list[Op] = []
    regs: dict[str, Any] = {"x": 0, "y": 0}
    open_: dict[int, list[list[Any]]] = {}
    while len(ops) < n_ops:
        p = rng.randrange(procs)
        if p not in open_:
            mops = [[rng.choice(["read", "write", "r", "w"]), rng.choice(["x", "y", "z"]), None]
                    for _ in range(rng.randrange(1, 4))]
            for m in mops:
                if m[0] in ("write", "w"):
                    m[2] = rng.randrange(3)
            if rng.random() < 0.02:
                mops.append(["append", "x", 1])  # refused by the model's step
            open_[p] = mops
            ops.append(Op(index=len(ops), time=len(ops), type="invoke", process=p, f="txn", value=mops))
            continue
        mops = open_.pop(p)
        r = rng.random()
        if r < 0.08:
            ops.append(Op(index=len(ops), time=len(ops), type="info", process=p, f="txn", value=mops))
            continue
        if r < 0.15:
            ops.append(Op(index=len(ops), time=len(ops), type="fail", process=p, f="txn", value=mops))
            continue
        done = []
        for kind, k, v in mops:
            if kind in ("read", "r"):
                seen = regs.get(k)
                done.append([kind, k, seen if rng.random() < 0.97 else rng.randrange(3)])
            else:
                regs[k] = v
                done.append([kind, k, v])
        out = None if rng.random() < 0.03 else done
        ops.append(Op(index=len(ops), time=len(ops), type="ok", process=p, f="txn", value=out))
    return ops


def test_the_knossos_multi_register_history_takes_the_fused_path() -> None:
    model = multi_register({"x": 0, "y": 0})
    history = read_history(KNOSSOS / "multi-register" / "good" / "multi-register.edn")
    assert _took_fused(history, model)
    for workers in (1, 2):
        assert _same(history, model, workers=workers)["valid"] is True


@pytest.mark.parametrize("seed", range(40))
def test_random_multi_register_histories_get_the_same_result(seed: int) -> None:
    rng = random.Random(seed)
    history = _random_txns(rng, rng.choice([12, 60, 200]), rng.choice([2, 3, 5]))
    for model in (multi_register({"x": 0, "y": 0}), multi_register(), multi_register({"z": 1})):
        _same(history, model, workers=1)


def test_multi_register_calls_the_fused_path_leaves_alone() -> None:
    model = multi_register({"x": 0})
    ok = _ops(("invoke", 0, "txn", [["write", "x", 1]]), ("ok", 0, "txn", [["write", "x", 1]]))
    assert _took_fused(ok, model)
    for history in (
        _ops(("invoke", 0, "read", [["read", "x", None]]), ("ok", 0, "read", [["read", "x", 0]])),
        _ops(("invoke", 0, "txn", [["read", "x"]]), ("ok", 0, "txn", [["read", "x"]])),
    ):
        assert not _took_fused(history, model)
        _same(history, model)
    assert not _took_fused(_ops(("invoke", 0, "txn", 5), ("ok", 0, "txn", 5)), model)
    # registers named by other values than strs: read as the model reads them, str(k)
    keyed = _ops(("invoke", 0, "txn", [["write", 1, 2]]), ("ok", 0, "txn", [["write", 1, 2]]),
                 ("invoke", 1, "txn", [["read", "1", None]]), ("ok", 1, "txn", [["read", "1", 2]]))
    assert _took_fused(keyed, model) and _same(keyed, model)["valid"] is True
    assert plain_of(multi_register()) is not None
