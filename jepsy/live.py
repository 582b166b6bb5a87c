"""The terminal while a test runs, and the summary after it.

On a terminal (and without ``NO_COLOR``), a rich live panel refreshes a few
times a second: phase, elapsed and remaining time, ops ok/fail/info and the
faults in force.  Anywhere else (CI logs, pipes) a plain status line is printed
every ``plain_every`` seconds, so logs stay readable.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from jepsy.runner import RunState

__all__ = ["live_view", "print_summary"]


def _faults(state: RunState) -> str:
    with state.lock:
        items = dict(state.faults)
    if not items:
        return "none"
    parts = []
    for kind, value in items.items():
        if isinstance(value, dict):
            cut = sorted(n for n, dropped in value.items() if dropped)
            parts.append(f"{kind} ({', '.join(cut)})" if cut else kind)
        else:
            parts.append(kind)
    return "; ".join(parts)


def _line(state: RunState) -> str:
    elapsed = time.monotonic() - state.started
    t = state.totals()
    left = max(0.0, state.time_limit - elapsed) if state.phase == "running" else 0.0
    return (f"[{state.phase}] {elapsed:6.1f}s elapsed, {left:5.1f}s left | ok {t['ok']} "
            f"fail {t['fail']} info {t['info']} | faults: {_faults(state)}")


def _panel(state: RunState) -> Table:
    elapsed = time.monotonic() - state.started
    t = state.totals()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("phase", state.phase)
    left = max(0.0, state.time_limit - elapsed) if state.phase == "running" else 0.0
    table.add_row("time", f"{elapsed:.1f} s elapsed, {left:.1f} s left")
    rate = (t["ok"] + t["fail"] + t["info"]) / elapsed if elapsed > 0 else 0.0
    table.add_row("ops", f"[green]ok {t['ok']}[/] [red]fail {t['fail']}[/] "
                         f"[yellow]info {t['info']}[/]  ({rate:.0f}/s)")
    table.add_row("faults", _faults(state))
    return table


@contextmanager
def live_view(state: RunState, console: Console | None = None,
              plain_every: float = 5.0) -> Iterator[None]:
    console = console or Console(stderr=True)
    fancy = console.is_terminal and not os.environ.get("NO_COLOR")
    stop = threading.Event()
    if fancy:
        with Live(_panel(state), console=console, refresh_per_second=4, transient=True) as live:
            def refresh() -> None:
                while not stop.wait(0.25):
                    live.update(_panel(state))
            t = threading.Thread(target=refresh, daemon=True)
            t.start()
            try:
                yield
            finally:
                stop.set()
                t.join()
        return

    def plain() -> None:
        while not stop.wait(plain_every):
            print(_line(state), file=sys.stderr, flush=True)
    t = threading.Thread(target=plain, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def _verdict(valid: Any) -> str:
    return {True: "[green]valid[/]", False: "[bold red]INVALID[/]"}.get(valid, "[yellow]unknown[/]")


def print_summary(results: dict[str, Any], console: Console | None = None) -> None:
    """The end-of-run table: checkers, op counts, timings, where the run is stored."""
    console = console or Console()
    checker = results.get("checker", {})
    table = Table(title=f"jepsy: {results.get('test')}", show_lines=False)
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("detail")
    for name, res in checker.items():
        if not isinstance(res, dict):
            continue
        detail = ""
        if res.get("valid") is False:
            expl = res.get("explanation") or {}
            detail = expl.get("text", "") if isinstance(expl, dict) else str(expl)
            detail = detail or str(res.get("anomaly_types") or "")
        elif "error" in res:
            detail = str(res["error"])
        elif "count" in res:
            detail = f"{res.get('ok', 0)} ok, {res.get('fail', 0)} fail, {res.get('info', 0)} info"
        table.add_row(name, _verdict(res.get("valid")), detail[:300])
    console.print(table)
    timings = results.get("timings", {})
    if timings:
        console.print("timings: " + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in timings.items()))
    if results.get("incomplete"):
        console.print(f"[yellow]incomplete:[/] {results['incomplete']}")
    console.print(f"verdict: {_verdict(results.get('valid'))}   stored in {results.get('run_dir')}")
