"""Clock faults: bump, strobe, scramble, reset; offsets measured on every node and recorded.

Two ways to move a node's clock, chosen per node at setup:

* ``faketime`` (lab nodes, and any node that shares this machine's kernel):
  lab nodes share one kernel clock, and this machine's own clock must never
  move, so the database runs under libfaketime (``faketime_env()`` is the
  environment a DB module puts in front of its command) reading the per-node
  control file ``/run/jepsy/faketime``, which the nemesis rewrites (``+12.5``
  is "12.5 s ahead").  Only programs that read time through libc see it: Go
  programs (etcd among them) read the clock without libc and are NOT moved;
  the op values say so for such databases instead of pretending.
* ``real`` (other hosts): the real clock, NTP services stopped at setup and
  restarted at heal.  A step is atomic in the kernel (``nodestate.clock_step``:
  ``clock_adjtime`` with ``ADJ_SETOFFSET``), else one relative ``date -s "+2.5
  seconds"``, which loses the time date takes between its read and its set
  (8 to 665 ms on emulated VMs; reading in one process and setting in another
  fell 1.1 to 1.8 s short).  The total offset jepsy applied is kept in
  ``/run/jepsy/faults/clock.offset`` so that ``jepsy heal`` after a crash
  steps it back.  Setup measures each node's offset from this machine (the
  *reference*, by ``jepsy.clockprobe`` as ``jepsy doctor`` measures it); the
  nemesis's own heal steps back, measures, and corrects until the residue is
  within ``HEAL_AIM_S`` or what the probe can tell apart, and fails naming the
  node when it stays over ``HEAL_TOLERANCE_S``.  A node
  reporting this machine's boot id shares its kernel and is never put in
  this mode.

Ops: ``start-clock`` with value ``{"mode": "bump" | "strobe" | "scramble", ...}``
(or None: a random mode), ``stop-clock`` (reset every node to offset 0) and
``check-clock`` (measure only).  Every completion value maps each node to
``{"offset": seconds, "uncertainty": seconds, ...}``: the offset measured on that
node (what a libc program started there sees, minus this machine's time, half the
round trip taken off) ± half that round trip, and on real clocks the ``reference``
the heal returns to, so the report can plot them.  Bump and scramble entries also
hold ``requested`` (where the clock was sent: the node's reference, or 0 under
faketime, plus jepsy's total offset), and the op is an ``Applied``: a node whose
measured offset is not where it was sent (by more than a quarter of the step,
half the measuring round trip, and at least 100 ms) is ``missed``
("clock did not move"), as is every node of a database that libfaketime
cannot reach (Go programs).

* bump: a random subset of nodes, each moved by ±(5 ms .. 5 min, log-uniform);
* strobe: the targets oscillate between their offset and offset + delta every
  ``period`` for ``duration`` seconds (a small loop on the node, whose PID is
  recorded so heal can end it);
* scramble: every node gets a random offset in ±``clock_scramble_s`` (60 s).
"""

from __future__ import annotations

import importlib.util
import math
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jepsy.claims import Applied
from jepsy.clockprobe import Probe
from jepsy.control import on_nodes
from jepsy.errors import ConfigError, JepsyError
from jepsy.options import Option, choice, declare, names, number, read
from jepsy.protocols import NemesisPackage, Test

from .family import Family, chooser, package
from .nodestate import (
    FAKETIME_CONTROL,
    HEAL_TIMEOUT,
    NTP_SERVICES,
    STATE_DIR,
    STROBE_END,
    STROBE_MARK,
    clock_reset_script,
    clock_step,
    heal_script,
    local_boot_id,
)
from .targets import pick

__all__ = ["GO_DATABASES", "ClockNemesis", "faketime_env", "family", "install_clockfix", "nemesis"]

MODES = ("bump", "strobe", "scramble")
# Databases written in Go: libfaketime cannot move their clock.
GO_DATABASES = frozenset({"etcd", "cockroachdb", "consul", "tidb", "dgraph", "nats"})
GO_NOTE = ("{db} is a Go program: it reads the clock without libc, so libfaketime does not move "
           "its clock; the offset is what libc programs under this node's faketime see")


CLOCKFIX = "/run/jepsy/clockfix.so"


def faketime_env() -> str:
    """Shell words putting a command under this node's libfaketime control file.

    The library is looked up on the node (its path differs by architecture);
    the monotonic clocks are left alone, as a real step of the wall clock
    would.  jepsy's ``clockfix`` shim (``install_clockfix``) is preloaded
    first where it was installed: without it, libfaketime 0.9.10 breaks
    sleeps until a monotonic deadline (``nemeses/_clockfix.c``).
    """
    return (f"env LD_PRELOAD=\"$([ -r {CLOCKFIX} ] && echo {CLOCKFIX}) "
            "$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)\" "
            f"FAKETIME_TIMESTAMP_FILE={FAKETIME_CONTROL} FAKETIME_NO_CACHE=1 "
            "FAKETIME_DONT_FAKE_MONOTONIC=1")


def clockfix_library() -> Path | None:
    """The built shim on this machine (None when pip could not build it: no C compiler)."""
    spec = importlib.util.find_spec("jepsy.nemeses._clockfix")
    return Path(spec.origin) if spec is not None and spec.origin else None


def install_clockfix(test: Test, node: str) -> bool:
    """Put the shim at ``CLOCKFIX`` on ``node`` (staged in /tmp: the SSH user may not be root).

    Returns False, and changes nothing, when the shim was not built here.  The
    node must share this machine's architecture and C library, as lab nodes do;
    elsewhere the dynamic loader ignores a shim it cannot load, with a warning.
    """
    lib = clockfix_library()
    if lib is None:
        return False
    staged = f"/tmp/jepsy-clockfix-{os.getpid()}.so"
    test.remote.upload(node, str(lib), staged)
    test.remote.execute(node, f"mkdir -p /run/jepsy && install -m 0644 {staged} {CLOCKFIX} && "
                        f"rm -f {staged}", sudo=True)
    return True


def _fmt(seconds: float) -> str:
    return f"{seconds:+.6f}"


def faketime_write(offset: float) -> str:
    return f"mkdir -p /run/jepsy {STATE_DIR} && echo {_fmt(offset)} > {FAKETIME_CONTROL}"


def real_step(delta: float, atomic: bool = True) -> str:
    """Step the real clock by ``delta`` seconds, and add it to the recorded total.

    ``clock_step``: the kernel adds the offset itself (``clock_adjtime``), so the step
    lands where it is aimed however slowly the node starts a process; ``date -s "+D
    seconds"`` where that is not possible.  ``atomic=False`` is ``date -s`` alone: a
    strobe's flips, which must come fast and are not measured one by one.
    """
    d = STATE_DIR
    step = clock_step(f"{delta:+.6f}") if atomic else f"date -s '{delta:+.6f} seconds' >/dev/null"
    return (f"mkdir -p {d} && {step} && "
            f"old=$(cat {d}/clock.offset 2>/dev/null || echo 0) && "
            f"awk -v o=\"$old\" -v d={delta:.6f} 'BEGIN{{printf \"%.6f\\n\", o + d}}' > {d}/clock.offset")


HEAL_TOLERANCE_S = 0.1
HEAL_AIM_S = 0.005  # the heal corrects residues above this, where the probe can see them


def strobe_loop(mode: str, base: float, delta: float, period: float, duration: float) -> str:
    """A background loop on the node alternating +delta and back; prints nothing, records its PID."""
    if mode == "faketime":
        high, low = (f"echo {_fmt(base + delta)} > {FAKETIME_CONTROL}",
                     f"echo {_fmt(base)} > {FAKETIME_CONTROL}")
    else:
        high, low = real_step(delta, atomic=False), real_step(-delta, atomic=False)
    n = max(1, int(duration / (2 * period)))
    body = (f"i=0; while [ $i -lt {n} ]; do {high}; sleep {period:.3f}; {low}; sleep {period:.3f}; "
            "i=$((i+1)); done")
    # Started alone in the background (not as part of an && list, which would
    # background a subshell holding the SSH channel open), so $! is the loop.
    return (f"mkdir -p {STATE_DIR}; setsid sh -c {shlex.quote(body)} {STROBE_MARK} "
            ">/dev/null 2>&1 </dev/null & "
            f"echo $! > {STATE_DIR}/clock.strobe.pid")


OPTIONS = (
    Option("clock_modes", MODES, "modes to draw from, comma-separated", parse=names),
    Option("clock_mode", "auto", "how clocks move: auto (faketime on nodes sharing this "
           "machine's kernel, the real clock elsewhere), faketime or real",
           parse=choice("auto", "faketime", "real")),
    Option("clock_scramble_s", 60.0, "a scramble sets offsets within ± this many seconds",
           parse=number),
    Option("clock_strobe_s", None, "seconds a strobe lasts (default: the nemesis interval)",
           parse=number),
)


class ClockNemesis:
    """``start-clock``, ``stop-clock``, ``check-clock``; see the module docstring."""

    fs = frozenset({"start-clock", "stop-clock", "check-clock"})

    def __init__(self, opts: Mapping[str, Any]) -> None:
        opts = read(OPTIONS, opts)
        self.mode_opt = str(opts["clock_mode"])
        if self.mode_opt not in ("auto", "faketime", "real"):
            raise ConfigError("clock_mode is auto, faketime or real")
        self.scramble_s = float(opts["clock_scramble_s"])
        self.strobe_s = float(opts["clock_strobe_s"] or opts.get("nemesis_interval", 5.0))
        self.db_name = str(opts.get("db") or "")
        self.modes: dict[str, str] = {}
        self.offsets: dict[str, float] = {}
        # Measured before any fault (real clocks heal back to it) and after the last op.
        self.reference: dict[str, float] = {}
        self.measured: dict[str, float] = {}
        self.rtt: dict[str, float] = {}
        self.uncertainty: dict[str, float] = {}
        self.probes: dict[str, Probe] = {}
        self.ref_uncertainty: dict[str, float] = {}
        self.residue: dict[str, float] = {}  # after the last heal, minus the reference

    # -- setup ---------------------------------------------------------------
    def setup(self, test: Test) -> None:
        me = local_boot_id()
        self.close_probes()  # a node's probe depends on its mode, chosen here
        db_name = self.db_name or str(test.opts.get("db") or "")
        self.db_name = db_name

        def prepare(node: str) -> str:
            boot = test.remote.execute(node, "cat /proc/sys/kernel/random/boot_id",
                                       sudo=True).stdout.strip()
            shares_kernel = boot == me or test.node_specs[node].is_lab
            if self.mode_opt == "real" and shares_kernel:
                raise ConfigError(f"{node} shares this machine's kernel and clock: clock_mode=real "
                                  "would move this machine's clock; use faketime")
            mode = "faketime" if shares_kernel or self.mode_opt == "faketime" else "real"
            if mode == "faketime":
                test.remote.execute(node, "ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || "
                                    "{ echo 'libfaketime is not installed (Debian package faketime)' "
                                    ">&2; exit 1; }", sudo=True)
                test.remote.execute(node, heal_script(["clock"]) + "; " + faketime_write(0.0), sudo=True)
            else:
                stop_ntp = "; ".join(
                    f"if systemctl is-active --quiet {s} 2>/dev/null; then systemctl stop {s} && "
                    f"echo {s} >> {STATE_DIR}/clock.ntp; fi" for s in NTP_SERVICES)
                test.remote.execute(node, heal_script(["clock"]) + f"; mkdir -p {STATE_DIR}; "
                                    + stop_ntp, sudo=True)
            return mode

        self.modes = {n: m for n, m in on_nodes(test.nodes, prepare).items() if isinstance(m, str)}
        self.offsets = dict.fromkeys(test.nodes, 0.0)
        self.reference = {n: float(v) for n, v in on_nodes(
            test.nodes, lambda n: self.measure(test, n, 3 if self.modes.get(n) == "real" else 1)
        ).items()}
        self.ref_uncertainty = dict(self.uncertainty)
        self.measured = dict(self.reference)
        if self.db_name in GO_DATABASES and "faketime" in self.modes.values():
            test.log.warning(GO_NOTE.format(db=self.db_name))

    # -- measuring -------------------------------------------------------------
    def probe(self, test: Test, node: str) -> Probe:
        """``node``'s clock probe (``jepsy.clockprobe``, as ``jepsy doctor`` measures), kept open."""
        p = self.probes.get(node)
        if p is None or p.remote is not test.remote:
            prefix = faketime_env() + " " if self.modes.get(node) == "faketime" else ""
            p = self.probes[node] = Probe(test.remote, node, prefix, sudo=True)
        return p

    def measure(self, test: Test, node: str, samples: int = 1) -> float:
        """Offset of the node's (libc, faked where faked) clock from ours, in seconds.

        The shortest round trip of many questions to the node's responder; where it
        has none, of ``samples`` ``date`` processes (the reference and the heal's check
        of real clocks take 3, since a slow node's round trips vary by more than the
        heal's tolerance).  Half the kept round trip is kept as ``uncertainty``.
        """
        m = self.probe(test, node).measure(fallback_samples=samples)
        self.rtt[node] = m.rtt_s
        self.uncertainty[node] = m.uncertainty_s
        return round(m.offset_s, 4)

    def base(self, node: str) -> float:
        """Offset 0 of ``node``: its reference on a real clock, exactly 0 under faketime."""
        return self.reference.get(node, 0.0) if self.modes.get(node) == "real" else 0.0

    def report(self, test: Test, extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        got = on_nodes(test.nodes, lambda n: self.measure(test, n))
        out: dict[str, Any] = {}
        for n in test.nodes:
            entry: dict[str, Any] = {"offset": got[n],
                                     "uncertainty": round(self.uncertainty.get(n, 0.0), 4),
                                     "clock": self.modes.get(n, "?")}
            if self.modes.get(n) == "real":  # where the heal brings it back to
                entry["reference"] = round(self.reference.get(n, 0.0), 4)
            entry.update((extra or {}).get(n, {}))
            if self.modes.get(n) == "faketime" and self.db_name in GO_DATABASES:
                entry["note"] = GO_NOTE.format(db=self.db_name)
            out[n] = entry
        self.measured.update({n: float(v) for n, v in got.items()})
        return out

    def unreachable(self, node: str) -> str | None:
        """Why the database on ``node`` cannot see this node's clock faults (None: it can)."""
        if self.modes.get(node) == "faketime" and self.db_name in GO_DATABASES:
            return f"{self.db_name} is a Go program: libfaketime does not move its clock"
        return None

    def moved(self, node: str, before: float, after: float, requested: float) -> tuple[bool, str]:
        """Whether ``node``'s clock went where it was sent; (took effect, what happened)."""
        why = self.unreachable(node)
        if why:
            return False, why
        delta = requested - before
        slack = max(HEAL_TOLERANCE_S, self.rtt.get(node, 0.0) / 2 + 0.05, abs(delta) / 4)
        if abs(after - requested) > slack:
            return False, (f"clock did not move as asked: requested {requested:+.3f} s, "
                           f"measured {after:+.3f} s (was {before:+.3f} s)")
        return True, f"offset {after:+.3f} s (requested {requested:+.3f} s)"

    # -- faults ------------------------------------------------------------------
    def set_offset(self, test: Test, node: str, offset: float) -> None:
        if self.modes.get(node) == "real":
            delta = offset - self.offsets.get(node, 0.0)
            if delta:
                test.remote.execute(node, real_step(delta), sudo=True)
        else:
            test.remote.execute(node, faketime_write(offset), sudo=True)
        self.offsets[node] = offset

    @staticmethod
    def bump_delta(rng: Any) -> float:
        """±(5 ms .. 300 s), log-uniform: milliseconds to minutes, either way."""
        magnitude = math.exp(rng.uniform(math.log(0.005), math.log(300.0)))
        return round(magnitude if rng.random() < 0.5 else -magnitude, 3)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        f = op["f"]
        if f == "check-clock":
            return self.report(test)
        if f == "stop-clock":
            self.heal_offsets(test)
            return self.report(test)
        if f != "start-clock":
            raise ConfigError(f"clock nemesis cannot do {f!r}")
        value = op.get("value")
        req: dict[str, Any] = dict(value) if isinstance(value, Mapping) else {"mode": value}
        mode = req.get("mode") or test.rng.choice(MODES)
        rng = test.rng
        if mode == "bump":
            nodes = pick(req.get("targets", "random"), test.nodes, rng, test)
            deltas = req.get("deltas") or {n: self.bump_delta(rng) for n in nodes}
            before = {n: self.measured.get(n, 0.0) for n in deltas}
            on_nodes(list(deltas), lambda n: self.set_offset(
                test, n, self.offsets.get(n, 0.0) + float(deltas[n])))
            requested = {n: round(self.base(n) + self.offsets[n], 3) for n in deltas}
            value = self.report(test, {n: {"bumped": float(d), "requested": requested[n]}
                                       for n, d in deltas.items()})
            return self.account(value, before, requested)
        if mode == "scramble":
            spread = float(req.get("spread", self.scramble_s))
            targets = {n: round(rng.uniform(-spread, spread), 3) for n in test.nodes}
            before = {n: self.measured.get(n, 0.0) for n in test.nodes}
            requested = {n: round(self.base(n) + targets[n], 3) for n in test.nodes}
            on_nodes(test.nodes, lambda n: self.set_offset(test, n, targets[n]))
            value = self.report(test, {n: {"requested": requested[n]} for n in test.nodes})
            return self.account(value, before, requested)
        if mode == "strobe":
            nodes = pick(req.get("targets", "random"), test.nodes, rng, test)
            delta = float(req.get("delta") or abs(self.bump_delta(rng)))
            period = float(req.get("period") or math.exp(rng.uniform(math.log(0.01), math.log(1.0))))
            duration = float(req.get("duration") or self.strobe_s)

            def strobe(n: str) -> None:
                test.remote.execute(n, STROBE_END + "; " + strobe_loop(
                    self.modes.get(n, "faketime"), self.offsets.get(n, 0.0), delta, period, duration),
                    sudo=True)

            on_nodes(nodes, strobe)
            value = self.report(test, {n: {"strobe": {"delta": delta, "period": round(period, 3),
                                                      "duration": duration}} for n in nodes})
            # Where the strobe stands at any moment is not knowable from one sample:
            # its nodes are taken at their word, except where libfaketime cannot reach.
            out = {n: why for n in nodes if (why := self.unreachable(n))}
            return Applied(value, [n for n in nodes if n not in out], out)
        raise ConfigError(f"unknown clock mode {mode!r}; known: {', '.join(MODES)}")

    def account(self, value: dict[str, Any], before: Mapping[str, float],
                requested: Mapping[str, float]) -> Applied:
        """The ``Applied`` of a bump or scramble: which clocks went where they were sent."""
        took, missed = [], {}
        for n, req in requested.items():
            ok, what = self.moved(n, before[n], float(value[n]["offset"]), req)
            if ok:
                took.append(n)
            else:
                missed[n] = what
        return Applied(value, took, missed)

    def heal_offsets(self, test: Test) -> None:
        """End strobes, set every offset back to 0 (real clocks: step back by the recorded total)."""
        def reset(node: str) -> None:
            if self.modes.get(node) == "real":
                test.remote.execute(node, clock_reset_script(), sudo=True, timeout=HEAL_TIMEOUT)
                self.settle(test, node)
            else:
                test.remote.execute(node, heal_script(["clock"]), sudo=True, timeout=HEAL_TIMEOUT)
            self.offsets[node] = 0.0

        on_nodes(test.nodes, reset)

    def settle(self, test: Test, node: str, tries: int = 3) -> float:
        """Step ``node``'s real clock back onto its reference; the residue it is left with.

        Measured as ``jepsy doctor`` measures.  A residue is corrected while it is
        larger than ``HEAL_AIM_S`` or than what the two measurements (now and the
        reference) can tell apart, whichever is larger: aiming at the tolerance
        itself would leave clocks up to 100 ms off that a precise probe could have
        put right.  The corrections are not jepsy's fault offsets, so
        ``clock.offset`` is reset after them.  Raises when the residue stays over
        ``HEAL_TOLERANCE_S``.
        """
        ref = self.reference.get(node, 0.0)
        residue = self.measure(test, node, 3) - ref
        for _ in range(tries):
            sure = self.uncertainty.get(node, 0.0) + self.ref_uncertainty.get(node, 0.0)
            if abs(residue) <= max(HEAL_AIM_S, sure) and abs(residue) <= HEAL_TOLERANCE_S:
                break
            test.remote.execute(node, real_step(-residue) + f"; echo 0 > {STATE_DIR}/clock.offset",
                                sudo=True)
            residue = self.measure(test, node, 3) - ref
        self.residue[node] = residue
        if abs(residue) > HEAL_TOLERANCE_S:
            raise JepsyError(f"{node}: clock still {residue * 1000:+.0f} ms from its reference "
                             f"({ref * 1000:+.0f} ms before the test) after {tries} corrections")
        return residue

    def heal(self, test: Test) -> None:
        """Offsets to 0, strobes ended, and on real clocks NTP restarted."""
        self.heal_offsets(test)
        on_nodes(test.nodes, lambda n: test.remote.execute(n, heal_script(["clock"]), sudo=True,
                                                            timeout=HEAL_TIMEOUT))

    def close_probes(self) -> None:
        for p in self.probes.values():
            p.close()
        self.probes.clear()

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing, and the clock probes' responders ended."""
        self.close_probes()


def family(opts: Mapping[str, Any]) -> Family:
    """Options ``clock_modes`` (bump,strobe,scramble), ``clock_mode`` (auto|faketime|real)."""
    modes = list(read(OPTIONS, opts)["clock_modes"])
    for m in modes:
        if m not in MODES:
            raise ConfigError(f"unknown clock mode {m!r}; known: {', '.join(MODES)}")
    return Family("clock", ClockNemesis(opts), chooser("start-clock", modes), {"f": "stop-clock"})


@declare(*OPTIONS)
def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis clock``: a clock fault every ``nemesis_interval`` seconds."""
    return package(family(opts), float(opts.get("nemesis_interval", 5.0)))
