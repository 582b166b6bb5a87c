"""``jepsy shrink RUN_DIR``: the smallest test that still shows a stored run's violation.

The loop, ``Shrinker``, works on a ``Candidate`` (plain data: the explicit
fault schedule, the number of workers, the number of keys, the run time) and a
``trial`` function that runs one candidate and says whether the violation
came back.  It is a pure loop over those two, so it is tested on simulated
systems (tests/unit/test_shrink.py) as well as run against real clusters.

**The violation** is one ``(checker, kind)`` pair of the original run, e.g.
``("linearizable", "nonlinearizable")`` or ``("elle", "G-single")``: the same
checker's same kind of anomaly must come back; another anomaly does not count.

**Flakiness.**  A candidate *holds* when the violation appears in at least
``k`` of ``n`` runs of it (runs stop as soon as the answer is certain).  The
original is replayed first under the same rule; if it does not hold, there
is nothing to shrink against and the command says so.

**Cuts, in order** (each kept only when the result still holds):

1. faults: the empty schedule first, then delta debugging (Zeller's ddmin)
   over the list of faults;
2. fault durations: each fault's halved, repeatedly (down to 0.5 s), and then
   the whole schedule moved earlier, so the run can end sooner;
3. workers: halved down to 1;
4. keys (the workload's key option: ``active_keys`` for ``register``,
   ``key_count`` for the transactional ones): halved down to 1;
5. run time: just after the last fault event, then halved (down to 1 s);
6. the recovery wait before the final reads: to 0.

Workers and keys go before the run time: a short history of few workers on few
keys is what a bug report wants to show, and with fewer seconds there are also
fewer chances for the anomaly, so cutting time first would block cutting the
rest (measured: recipe 0 cut to 1.2 s could then keep no fewer than 10 workers).

The ``budget`` (seconds) is checked before every trial: when it runs out the
best candidate so far is the answer, and the report says the budget ended it.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jepsy.errors import ConfigError, ExitCode, JepsyError

if TYPE_CHECKING:  # imported where used: jepsy --help imports this module for its help line
    from jepsy.nemeses.schedule import Schedule

__all__ = ["Attempt", "Candidate", "Shrinker", "ddmin", "key_option", "shrink_cmd", "signature"]

# Workload -> the option that says how many keys it spreads its ops over.
KEY_OPTIONS = {"register": "active_keys", "list-append": "key_count", "rw-register": "key_count"}


def key_option(workload: str) -> str | None:
    return KEY_OPTIONS.get(workload)


@dataclass(frozen=True)
class Candidate:
    """One shape of the test: what ``jepsy test`` will be asked to run."""

    schedule: Schedule
    concurrency: int
    time_limit: float
    keys: int | None = None
    recovery: float | None = None  # seconds between healing and the final reads

    def key(self) -> str:
        """A hashable identity (fault values are dicts and lists)."""
        return json.dumps([self.schedule.to_json(), self.concurrency, self.time_limit, self.keys,
                           self.recovery], sort_keys=True, default=str)

    def describe(self) -> str:
        keys = "" if self.keys is None else f", {self.keys} keys"
        recovery = "" if self.recovery is None else f" + {self.recovery:g} s recovery"
        return (f"{len(self.schedule.faults)} faults, {self.concurrency} workers{keys}, "
                f"{self.time_limit:g} s{recovery}")


@dataclass
class Attempt:
    """One trial run: did the violation come back, and where is the run."""

    reproduced: bool
    run_dir: str | None = None
    exit_code: int | None = None
    signature: list[str] = field(default_factory=list)
    seconds: float = 0.0


Trial = Callable[[Candidate], Attempt]


def ddmin(items: Sequence[Any], holds: Callable[[list[Any]], bool]) -> list[Any]:
    """A 1-minimal sublist of ``items`` for which ``holds`` is true (``holds(items)`` is assumed).

    Zeller and Hildebrandt's delta debugging: split into ``n`` chunks, try each
    chunk alone, then each complement; on success restart from the smaller
    list, else split finer.
    """
    current = list(items)
    n = 2
    while len(current) >= 2:
        size = math.ceil(len(current) / n)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        reduced = False
        for chunk in chunks:
            if holds(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:
            for i in range(len(chunks)):
                rest = [x for j, c in enumerate(chunks) if j != i for x in c]
                if holds(rest):
                    current, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(len(current), 2 * n)
    return current


class BudgetExhausted(Exception):
    pass


class Shrinker:
    """The shrinking loop over ``trial``; ``log`` receives one line per decision."""

    def __init__(self, trial: Trial, *, k: int = 1, n: int = 1, budget_s: float = math.inf,
                 log: Callable[[str], None] = lambda s: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= k <= n:
            raise ConfigError(f"--k {k} --n {n}: need 1 <= k <= n")
        self.trial, self.k, self.n, self.budget_s, self.log, self.clock = trial, k, n, budget_s, log, clock
        self.started = clock()
        self.attempts: list[tuple[Candidate, Attempt]] = []
        self.verdicts: dict[str, bool] = {}
        self.cuts: list[str] = []
        self.exhausted = False
        self.stopped: str | None = None  # an error that ended the shrinking early
        self.witness: dict[str, Attempt] = {}

    def holds(self, cand: Candidate) -> bool:
        """At least k of n runs show the violation (stopping as soon as that is decided)."""
        if cand.key() in self.verdicts:
            return self.verdicts[cand.key()]
        hits = 0
        for i in range(self.n):
            if self.clock() - self.started > self.budget_s:
                raise BudgetExhausted
            got = self.trial(cand)
            self.attempts.append((cand, got))
            if got.reproduced:
                hits += 1
                self.witness[cand.key()] = got
            if hits >= self.k or hits + (self.n - i - 1) < self.k:
                break
        verdict = hits >= self.k
        self.verdicts[cand.key()] = verdict
        self.log(f"{'kept' if verdict else 'rejected'} ({hits}/{i + 1} reproduced): {cand.describe()}")
        return verdict

    def _try(self, best: Candidate, cand: Candidate, what: str) -> Candidate:
        if cand == best:
            return best
        if self.holds(cand):
            self.cuts.append(what)
            return cand
        return best

    def run(self, original: Candidate) -> Candidate | None:
        """The smallest candidate that holds, or None when the original itself does not."""
        try:
            if not self.holds(original):
                return None
        except BudgetExhausted:
            self.exhausted = True
            return None
        best = original
        try:
            best = self._faults(best)
            best = self._durations(best)
            best = self._halve(best, "concurrency", 1, "workers")
            if best.keys is not None:
                best = self._halve(best, "keys", 1, "keys")
            best = self._time(best)
            if best.recovery:
                best = self._try(best, replace(best, recovery=0.0),
                                 f"recovery before the final reads: {best.recovery:g} s -> 0 s")
        except BudgetExhausted:
            self.exhausted = True
        except JepsyError as e:
            # The original held, so the best so far is a reproducer: keep it, say why we stopped.
            self.stopped = str(e).splitlines()[0] if str(e) else type(e).__name__
            self.log(f"stopped early: {self.stopped}")
        except KeyboardInterrupt:
            self.stopped = "interrupted"
            self.log("stopped early: interrupted")
        return best

    def _with_faults(self, c: Candidate, faults: Iterable[Any]) -> Candidate:
        return replace(c, schedule=c.schedule.with_faults(faults))

    def _faults(self, best: Candidate) -> Candidate:
        faults = list(best.schedule.faults)
        if not faults:
            return best
        before = len(faults)
        empty = self._with_faults(best, [])
        if self.holds(empty):
            self.cuts.append(f"all {before} faults (the violation needs none)")
            return empty
        kept = ddmin(faults, lambda fs: self.holds(self._with_faults(best, fs)))
        if len(kept) < before:
            self.cuts.append(f"faults: {before} -> {len(kept)} (kept: "
                             f"{'; '.join(f.describe() for f in kept)})")
            return self._with_faults(best, kept)
        return best

    def _durations(self, best: Candidate) -> Candidate:
        for i in range(len(best.schedule.faults)):
            while True:
                f = best.schedule.faults[i]
                length = f.duration if f.duration is not None else max(1.0, best.time_limit - f.at)
                if length / 2 < 0.5:
                    break
                faults = list(best.schedule.faults)
                faults[i] = replace(f, duration=round(length / 2, 3))
                cand = self._with_faults(best, faults)
                new = self._try(best, cand, f"{f.family} at {f.at:g} s: {length:g} s -> {length / 2:g} s")
                if new is best:
                    break
                best = new
        if best.schedule.faults:
            first = min(f.at for f in best.schedule.faults)
            if first > 1.0:
                shift = first - 1.0
                moved = [replace(f, at=round(f.at - shift, 3)) for f in best.schedule.faults]
                best = self._try(best, self._with_faults(best, moved),
                                 f"schedule moved {shift:g} s earlier")
        return best

    def _time(self, best: Candidate) -> Candidate:
        floor = max(1.0, best.schedule.last_event() + 1.0) if best.schedule.faults else 1.0
        if best.time_limit > floor:
            best = self._try(best, replace(best, time_limit=round(floor, 1)),
                             f"run time: {best.time_limit:g} s -> {floor:.1f} s")
        while best.time_limit / 2 >= max(1.0, best.schedule.last_event()):
            new = self._try(best, replace(best, time_limit=round(best.time_limit / 2, 1)),
                            f"run time: {best.time_limit:g} s -> {best.time_limit / 2:.1f} s")
            if new is best:
                break
            best = new
        return best

    def _halve(self, best: Candidate, attr: str, floor: int, label: str) -> Candidate:
        while True:
            now = int(getattr(best, attr))
            if now // 2 < floor:
                return best
            halved: dict[str, Any] = {attr: now // 2}
            new = self._try(best, replace(best, **halved), f"{label}: {now} -> {now // 2}")
            if new is best:
                return best
            best = new


# ---- the anomaly a run showed -----------------------------------------------------

_COUNT_KINDS = ("lost", "stale", "duplicated", "unexpected", "never-read", "lost-count",
                "stale-count", "duplicated-count", "unexpected-count")


def signature(checker: Any) -> list[str]:
    """``checker:kind`` for every invalid checker result and each kind of anomaly it names."""
    from jepsy.report.summary import checker_results

    out: list[str] = []
    for name, r in checker_results(checker):
        if r.get("valid") is not False:
            continue
        kinds: list[str] = []
        if isinstance(r.get("anomaly_types"), list):
            kinds = [str(t) for t in r["anomaly_types"]]
        elif "model" in r and ("keys" in r or "explanation" in r):
            kinds = ["nonlinearizable"]
        else:
            for k in _COUNT_KINDS:
                v = r.get(k)
                if (isinstance(v, (list, dict)) and v) or (isinstance(v, int) and v > 0):
                    kinds.append(k.removesuffix("-count"))
            errors = r.get("errors")
            if isinstance(errors, list):
                kinds += [str(e["type"]) for e in errors if isinstance(e, Mapping) and "type" in e]
        out += [f"{name}:{k}" for k in dict.fromkeys(kinds or ["invalid"])]
    return out


# ---- against a real run -----------------------------------------------------------

def _user_opts(merged: Mapping[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
    """The options the user gave: test.json stores them merged with the common ones."""
    return {k: v for k, v in merged.items() if not (k in common and common[k] == v)}


class RealTrial:
    """Runs a candidate as an ordinary ``jepsy test`` run (stored, reported) and judges it."""

    def __init__(self, info: Mapping[str, Any], target: str, nodes: list[Any], store: str,
                 work: Path, echo: Callable[[str], None], **connect: Any) -> None:
        self.info, self.target, self.nodes, self.store, self.work = info, target, nodes, store, work
        self.echo, self.connect = echo, connect
        self.common = dict(info.get("options") or {})
        self.count = 0
        self.retries = 2
        self.key_option = key_option(str(info.get("workload")))

    def given(self, which: str) -> dict[str, Any]:
        """The options the user typed (``given_opts``; older runs: the merged ones minus
        the common keys)."""
        given = self.info.get("given_opts")
        if isinstance(given, Mapping) and isinstance(given.get(which), Mapping):
            return dict(given[which])
        return _user_opts(self.info.get(f"{which}_opts") or {}, self.common)

    def spec(self, cand: Candidate, schedule_file: Path) -> Any:
        from jepsy.wiring import TestSpec

        info, common = self.info, self.common
        wl = self.given("workload")
        if self.key_option and cand.keys is not None:
            wl[self.key_option] = cand.keys
        names = cand.schedule.families or ["none"]
        user_nem = _for_families(self.given("nemesis"), names)
        return TestSpec(
            db=str(info["db"]), workload=str(info.get("workload", "register")),
            nemesis=",".join(names), time_limit=cand.time_limit, concurrency=cand.concurrency,
            rate=float(common.get("rate", 100.0)), seed=info.get("seed"),
            nemesis_interval=float(common.get("nemesis_interval", 5.0)),
            recovery=float(cand.recovery if cand.recovery is not None else info.get("recovery", 5.0)),
            store=self.store,
            name=f"{info.get('name', 'run')}-shrink",
            db_opts=self.given("db"), workload_opts=wl,
            nemesis_opts=user_nem, nemesis_schedule=str(schedule_file))

    def command(self, cand: Candidate, schedule_file: Path, inventory: str | None) -> str:
        """The exact ``jepsy test`` command line of a candidate."""
        s = self.spec(cand, schedule_file)
        where = ["--inventory", inventory] if inventory else ["--nodes", ",".join(n.name for n in self.nodes)]
        args = ["jepsy", "test", *where, "--db", s.db, "--workload", s.workload,
                "--nemesis", s.nemesis, "--nemesis-schedule", str(schedule_file),
                "--time-limit", f"{s.time_limit:g}", "--concurrency", str(s.concurrency),
                "--rate", f"{s.rate:g}", "--recovery", f"{s.recovery:g}"]
        if s.seed is not None:
            args += ["--seed", str(s.seed)]
        for flag, opts in (("--db-opt", s.db_opts), ("--workload-opt", s.workload_opts),
                           ("--nemesis-opt", s.nemesis_opts)):
            for k, v in opts.items():
                args += [flag, f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
        return shlex.join(args)

    def __call__(self, cand: Candidate) -> Attempt:
        from jepsy.nemeses import schedule as schedules
        from jepsy.wiring import run_one

        self.count += 1
        path = self.work / f"attempt-{self.count:03d}.schedule.json"
        schedules.write(path, cand.schedule)
        t = time.monotonic()
        self.echo(f"jepsy shrink: attempt {self.count}: {cand.describe()}")
        for tries_left in range(self.retries, -1, -1):
            try:
                results = run_one(self.nodes, self.spec(cand, path), live=False, echo=self.echo,
                                  **self.connect)
                break
            except ConfigError:
                raise
            except JepsyError as e:
                # A node or connection that failed (a lab under load) is no evidence either
                # way: try again, and only then let the error end the shrinking.
                if not tries_left:
                    raise
                self.echo(f"jepsy shrink: attempt {self.count} failed ({e}); trying it again")
        if str(results.get("incomplete") or "").startswith("interrupted"):
            raise KeyboardInterrupt  # Ctrl-C or SIGTERM ended the run: end the shrinking too
        sig = signature(results.get("checker"))
        got = Attempt(self.target in sig, str(results.get("run_dir")), int(results["exit_code"]),
                      sig, time.monotonic() - t)
        verdict = "reproduced" if got.reproduced else "not reproduced"
        self.echo(f"jepsy shrink: attempt {self.count}: exit {got.exit_code}, {verdict} "
                  f"({', '.join(sig) or 'no anomaly'})")
        return got


def _for_families(opts: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The nemesis options that the families still in the schedule declare (a cut family's
    options, e.g. ``partition_shapes`` once no partition is left, would be refused)."""
    from jepsy import options, registry

    tables = [options.declared(registry.load("nemeses", n)) for n in names]
    if any(t is None for t in tables):
        return dict(opts)  # a family that declares nothing may read any key
    known = {k for t in tables if t is not None for k in t} | set(options.COMMON)
    return {k: v for k, v in opts.items() if k in known or k == "nemesis_max_faults"}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path.parent}: not a jepsy run directory (no {path.name})") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return data


def original_candidate(run_dir: Path, info: Mapping[str, Any]) -> Candidate:
    """The stored run as a candidate: its schedule.json, or the schedule read from its history."""
    from jepsy.nemeses import schedule as schedules

    if (run_dir / "schedule.json").exists():
        sched = schedules.load(run_dir / "schedule.json", info.get("nodes"))
    else:
        from jepsy.history import read_history

        sched = schedules.from_history(read_history(run_dir / "history.jsonl"))
    opts = info.get("options") or {}
    wl = info.get("workload_opts") or {}
    opt = key_option(str(info.get("workload")))
    concurrency = int(opts.get("concurrency") or 1)
    keys = None
    if opt is not None:
        keys = int(wl.get(opt, max(1, concurrency // 2) if opt == "active_keys" else 8))
    return Candidate(sched, concurrency, float(opts.get("time_limit", 60.0)), keys,
                     float(info["recovery"]) if "recovery" in info else None)


@click.command("shrink")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--inventory", "-i", default=None, help="Inventory of the cluster to replay on.")
@click.option("--nodes", default=None, help="Comma-separated node names [default: the run's].")
@click.option("--budget", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Minutes of shrinking; then the best so far is the answer.")
@click.option("--k", "k", default=1, show_default=True, type=click.IntRange(min=1),
              help="A cut is kept when the violation reappears in at least K ...")
@click.option("--n", "n", default=2, show_default=True, type=click.IntRange(min=1),
              help="... of N runs.")
@click.option("--anomaly", default=None, help="CHECKER:KIND to keep [default: the run's first].")
@click.option("--store", default=None, help="Where attempts are stored [default: the run's store].")
@click.option("--trust-on-first-use", is_flag=True, help="Accept unknown host keys.")
def shrink_cmd(run_dir: str, inventory: str | None, nodes: str | None, budget: float, k: int, n: int,
               anomaly: str | None, store: str | None, trust_on_first_use: bool) -> None:
    """Replay an invalid run, then cut faults, durations, run time, workers and keys while its
    violation still appears: the smallest reproducer, as a run and a command line."""
    from jepsy import inventory as inv

    run = Path(run_dir).resolve()
    if not run.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    info = _read_json(run / "test.json")
    results = _read_json(run / "results.json")
    sig = signature(results.get("checker"))
    if results.get("valid") is not False or not sig:
        valid = results.get("valid")
        if valid is False:
            raise ConfigError(f"{run_dir}: no checker of the run names an anomaly to keep")
        word = "valid" if valid is True else "unknown"
        raise ConfigError(f"{run_dir}: the run was {word}, not invalid: nothing to shrink")
    target = anomaly or sig[0]
    if target not in sig:
        raise ConfigError(f"--anomaly {target!r}: the run showed {', '.join(sig)}")
    if k > n:
        raise ConfigError(f"--k {k} --n {n}: need k <= n")
    original = original_candidate(run, info)
    node_list = inv.load(inventory, nodes if (nodes or inventory) else
                         ",".join(info.get("nodes") or []), None)
    store_root = store or str(run.parent.parent)
    # The shrink's own record (each attempt's schedule, shrink.md) goes into the original run:
    # a directory beside the runs would look like a run to 'jepsy serve' and '--keep-last'.
    work = run / f"shrink-{time.strftime('%Y%m%dT%H%M%S')}"
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{run}: cannot record the shrink there ({e.strerror or e})") from None

    def echo(m: str) -> None:
        click.echo(m, err=True)

    trial = RealTrial(info, target, node_list, store_root, work, echo,
                      trust_on_first_use=trust_on_first_use)
    echo(f"jepsy shrink: {run}: keeping {target}, a cut holds when it reappears {k} of {n} times; "
         f"starting from {original.describe()}")
    t0 = time.monotonic()
    shrinker = Shrinker(trial, k=k, n=n, budget_s=budget * 60, log=lambda m: echo(f"jepsy shrink: {m}"))
    try:
        best = shrinker.run(original)
    except JepsyError as e:
        if isinstance(e, ConfigError) or shrinker.attempts:
            raise
        raise ConfigError(f"{run_dir}: cannot replay the run on its nodes: {e}") from None
    took = time.monotonic() - t0
    if best is None:
        why = "the budget ran out before the replay was decided" if shrinker.exhausted else \
            f"{target} reappeared in fewer than {k} of {n} replays"
        raise SystemExit(_not_reproduced(run, why, shrinker, work))
    final = shrinker.witness[best.key()]
    assert final.run_dir is not None
    final_dir = Path(final.run_dir)
    from jepsy.nemeses import schedule as schedules

    schedules.write(final_dir / "reproducer-schedule.json", best.schedule)
    command = trial.command(best, final_dir / "reproducer-schedule.json", inventory)
    report = _report(run, final_dir, target, k, n, original, best, shrinker, took, command)
    (final_dir / "shrink.md").write_text(report)
    (work / "shrink.md").write_text(report)
    _mark_final(final_dir, run, original, best, shrinker, took, command, target, k, n)
    click.echo(report)
    raise SystemExit(int(ExitCode.INVALID))


def _not_reproduced(run: Path, why: str, shrinker: Shrinker, work: Path) -> int:
    runs = [a.run_dir for _, a in shrinker.attempts]
    text = (f"jepsy shrink: {run}: {why}; nothing shrunk "
            f"(attempts: {', '.join(str(r) for r in runs) or 'none'})")
    (work / "shrink.md").write_text(text + "\n")
    click.echo(text, err=True)
    return int(ExitCode.UNKNOWN)


def _report(run: Path, final_dir: Path, target: str, k: int, n: int, original: Candidate,
            best: Candidate, shrinker: Shrinker, took: float, command: str) -> str:
    lines = [
        f"# Minimal reproducer of {run}",
        "",
        f"Violation kept: {target} (a cut was kept when it reappeared in {k} of {n} runs).",
        f"Original: {original.describe()}; minimal: {best.describe()}.",
        f"Shrinking took {took / 60:.1f} min over {len(shrinker.attempts)} runs"
        + (" (the budget ended it: more may be cuttable)." if shrinker.exhausted else
           f" (stopped early by an error: {shrinker.stopped}; more may be cuttable)."
           if shrinker.stopped else "."),
        "",
        "Cut:",
        *[f"- {c}" for c in shrinker.cuts or ["nothing could be cut"]],
        "",
        "Faults left:",
        *[f"- {f.describe()}" for f in best.schedule.faults or []],
        *(["- none"] if not best.schedule.faults else []),
        "",
        f"Run: {final_dir}",
        "Replay it with:",
        "",
        f"    {command}",
        "",
    ]
    return "\n".join(lines)


def _mark_final(final_dir: Path, run: Path, original: Candidate, best: Candidate, shrinker: Shrinker,
                took: float, command: str, target: str, k: int, n: int) -> None:
    """The final run's results.json, test.json and report say what it reproduces."""
    from jepsy.report import write_all
    from jepsy.store import write_json

    line = (f"minimal reproducer of {run} ({target}, {k} of {n} runs): {original.describe()} -> "
            f"{best.describe()}")
    results = _read_json(final_dir / "results.json")
    results["reproducer_of"] = line
    write_json(final_dir / "results.json", results)
    info = _read_json(final_dir / "test.json")
    info["reproducer"] = {"of": str(run), "anomaly": target, "k": k, "n": n, "command": command,
                          "cuts": shrinker.cuts, "shrink_s": round(took, 1),
                          "attempts": [{"run_dir": a.run_dir, "reproduced": a.reproduced,
                                        "candidate": c.describe()} for c, a in shrinker.attempts]}
    write_json(final_dir / "test.json", info)
    write_all(final_dir)
