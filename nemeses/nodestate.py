"""Fault state kept on the nodes, and the shell that ends every fault from it.

Every fault jepsy starts leaves a trace on the node it touches, so that a jepsy
killed with SIGKILL can still be cleaned up after by ``jepsy heal``:

* partitions: the iptables chain ``jepsy`` (and ``jepsy-loss`` for packet loss
  without netem); the chain itself is the record;
* packet faults: a root qdisc with handle ``fa17:``; the handle is the record,
  so a qdisc somebody else installed is never removed;
* clock faults: ``/run/jepsy/faketime`` (the libfaketime control file, lab) or
  ``clock.offset`` and ``clock.ntp`` in the state directory (real clocks: the
  total offset applied and the NTP services stopped); a strobe loop's PID in
  ``clock.strobe.pid``;
* pause: ``paused``, the PIDs jepsy stopped, one a line (``-PID``: a process group);
* kill: ``killed``, present while the database jepsy killed is down: its pidfile's
  path, whose start record (``Pidfile.start``) the heal runs to start it again;
* power: ``power.mounts``, ``PID DIR PIDFILE`` of each power-loss filesystem
  mounted (what runs on it stopped, pages written back, then ended with
  SIGTERM, else ``umount -l``; the database started again from PIDFILE's start
  record); ``power.down`` (PIDFILE) while a database a power loss stopped is down.

``heal_script(families)`` is one POSIX shell script that ends the faults of
the given families using only that state (power before kill: ``HEAL_ORDER``),
prints one ``healed <family>: ...`` line per fault it ended, and succeeds when
there was nothing to end.  The nemeses run their family's part on heal;
``jepsy heal`` runs all of it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "FAKETIME_CONTROL",
    "FAMILIES",
    "HEAL_TIMEOUT",
    "LOSS_CHAIN",
    "NTP_SERVICES",
    "PARTITION_CHAIN",
    "QDISC_HANDLE",
    "STATE_DIR",
    "STROBE_END",
    "STROBE_MARK",
    "clock_reset_script",
    "clock_step",
    "heal_script",
    "local_boot_id",
    "parse_healed",
]

STATE_DIR = "/run/jepsy/faults"
FAKETIME_CONTROL = "/run/jepsy/faketime"
PARTITION_CHAIN = "jepsy"
LOSS_CHAIN = "jepsy-loss"
QDISC_HANDLE = "fa17:"
STROBE_MARK = "jepsy-strobe"
NTP_SERVICES = ("chrony", "chronyd", "ntp", "ntpd", "ntpsec", "openntpd", "systemd-timesyncd")
FAMILIES = ("partition", "packet", "clock", "pause", "kill", "power")
POWER_FS_TYPE = "fuse.jepsy-power"
# Seconds a heal command may take on one node.  Heal scripts take milliseconds; a node
# that does not answer within this is unreachable, and the runner tries the heal again
# (reconnecting) rather than waiting out the Remote's default minute each time.
HEAL_TIMEOUT = 20.0


def local_boot_id() -> str:
    """This machine's boot id: a node showing the same one shares our kernel (and clock)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def drop_chain(chain: str) -> str:
    """Remove ``chain`` and every jump to it from INPUT; touches no other rule."""
    return (f"if iptables -w -n -L {chain} >/dev/null 2>&1; then "
            f"while iptables -w -D INPUT -j {chain} 2>/dev/null; do :; done; "
            f"iptables -w -F {chain}; iptables -w -X {chain}; echo 'healed {{family}}: chain {chain}'; fi")


_PARTITION = drop_chain(PARTITION_CHAIN).replace("{family}", "partition")

_PACKET = (
    "for dev in $(ls /sys/class/net); do "
    f"if tc qdisc show dev \"$dev\" root 2>/dev/null | grep -q ' {QDISC_HANDLE} '; then "
    "tc qdisc del dev \"$dev\" root && echo \"healed packet: qdisc on $dev\"; fi; done; "
    + drop_chain(LOSS_CHAIN).replace("{family}", "packet")
)


STROBE_END = (
    f"if [ -f {STATE_DIR}/clock.strobe.pid ]; then p=$(cat {STATE_DIR}/clock.strobe.pid); "
    f"if tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q {STROBE_MARK}; then "
    f"kill $p && echo \"healed clock: strobe loop $p\"; fi; rm -f {STATE_DIR}/clock.strobe.pid; fi"
)


# The atomic step: the kernel adds the offset to the real clock itself (clock_adjtime
# with ADJ_SETOFFSET, Linux 2.6.39+), so nothing is lost between reading the clock and
# setting it.  ``date -s "+D seconds"`` reads the clock, parses, loads the time zone,
# then sets: under QEMU's software emulation that gap was 50 to 155 ms, and each step
# and each heal correction landed short by it (measured on 3 VMs).  python3 starts
# slowly there, but when it starts does not matter: the step is relative, in the
# kernel.  Where python3 or the call is missing, or the kernel refuses it, ``date -s``.
_STEP_PY = """import ctypes as C, math, sys
class T(C.Structure):
    _fields_ = [("modes", C.c_uint), ("o", C.c_long * 4), ("status", C.c_int),
                ("c", C.c_long * 3), ("sec", C.c_long), ("nsec", C.c_long), ("r", C.c_long * 3),
                ("shift", C.c_int), ("s", C.c_long * 5), ("tai", C.c_int), ("pad", C.c_int * 11)]
d = float(sys.argv[1]); sec = math.floor(d); ns = round((d - sec) * 1e9)
if ns >= 10**9: sec, ns = sec + 1, ns - 10**9
t = T(modes=0x0100 | 0x2000, sec=sec, nsec=ns)  # ADJ_SETOFFSET | ADJ_NANO
sys.exit(0 if C.CDLL(None, use_errno=True).clock_adjtime(0, C.byref(t)) >= 0 else 1)"""


def clock_step(delta: str) -> str:
    """Shell stepping the real clock by ``delta`` seconds (a shell word: ``+2.500000``, ``"$back"``).

    Atomic in the kernel where it can be (``clock_adjtime``), else ``date -s``; fails if both fail.
    """
    return (f"{{ step={delta}; python3 -c {shlex.quote(_STEP_PY)} \"$step\" 2>/dev/null || "
            "date -s \"$step seconds\" >/dev/null; }")


def _clock_offsets(boot_id: str) -> str:
    guard = f'[ "$(cat /proc/sys/kernel/random/boot_id)" != {shlex.quote(boot_id)} ]'
    d = STATE_DIR
    return (
        STROBE_END + "; "
        f"if [ -f {FAKETIME_CONTROL} ] && awk '{{exit ($1 + 0 == 0)}}' {FAKETIME_CONTROL}; then "
        f"echo \"healed clock: faketime offset $(cat {FAKETIME_CONTROL}) reset\"; "
        f"echo +0 > {FAKETIME_CONTROL}; fi; "
        # A real clock is stepped back by the total offset jepsy applied, never on
        # a machine that shares the controlling host's kernel.
        f"if [ -f {d}/clock.offset ]; then off=$(cat {d}/clock.offset); "
        # One relative step (``clock_step``: in the kernel, else ``date`` in one process).
        f"if {guard}; then if awk -v o=\"$off\" 'BEGIN{{exit (o + 0 == 0)}}'; then "
        "back=$(awk -v d=\"$off\" 'BEGIN{printf \"%+.6f\", -d}'); "
        + clock_step('"$back"') + " "
        f"&& echo \"healed clock: stepped back by $off s\"; fi; "
        f"else echo 'healed clock: REFUSED to step a clock shared with the control host'; fi; "
        f"rm -f {d}/clock.offset; fi"
    )


def _clock_ntp() -> str:
    d = STATE_DIR
    return (
        f"if [ -f {d}/clock.ntp ]; then for s in $(cat {d}/clock.ntp); do "
        "(systemctl start \"$s\" 2>/dev/null || service \"$s\" start >/dev/null 2>&1) "
        f"&& echo \"healed clock: restarted $s\"; done; rm -f {d}/clock.ntp; fi"
    )


# Only a recorded process still in state T is resumed (and claimed): the record holds
# the daemon's PID from before the pause too, which may never have been stopped.
_PAUSE = (
    f"if [ -f {STATE_DIR}/paused ]; then for p in $(cat {STATE_DIR}/paused); do "
    "case \"$(ps -o stat= -p \"${p#-}\" 2>/dev/null)\" in T*) "
    "kill -CONT \"$p\" 2>/dev/null && echo \"healed pause: resumed $p\";; esac; done; "
    f"rm -f {STATE_DIR}/paused; fi"
)

# ``killed`` holds the killed database's pidfile path (or, for a module without one, the
# time of the kill).  A pidfile with a start record (``Pidfile.start``) and no live process
# is started again from that record; the record stays while the database is not back
# (``jepsy heal`` then names it as left), and goes once it runs.
_RUNS = '{ [ -f "$k" ] && kill -0 "$(cat "$k")" 2>/dev/null; }'


def _restart(record: str, family: str, who: str) -> str:
    """Start the database ``record`` names again (its pidfile's start record), as above."""
    r = f"{STATE_DIR}/{record}"
    return (
        f"if [ -f {r} ]; then k=$(cat {r}); case \"$k\" in "
        f"/*) if ! {_RUNS} && [ -f \"$k.start\" ]; then (cd / && sh \"$k.start\" >/dev/null 2>&1); "
        f"for i in $(seq 30); do {_RUNS} && break; sleep 0.1; done; "
        f"{_RUNS} && echo \"healed {family}: {who} started again (pid $(cat \"$k\"))\"; "
        "fi; "
        f"if {_RUNS}; then rm -f {r}; "
        f"elif [ ! -f \"$k.start\" ]; then echo \"healed {family}: {who} ($k) left "
        f"stopped: no start record; the next test run starts it\"; rm -f {r}; fi;; "
        f"*) echo \"healed {family}: {who} ($k) left stopped; the next test run starts "
        f"it\"; rm -f {r};; esac; fi"
    )


_KILL = _restart("killed", "kill", "database killed by jepsy")

# The power-loss filesystem goes, as a run's teardown leaves it: every pending page written
# back, then unmounted.  Every process with a file (or its working directory) on it is
# stopped first: it could not outlive the unmount (its files would fail with ENOTCONN), and
# those processes are the database and its helpers.  ``power.mounts`` lines are ``PID DIR
# PIDFILE`` (``-``: the module has no pidfile).  A database stopped here, or by a power loss
# (``power.down``, which holds that pidfile's path, or the time of the loss), is then
# started again from its start record, on the plain directory; one that does not come back
# keeps ``power.down``, so that ``jepsy heal`` names it.
POWER_RUN_DIR = "/run/jepsy/power"
POWER_PROGRAM = "/opt/jepsy/power/powerfs.py"
_POWER_MOUNTED = f"grep -q \" $dir {POWER_FS_TYPE} \" /proc/mounts"
# The filesystem's own process holds DIR (opened before the mount), and this shell is not
# one of them either.
_POWER_HOLDERS = (
    "held=$(find /proc/[0-9]*/cwd /proc/[0-9]*/fd -maxdepth 1 \\( -lname \"$dir\" -o "
    "-lname \"$dir/*\" \\) 2>/dev/null | sed 's#^/proc/\\([0-9]*\\)/.*#\\1#' | sort -u | "
    "grep -vx -e \"$pid\" -e \"$$\" | tr '\\n' ' ')"
)
_POWER_IS_FS = "tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q 'powerfs.py mount'"
_POWER = (
    f"if [ -f {STATE_DIR}/power.mounts ]; then while read -r pid dir pf <&3; do "
    f"if {_POWER_MOUNTED}; then {_POWER_HOLDERS}; "
    "if [ -n \"$held\" ]; then kill -CONT $held 2>/dev/null; kill -KILL $held 2>/dev/null; "
    # Its pidfile goes with it, as after a kill: a process nobody reaped yet (a zombie) still
    # answers ``kill -0``, and would pass for the database running.
    "[ -f \"$pf\" ] && case \" $held \" in *\" $(cat \"$pf\") \"*) rm -f \"$pf\";; esac; "
    f"for i in $(seq 50); do {_POWER_HOLDERS}; [ -z \"$held\" ] && break; sleep 0.1; done; "
    "echo \"healed power: stopped what ran on $dir, to unmount it\"; "
    f"[ -f {STATE_DIR}/power.down ] || echo \"${{pf:--}}\" > {STATE_DIR}/power.down; fi; "
    f"timeout 30 python3 {POWER_PROGRAM} ctl "
    f"\"{POWER_RUN_DIR}/$(printf %s \"$dir\" | sed 's#^/##; s#/#_#g').sock\" sync "
    ">/dev/null 2>&1 </dev/null; "
    "kill -TERM \"$pid\" 2>/dev/null; for i in $(seq 50); do "
    f"{_POWER_MOUNTED} || break; sleep 0.1; done; "
    f"{_POWER_MOUNTED} && umount -l \"$dir\"; "
    "echo \"healed power: unmounted $dir\"; fi; "
    # After the unmount libfuse calls ``destroy``: let it end, then make sure it did.
    f"for i in $(seq 50); do {_POWER_IS_FS} || break; sleep 0.1; done; "
    f"if {_POWER_IS_FS}; then kill -KILL \"$pid\" 2>/dev/null; "
    "echo \"healed power: ended the filesystem process $pid of $dir\"; fi; "
    f"done 3< {STATE_DIR}/power.mounts; rm -f {STATE_DIR}/power.mounts; fi; "
    + _restart("power.down", "power", "database stopped by the power fault")
)

# Power before kill: a database the kill fault left down must not start on a filesystem
# whose power is off, nor on one the power part then unmounts under it.
HEAL_ORDER = ("partition", "packet", "clock", "pause", "power", "kill")


def heal_script(families: Iterable[str] = FAMILIES, boot_id: str | None = None) -> str:
    """One shell script ending every recorded fault of ``families`` on a node (run as root).

    ``boot_id`` is the controlling machine's (default: this one's); real-clock
    steps are refused on a node that reports the same one.
    """
    clock = _clock_offsets(boot_id or local_boot_id()) + "; " + _clock_ntp()
    parts = {"partition": _PARTITION, "packet": _PACKET, "clock": clock,
             "pause": _PAUSE, "kill": _KILL, "power": _POWER}
    chosen = [parts[f] for f in HEAL_ORDER if f in set(families)]
    return "; ".join([f"mkdir -p {STATE_DIR}", *chosen, "true"])


def clock_reset_script(boot_id: str | None = None) -> str:
    """The clock part of ``heal_script`` without restarting NTP: offsets back, strobes ended."""
    return f"mkdir -p {STATE_DIR}; " + _clock_offsets(boot_id or local_boot_id())


def parse_healed(stdout: str) -> list[str]:
    """The ``healed ...`` lines a heal script printed."""
    return [line.strip() for line in stdout.splitlines() if line.startswith("healed ")]
