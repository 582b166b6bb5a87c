"""Properties of the transactional checkers.

* Histories from a serial model under random concurrency (``synth``) are
  always valid, whatever the seed, concurrency, aborts and indeterminate ops.
* A known anomaly shape, added on fresh keys to any such history, is always found.
* On tiny histories a brute-force oracle (try every serial order) agrees:
  whatever the checker calls non-serializable, no serial order explains; and
  for list-append with every append read, it finds every violation.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jepsy.checkers.elle import list_append, rw_register, synth
from jepsy.history import Op

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(workload=st.sampled_from(["list-append", "rw-register"]), n=st.integers(1, 150),
       processes=st.integers(1, 8), keys=st.integers(1, 6), seed=st.integers(0, 10**6),
       fail=st.sampled_from([0.0, 0.1]), info=st.sampled_from([0.0, 0.05]))
def test_serial_histories_are_valid(workload: str, n: int, processes: int, keys: int, seed: int,
                                    fail: float, info: float) -> None:
    h = synth.history(workload, n, processes=processes, keys=keys, seed=seed, fail_rate=fail,
                      info_rate=info, writes_per_key=8)
    factory = list_append if workload == "list-append" else rw_register
    r = factory().check(h, {})
    assert r["valid"] is True, (r["anomaly_types"], seed)


@FAST
@given(shape=st.sampled_from(sorted(synth.SHAPES)), n=st.integers(0, 80), seed=st.integers(0, 10**6))
def test_injected_anomalies_are_found(shape: str, n: int, seed: int) -> None:
    workload, expected, _ = synth.SHAPES[shape]
    h = synth.inject(synth.history(workload, n, seed=seed, keys=3), shape)
    factory = list_append if workload == "list-append" else rw_register
    r = factory().check(h, {})
    assert r["valid"] is False
    assert expected in r["anomaly_types"], r["anomaly_types"]


# --- brute-force oracle on tiny histories ---------------------------------------------------

def _replay(order: list[list[list[Any]]], appends: bool) -> bool:
    state: dict[Any, Any] = {}
    for txn in order:
        for f, k, v in txn:
            if f == "r":
                cur = state.get(k, [] if appends else None)
                seen = ([] if v is None else v) if appends else v
                if cur != seen:
                    return False
            elif f == "append":
                state[k] = [*state.get(k, []), v]
            else:
                state[k] = v
    return True


def serializable(txns: list[list[list[Any]]], appends: bool) -> bool:
    return any(_replay(list(p), appends) for p in itertools.permutations(txns))


@st.composite
def tiny(draw: st.DrawFn, appends: bool) -> list[list[list[Any]]]:
    """2-4 committed txns on 2 keys: a serial run, then some reads tampered with."""
    n = draw(st.integers(2, 4))
    txns: list[list[list[Any]]] = []
    counter = 0
    for _ in range(n):
        mops: list[list[Any]] = []
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.sampled_from(["x", "y"]))
            if draw(st.booleans()):
                mops.append(["r", k, None])
            else:
                counter += 1
                mops.append(["append" if appends else "w", k, counter])
        txns.append(mops)
    state: dict[Any, Any] = {}
    for mops in txns:  # serial run in list order, filling reads
        for m in mops:
            f, k, v = m
            if f == "r":
                cur = state.get(k)
                m[2] = list(cur) if isinstance(cur, list) else ([] if appends and cur is None else cur)
            elif f == "append":
                state.setdefault(k, []).append(v)
            else:
                state[k] = v
    for mops in txns:  # tamper: some reads see an older or a different state
        for m in mops:
            if m[0] == "r" and draw(st.integers(0, 3)) == 0:
                if appends:
                    m[2] = m[2][: draw(st.integers(0, len(m[2])))]
                else:
                    writes = [w[2] for t in txns for w in t if w[0] == "w" and w[1] == m[1]]
                    m[2] = draw(st.sampled_from([None, *writes]))
    return txns


def _history(txns: list[list[list[Any]]]) -> list[Op]:
    ops: list[Op] = []
    for i, value in enumerate(txns):
        inv = [[f, k, None if f == "r" else v] for f, k, v in value]
        ops.append(Op(index=len(ops), time=None, type="invoke", process=i, f="txn", value=inv))
        ops.append(Op(index=len(ops), time=None, type="ok", process=i, f="txn", value=value))
    return ops


@settings(max_examples=150, deadline=None)
@given(tiny(appends=True))
def test_list_append_agrees_with_oracle(txns: list[list[list[Any]]]) -> None:
    verdict = list_append(consistency_model="serializable").check(_history(txns), {})["valid"]
    truth = serializable(txns, appends=True)
    if verdict is False:
        assert not truth
    longest: dict[Any, int] = {}
    for t in txns:
        for f, k, v in t:
            if f == "r":
                longest[k] = max(longest.get(k, 0), len(v))
    written = {k: sum(1 for t in txns for f, kk, _ in t if f == "append" and kk == k) for k in ("x", "y")}
    if all(longest.get(k, 0) == n for k, n in written.items()):
        assert (verdict is True) == truth


@settings(max_examples=150, deadline=None)
@given(tiny(appends=False))
def test_rw_register_sound_against_oracle(txns: list[list[list[Any]]]) -> None:
    verdict = rw_register(consistency_model="serializable").check(_history(txns), {})["valid"]
    if verdict is False:
        assert not serializable(txns, appends=False)


# --- the polygraph's incremental reachability against a plain search -------------------------

def _paths(n: int, edges: list[tuple[int, int, bool]], bounded: bool) -> tuple[list[int], list[int]]:
    """Reference: (targets with 0 rw edges, with <= 1) for each node, by exhaustive search."""
    r0, r1 = [0] * n, [0] * n
    for s in range(n):
        seen = {(s, 0)}
        todo = [(s, 0)]
        while todo:
            v, used = todo.pop()
            for a, b, rw in edges:
                if a != v:
                    continue
                u = used + (1 if rw and bounded else 0)
                if u <= 1 and (b, u) not in seen:
                    seen.add((b, u))
                    todo.append((b, u))
        for v, used in seen:
            if (v, used) != (s, 0):
                if used == 0:
                    r0[s] |= 1 << v
                r1[s] |= 1 << v
    return (r0, r1) if bounded else (r1, r1)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 6), bounded=st.booleans(),
       base=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.booleans()), max_size=10),
       added=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.booleans()), max_size=6))
def test_incremental_reachability(n: int, bounded: bool, base: list[tuple[int, int, bool]],
                                  added: list[tuple[int, int, bool]]) -> None:
    from jepsy.checkers.elle.graph import RW, WW
    from jepsy.checkers.elle.polygraph import _Reach

    base = [(a % n, b % n, rw) for a, b, rw in base if a % n != b % n]
    added = [(a % n, b % n, rw) for a, b, rw in added if a % n != b % n]
    out: list[dict[int, int]] = [{} for _ in range(n)]
    for a, b, rw in base:
        out[a][b] = out[a].get(b, 0) | (RW if rw else WW)
    reach = _Reach.build(out, n, RW | WW, bounded)
    for a, b, rw in added:
        reach.add(a, b, rw)
    r0, r1 = _paths(n, base + added, bounded)

    def off_diagonal(rows: list[int]) -> list[int]:  # whether a node reaches itself never matters
        return [row & ~(1 << i) for i, row in enumerate(rows)]

    assert off_diagonal(reach.r1) == off_diagonal(r1)
    if bounded:
        assert off_diagonal(reach.r0) == off_diagonal(r0)


# --- the columnar fast path says what the general path says -----------------------------------

def _same_as_general(h: list[Op], model: str = "strict-serializable") -> dict[str, Any]:
    """``check`` (fast path when it can) against ``_check`` (always the general path)."""
    from jepsy.checkers.elle import checker

    c = checker.TxnChecker("list-append", model)
    saved, checker.FAST_FROM_OPS = checker.FAST_FROM_OPS, 0  # small histories too
    try:
        got, want = c.check(h, {}), c._check(h, {})
    finally:
        checker.FAST_FROM_OPS = saved
    for r in (got, want):
        r["stats"].pop("analysis_seconds")
        r["stats"].pop("search_seconds")
    assert got == want
    return got


def _tamper(h: list[Op], draw: Any) -> list[Op]:
    """Change a few committed reads: truncate, drop or swap elements, add one never appended."""
    out = list(h)
    reads = [(i, j) for i, op in enumerate(h) if op.type == "ok"
             for j, m in enumerate(op.value) if m[0] == "r" and m[2]]
    for _ in range(draw(st.integers(1, 3))):
        if not reads:
            break
        i, j = draw(st.sampled_from(reads))
        op = out[i]
        value = [list(m) for m in op.value]
        r = list(value[j][2])
        how = draw(st.integers(0, 4))
        if how == 0:
            r = r[: len(r) - 1]
        elif how == 1 and len(r) > 1:
            r.pop(draw(st.integers(0, len(r) - 2)))
        elif how == 2 and len(r) > 1:
            r[-1], r[-2] = r[-2], r[-1]
        elif how == 3:
            r.append(10**9)
        elif r:
            r.append(r[0])
        value[j][2] = r
        out[i] = Op(index=op.index, time=op.time, type=op.type, process=op.process, f=op.f, value=value)
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 120), processes=st.integers(1, 8), keys=st.integers(1, 6),
       seed=st.integers(0, 10**6), fail=st.sampled_from([0.0, 0.1]), info=st.sampled_from([0.0, 0.05]),
       model=st.sampled_from(["strict-serializable", "serializable", "snapshot-isolation"]),
       data=st.data())
def test_fast_path_agrees_with_general_path(n: int, processes: int, keys: int, seed: int, fail: float,
                                            info: float, model: str, data: st.DataObject) -> None:
    """Valid, tampered and anomaly-injected histories: one result, whichever path decides.

    The fast path answers only "no anomaly"; everything else must reach the
    general path, so the results (timings aside) are equal in every case.
    """
    h = synth.history("list-append", n, processes=processes, keys=keys, seed=seed, fail_rate=fail,
                      info_rate=info, writes_per_key=8)
    from jepsy.checkers.elle.columns import from_ops
    from jepsy.checkers.elle.fastpath import clean_list_append

    cols = from_ops(h)
    assert cols is not None and clean_list_append(cols) is not None  # valid: the fast path decides
    _same_as_general(h, model)
    _same_as_general(_tamper(h, data.draw), model)
    shape = data.draw(st.sampled_from(sorted(s for s, v in synth.SHAPES.items() if v[0] == "list-append")))
    _same_as_general(synth.inject(h, shape), model)
    if data.draw(st.booleans()):  # no times at all (Plume's formats): no real-time order
        _same_as_general([Op(index=o.index, time=None, type=o.type, process=o.process, f=o.f,
                             value=o.value) for o in h], model)
