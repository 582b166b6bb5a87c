"""Sample runs for tests, benchmarks and demos of the report (no cluster needed).

``write_sample_run(run_dir, ...)`` writes a complete run directory, as the
runner would: ``history.jsonl`` from a simulated register service with
independent keys (optionally serving stale reads, which the real
linearizability checker then catches), partitions and clock bumps from a
nemesis, ``results.json`` with the real checkers' verdicts, ``test.json`` and
a node log.  ``hostile=True`` makes the written values markup and script
(``<script>``, ``</script>``, ``&``, U+2028...), as a database under test could
return them: the report must show them as text.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from jepsy.history import HistoryWriter, Op

__all__ = ["HOSTILE", "write_sample_run"]

HOSTILE = ("<script>alert('x')</script>", "</script><script>document.title='pwned'</script>",
           "<img src=x onerror=alert(1)>", "a&amp;b<!--", "\u2028line\u2029sep", "]]><b>bold</b>")


class _History:
    """Ops with explicit times (a HistoryWriter stamps real time, too slow for samples)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, t: int, type: str, process: int | str, f: str, value: Any, error: Any = None) -> None:
        self.ops.append(Op(len(self.ops), t, type, process, f, value, error))


def _simulate(n_ops: int, concurrency: int, keys: int, stale: bool, hostile: bool,
              rng: random.Random) -> list[Op]:
    values: list[Any] = list(HOSTILE) if hostile else list(range(5))
    h = _History()
    state: dict[int, Any] = {}
    old: dict[int, Any] = {}
    events: list[tuple[int, int, str, int, dict[str, Any]]] = []
    # Each worker: back-to-back ops; a request takes effect at a random point inside it.
    for w in range(concurrency):
        t = rng.randrange(2_000_000)
        for _ in range(n_ops // concurrency):
            k = rng.randrange(keys)
            f = rng.choice(("read", "write", "cas"))
            v: Any = None if f == "read" else rng.choice(values) if f == "write" \
                else [rng.choice(values), rng.choice(values)]
            lat = int(rng.lognormvariate(13.5, 0.8))
            events.append((t, 0, "invoke", w, {"f": f, "k": k, "v": v, "lat": lat}))
            t += lat + rng.randrange(5_000_000, 60_000_000)
    events.sort(key=lambda e: (e[0], e[1]))
    process = {w: w for w in range(concurrency)}
    pending: list[tuple[int, int, int, dict[str, Any]]] = []
    for t, _, _, w, op in events:
        pending.sort()
        while pending and pending[0][0] <= t:
            _complete(h, state, old, pending.pop(0), process, concurrency, stale, rng)
        h.add(t, "invoke", process[w], op["f"], [op["k"], op["v"]])
        pending.append((t + op["lat"], len(h.ops), w, op))
    for p in sorted(pending):
        _complete(h, state, old, p, process, concurrency, stale, rng)
    return h.ops


def _complete(h: _History, state: dict[int, Any], old: dict[int, Any],
              p: tuple[int, int, int, dict[str, Any]], process: dict[int, int], concurrency: int,
              stale: bool, rng: random.Random) -> None:
    t, _, w, op = p
    k, f, v = op["k"], op["f"], op["v"]
    proc = process[w]
    if rng.random() < 0.01:  # a timeout: unknown outcome, the worker moves on as a new process
        if f != "read" and rng.random() < 0.5:
            old[k], state[k] = state.get(k), v if f == "write" else state.get(k)
        h.add(t, "info", proc, f, [k, v], "timeout")
        process[w] = proc + concurrency
        return
    if f == "read":
        seen = old.get(k) if stale and rng.random() < 0.05 and k in old else state.get(k)
        h.add(t, "ok", proc, f, [k, seen])
    elif f == "write":
        old[k], state[k] = state.get(k), v
        h.add(t, "ok", proc, f, [k, v])
    elif state.get(k) == v[0]:
        old[k], state[k] = state.get(k), v[1]
        h.add(t, "ok", proc, f, [k, v])
    else:
        h.add(t, "fail", proc, f, [k, v], "compare failed")


def _with_faults(ops: list[Op], nodes: list[str], rng: random.Random) -> list[Op]:
    end = max((op.time or 0) for op in ops) if ops else 0
    extra: list[Op] = []
    t = 1_000_000_000
    while t < end:
        a = rng.sample(nodes, len(nodes) // 2)
        grudge = {n: sorted(set(nodes) - set(a)) if n in a else sorted(a) for n in nodes}
        offsets = {n: rng.randrange(-300, 300) for n in nodes}
        for when, f, value in ((t, "start-partition", None), (t + 5_000, "start-partition", grudge),
                               (t + 600_000_000, "bump-clock", offsets),
                               (t + 600_005_000, "bump-clock", offsets),
                               (t + 1_500_000_000, "stop-partition", None),
                               (t + 1_500_005_000, "stop-partition", None)):
            extra.append(Op(0, when, "info", "nemesis", f, value))
        t += 2_500_000_000
    extra.append(Op(0, end + 1, "info", "nemesis", "heal", None))
    merged = sorted([*ops, *extra], key=lambda op: op.time or 0)
    return [Op(i, op.time, op.type, op.process, op.f, op.value, op.error) for i, op in enumerate(merged)]


def write_sample_run(run_dir: str | os.PathLike[str], *, n_ops: int = 400, concurrency: int = 4,
                     keys: int = 3, stale: bool = True, hostile: bool = False, seed: int = 7,
                     nodes: tuple[str, ...] = ("n1", "n2", "n3", "n4", "n5")) -> dict[str, Any]:
    """Write a run directory (see the module docstring) and return its results."""
    from jepsy.checkers import compose
    from jepsy.checkers.linear import linearizable
    from jepsy.checkers.linear.models import cas_register
    from jepsy.checkers.stats import stats
    from jepsy.errors import ExitCode

    run = Path(run_dir)
    (run / "nodes").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    node_list = list(nodes)
    ops = _with_faults(_simulate(n_ops, concurrency, keys, stale, hostile, rng), node_list, rng)
    writer = HistoryWriter(run / "history.jsonl")
    with writer:
        for op in ops:  # through the real writer's encoding, times kept
            writer._file.write(json.dumps(op.to_json(), default=str) + "\n")
    checker = compose({"linearizable": linearizable(cas_register(), all_keys=True), "stats": stats()})
    verdict = checker.check(ops, {})
    name = "sample<b>&amp;" if hostile else "sample-register"
    for n in node_list[:2]:
        (run / "nodes" / n).mkdir(exist_ok=True)
        (run / "nodes" / n / "db.log").write_text(f"{n} started\n<script>not markup</script>\n")
    results = {
        "valid": verdict["valid"], "exit_code": int(ExitCode.for_valid(verdict["valid"])),
        "incomplete": None, "test": name, "run_dir": str(run), "nodes": node_list,
        "stats": verdict["stats"], "timings": {"setup_s": 0.1, "main_s": 10.0, "check_s": 0.1,
                                               "total_s": 10.3},
        "logs": {n: ["db.log"] for n in node_list[:2]}, "checker": verdict,
    }
    (run / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (run / "test.json").write_text(json.dumps({
        "name": name, "jepsy_version": "0.1.0", "seed": seed,
        "command_line": "jepsy test --db sample --workload register --nemesis partition,clock"
                        + (" --name '<script>x</script>'" if hostile else ""),
        "db": "sample", "workload": "register", "nemesis": ["partition", "clock"], "nodes": node_list,
        "options": {"concurrency": concurrency, "time_limit": 10.0}}, indent=2))
    return results
