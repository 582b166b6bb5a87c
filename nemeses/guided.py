"""``--nemesis-strategy guided``: choose the next fault from what the history has shown so far.

A black-box, greybox-fuzzing-style policy (after Mallory, CCS 2023), kept small
enough to read in one sitting.

**Arms.**  A fault choice is an *arm* ``(family, variant, length)``: the family,
the variant its nemesis offers (partition shape, kill/pause target spec,
packet behaviour; clock faults and plugin families have one variant, drawn by
the family itself) and a length of 0.5, 1 or 2 times ``nemesis_interval``.

**Signal.**  While a fault is in force the policy watches the client
completions the history streams (``ctx.history``), and when the fault ends it
turns that window into *features*, strings like

* ``out|partition:one|w3|read|fail|timeout``: a kind of outcome (op, type,
  first word of the error) seen on worker 3, i.e. on node ``3 mod n``;
* ``seq|partition:one|ok>info``: an interleaving of one worker's consecutive
  outcomes around the fault;
* ``avail|kill:majority|1``: the share of ``ok`` completions, in quarters
  (0: under 25 %), and ``drop|...|2`` how many quarters it fell from the
  quiet window before the fault;
* ``lat|pause:one|7``: the median ``ok`` latency, as a power of two of ms.

The reward of the fault is the number of features never seen before in this
test's campaign (coverage growth, as a fuzzer counts new edges); a fault is cut
to end half a second before the run does (``time_limit``), so that its window
is always measured.  When a run ends invalid, every arm used in it also gets
``VERDICT_REWARD`` (the checker saw an anomaly under those faults).

**Policy.**  One fault at a time, each after a quiet interval (the random
schedule's rhythm too, so that a comparison measures the choices, not more
time under faults).  The family is chosen first, then its variant, then the length, each
level by UCB1 over the rewards of the arms under it
(``mean reward + C * sqrt(ln N / n)``; untried choices first), ties broken by
an order drawn from the seeded nemesis rng.  Choosing level by level lets a
short campaign learn which family pays after a few faults, where a flat
choice among all arms (about 40 for ``partition,kill``) would still be
trying each once.  Given the seed and the same observations, the
choices are the same: the only randomness is the run's rng.

**Memory.**  Arm statistics and seen features persist per test name in
``<store>/<test>/guided-state.json`` (option ``guided_state``), so a campaign
of runs learns across runs, as a fuzzer does; delete the file to start afresh.
Without the option, each run starts from nothing.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jepsy import generator as gen

from .family import Family

__all__ = [
    "LENGTHS",
    "VERDICT_REWARD",
    "C",
    "Guided",
    "arm_key",
    "arms_of",
    "features",
    "guided",
    "record_verdict",
]

C = 1.5
LENGTHS = (0.5, 1.0, 2.0)
VERDICT_REWARD = 20.0
GAP = 1.0  # quiet time before and between faults, in intervals (as the random schedule has)


def _variants(fam: Family) -> list[Any]:
    nem: Any = fam.nemesis
    for attr in ("shapes", "targets"):
        if fam.name in ("partition", "kill", "pause") and isinstance(getattr(nem, attr, None), list):
            return list(getattr(nem, attr))
    if fam.name == "packet" and isinstance(getattr(nem, "behaviours", None), list):
        return list(nem.behaviours)
    return [None]


def arms_of(families: Sequence[Family]) -> list[tuple[str, Any, float]]:
    return [(f.name, v, length) for f in families for v in _variants(f) for length in LENGTHS]


def arm_key(arm: tuple[str, Any, float]) -> str:
    family, variant, length = arm
    return f"{family}:{variant if variant is not None else '*'}:{length:g}"


def _err(op: Any) -> str:
    if op.error is None:
        return "-"
    return str(op.error).split(":")[0].split()[0][:24] if str(op.error).strip() else "-"


def features(label: str, window: Sequence[Any], before: Sequence[Any], concurrency: int) -> set[str]:
    """The features of the client ops completed in ``window`` (``before``: the quiet window)."""
    done = [op for op in window if op.is_client and op.type != "invoke"]
    out: set[str] = set()
    per_worker: dict[int, list[str]] = {}
    for op in done:
        w = int(op.process) % max(1, concurrency)
        out.add(f"out|{label}|w{w}|{op.f}|{op.type}|{_err(op)}")
        per_worker.setdefault(w, []).append(op.type)
    for types in per_worker.values():
        out.update(f"seq|{label}|{a}>{b}" for a, b in itertools.pairwise(types) if a != b)

    def quarter(ops: Sequence[Any]) -> int | None:
        comp = [op for op in ops if op.is_client and op.type != "invoke"]
        if not comp:
            return None
        return min(3, int(4 * sum(op.type == "ok" for op in comp) / len(comp)))

    now, then = quarter(window), quarter(before)
    if now is not None:
        out.add(f"avail|{label}|{now}")
        if then is not None and then > now:
            out.add(f"drop|{label}|{then - now}")
    invoked: dict[Any, int] = {}
    lat: list[int] = []
    for op in window:
        if not op.is_client or op.time is None:
            continue
        if op.type == "invoke":
            invoked[op.process] = op.time
        elif op.process in invoked:
            start = invoked.pop(op.process)
            if op.type == "ok":
                lat.append(op.time - start)
    if lat:
        ms = max(statistics.median(lat) / 1e6, 0.001)
        out.add(f"lat|{label}|{round(math.log2(ms))}")
    return out


class Guided(gen.Gen):
    """The policy above, as a nemesis generator."""

    def __init__(self, families: Sequence[Family], interval: float, state_path: str | None,
                 time_limit: float | None = None) -> None:
        self.families = {f.name: f for f in families}
        self.arms = arms_of(families)
        self.interval = interval
        self.path = Path(state_path) if state_path else None
        self.stats: dict[str, list[float]] = {}  # arm key -> [tries, total reward]
        self.seen: set[str] = set()
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                self.stats = {k: [float(a), float(b)] for k, (a, b) in data.get("arms", {}).items()}
                self.seen = set(data.get("seen", []))
            except (OSError, ValueError, TypeError):
                self.stats, self.seen = {}, set()
        self.order: list[int] | None = None
        self.time_limit = time_limit
        self.deadline: float | None = None
        self.next_at: float | None = None
        self.active: tuple[tuple[str, Any, float], int, float] | None = None  # arm, history pos, end
        self.quiet_from = 0
        self.used: list[str] = []

    def _ucb(self, keys: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
        """The best of ``keys`` (prefixes of arm keys) by UCB1 over the arms under each;
        untried ones first; ties to the earliest in the seeded order."""
        def pooled(prefix: tuple[str, ...]) -> tuple[float, float]:
            tries = reward = 0.0
            for k, (t, r) in self.stats.items():
                if tuple(k.split(":")[:len(prefix)]) == prefix:
                    tries, reward = tries + t, reward + r
            return tries, reward

        got = {key: pooled(key) for key in keys}
        total = sum(t for t, _ in got.values()) + 1

        def score(key: tuple[str, ...]) -> float:
            tries, reward = got[key]
            if tries == 0:
                return math.inf
            return reward / tries + C * math.sqrt(math.log(total) / tries)

        return max(keys, key=lambda key: (score(key), -keys.index(key)))

    def choose(self) -> tuple[str, Any, float]:
        """Family first, then its variant, then the length: each level learns from few tries."""
        order = [self.arms[i] for i in (self.order or range(len(self.arms)))]
        keys = [tuple(arm_key(a).split(":")) for a in order]
        family = self._ucb(list(dict.fromkeys(k[:1] for k in keys)))
        variant = self._ucb(list(dict.fromkeys(k[:2] for k in keys if k[:1] == family)))
        full = self._ucb(list(dict.fromkeys(k for k in keys if k[:2] == variant)))
        return next(a for a, k in zip(order, keys, strict=True) if k == full)

    def _start(self, ctx: gen.Context, arm: tuple[str, Any, float]) -> dict[str, Any]:
        family, variant, _ = arm
        fam = self.families[family]
        if variant is None:
            return fam.start(ctx)
        if family == "packet":
            targets = list(getattr(fam.nemesis, "targets", ["one"]))
            return {"f": "start-packet", "value": {"behaviours": [variant],
                                                   "targets": ctx.rng.choice(targets)}}
        return {"f": f"start-{family}", "value": variant}

    def _end(self, ctx: gen.Context) -> dict[str, Any]:
        assert self.active is not None
        arm, pos, _ = self.active
        history = list(ctx.history)
        window, before = history[pos:], history[self.quiet_from:pos]
        concurrency = sum(1 for t in ctx.threads if t != "nemesis")
        label = f"{arm[0]}:{arm[1] if arm[1] is not None else '*'}"
        new = features(label, window, before, concurrency) - self.seen
        self.seen |= new
        self.stats.setdefault(arm_key(arm), [0.0, 0.0])[1] += len(new)
        self.save()
        self.active = None
        self.quiet_from = len(history)
        return dict(self.families[arm[0]].stop)

    def save(self) -> None:
        if self.path is None:
            return
        data = {"arms": self.stats, "seen": sorted(self.seen), "last_run": self.used}
        try:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError:
            pass  # learning is an optimisation: a read-only store must not fail the run

    def next(self, ctx: gen.Context) -> gen.Next:
        if not ctx.is_nemesis or not self.arms:
            return None
        if self.order is None:
            self.order = list(range(len(self.arms)))
            ctx.rng.shuffle(self.order)
            self.next_at = ctx.time + self.interval * GAP
            self.deadline = None if self.time_limit is None else ctx.time + self.time_limit
            self.quiet_from = len(ctx.history)
            self.save()  # this run's "last_run" starts empty
        assert self.next_at is not None
        if self.active is not None:
            if ctx.time < self.active[2]:
                return gen.Pending(self.active[2] - ctx.time)
            self.next_at = ctx.time + self.interval * GAP
            return self._end(ctx)
        if ctx.time < self.next_at:
            return gen.Pending(self.next_at - ctx.time)
        arm = self.choose()
        end = ctx.time + arm[2] * self.interval
        if self.deadline is not None:
            # End each fault just before the run does, so that its window is measured.
            end = min(end, self.deadline - 0.5)
            if end - ctx.time < 0.5:
                return None
        self.active = (arm, len(ctx.history), end)
        self.stats.setdefault(arm_key(arm), [0.0, 0.0])[0] += 1  # a try counts when it starts
        self.used.append(arm_key(arm))
        self.save()
        return self._start(ctx, arm)


def guided(families: Sequence[Family], interval: float, state_path: str | None = None,
           time_limit: float | None = None) -> Any:
    """The guided schedule as a generator spec (fresh policy, loaded state, on every build)."""
    return gen.defer(lambda ctx: Guided(families, interval, state_path, time_limit))


def record_verdict(state_path: str | Path, valid: Any) -> None:
    """After a run: reward every arm it used (``last_run`` in the state) by ``VERDICT_REWARD``
    when it ended invalid."""
    p = Path(state_path)
    if valid is not False or not p.exists():
        return
    try:
        data = json.loads(p.read_text())
        arms: dict[str, list[float]] = data.setdefault("arms", {})
        for key in dict.fromkeys(data.get("last_run", [])):
            arms.setdefault(key, [0.0, 0.0])[1] += VERDICT_REWARD
        p.write_text(json.dumps(data))
    except (OSError, ValueError, TypeError, AttributeError):
        pass

