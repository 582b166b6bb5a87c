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
