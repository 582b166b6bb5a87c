"""The compiled search against the Python one, and the models' instructions against their steps.

The C loop (``jepsy.checkers.linear._linear``) is a port of ``linear.search.search``: same
layout, same candidate order, same cache.  So on any history the two must not only
agree on the verdict but find the same linearization, the same stuck op and the
same number of dead configurations.  A built-in model's ``native_op`` must say
exactly what its ``step`` does, for every state and call.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import structs

from jepsy.checkers.linear import check_history, linearizable
from jepsy.checkers.linear import native as linear_native
from jepsy.checkers.linear.models import CRASHED, Model, cas_register, kv, mutex, register
from jepsy.cli import main
from jepsy.errors import ConfigError
from jepsy.history import Op
from tests.property.test_linear_oracle import (
    OTHER_MODELS,
    mutex_histories,
    other_histories,
    register_histories,
)

needs_c = pytest.mark.skipif(not linear_native.AVAILABLE,
                             reason="the compiled search is not built (no C compiler at install)")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _per_key(result: dict[str, Any]) -> dict[str, Any]:
    keys = {}
    for k, v in result["keys"].items():
        e = v.get("explanation") or {}
        keys[k] = (v["valid"], v.get("configs"), v.get("linearization"),
                   e.get("op", {}).get("index"), e.get("states"))
    return keys


def assert_same_search(history: list[Op], model: Model) -> None:
    c = check_history(history, model, workers=1, all_keys=True, engine="c")
    py = check_history(history, model, workers=1, all_keys=True, engine="python")
    assert c["engine"] == "c" and py["engine"] == "python"
    assert _per_key(c) == _per_key(py)
    assert c["valid"] == py["valid"]
    assert c.get("text") == py.get("text")


@needs_c
@SETTINGS
@given(register_histories(max_ops=8))
def test_register_searches_are_the_same(history: list[Op]) -> None:
    assert_same_search(history, cas_register(0, nil_read="absent"))
    assert_same_search(history, cas_register(0))  # reads of nil pass: the "any" instruction
    assert_same_search(history, register(0))  # a cas is never legal


@needs_c
@SETTINGS
@given(mutex_histories())
def test_mutex_searches_are_the_same(history: list[Op]) -> None:
    assert_same_search(history, mutex())


@needs_c
@SETTINGS
@given(st.data(), st.sampled_from(sorted(OTHER_MODELS)))
def test_other_model_searches_are_the_same(data: st.DataObject, kind: str) -> None:
    """kv runs on instructions; queues, sets and multi-registers call their step from C."""
    assert_same_search(data.draw(other_histories(kind)), OTHER_MODELS[kind]())


# -- instructions against steps -------------------------------------------------------------------

def run_instruction(ins: tuple[Any, ...], state: Any) -> tuple[bool, Any]:
    """What _linear.c does with an instruction, in Python (the reference for this test)."""
    name = ins[0]
    if name == "read":
        return bool(ins[1] == state), state
    if name == "write":
        return True, ins[1]
    if name == "cas":
        return (True, ins[2]) if ins[1] == state else (False, None)
    if name == "any":
        return True, state
    if name == "add":
        return True, state + ins[1]
    assert name == "never"
    return False, None


def assert_instruction_is_step(model: Model, state: Any, inp: tuple[str, Any], out: Any) -> None:
    assert model.native_op is not None
    ins = model.native_op(inp, out)
    assert ins is not None
    ok, nxt = model.step(state, inp, out)
    got_ok, got = run_instruction(ins, state)
    assert got_ok == ok, (ins, state, inp, out)
    if ok:
        assert got == nxt and type(got) is type(nxt), (ins, state, inp, out)


values = st.sampled_from([None, 0, 1, 2, "a", True, False])
outputs = st.one_of(values, st.just(CRASHED))


@given(values, st.sampled_from(["read", "write", "cas", "frob"]),
       st.one_of(values, st.lists(values, min_size=1, max_size=3)), outputs,
       st.sampled_from(["absent", "unknown", "auto"]), st.booleans())
def test_register_instructions_are_their_steps(state: Any, f: str, value: Any, out: Any,
                                               nil_read: Any, cas: bool) -> None:
    factory = cas_register if cas else register
    assert_instruction_is_step(factory(0, nil_read=nil_read), state, (f, value), out)


@given(st.booleans(), st.sampled_from(["acquire", "release", "frob"]), outputs)
def test_mutex_instructions_are_their_steps(state: bool, f: str, out: Any) -> None:
    assert_instruction_is_step(mutex(), state, (f, None), out)


@given(st.text("ab", max_size=3), st.sampled_from(["get", "put", "append", "frob"]),
       st.one_of(st.none(), st.text("ab", max_size=2)), st.one_of(st.text("ab", max_size=3),
                                                                  st.just(CRASHED)))
def test_kv_instructions_are_their_steps(state: str, f: str, value: Any, out: Any) -> None:
    if f in ("put", "append") and value is None:
        value = ""
    assert_instruction_is_step(kv(), state, (f, value), out)


# -- choosing an engine ----------------------------------------------------------------------------

def test_unknown_engine_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="search engine 'gpu': unknown search engine"):
        linearizable(kv(), engine="gpu")
    monkeypatch.setenv("JEPSY_LINEAR_ENGINE", "gpu")
    with pytest.raises(ConfigError, match="JEPSY_LINEAR_ENGINE=gpu: unknown"):
        linearizable(kv())
    monkeypatch.setenv("JEPSY_LINEAR_ENGINE", "python")
    assert linearizable(kv()).engine == "python"


def test_asking_for_c_without_it_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linear_native, "AVAILABLE", False)
    monkeypatch.delenv("JEPSY_LINEAR_ENGINE", raising=False)
    with pytest.raises(ConfigError, match="not built"):
        linearizable(kv(), engine="c")
    assert linearizable(kv()).engine == "python"


def test_a_bad_engine_in_the_environment_is_one_line_and_exit_254(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"type": "invoke", "process": 0, "f": "read", "value": null}\n')
    monkeypatch.setenv("JEPSY_LINEAR_ENGINE", "gpu")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["check", str(history), "--model", "cas-register"])
    assert e.value.code == 254
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JEPSY_LINEAR_ENGINE=gpu" in err and "Traceback" not in err


def test_without_the_c_module_the_checker_runs_in_python() -> None:
    """As after an install without a compiler: the import fails, the Python search serves."""
    code = ("import sys; sys.modules['jepsy.checkers.linear._linear'] = None\n"
            "from jepsy.checkers.linear import native as linear_native\n"
            "from jepsy.checkers.linear import check_history\n"
            "from jepsy.history import Op\n"
            "from jepsy.checkers.linear.models import cas_register\n"
            "h = [Op(index=0, time=0, type='invoke', process=0, f='read', value=None),\n"
            "     Op(index=1, time=1, type='ok', process=0, f='read', value=3)]\n"
            "r = check_history(h, cas_register(0))\n"
            "print(linear_native.AVAILABLE, r['engine'], r['valid'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "python", "False"]


@needs_c
def test_a_bad_instruction_from_a_users_model_is_named() -> None:
    model = Model(name="odd", init=lambda: 0, step=lambda s, i, o: (True, s),
                  native_op=lambda i, o: ("jump", 1))
    h = [Op(index=0, time=0, type="invoke", process=0, f="x", value=None),
         Op(index=1, time=1, type="ok", process=0, f="x", value=None)]
    with pytest.raises(ValueError, match="unknown instruction 'jump'"):
        check_history(h, model, engine="c")


@needs_c
def test_a_search_used_before_its_init_raises() -> None:
    from jepsy.checkers.linear import _linear

    s = _linear.Search.__new__(_linear.Search)
    for use in (lambda: s.run(10), s.layout, lambda: s.mask(0), s.best_states, lambda: s.state):
        with pytest.raises(RuntimeError, match="not initialized"):
            use()
    cache = linear_native.new_cache(3)
    s = _linear.Search.__new__(_linear.Search)
    with pytest.raises(ValueError):  # a failed init leaves it unusable, never half-made
        s.__init__(cache, None, False, [None] * 3, [None] * 2, None, [0, 1, 2], [3, 4, 5], 0)
    with pytest.raises(RuntimeError):
        s.run(10)


@needs_c
@pytest.mark.parametrize("model", [
    structs.replace(cas_register(0), read_only=None, partition=None),  # read-only from the instructions
    cas_register(float("nan")),  # a crashed op's no-op: nan == nan is False, in both engines
], ids=["no-read-only", "nan"])
def test_engines_agree_on_edge_models(model: Model) -> None:
    h = [Op(index=0, time=0, type="invoke", process=0, f="read", value=None),
         Op(index=1, time=1, type="invoke", process=1, f="write", value=1),
         Op(index=2, time=2, type="ok", process=1, f="write", value=1),
         Op(index=3, time=3, type="invoke", process=2, f="read", value=None),
         Op(index=4, time=4, type="ok", process=2, f="read", value=0),
         Op(index=5, time=5, type="invoke", process=3, f="write", value=2),
         Op(index=6, time=6, type="ok", process=3, f="write", value=2)]
    assert_same_search(h, model)
    assert_same_search([*h[:5], Op(index=5, time=5, type="info", process=0, f="read", value=None)],
                       model)


@needs_c
def test_the_failure_cache_reports_its_size() -> None:
    cache = linear_native.new_cache(130)
    assert cache.words == 3 and len(cache) == 0 and cache.nbytes > 0


def test_doctor_warns_when_the_compiled_search_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from jepsy.doctor import local_warnings

    monkeypatch.setattr(linear_native, "AVAILABLE", True)
    assert local_warnings() == []
    monkeypatch.setattr(linear_native, "AVAILABLE", False)
    (line,) = local_warnings()
    assert "compiled search is not built" in line and "python3-dev" in line


def _long_history(n: int, stale_at: int | None) -> list[Op]:
    """``n`` rounds of a write and an overlapping read on one register, with crashed writes;
    valid unless the read of round ``stale_at`` returns a value the register cannot hold."""
    ops: list[Op] = []
    value = 0
    proc = 2
    for i in range(n):
        a, b = (0, 1) if i % 2 == 0 else (1, 0)  # two processes whose calls overlap
        if i % 97 == 5:  # a crashed write, which may take effect or not
            ops.append(Op(len(ops), len(ops), "invoke", proc, "write", -1))
            ops.append(Op(len(ops), len(ops), "info", proc, "write", -1))
            proc += 1
        value = i
        ops.append(Op(len(ops), len(ops), "invoke", a, "write", value))
        ops.append(Op(len(ops), len(ops), "invoke", b, "read", None))
        ops.append(Op(len(ops), len(ops), "ok", a, "write", value))
        seen = -7 if i == stale_at else value
        ops.append(Op(len(ops), len(ops), "ok", b, "read", seen))
    return ops


@needs_c
@pytest.mark.parametrize("stale_at", [None, 3])
def test_partitions_over_8192_calls_run_compiled_and_agree(stale_at: int | None) -> None:
    """The C search keeps no dense masks: a partition of any size runs compiled (it once
    dropped to the Python loop over 8,192 calls), with the Python search's result."""
    history = _long_history(4300, stale_at)  # about 8,650 calls, over 8,192
    assert linear_native.MAX_CALLS > 8650
    assert_same_search(history, cas_register(0))
    result = check_history(history, cas_register(0), workers=1, engine="c")
    assert result["valid"] is (stale_at is None)


@needs_c
@pytest.mark.parametrize("order", ["return", "call"])
def test_a_violation_behind_crashed_calls_in_many_words_is_found_alike(order: str) -> None:
    """Behind crashed calls spread over many words (whose bits the C cache stores apart,
    and of which crashed twins are tried once), each engine's search in each order finds
    the same violation, the same states and the same number of dead configurations.

    (Compared search by search: the two engines count steps slightly differently, so
    a portfolio's interleaving, and with it which order's explanation comes first,
    may differ on a long history.)"""
    from jepsy.checkers.linear import schedule, search
    from jepsy.checkers.linear.engine import Budget
    from jepsy.checkers.linear.prepare import prepare

    history = _long_history(700, 650)  # about 1,400 calls over 22 words, 8 crashed among them
    model = cas_register(0)
    (part,) = schedule.partition(prepare(history), model)
    outs = []
    for engine in (linear_native.ENGINE, search.ENGINE):
        gen = engine.search(part.calls, part.call_pos, part.ret_pos, model, Budget(), order,
                            engine.new_cache(part.calls))
        while True:
            try:
                next(gen)
            except StopIteration as done:
                out = done.value
                break
        outs.append((out.valid, out.stuck, out.states, out.order, out.pending, out.configs))
    assert outs[0] == outs[1]
    assert outs[0][0] is False
    for engine in ("c", "python"):
        assert check_history(history, model, workers=1, engine=engine)["valid"] is False
