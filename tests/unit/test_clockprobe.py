"""The clock probe: its arithmetic, the responder (a real local bash), and the fallback to ``date``."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from jepsy.clockprobe import DATE, RESPONDER, RESPONDER_SAMPLES, Probe, Sample, best, parse_time
from jepsy.control import Lines, Result
from jepsy.doubles import FakeRemote
from jepsy.errors import CommandFailed, ConnectError


def test_the_shortest_round_trip_is_kept_and_half_of_it_is_the_uncertainty() -> None:
    samples = [Sample(100.0, 105.30, 100.4),   # offset +5.10, rtt 0.4
               Sample(200.0, 205.025, 200.05),  # offset +5.000, rtt 0.05: kept
               Sample(300.0, 306.0, 302.0)]     # offset +5.0, rtt 2.0
    m = best(samples, "responder")
    assert m.offset_s == pytest.approx(5.0) and m.rtt_s == pytest.approx(0.05)
    assert m.uncertainty_s == pytest.approx(0.025) and m.samples == 3 and m.method == "responder"
    assert m.describe() == "+5000.0 ± 25.0 ms"
    with pytest.raises(ValueError):
        best([], "date")


def test_times_parse_with_either_decimal_point_and_nothing_else() -> None:
    assert parse_time("1764770000.123456\n") == pytest.approx(1764770000.123456)
    assert parse_time("1764770000,5") == pytest.approx(1764770000.5)  # bash in a comma locale
    assert parse_time("") is None and parse_time("   \n") is None  # bash < 5: no $EPOCHREALTIME
    assert parse_time("sh: 1: bash: not found") is None and parse_time("0") is None


class LocalLines:
    """``Lines`` over a local subprocess: the real responder command, run by this machine's sh."""

    def __init__(self, command: str) -> None:
        self.p = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def ask(self, line: str, timeout: float) -> str:
        assert self.p.stdin is not None and self.p.stdout is not None
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: its stdin was closed here
            raise ConnectError("ended") from None
        out = self.p.stdout.readline()
        if not out:
            raise ConnectError("ended")
        return out.rstrip("\n")

    def close(self) -> None:
        if self.p.stdin:
            self.p.stdin.close()
        self.p.wait(5)


@dataclass
class LinesRemote(FakeRemote):
    """The double with the ``OpensLines`` power; ``swap`` runs another command in a command's place."""

    opened: list[str] = field(default_factory=list)
    swap: dict[str, str] = field(default_factory=dict)
    made: list[LocalLines] = field(default_factory=list)

    def open_lines(self, node: str, command: str, *, timeout: float = 20.0) -> Lines:
        self.opened.append(command)
        lines = LocalLines(self.swap.get(command, command))
        self.made.append(lines)
        return lines


def date_handler(offset: float) -> FakeRemote:
    return FakeRemote(lambda n, c: (0, f"{time.time() + offset:.6f}\n", "") if c.endswith(DATE) else None)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_real_bash_responder_reads_this_machines_clock_as_zero_offset() -> None:
    remote = LinesRemote()
    probe = Probe(remote, "n1")
    m = probe.measure()
    assert m.method == "responder" and m.samples == RESPONDER_SAMPLES
    assert remote.opened == [RESPONDER] and remote.commands == []  # no process per sample
    # Same clock: the offset is zero within what the round trip allows (plus bash's microsecond).
    assert abs(m.offset_s) <= m.uncertainty_s + 2e-6
    assert m.uncertainty_s < 0.05
    again = probe.measure(5)
    assert again.samples == 5 and remote.opened == [RESPONDER]  # the responder is kept open
    probe.close()
    assert remote.made[0].p.returncode == 0  # it ends at the end of its input


def test_without_the_power_to_keep_a_command_the_probe_runs_date() -> None:
    remote = date_handler(-2.5)
    m = Probe(remote, "n1", sudo=True).measure(fallback_samples=3)
    assert m.method == "date" and m.samples == 3
    assert remote.commands == [("n1", DATE, True)] * 3
    assert m.offset_s == pytest.approx(-2.5, abs=0.05)


def test_a_faked_clock_is_read_by_date_under_the_prefix() -> None:
    remote = LinesRemote(handler=date_handler(7.0).handler)
    m = Probe(remote, "n1", "env FAKETIME=x ").measure(fallback_samples=1)
    assert m.method == "date" and remote.opened == [] and remote.on("n1") == ["env FAKETIME=x " + DATE]


def test_a_bash_without_epochrealtime_falls_back_to_date_for_good() -> None:
    remote = LinesRemote(handler=date_handler(1.0).handler)
    # dash has no $EPOCHREALTIME, as bash < 5 has not: the responder prints empty lines.
    remote.swap[RESPONDER] = RESPONDER.replace("bash", "dash" if shutil.which("dash") else "sh", 1)
    probe = Probe(remote, "n1")
    m = probe.measure(fallback_samples=2)
    assert m.method == "date" and m.samples == 2 and m.offset_s == pytest.approx(1.0, abs=0.05)
    assert "EPOCHREALTIME" in probe.why_date
    probe.measure()
    assert len(remote.opened) == 1  # not tried again


def test_a_node_without_bash_falls_back_to_date() -> None:
    remote = LinesRemote(handler=date_handler(0.0).handler)
    remote.swap[RESPONDER] = "exec /nonexistent/bash"
    probe = Probe(remote, "n1")
    assert probe.measure().method == "date" and "no responder" in probe.why_date


def test_a_responder_that_breaks_is_answered_by_date_then_reopened() -> None:
    remote = LinesRemote(handler=date_handler(0.0).handler)
    probe = Probe(remote, "n1")
    assert probe.measure(3).method == "responder"
    assert probe.lines is not None
    probe.lines.close()  # its channel is gone
    assert probe.measure(3).method == "date"
    assert probe.measure(3).method == "responder" and len(remote.opened) == 2
    probe.close()


def test_a_date_that_prints_no_time_is_an_error_naming_the_node() -> None:
    remote = FakeRemote(lambda n, c: (0, "Thu Dec  3\n", ""))
    with pytest.raises(ValueError, match="n1: 'date"):
        Probe(remote, "n1").measure()
    failing = FakeRemote(lambda n, c: Result(n, c, "", "date: not found", 127))
    with pytest.raises(CommandFailed):
        Probe(failing, "n1").measure()
