"""The register workload: read, write and compare-and-set on independent keys.

Operations (values follow Jepsen's independent-key convention ``[key, value]``)::

    {"f": "read",  "value": [k, None]}      ok value [k, v]; v is None while the key is absent
    {"f": "write", "value": [k, v]}
    {"f": "cas",   "value": [k, [old, new]]}

Keys rotate: a handful of keys are live at a time (``active_keys``), and a key
retires after ``ops_per_key`` operations, replaced by a fresh one.  That keeps
every key's sub-history short, which is what makes linearizability checking
tractable (its cost grows exponentially with concurrency on one key), while the
whole run still produces thousands of operations.  The checker splits the
history by key and checks each as a compare-and-set register that starts
absent.

Options (``--workload-opt name=value``): ``active_keys`` (default: half the
concurrency, at least 1), ``ops_per_key`` (default 120), ``values`` (default 5:
writes and cas use 0..values-1), ``final_reads`` (default true: after healing,
every key is read once more).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jepsy import generator as gen
from jepsy.checkers import compose
from jepsy.checkers.linear import linearizable
from jepsy.checkers.linear.models import cas_register
from jepsy.checkers.stats import stats
from jepsy.options import Option, boolean, declare, integer, number, read
from jepsy.protocols import Workload

__all__ = ["KeyRotation", "workload"]

FS = frozenset({"read", "write", "cas"})


class KeyRotation:
    """Endless register ops over rotating keys (a generator function: call it with a Context)."""

    def __init__(self, active_keys: int, ops_per_key: int, values: int) -> None:
        self.values = values
        self.ops_per_key = ops_per_key
        self.live = list(range(active_keys))
        self.used = dict.fromkeys(self.live, 0)
        self.next_key = active_keys  # keys are 0, 1, 2 ... in order of first use

    @property
    def all_keys(self) -> list[int]:
        """Every key used so far: ``0 .. next_key - 1``, so nothing is stored per key (an
        hour at full rate uses ~140k keys; a list of them was jepsy's own growth)."""
        return list(range(self.next_key))

    def __call__(self, ctx: gen.Context) -> dict[str, Any]:
        rng = ctx.rng
        slot = rng.randrange(len(self.live))
        key = self.live[slot]
        self.used[key] += 1
        if self.used[key] >= self.ops_per_key:
            del self.used[key]  # retired for good: an hour's soak would keep ~100k counters
            self.live[slot] = self.next_key
            self.used[self.next_key] = 0
            self.next_key += 1
        f = rng.choice(("read", "write", "cas"))
        if f == "read":
            return {"f": "read", "value": [key, None]}
        if f == "write":
            return {"f": "write", "value": [key, rng.randrange(self.values)]}
        return {"f": "cas", "value": [key, [rng.randrange(self.values), rng.randrange(self.values)]]}

    def final_reads(self, ctx: gen.Context) -> list[dict[str, Any]]:
        """This thread's share of one last read of every key used."""
        threads: Sequence[int | str] = [t for t in ctx.threads if t != "nemesis"] or [ctx.thread]
        i = list(threads).index(ctx.thread)
        return [{"f": "read", "value": [k, None]} for k in range(i, self.next_key, len(threads))]


OPTIONS = (
    Option("active_keys", None, "keys in use at once (default: half the concurrency)",
           parse=integer),
    Option("ops_per_key", 120, "operations on a key before it is retired", parse=integer),
    Option("values", 5, "values written are drawn from 0 .. values-1", parse=integer),
    Option("final_reads", True, "read every key once more after healing", parse=boolean),
    Option("check_timeout", 120.0, "seconds the linearizability search may take", parse=number),
)


@declare(*OPTIONS)
def workload(opts: Mapping[str, Any]) -> Workload:
    opts = read(OPTIONS, opts)
    concurrency = int(opts.get("concurrency", 10))
    rotation = KeyRotation(
        active_keys=int(opts["active_keys"] or max(1, concurrency // 2)),
        ops_per_key=int(opts["ops_per_key"]),
        values=int(opts["values"]),
    )
    final = None
    if opts["final_reads"]:
        final = gen.each_thread(gen.defer(rotation.final_reads))
    checker = compose({
        # Every key is checked within the budget (not only up to the first invalid one),
        # so the verdict counts linearizable, invalid and undecided keys.
        "linearizable": linearizable(cas_register(None, nil_read="absent"), all_keys=True,
                                     timeout=float(opts["check_timeout"])),
        "stats": stats(),
    })
    return Workload(name="register", generator=rotation, final_generator=final, checker=checker,
                    fs=FS, opts=dict(opts))

