"""Synthetic transactional histories: a serial model run under random concurrency.

``history(workload, n, ...)`` simulates ``processes`` clients against a
single-copy, serial database.  Each transaction is invoked, then at some
later step *applied* atomically to the model (its reads filled in from the
state at that instant), then completed; steps interleave at random across
processes.  Since every transaction takes effect at one instant between its
invoke and its completion, and a process has one transaction in flight, the
result is strict serializable by construction: a checker must call it valid.

Knobs: ``fail_rate`` (aborted before applying: a ``fail`` whose writes never
happened), ``info_rate`` (indeterminate: applied or not at random, completed
as ``info``; the process is then retired for a fresh one, as in Jepsen).
Keys rotate: each gets at most ``writes_per_key`` writes, then a fresh key
takes its slot, which keeps list-append reads short.

``inject(history, shape)`` appends a known anomaly on fresh keys and
processes, for the property tests that check it is always found.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from jepsy.history import Op

__all__ = ["SHAPES", "history", "inject", "stream"]


def history(workload: str = "list-append", n: int = 100, *, processes: int = 5, keys: int = 8,
            mops: tuple[int, int] = (1, 4), read_fraction: float = 0.5, writes_per_key: int = 32,
            fail_rate: float = 0.0, info_rate: float = 0.0, seed: int = 0) -> list[Op]:
    """``n`` transactions of ``workload`` ("list-append" or "rw-register"); see the module doc."""
    return list(stream(workload, n, processes=processes, keys=keys, mops=mops, read_fraction=read_fraction,
                       writes_per_key=writes_per_key, fail_rate=fail_rate, info_rate=info_rate, seed=seed))


def stream(workload: str = "list-append", n: int = 100, *, processes: int = 5, keys: int = 8,
           mops: tuple[int, int] = (1, 4), read_fraction: float = 0.5, writes_per_key: int = 32,
           fail_rate: float = 0.0, info_rate: float = 0.0, seed: int = 0) -> Iterator[Op]:
    """``history``'s ops one at a time, so that a benchmark can write ten million to a file."""
    rng = random.Random(seed)
    write_f = "append" if workload == "list-append" else "w"
    state: dict[int, Any] = {}
    written: dict[int, int] = {}
    slots = list(range(keys))
    next_key = keys
    count = 0
    clock = 0
    # per process: None (idle) or [phase, invoke mops, result mops] with phase "invoked"/"applied"
    flight: dict[int, list[Any]] = {}
    procs = list(range(processes))
    next_proc = processes
    started = 0

    def emit(typ: str, proc: int, value: Any) -> Op:
        nonlocal clock, count
        clock += rng.randint(1, 1000)
        count += 1
        return Op(index=count - 1, time=clock, type=typ, process=proc, f="txn", value=value)

    def make_txn() -> list[list[Any]]:
        nonlocal next_key
        out: list[list[Any]] = []
        for _ in range(rng.randint(*mops)):
            slot = rng.randrange(keys)
            k = slots[slot]
            if rng.random() < read_fraction:
                out.append(["r", k, None])
            else:
                v = written.get(k, 0) + 1
                written[k] = v
                out.append([write_f, k, v])
                if v >= writes_per_key:
                    slots[slot] = next_key
                    next_key += 1
        return out

    def apply(txn: list[list[Any]]) -> list[list[Any]]:
        done: list[list[Any]] = []
        for f, k, v in txn:
            if f == "r":
                cur = state.get(k)
                done.append(["r", k, list(cur) if isinstance(cur, list) else cur])
            elif f == "append":
                state.setdefault(k, []).append(v)
                done.append([f, k, v])
            else:
                state[k] = v
                done.append([f, k, v])
        return done

    while started < n or flight:
        choices = [p for p in procs if p not in flight] if started < n else []
        busy = list(flight)
        if choices and (not busy or rng.random() < 0.4):
            p = rng.choice(choices)
            txn = make_txn()
            flight[p] = ["invoked", txn, None]
            started += 1
            yield emit("invoke", p, [[f, k, None if f == "r" else v] for f, k, v in txn])
            continue
        p = rng.choice(busy)
        phase, txn, done = flight[p]
        if phase == "invoked":
            r = rng.random()
            if r < fail_rate:
                del flight[p]
                yield emit("fail", p, [[f, k, None if f == "r" else v] for f, k, v in txn])
            elif r < fail_rate + info_rate:
                if rng.random() < 0.5:
                    apply(txn)
                del flight[p]
                yield emit("info", p, [[f, k, None if f == "r" else v] for f, k, v in txn])
                procs[procs.index(p)] = next_proc
                next_proc += 1
            else:
                flight[p] = ["applied", txn, apply(txn)]
        else:
            del flight[p]
            yield emit("ok", p, done)


def _pair(ops: list[Op], proc: int, value: list[list[Any]], typ: str = "ok") -> None:
    t = (ops[-1].time or 0) + 1 if ops else 1
    invoke = [[f, k, None if f == "r" else v] for f, k, v in value]
    ops.append(Op(index=len(ops), time=t, type="invoke", process=proc, f="txn", value=invoke))
    ops.append(Op(index=len(ops), time=t + 1, type=typ, process=proc, f="txn", value=value))


# Each shape: (workload, anomaly type it must produce, txns as (process offset, mops, type)).
# Keys are offsets added to a fresh base key; "x" = 0, "y" = 1.
SHAPES: dict[str, tuple[str, str, list[tuple[int, list[list[Any]], str]]]] = {
    "G1a": ("list-append", "G1a", [(0, [["append", 0, 1]], "fail"), (1, [["r", 0, [1]]], "ok")]),
    "G1b": ("list-append", "G1b", [(0, [["append", 0, 1], ["append", 0, 2]], "ok"),
                                   (1, [["r", 0, [1]]], "ok")]),
    "internal": ("list-append", "internal", [(0, [["append", 0, 1], ["r", 0, []]], "ok")]),
    "future-read": ("list-append", "future-read", [(0, [["r", 0, [1]], ["append", 0, 1]], "ok")]),
    "G0": ("list-append", "G0", [(0, [["append", 0, 1], ["append", 1, 2]], "ok"),
                                 (1, [["append", 0, 2], ["append", 1, 1]], "ok"),
                                 (2, [["r", 0, [1, 2]], ["r", 1, [1, 2]]], "ok")]),
    "G1c": ("list-append", "G1c", [(0, [["append", 0, 1], ["r", 1, [1]]], "ok"),
                                   (1, [["append", 1, 1], ["r", 0, [1]]], "ok")]),
    "G-single": ("list-append", "G-single", [(0, [["append", 0, 1], ["append", 1, 1]], "ok"),
                                             (1, [["r", 0, [1]], ["r", 1, []]], "ok")]),
    "G2-item": ("list-append", "G2-item", [(0, [["r", 0, []], ["append", 1, 1]], "ok"),
                                           (1, [["r", 1, []], ["append", 0, 1]], "ok"),
                                           (2, [["r", 0, [1]], ["r", 1, [1]]], "ok")]),
    "lost-update": ("rw-register", "lost-update", [(0, [["r", 0, None], ["w", 0, 1]], "ok"),
                                                   (1, [["r", 0, None], ["w", 0, 2]], "ok")]),
    "register-G-single": ("rw-register", "G-single", [(0, [["w", 0, 1], ["w", 1, 1]], "ok"),
                                                      (1, [["r", 0, 1], ["r", 1, None]], "ok")]),
    "register-G1a": ("rw-register", "G1a", [(0, [["w", 0, 1]], "fail"), (1, [["r", 0, 1]], "ok")]),
    "thin-air-read": ("rw-register", "thin-air-read", [(0, [["r", 0, 99]], "ok")]),
    "register-stale-read": ("rw-register", "G-single-realtime", [(0, [["w", 0, 1]], "ok"),
                                                                (1, [["w", 0, 2]], "ok"),
                                                                (2, [["r", 0, 1]], "ok")]),
    "append-stale-read": ("list-append", "G-single-realtime", [(0, [["append", 0, 1]], "ok"),
                                                               (1, [["r", 0, []]], "ok")]),
}


def inject(ops: list[Op], shape: str, base_key: int = 10**9, base_process: int = 10**6) -> list[Op]:
    """A copy of ``ops`` followed by the anomaly ``shape`` on fresh keys and processes."""
    _, _, txns = SHAPES[shape]
    out = list(ops)
    for proc, value, typ in txns:
        mops = [[f, base_key + k, v] for f, k, v in value]
        _pair(out, base_process + proc, mops, typ)
    return out
