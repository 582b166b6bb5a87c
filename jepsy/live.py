"""The terminal while a test runs, and the summary after it.

On a terminal (and without ``NO_COLOR``), a rich live panel refreshes four
times a second: the phase (setup, running, healing, recovering, final reads,
collecting logs, teardown, checking), elapsed and remaining time with a
progress bar, throughput (over the last few seconds and overall), ok / fail /
info counts per operation, the faults in force with the nodes they touch, and
after each heal "recovering" with the time since (``jepsy.live_recovery``).
Anywhere else (CI logs, pipes, ``NO_COLOR``) plain lines are printed: one on
every phase change and one every ``plain_every`` seconds, so logs stay
readable and short.

The summary is a table of checker verdicts with each one's headline, the
headline of every anomaly found, the op counts, and where the run, its report
and its junit.xml are; plain lines when not on a terminal.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from jepsy.live_recovery import RecoveryWatch
from jepsy.report.faults import describe_targets
from jepsy.report.summary import checker_results, headline, verdict_word
from jepsy.run import RunState

__all__ = ["LiveView", "live_view", "print_summary"]

_RATE_WINDOW = 5.0  # seconds of recent throughput


def _fancy(console: Console) -> bool:
    return console.is_terminal and not os.environ.get("NO_COLOR")


class _Rate:
    """Completions per second over the last ``_RATE_WINDOW`` seconds (sampled by the view)."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque()

    def update(self, total: int) -> float:
        now = time.monotonic()
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[0][0] > _RATE_WINDOW:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


def _faults(state: RunState) -> list[tuple[str, str]]:
    """(fault, targets) in force, e.g. ("partition", "n1 -x- n3,n4; n3 -x- n1")."""
    with state.lock:
        items = dict(state.faults)
    return [(str(kind), describe_targets(value)[0]) for kind, value in sorted(items.items())]


def _faults_line(state: RunState) -> str:
    faults = _faults(state)
    return "; ".join(f"{k} ({t})" if t else k for k, t in faults) if faults else "none"


def _times(state: RunState) -> tuple[float, float]:
    elapsed = time.monotonic() - state.started
    left = max(0.0, state.time_limit - elapsed) if state.phase == "running" else 0.0
    return elapsed, left


def _by_f(state: RunState) -> dict[str, dict[str, int]]:
    with state.lock:
        counts = dict(state.counts)
    out: dict[str, dict[str, int]] = {}
    for (f, typ), n in counts.items():
        out.setdefault(f, {"ok": 0, "fail": 0, "info": 0})[typ] = n
    return dict(sorted(out.items()))


def _done(state: RunState) -> int:
    t = state.totals()
    return t["ok"] + t["fail"] + t["info"]


def _line(state: RunState, recent: float | None = None, recovery: str | None = None) -> str:
    elapsed, left = _times(state)
    t = state.totals()
    rate = f" | {recent:.0f} ops/s" if recent is not None else ""
    return (f"[{state.phase}] {elapsed:6.1f}s elapsed, {left:5.1f}s left{rate} | ok {t['ok']} "
            f"fail {t['fail']} info {t['info']} | faults: {_faults_line(state)}"
            + (f" | {recovery}" if recovery else ""))


def _recovery(state: RunState, watch: RecoveryWatch) -> str | None:
    """The "recovering" line while the main phase runs (see ``jepsy.live_recovery``)."""
    if state.phase != "running":
        return None
    with state.lock:
        faulty = bool(state.faults)
    return watch.update(time.monotonic(), faulty, state.totals()["ok"])


def _panel(state: RunState, rate: _Rate | None = None, recovery: str | None = None) -> Panel:
    elapsed, left = _times(state)
    by_f = _by_f(state)
    t = state.totals()
    done = t["ok"] + t["fail"] + t["info"]
    recent = rate.update(done) if rate is not None else 0.0
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("phase", Text(state.phase, style="bold cyan"))
    if state.phase == "running" and state.time_limit > 0:
        bar = ProgressBar(total=state.time_limit, completed=min(elapsed, state.time_limit), width=30)
        head.add_row("time", Group(Text(f"{elapsed:.1f} s elapsed, {left:.1f} s left"), bar))
    else:
        head.add_row("time", f"{elapsed:.1f} s")
    overall = done / elapsed if elapsed >= 1 else recent
    head.add_row("throughput", f"{recent:.0f} ops/s now, {overall:.0f} ops/s overall")
    if recovery:
        head.add_row("recovery", Text(recovery, style="bold yellow" if "recovering" in recovery
                                      else "green"))
    ops = Table(box=None, padding=(0, 2), show_edge=False)
    ops.add_column("operation")
    for name, style in (("ok", "green"), ("fail", "red"), ("info", "yellow")):
        ops.add_column(name, justify="right", style=style)
    for f, c in by_f.items():
        ops.add_row(f, str(c["ok"]), str(c["fail"]), str(c["info"]))
    if len(by_f) > 1:
        ops.add_row(Text("total", style="bold"), str(t["ok"]), str(t["fail"]), str(t["info"]))
    faults = Table.grid(padding=(0, 2))
    faults.add_column(style="bold magenta")
    faults.add_column()
    for kind, targets in _faults(state) or [("none", "")]:
        faults.add_row(kind, targets)
    body = Group(head, Text(""), ops if by_f else Text("no operations yet", style="dim"),
                 Text(""), Text("faults in force", style="bold"), faults)
    return Panel(body, title="jepsy", border_style="cyan", expand=False)


class LiveView:
    """The live view as a ``jepsy.run.RunObserver``: shown from the run's first phase to
    its end, reading the run's ``RunState``; the run does not know it is watched."""

    def __init__(self, console: Console | None = None, plain_every: float = 5.0) -> None:
        self.console, self.plain_every = console, plain_every
        self._shown = ExitStack()
        self._showing = False

    def phase_changed(self, state: RunState) -> None:
        if not self._showing:
            self._shown.enter_context(live_view(state, self.console, self.plain_every))
            self._showing = True

    def run_ended(self, state: RunState) -> None:
        self._shown.close()
        self._showing = False


@contextmanager
def live_view(state: RunState, console: Console | None = None,
              plain_every: float = 5.0) -> Iterator[None]:
    """Show ``state`` while the block runs (see the module docstring)."""
    console = console or Console(stderr=True)
    stop = threading.Event()
    rate = _Rate()
    watch = RecoveryWatch()
    view: AbstractContextManager[Any]
    if _fancy(console):
        live = Live(_panel(state, rate), console=console, refresh_per_second=4, transient=True)
        view = live

        def tick() -> None:
            live.update(_panel(state, rate, _recovery(state, watch)))
    else:
        view = nullcontext()
        last_phase, last_print = state.phase, time.monotonic()
        last_recovery: str | None = None

        def tick() -> None:
            nonlocal last_phase, last_print, last_recovery
            now = time.monotonic()
            recent = rate.update(_done(state))
            recovery = _recovery(state, watch)
            # a heal's outcome is printed when it is known, not up to plain_every later
            if state.phase != last_phase or now - last_print >= plain_every or \
                    (recovery != last_recovery and recovery is not None
                     and not recovery.startswith("recovering")):
                print(_line(state, recent, recovery), file=console.file, flush=True)
                last_phase, last_print = state.phase, now
            last_recovery = recovery

    def refresh() -> None:
        while not stop.wait(0.25):
            tick()

    with view:
        t = threading.Thread(target=refresh, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()


_STYLE = {True: "green", False: "bold red"}


def _verdict(valid: Any, fancy: bool) -> str:
    word = verdict_word(valid)
    if not fancy:
        return word
    style = _STYLE.get(valid, "yellow") if isinstance(valid, bool) else "yellow"
    return f"[{style}]{word}[/]"


def _anomaly_lines(result: dict[str, Any]) -> list[str]:
    """The headline of each anomaly a checker found: one line per anomaly type."""
    lines = []
    anomalies = result.get("anomalies")
    counts = result.get("anomaly_counts") if isinstance(result.get("anomaly_counts"), dict) else {}
    if isinstance(anomalies, dict):
        for kind, items in anomalies.items():
            first = items[0] if isinstance(items, list) and items else items
            text = first.get("text") if isinstance(first, dict) else None
            n = counts.get(kind) if counts else None
            n = n if isinstance(n, int) else len(items) if isinstance(items, list) else 1
            words = " ".join(str(text).split()) if text else ""  # whole: the terminal folds it
            lines.append(f"{kind} ×{n}" + (f": {words}" if words else ""))
    keys = result.get("keys")
    if isinstance(keys, dict):  # linearizability: one line per key that is not linearizable
        bad = [(k, e) for k, e in keys.items() if isinstance(e, dict) and e.get("valid") is False]
        if len(bad) > 1:  # a single one is the checker's headline already
            lines += [f"key {k}: {headline(e, None)}" for k, e in bad[:10]]
            if len(bad) > 10:
                lines.append(f"and {len(bad) - 10} more keys")
    return lines


def print_summary(results: dict[str, Any], console: Console | None = None) -> None:
    """The end-of-run summary: checkers, anomalies, op counts, timings, where things are."""
    console = console or Console()
    fancy = _fancy(console)
    checkers = list(checker_results(results.get("checker")))
    run_dir = results.get("run_dir")
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    timings = results.get("timings") if isinstance(results.get("timings"), dict) else {}
    if fancy:
        table = Table(title=f"jepsy: {results.get('test')}", title_justify="left")
        table.add_column("checker", style="bold")
        table.add_column("verdict")
        table.add_column("what it found", overflow="fold")
        for name, res in checkers:
            table.add_row(name, _verdict(res.get("valid"), True), Text(headline(res, None)))
        console.print(table)
    else:
        console.print(f"jepsy: {results.get('test')}", markup=False, highlight=False)
        for name, res in checkers:
            console.print(f"  {name}: {verdict_word(res.get('valid'))}: {headline(res, None)}",
                          markup=False, highlight=False, soft_wrap=True)
    for name, res in checkers:
        for line in _anomaly_lines(res):
            console.print(Text(f"  {name}: {line}", style="red" if fancy else ""), soft_wrap=not fancy)
    if stats:
        console.print(f"operations: {stats.get('count', 0)} ({stats.get('ok', 0)} ok, "
                      f"{stats.get('fail', 0)} fail, {stats.get('info', 0)} info)", highlight=False)
    if timings:
        console.print("timings: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timings.items()
                                              if isinstance(v, (int, float))), highlight=False)
    if results.get("incomplete"):
        console.print(Text(f"incomplete: {results['incomplete']}", style="yellow" if fancy else ""))
    unhealed = results.get("unhealed")
    if isinstance(unhealed, dict) and unhealed:
        for node, what in unhealed.items():
            console.print(Text(f"NOT HEALED on {node}: {', '.join(map(str, what))}",
                               style="bold red" if fancy else ""), soft_wrap=not fancy)
        console.print("run 'jepsy heal' on this inventory to end them", highlight=False)
    if results.get("reason"):
        console.print(Text(f"why unknown: {results['reason']}", style="yellow" if fancy else ""),
                      soft_wrap=not fancy)
    console.print(f"verdict: {_verdict(results.get('valid'), fancy)}", highlight=False)
    if run_dir:
        run = Path(str(run_dir))
        console.print(Text(f"stored in {run}"), soft_wrap=True)
        for name, what in (("report.html", "report"), ("junit.xml", "junit")):
            if (run / name).is_file():
                console.print(Text(f"{what}: {run / name}"), soft_wrap=True)
