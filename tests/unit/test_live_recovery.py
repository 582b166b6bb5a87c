"""The live view's "recovering" line, fed quarter-second ticks of a known run."""

from __future__ import annotations

from jepsy.live import _line
from jepsy.live_recovery import RecoveryWatch
from jepsy.run import RunState


def test_recovering_then_recovered_after_a_heal() -> None:
    # 100 ok ops/s; a fault from 10 s to 15 s; nothing succeeds until 18 s.
    watch, ok, lines = RecoveryWatch(), 0, {}
    for k in range(0, 120):
        now = k * 0.25
        if not 10 <= now < 18:
            ok += 25
        lines[now] = watch.update(now, 10 <= now < 15, ok)
    assert lines[5.0] is None and lines[12.0] is None
    assert watch.baseline is not None and 95 <= watch.baseline <= 100
    assert lines[16.0] == "recovering: 1.0 s since the heal; 0 ok ops/s of a 98 baseline"
    # back above 80 % of the baseline from 18.75 s (the 1 s window catches up), held for 2 s
    assert lines[20.5] == "recovering: 5.5 s since the heal; 100 ok ops/s of a 98 baseline"
    assert lines[20.75] == "recovered 3.8 s after the heal"
    assert lines[29.75] == "recovered 3.8 s after the heal"


def test_plain_line_carries_the_recovery() -> None:
    state = RunState(time_limit=10, phase="running")
    assert _line(state, 3.0, "recovering: 1.0 s since the heal").endswith(
        "| faults: none | recovering: 1.0 s since the heal")
