"""The live view's "recovering" line: after each heal, how long since, and whether throughput is back.

``RecoveryWatch.update(now, faulty, ok_total)`` is fed by the live view on every
tick (four times a second) with what it already shows: whether any fault is in
force and the count of ok operations so far.  Its baseline is the ok rate from
the first tick to the first fault.  After a heal (faults in force, then none)
it says ``recovering: 2.3 s since the heal; 12 ok ops/s of a 68 baseline``
until the ok rate over the last ``window`` seconds has stayed at least
``fraction`` of the baseline for ``hold`` seconds, then ``recovered 2.9 s after
the heal`` for ``show_for`` seconds.  The defaults are the availability
checker's; the checker, which sees every op's time rather than quarter-second
samples, gives the figures in ``results.json`` and may differ by a few tenths.
"""

from __future__ import annotations

from collections import deque

from jepsy.checkers.availability import DEFAULT_FRACTION, DEFAULT_HOLD_S, DEFAULT_WINDOW_S

__all__ = ["RecoveryWatch"]


class RecoveryWatch:
    """See the module docstring; all times are seconds of one monotonic clock."""

    def __init__(self, fraction: float = DEFAULT_FRACTION, hold: float = DEFAULT_HOLD_S,
                 window: float = DEFAULT_WINDOW_S, show_for: float = 10.0) -> None:
        self.fraction, self.hold, self.window, self.show_for = fraction, hold, window, show_for
        self.samples: deque[tuple[float, int]] = deque()
        self.first: tuple[float, int] | None = None
        self.baseline: float | None = None
        self.in_fault = False
        self.heal_at: float | None = None
        self.above_since: float | None = None
        self.done: tuple[float, str] | None = None  # (shown until, text)

    def rate(self) -> float:
        """ok ops per second over the last ``window`` seconds of samples."""
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def update(self, now: float, faulty: bool, ok_total: int) -> str | None:
        """The line to show now, or None when there is nothing to say."""
        if self.first is None:
            self.first = (now, ok_total)
        self.samples.append((now, ok_total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        if faulty:
            if self.baseline is None and now > self.first[0]:
                self.baseline = (ok_total - self.first[1]) / (now - self.first[0])
            self.in_fault, self.heal_at, self.done = True, None, None
            return None
        if self.in_fault:
            self.in_fault, self.heal_at, self.above_since = False, now, None
        if self.heal_at is None or not self.baseline:
            if self.done is not None and now <= self.done[0]:
                return self.done[1]
            return None
        rate = self.rate()
        if rate >= self.fraction * self.baseline:
            self.above_since = self.above_since if self.above_since is not None else now
            if now - self.above_since >= self.hold:
                text = f"recovered {self.above_since - self.heal_at:.1f} s after the heal"
                self.done, self.heal_at = (now + self.show_for, text), None
                return text
        else:
            self.above_since = None
        return (f"recovering: {now - self.heal_at:.1f} s since the heal; {rate:.0f} ok ops/s "
                f"of a {self.baseline:.0f} baseline")
