"""How far a node's clock is from this machine's: the one measurement ``jepsy doctor`` and the
clock nemesis share.

A *sample*: this machine reads its clock (``sent``), asks the node for the time,
and reads its clock again when the answer arrives (``received``).  The node read
its clock somewhere inside that interval, so its offset is ``node_time -
(sent + received) / 2`` give or take half the round trip: the *uncertainty* is
``(received - sent) / 2``, a bound, not a statistical guess.  Of many samples the
one with the shortest round trip is the most certain, and is the one kept
(``best``): queueing and scheduling only ever lengthen a round trip.

Two ways to ask, tried in this order:

* ``responder``: one long-lived ``bash`` per node on a channel of the open SSH
  connection (``control.OpensLines``), looping ``read; printf "$EPOCHREALTIME"``
  (a bash 5 builtin: no process is started per sample).  Starting a process is
  what dominated the old probe on emulated VMs (about 25x slower there than on
  hardware): a sample is now one line written and one line read.  A warm-up
  question is asked first and not counted (its answer waits for bash to start).
* ``date``: ``date +%s.%N`` through ``Remote.execute``, one process per sample, where
  the Remote cannot keep a command running (test doubles), the node has no bash,
  or its bash is older than 5 (``$EPOCHREALTIME`` is then empty).

``prefix`` (shell words put in front of ``date``) lets the clock nemesis read a node's
clock the way a program it starts there would: under libfaketime.  A prefixed probe
always runs ``date``: bash 5.2's ``$EPOCHREALTIME`` is not moved by libfaketime
(measured: ``FAKETIME=+5s`` moved ``date`` by 5 s and ``$EPOCHREALTIME`` by nothing),
so a responder would read the real clock and say nothing wrong.  Faked clocks are
lab nodes, on this machine, where starting ``date`` costs milliseconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jepsy.control import Lines, OpensLines, Remote
from jepsy.errors import JepsyError

__all__ = ["DATE", "RESPONDER", "Measurement", "Probe", "Sample", "best", "parse_time"]

DATE = "date +%s.%N"
# Prints $EPOCHREALTIME for every line it reads; exits at end of input (the channel closing).
RESPONDER = "bash -c 'while read -r _; do printf \"%s\\n\" \"$EPOCHREALTIME\"; done'"
RESPONDER_SAMPLES = 15


@dataclass(frozen=True)
class Sample:
    """One question: this machine's clock when it was sent and received, the node's answer."""

    sent: float
    node_time: float
    received: float

    @property
    def rtt(self) -> float:
        return self.received - self.sent

    @property
    def offset(self) -> float:
        return self.node_time - (self.sent + self.received) / 2


@dataclass(frozen=True)
class Measurement:
    """A node's clock minus this machine's, ± ``uncertainty_s`` (half the kept round trip)."""

    offset_s: float
    uncertainty_s: float
    rtt_s: float
    samples: int
    method: str  # "responder" or "date"

    def describe(self) -> str:
        return f"{self.offset_s * 1000:+.1f} ± {self.uncertainty_s * 1000:.1f} ms"


def best(samples: Sequence[Sample], method: str) -> Measurement:
    """The measurement from the sample with the shortest round trip (ValueError if none)."""
    if not samples:
        raise ValueError("no samples")
    s = min(samples, key=lambda x: x.rtt)
    return Measurement(s.offset, s.rtt / 2, s.rtt, len(samples), method)


def parse_time(text: str) -> float | None:
    """Seconds since the epoch from ``date``/``$EPOCHREALTIME`` output; None if it is not one.

    bash prints ``$EPOCHREALTIME`` with the locale's decimal point (a comma in some).
    """
    text = text.strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def ask(question: Callable[[], str], clock: Callable[[], float] = time.time) -> Sample | None:
    """One sample: ``question()`` returns the node's answer; None if it is not a time."""
    sent = clock()
    answer = question()
    received = clock()
    value = parse_time(answer)
    return None if value is None else Sample(sent, value, received)


class Probe:
    """Measures one node's clock; keeps its responder open between measurements.

    A lock serialises ``measure`` and ``close``.  ``responder=False`` always runs ``date``
    (benchmarks compare the two).
    ``fallback_samples`` is how many ``date`` processes a measurement takes without a
    responder (few: each one is slow); with one, ``samples`` questions are cheap.
    """

    def __init__(self, remote: Remote, node: str, prefix: str = "", *, sudo: bool = False,
                 timeout: float = 20.0, responder: bool = True) -> None:
        self.remote = remote
        self.node = node
        self.prefix = prefix
        self.sudo = sudo
        self.timeout = timeout
        self.lines: Lines | None = None
        self.responder_ok = responder and isinstance(remote, OpensLines) and not prefix
        self.why_date = ("" if self.responder_ok else "asked for" if not responder
                         else "libfaketime does not move $EPOCHREALTIME" if prefix
                         else "the Remote cannot keep a command running")  # False once it failed
        self.lock = threading.Lock()

    def _open(self) -> Lines | None:
        if self.lines is not None or not self.responder_ok:
            return self.lines
        assert isinstance(self.remote, OpensLines)
        try:
            lines = self.remote.open_lines(self.node, RESPONDER, timeout=self.timeout)
            warm = lines.ask("", self.timeout)  # waits for bash to start; not a sample
        except JepsyError as e:
            self._give_up(f"no responder ({e})")
            return None
        if parse_time(warm) is None:
            lines.close()
            self._give_up(f"bash printed {warm!r} for $EPOCHREALTIME (bash < 5?)")
            return None
        self.lines = lines
        return lines

    def _give_up(self, why: str) -> None:
        self.responder_ok = False
        self.why_date = why

    def measure(self, samples: int = RESPONDER_SAMPLES, fallback_samples: int = 1) -> Measurement:
        """The best of ``samples`` responder questions, or of ``fallback_samples`` ``date`` runs.

        Raises ``JepsyError`` when the node cannot be asked, ``ValueError`` when its
        ``date`` prints something that is not a time.
        """
        with self.lock:
            lines = self._open()
            if lines is not None:
                try:
                    got = [s for _ in range(max(1, samples))
                           if (s := ask(lambda: lines.ask("", self.timeout))) is not None]
                    if got:
                        return best(got, "responder")
                except JepsyError:
                    pass  # the channel broke: reopen next time, and answer with date now
                lines.close()
                self.lines = None
            return self._by_date(max(1, fallback_samples))

    def _by_date(self, n: int) -> Measurement:
        got: list[Sample] = []
        for _ in range(n):
            out = ""

            def run() -> str:
                nonlocal out
                out = self.remote.execute(self.node, self.prefix + DATE, sudo=self.sudo,
                                          timeout=self.timeout).stdout
                return out

            s = ask(run)
            if s is None:
                raise ValueError(f"{self.node}: '{DATE}' printed {out.strip()!r}, not a time")
            got.append(s)
        return best(got, "date")

    def close(self) -> None:
        with self.lock:
            if self.lines is not None:
                with contextlib.suppress(Exception):
                    self.lines.close()
                self.lines = None
