"""The register workload's key rotation keeps state for live keys only (an hour's soak makes
~100k keys), while the final reads still cover every key it used."""

from __future__ import annotations

import random

from jepsy.generator import Context
from workloads.register import KeyRotation


def test_retired_keys_leave_no_counter_and_are_all_read_at_the_end() -> None:
    rot = KeyRotation(active_keys=3, ops_per_key=10, values=5)
    ctx = Context(thread=0, time=0.0, rng=random.Random(1), threads=[0, 1])
    keys = {rot(ctx)["value"][0] for _ in range(3000)}
    assert len(rot.all_keys) > 250 and set(rot.used) == set(rot.live)
    final = [op["value"][0] for t in (0, 1)
             for op in rot.final_reads(Context(thread=t, time=0.0, rng=random.Random(1),
                                               threads=[0, 1]))]
    assert sorted(final) == rot.all_keys and keys <= set(final)


def test_memory_registers_keep_every_value_compactly() -> None:
    from jepsy.doubles import Registers

    r = Registers()
    for k in range(10_000):
        r[k] = k % 5
    r["x"], r[3], r[10**9] = [1, 2], True, 4  # not small ints: kept in the dict
    assert [r.get(k) for k in (0, 1, 3, 9_999, "x", 10**9, 10**6)] == [0, 1, True, 4, [1, 2], 4, None]
    assert r.get(3) is True and len(r) == 10_002
    r[3] = 2
    assert r.get(3) == 2 and 3 not in r.other
    assert r.nbytes() < 20_000  # a dict of as many ints took ~600 kB
