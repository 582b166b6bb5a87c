"""Generators: what operations to perform, when, and by which thread — as plain data.

A generator *spec* is data:

* a dict is one operation, emitted once: ``{"f": "read"}``;
* a list or tuple is its elements one after another;
* a function ``fn(ctx) -> dict | None`` is called for every operation (an
  endless source until it returns None); it may use ``ctx.rng`` and ``ctx.time``;
* ``None`` is an empty generator;
* the combinators below return specs too.

``build(spec)`` turns a spec into a ``Gen`` with one method,
``next(ctx) -> dict | Pending | None``: an op to run now (or at ``op["at"]``,
seconds since the start), ``Pending(seconds)`` when nothing is ready yet for
this thread, or None when it is exhausted for this thread.  Gens are stateful;
the runner calls them under one lock, so they need no locking of their own.
Randomness comes only from ``ctx.rng`` (seeded per run), so a run repeats.

Threads are the ints ``0..concurrency-1`` (client workers) and ``"nemesis"``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Context", "Gen", "Pending", "build", "clients", "cycle", "defer", "each_thread", "limit", "mix",
    "nemesis", "phases", "rate", "repeat", "route", "sleep", "stagger", "time_limit",
]

Spec = Any


@dataclass
class Context:
    """What a generator may look at when asked for an op."""

    thread: int | str
    time: float
    rng: random.Random
    threads: Sequence[int | str] = ()
    busy: frozenset[int | str] = frozenset()
    # The history recorded so far (growing as the run goes), for schedules guided by it;
    # empty unless the run keeps it in memory (``run.Plan.keep_history``).
    history: Sequence[Any] = ()

    @property
    def is_nemesis(self) -> bool:
        return self.thread == "nemesis"


@dataclass(frozen=True)
class Pending:
    """Nothing for this thread yet; ask again in at most ``wait`` seconds."""

    wait: float = 0.05


Next = dict[str, Any] | Pending | None


class Gen:
    def next(self, ctx: Context) -> Next:
        raise NotImplementedError


class _Once(Gen):
    def __init__(self, op: dict[str, Any]) -> None:
        self.op: dict[str, Any] | None = op

    def next(self, ctx: Context) -> Next:
        op, self.op = self.op, None
        return dict(op) if op is not None else None


class _Fn(Gen):
    def __init__(self, fn: Callable[[Context], dict[str, Any] | None]) -> None:
        self.fn = fn
        self.done = False

    def next(self, ctx: Context) -> Next:
        if self.done:
            return None
        op = self.fn(ctx)
        if op is None:
            self.done = True
        return op


class _Seq(Gen):
    def __init__(self, specs: Sequence[Spec]) -> None:
        self.specs = list(specs)
        self.i = 0
        self.cur: Gen | None = None

    def next(self, ctx: Context) -> Next:
        while self.i < len(self.specs):
            if self.cur is None:
                self.cur = build(self.specs[self.i])
            out = self.cur.next(ctx)
            if out is not None:
                return out
            self.i += 1
            self.cur = None
        return None


class _Empty(Gen):
    def next(self, ctx: Context) -> Next:
        return None


def build(spec: Spec) -> Gen:
    """A fresh stateful Gen for ``spec``."""
    if isinstance(spec, Gen):
        return spec
    if isinstance(spec, _Lazy):
        return spec.make()
    if spec is None:
        return _Empty()
    if isinstance(spec, dict):
        return _Once(spec)
    if isinstance(spec, (list, tuple)):
        return _Seq(spec)
    if callable(spec):
        return _Fn(spec)
    raise TypeError(f"not a generator spec: {spec!r}")


@dataclass(frozen=True)
class _Lazy:
    """A combinator as data: built into fresh state every time it is built."""

    make: Callable[[], Gen]
    name: str = field(default="gen", compare=False)

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ---- combinators -------------------------------------------------------------

def repeat(op: dict[str, Any] | Callable[[Context], dict[str, Any]]) -> Spec:
    """The same op (or the op a function returns) forever."""
    if callable(op):
        return op
    return lambda ctx: dict(op)


class _Mix(Gen):
    def __init__(self, specs: Sequence[Spec]) -> None:
        self.gens = [build(s) for s in specs]

    def next(self, ctx: Context) -> Next:
        while self.gens:
            g = self.gens[ctx.rng.randrange(len(self.gens))]
            out = g.next(ctx)
            if out is None:
                self.gens.remove(g)
                continue
            return out
        return None


def mix(specs: Sequence[Spec]) -> Spec:
    """Each op from a uniformly chosen one of ``specs``, until all are exhausted."""
    return _Lazy(lambda: _Mix(specs), "mix")


class _Stagger(Gen):
    def __init__(self, dt: float, spec: Spec) -> None:
        self.dt = dt
        self.gen = build(spec)
        self.next_at: float | None = None

    def next(self, ctx: Context) -> Next:
        out = self.gen.next(ctx)
        if not isinstance(out, dict):
            return out
        base = ctx.time if self.next_at is None else max(self.next_at, ctx.time - self.dt)
        self.next_at = base + ctx.rng.uniform(0, 2 * self.dt)
        out.setdefault("at", self.next_at)
        return out


def stagger(dt: float, spec: Spec) -> Spec:
    """Space ops ``dt`` seconds apart on average (uniformly 0..2dt), across all threads."""
    return _Lazy(lambda: _Stagger(dt, spec), f"stagger {dt}")


def rate(per_second: float, spec: Spec) -> Spec:
    """About ``per_second`` ops a second in total; 0 or less means as fast as possible."""
    return spec if per_second <= 0 else stagger(1.0 / per_second, spec)


class _TimeLimit(Gen):
    def __init__(self, seconds: float, spec: Spec) -> None:
        self.seconds = seconds
        self.gen = build(spec)
        self.deadline: float | None = None

    def next(self, ctx: Context) -> Next:
        if self.deadline is None:
            self.deadline = ctx.time + self.seconds
        if ctx.time >= self.deadline:
            return None
        out = self.gen.next(ctx)
        if isinstance(out, dict) and out.get("at", ctx.time) >= self.deadline:
            return None
        if isinstance(out, Pending):
            return Pending(min(out.wait, max(0.0, self.deadline - ctx.time)))
        return out


def time_limit(seconds: float, spec: Spec) -> Spec:
    """``spec`` until ``seconds`` after the first op was asked for."""
    return _Lazy(lambda: _TimeLimit(seconds, spec), f"time_limit {seconds}")


class _Limit(Gen):
    def __init__(self, n: int, spec: Spec) -> None:
        self.left = n
        self.gen = build(spec)

    def next(self, ctx: Context) -> Next:
        if self.left <= 0:
            return None
        out = self.gen.next(ctx)
        if isinstance(out, dict):
            self.left -= 1
        return out


def limit(n: int, spec: Spec) -> Spec:
    """At most ``n`` ops of ``spec``."""
    return _Lazy(lambda: _Limit(n, spec), f"limit {n}")


class _Sleep(Gen):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until: float | None = None

    def next(self, ctx: Context) -> Next:
        if self.until is None:
            self.until = ctx.time + self.seconds
        if ctx.time >= self.until:
            return None
        return Pending(self.until - ctx.time)


def sleep(seconds: float) -> Spec:
    """No ops for ``seconds`` (counted from when it is first asked), then exhausted."""
    return _Lazy(lambda: _Sleep(seconds), f"sleep {seconds}")


class _Cycle(Gen):
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.gen = build(spec)
        self.empty_rounds = 0

    def next(self, ctx: Context) -> Next:
        while self.empty_rounds < 2:
            out = self.gen.next(ctx)
            if out is not None:
                self.empty_rounds = 0
                return out
            self.empty_rounds += 1
            self.gen = build(self.spec)
        return None


def cycle(spec: Spec) -> Spec:
    """``spec`` again and again, each round with fresh state (ends if a round is empty)."""
    return _Lazy(lambda: _Cycle(spec), "cycle")


class _Only(Gen):
    def __init__(self, want_nemesis: bool, spec: Spec) -> None:
        self.want_nemesis = want_nemesis
        self.gen = build(spec)

    def next(self, ctx: Context) -> Next:
        if ctx.is_nemesis != self.want_nemesis:
            return None
        return self.gen.next(ctx)


def clients(spec: Spec) -> Spec:
    """``spec`` for client threads only."""
    return _Lazy(lambda: _Only(False, spec), "clients")


def nemesis(spec: Spec) -> Spec:
    """``spec`` for the nemesis thread only."""
    return _Lazy(lambda: _Only(True, spec), "nemesis")


class _Route(Gen):
    def __init__(self, client_spec: Spec, nemesis_spec: Spec) -> None:
        self.client = build(client_spec)
        self.nemesis = build(nemesis_spec)

    def next(self, ctx: Context) -> Next:
        return (self.nemesis if ctx.is_nemesis else self.client).next(ctx)


def route(client_spec: Spec, nemesis_spec: Spec) -> Spec:
    """Client threads draw from ``client_spec``, the nemesis thread from ``nemesis_spec``."""
    return _Lazy(lambda: _Route(client_spec, nemesis_spec), "route")


class _Defer(Gen):
    def __init__(self, fn: Callable[[Context], Spec]) -> None:
        self.fn = fn
        self.gen: Gen | None = None

    def next(self, ctx: Context) -> Next:
        if self.gen is None:
            self.gen = build(self.fn(ctx))
        return self.gen.next(ctx)


def defer(fn: Callable[[Context], Spec]) -> Spec:
    """The spec ``fn(ctx)`` returns when first asked (e.g. each thread's share of final reads)."""
    return _Lazy(lambda: _Defer(fn), "defer")


class _EachThread(Gen):
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.gens: dict[int | str, Gen] = {}

    def next(self, ctx: Context) -> Next:
        if ctx.thread not in self.gens:
            self.gens[ctx.thread] = build(self.spec)
        return self.gens[ctx.thread].next(ctx)


def each_thread(spec: Spec) -> Spec:
    """Every thread runs its own copy of ``spec`` (e.g. one final read each)."""
    return _Lazy(lambda: _EachThread(spec), "each_thread")


class _Phases(Gen):
    def __init__(self, specs: Sequence[Spec]) -> None:
        self.specs = list(specs)
        self.i = 0
        self.gen: Gen | None = build(self.specs[0]) if self.specs else None
        self.done: set[int | str] = set()

    def next(self, ctx: Context) -> Next:
        while self.gen is not None:
            if ctx.thread not in self.done:
                out = self.gen.next(ctx)
                if out is not None:
                    return out
                self.done.add(ctx.thread)
            # Barrier: the next phase starts once every thread has finished this
            # one and no op of it is still in flight.
            if set(ctx.threads) - self.done or ctx.busy - {ctx.thread}:
                return Pending()
            self.i += 1
            self.done = set()
            self.gen = build(self.specs[self.i]) if self.i < len(self.specs) else None
        return None


def phases(*specs: Spec) -> Spec:
    """Each spec in turn, with a barrier between them across all threads."""
    return _Lazy(lambda: _Phases(specs), "phases")
