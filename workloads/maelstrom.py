"""Maelstrom's workloads, by Maelstrom's names, for ``--db maelstrom`` (and any DB with clients).

Where jepsy already had the workload, these reuse its generator and checker
under the Maelstrom name; ``unique-ids`` is the same workload under both.

==================  =========================================  ==========================
name                ops                                         checker
==================  =========================================  ==========================
echo                ``echo`` of a string                        every answer echoes it
broadcast           ``broadcast`` of a unique int, ``read``     set-full (lost, stale,
                                                                latency to stable)
g-set               ``add`` of a unique int, ``read``           set-full
g-counter           ``add`` of 1..``max_delta``, ``read``       eventual-counter (final
                                                                reads exact)
pn-counter          ``add`` of +-1..``max_delta``, ``read``     eventual-counter
lin-kv              ``read``/``write``/``cas`` on rotating keys  linearizable (per key)
txn-list-append     ``txn`` of appends and reads                Elle list-append
txn-rw-register     ``txn`` of writes and reads                 Elle rw-register
kafka               ``send``, ``poll``, ``commit``,             kafka
                    ``list-committed``
==================  =========================================  ==========================

Options (``--workload-opt``): ``read_fraction`` (broadcast, g-set, counters),
``max_delta`` (counters, default 5), ``topology`` (broadcast: grid, line,
total, tree2, tree3, tree4; default grid; the maelstrom DB sends it),
``keys`` (kafka, default 4), and the options of ``register``, ``list-append``
and ``rw-register`` for lin-kv and the txn workloads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from msgspec import structs

from jepsy import generator as gen
from jepsy.checkers import Checker, FnChecker, compose
from jepsy.checkers.eventual_counter import eventual_counter
from jepsy.checkers.kafka import kafka as kafka_checker
from jepsy.checkers.sets import set_full
from jepsy.checkers.stats import stats
from jepsy.history import Op
from jepsy.options import Option, choice, declare, declared, integer, number
from jepsy.protocols import Workload

from . import counter, list_append, register, rw_register

__all__ = ["broadcast", "echo", "g_counter", "g_set", "kafka", "lin_kv", "pn_counter",
           "txn_list_append", "txn_rw_register"]


def _renamed(w: Workload, name: str) -> Workload:
    return replace(w, name=name)


WorkloadFactory = Callable[[Mapping[str, Any]], Workload]


def _mirror(wrapped: WorkloadFactory) -> Callable[[WorkloadFactory], WorkloadFactory]:
    """Declare on a wrapper the options the wrapped workload declares (none declared: the
    wrapper passes every key through, as the wrapped one does)."""
    table = declared(wrapped)

    def attach(factory: WorkloadFactory) -> WorkloadFactory:
        return factory if table is None else declare(*table.values())(factory)

    return attach


READ_FRACTION = Option("read_fraction", None, "share of reads among the ops", parse=number)
MAX_DELTA = Option("max_delta", 5, "adds are of 1..max_delta (pn-counter: either sign)",
                   parse=integer)


@declare()
def echo(opts: Mapping[str, Any]) -> Workload:
    def ops(ctx: gen.Context) -> dict[str, Any]:
        return {"f": "echo", "value": f"hello {ctx.rng.randrange(1 << 30)}"}

    def check(history: Sequence[Op], _: Mapping[str, Any]) -> dict[str, Any]:
        from jepsy.checkers._util import calls

        bad = [{"sent": c.invoke.value, "got": c.done.value}
               for c in calls(history) if c.f == "echo" and c.type == "ok"
               and c.invoke is not None and c.done is not None and c.done.value != c.invoke.value]
        return {"valid": not bad, "wrong_echoes": len(bad), "examples": bad[:10]}

    return Workload(name="echo", generator=ops,
                    checker=compose({"echo": FnChecker(check), "stats": stats()}),
                    fs=frozenset({"echo"}), opts=dict(opts))


class _Unique:
    """Unique ints to add (``f``), mixed with reads."""

    def __init__(self, f: str, read_fraction: float) -> None:
        self.f = f
        self.next = 0
        self.read_fraction = read_fraction

    def __call__(self, ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < self.read_fraction:
            return {"f": "read", "value": None}
        self.next += 1
        return {"f": self.f, "value": self.next}


class _AsAdds:
    """The set-full checker, reading ``broadcast`` ops as the set's ``add``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        ops = [structs.replace(op, f="add") if op.f == "broadcast" else op for op in history]
        result: dict[str, Any] = self.inner.check(ops, opts)
        return result


def _set_workload(name: str, f: str, opts: Mapping[str, Any]) -> Workload:
    checker: Checker = set_full()
    if f != "add":
        checker = _AsAdds(checker)
    return Workload(name=name, generator=_Unique(f, float(opts.get("read_fraction", 0.2))),
                    final_generator=gen.each_thread({"f": "read", "value": None}),
                    checker=compose({"set-full": checker, "stats": stats()}),
                    fs=frozenset({f, "read"}), opts=dict(opts))


@declare(READ_FRACTION, Option("topology", "grid", "neighbours the maelstrom DB sends each node",
                               parse=choice("grid", "line", "total", "tree2", "tree3", "tree4")))
def broadcast(opts: Mapping[str, Any]) -> Workload:
    return _set_workload("broadcast", "broadcast", opts)


@declare(READ_FRACTION)
def g_set(opts: Mapping[str, Any]) -> Workload:
    return _set_workload("g-set", "add", opts)


def _eventual(w: Workload, name: str) -> Workload:
    """A counter workload judged as Maelstrom does: stale reads allowed, final reads exact."""
    return replace(w, name=name, checker=compose({"counter": eventual_counter(), "stats": stats()}))


@declare(READ_FRACTION, MAX_DELTA)
def g_counter(opts: Mapping[str, Any]) -> Workload:
    return _eventual(counter.workload(opts), "g-counter")


@declare(READ_FRACTION, MAX_DELTA)
def pn_counter(opts: Mapping[str, Any]) -> Workload:
    read_fraction = float(opts.get("read_fraction", 0.3))
    max_delta = int(opts.get("max_delta", 5))

    def ops(ctx: gen.Context) -> dict[str, Any]:
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": None}
        return {"f": "add", "value": ctx.rng.choice((-1, 1)) * ctx.rng.randint(1, max_delta)}

    base = counter.workload(opts)
    return replace(_eventual(base, "pn-counter"), generator=ops)


@_mirror(register.workload)
def lin_kv(opts: Mapping[str, Any]) -> Workload:
    return _renamed(register.workload(opts), "lin-kv")


@_mirror(list_append.workload)
def txn_list_append(opts: Mapping[str, Any]) -> Workload:
    return _renamed(list_append.workload(opts), "txn-list-append")


@_mirror(rw_register.workload)
def txn_rw_register(opts: Mapping[str, Any]) -> Workload:
    return _renamed(rw_register.workload(opts), "txn-rw-register")


class _Kafka:
    """Sends of increasing ints to a few keys, mixed with polls, commits and listings."""

    def __init__(self, keys: int) -> None:
        self.keys = [f"k{i}" for i in range(keys)]
        self.next = 0

    def __call__(self, ctx: gen.Context) -> dict[str, Any]:
        x = ctx.rng.random()
        if x < 0.5:
            self.next += 1
            return {"f": "send", "value": [ctx.rng.choice(self.keys), self.next]}
        if x < 0.85:
            return {"f": "poll", "value": self.keys}
        if x < 0.95:
            return {"f": "commit", "value": None}
        return {"f": "list-committed", "value": None}


@declare(Option("keys", 4, "how many logs (keys) sends and polls use", parse=integer))
def kafka(opts: Mapping[str, Any]) -> Workload:
    keys = _Kafka(int(opts.get("keys", 4)))
    final = gen.each_thread([{"f": "poll", "value": keys.keys}] * 5)
    return Workload(name="kafka", generator=keys, final_generator=final,
                    checker=compose({"kafka": kafka_checker(), "stats": stats()}),
                    fs=frozenset({"send", "poll", "commit", "list-committed"}), opts=dict(opts))
