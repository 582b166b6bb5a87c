"""Packet faults with tc netem: delay with jitter, loss, duplication, reordering, corruption, rate limit.

``start-packet`` puts one root qdisc with handle ``fa17:`` on the interface
each target node uses to reach the others (found with ``ip route get`` at
setup: ``eth0`` in the lab); ``stop-packet`` and ``heal`` delete a root qdisc
only when its handle is ``fa17:``, so a qdisc somebody else installed is never
removed.  A node whose root qdisc is already someone else's (a handle other
than the kernel default ``0:`` or ours) is refused rather than overwritten.

Behaviours (``packet_behaviours`` option, comma-separated; the op value may
also give them as ``{"behaviours": {"delay": {...}}, "targets": ...}``)::

    delay      {"time": "50ms", "jitter": "10ms", "correlation": "25%", "distribution": "normal"}
    loss       {"percent": "20%", "correlation": "75%"}
    duplicate  {"percent": "20%", "correlation": "75%"}
    reorder    {"percent": "20%", "correlation": "75%"}   (netem reorders only delayed packets:
                                                          a delay is added when none is given)
    corrupt    {"percent": "20%"}
    rate       {"rate": "1mbit"}

Setup probes each node for netem once (adding and removing a netem qdisc on
``lo``).  Without netem (a kernel built without ``sch_netem``, as some VM
kernels are), the default behaviours narrow to loss and rate with a warning,
and impossible behaviours the user named explicitly fail setup.  On such nodes
``loss`` becomes a random-drop rule in the iptables chain ``jepsy-loss``
(packets from the other nodes only) and ``rate`` a ``tbf`` qdisc, still with
handle ``fa17:``.  The completion value maps each target node to what was
applied there (``"eth0: netem delay 50ms 10ms 25% distribution normal"``), or
why it could not be (those nodes are ``missed``; see ``jepsy.claims``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jepsy.claims import Applied
from jepsy.control import on_nodes, sh
from jepsy.errors import CommandFailed, ConfigError
from jepsy.options import Option, declare, names, read
from jepsy.protocols import NemesisPackage, Test

from .family import Family, package
from .nodestate import HEAL_TIMEOUT, LOSS_CHAIN, QDISC_HANDLE, heal_script
from .targets import TARGETS, parse_list, pick

__all__ = ["BEHAVIOURS", "PacketNemesis", "family", "nemesis", "netem_args", "root_guard"]

BEHAVIOURS: dict[str, dict[str, str]] = {
    "delay": {"time": "50ms", "jitter": "10ms", "correlation": "25%", "distribution": "normal"},
    "loss": {"percent": "20%", "correlation": "75%"},
    "duplicate": {"percent": "20%", "correlation": "75%"},
    "reorder": {"percent": "20%", "correlation": "75%"},
    "corrupt": {"percent": "20%"},
    "rate": {"rate": "1mbit"},
}
DEFAULT_TARGETS = ("one", "minority", "random", "majority", "all")
NO_NETEM = "Specified qdisc kind is unknown"
FALLBACK = ("loss", "rate")
FOREIGN_EXIT = 97


def netem_args(behaviours: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The netem arguments for ``behaviours`` (each merged over its defaults)."""
    unknown = sorted(set(behaviours) - set(BEHAVIOURS))
    if unknown:
        raise ConfigError(f"unknown packet behaviour {unknown[0]!r}; known: {', '.join(BEHAVIOURS)}")
    b = {k: {**BEHAVIOURS[k], **v} for k, v in behaviours.items()}
    if "reorder" in b and "delay" not in b:
        b["delay"] = dict(BEHAVIOURS["delay"])
    args: list[str] = []
    if "delay" in b:
        d = b["delay"]
        args += ["delay", d["time"], d["jitter"], d["correlation"]]
        if d.get("distribution"):
            args += ["distribution", d["distribution"]]
    for name in ("loss", "duplicate", "reorder", "corrupt"):
        if name in b:
            args += [name, b[name]["percent"]]
            if b[name].get("correlation"):
                args.append(b[name]["correlation"])
    if "rate" in b:
        args += ["rate", b["rate"]["rate"]]
    return args


def _percent(value: str) -> float:
    return float(value.rstrip("%")) / 100.0


def fallback_commands(dev: str, behaviours: Mapping[str, Mapping[str, Any]],
                      peers: list[str]) -> list[str]:
    """Commands emulating ``loss`` and ``rate`` without netem; ConfigError for anything else."""
    rest = sorted(set(behaviours) - {"loss", "rate"})
    if rest:
        raise ConfigError(f"this kernel has no netem (sch_netem): cannot apply {', '.join(rest)} "
                          "(only loss and rate can be emulated without it)")
    cmds = []
    if "rate" in behaviours:
        rate = {**BEHAVIOURS["rate"], **behaviours["rate"]}["rate"]
        cmds.append(sh("tc", "qdisc", "replace", "dev", dev, "root", "handle", QDISC_HANDLE, "tbf",
                       "rate", rate, "burst", "32kbit", "latency", "400ms"))
    if "loss" in behaviours:
        p = _percent({**BEHAVIOURS["loss"], **behaviours["loss"]}["percent"])
        cmds += [f"iptables -w -N {LOSS_CHAIN} 2>/dev/null || true",
                 f"iptables -w -C INPUT -j {LOSS_CHAIN} 2>/dev/null || "
                 f"iptables -w -I INPUT 1 -j {LOSS_CHAIN}",
                 f"iptables -w -F {LOSS_CHAIN}"]
        cmds += [sh("iptables", "-w", "-A", LOSS_CHAIN, "-s", ip, "-m", "statistic", "--mode",
                    "random", "--probability", f"{p:.4f}", "-j", "DROP") for ip in peers]
    return cmds


def root_guard(dev: str) -> str:
    """Shell prefix that exits ``FOREIGN_EXIT``, printing it, when ``dev``'s root qdisc is someone else's.

    Ours has handle ``fa17:``; the kernel's default ones have handle ``0:``.
    """
    return (f"cur=$(tc qdisc show dev {sh(dev)} root); "
            f"case \"$cur\" in ''|*' 0: root'*|*' {QDISC_HANDLE} root'*) ;; "
            f"*) echo \"$cur\"; exit {FOREIGN_EXIT};; esac; ")


_ROOT = re.compile(r"^qdisc (\S+) ([0-9a-f]+:) root", re.M)


class PacketNemesis:
    """``start-packet`` (value: None, or ``{"behaviours": ..., "targets": ...}``) and ``stop-packet``."""

    fs = frozenset({"start-packet", "stop-packet"})

    def __init__(self, behaviours: list[str], targets: list[str], explicit: bool = False) -> None:
        for b in behaviours:
            if b not in BEHAVIOURS:
                raise ConfigError(f"unknown packet behaviour {b!r}; known: {', '.join(BEHAVIOURS)}")
        for t in targets:
            if t not in TARGETS:
                raise ConfigError(f"unknown packet target {t!r}; known: {', '.join(TARGETS)}")
        self.behaviours = behaviours
        self.targets = targets
        self.devices: dict[str, str] = {}
        self.explicit = explicit  # the user named the behaviours: refuse rather than narrow them
        self.netem = True
        self.without_netem: set[str] = set()

    def setup(self, test: Test) -> None:
        """Find each node's interface towards the others; end leftovers of an earlier run."""
        def device(node: str) -> str:
            peer = next((m for m in test.nodes if m != node), node)
            out = test.remote.execute(node, sh("ip", "-o", "route", "get", test.address(peer)),
                                      sudo=True).stdout
            m = re.search(r"\bdev (\S+)", out)
            if not m:
                raise ConfigError(f"{node}: cannot tell which interface reaches {peer}: {out.strip()}")
            return m.group(1)

        self.devices = {n: d for n, d in on_nodes(test.nodes, device).items() if isinstance(d, str)}
        self.heal(test)
        probe = (f"if tc qdisc add dev lo root handle {QDISC_HANDLE} netem 2>/tmp/.jepsy-netem; then "
                 f"tc qdisc del dev lo root handle {QDISC_HANDLE}; echo yes; "
                 f"elif grep -q '{NO_NETEM}' /tmp/.jepsy-netem; then echo no; else echo yes; fi; "
                 "rm -f /tmp/.jepsy-netem")
        has = on_nodes(test.nodes, lambda n: test.remote.execute(n, probe, sudo=True).stdout.strip())
        without = sorted(n for n, v in has.items() if v == "no")
        if without:
            possible = [b for b in self.behaviours if b in FALLBACK]
            lost = [b for b in self.behaviours if b not in FALLBACK]
            if self.explicit and lost:
                raise ConfigError(f"the kernel of {', '.join(without)} has no netem (sch_netem): "
                                  f"packet behaviours {', '.join(lost)} are impossible there; "
                                  "only loss and rate can be emulated without it")
            if not possible:
                raise ConfigError(f"the kernel of {', '.join(without)} has no netem (sch_netem)")
            if lost:
                test.log.warning("no netem (sch_netem) on %s: packet faults limited to %s (%s impossible)",
                                 ", ".join(without), ", ".join(possible), ", ".join(lost))
            self.behaviours = possible
        self.netem = not without
        self.without_netem = set(without)

    def request(self, test: Test, value: Any) -> tuple[dict[str, dict[str, Any]], Any]:
        if isinstance(value, Mapping):
            behaviours = value.get("behaviours") or {test.rng.choice(self.behaviours): {}}
            if isinstance(behaviours, (list, tuple, str)):
                behaviours = {b: {} for b in parse_list(behaviours, [])}
            return dict(behaviours), value.get("targets") or test.rng.choice(self.targets)
        return {test.rng.choice(self.behaviours): {}}, test.rng.choice(self.targets)

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-packet":
            behaviours, spec = self.request(test, op.get("value"))
            nodes = pick(spec, test.nodes, test.rng, test)
            args = netem_args(behaviours)
            done = on_nodes(nodes, lambda n: self.apply(test, n, behaviours, args), raise_errors=False)
            failed = {n: " ".join(str(r).split()) for n, r in done.items() if isinstance(r, Exception)}
            if nodes and len(failed) == len(nodes):  # nothing went in anywhere: the op failed
                raise next(e for e in done.values() if isinstance(e, Exception))
            return Applied({n: failed.get(n, done[n]) for n in nodes},
                           [n for n in nodes if n not in failed], failed)
        if op["f"] == "stop-packet":
            self.heal(test)
            return None
        raise ConfigError(f"packet nemesis cannot do {op['f']!r}")

    def apply(self, test: Test, node: str, behaviours: Mapping[str, Mapping[str, Any]],
              args: list[str]) -> str:
        """One command per node: refuse a foreign root qdisc, else put ours (netem or fallback)."""
        dev = self.devices.get(node, "eth0")
        if node in self.without_netem:
            peers = [test.address(m) for m in test.nodes if m != node]
            put = " && ".join(fallback_commands(dev, behaviours, peers))
            done = f"{dev}: no netem; " + "; ".join(
                f"{k} via {'tbf' if k == 'rate' else 'iptables statistic'}" for k in sorted(behaviours))
        else:
            put = sh("tc", "qdisc", "replace", "dev", dev, "root", "handle", QDISC_HANDLE, "netem", *args)
            done = f"{dev}: netem {' '.join(args)}"
        got = test.remote.execute(node, root_guard(dev) + put, sudo=True, check=False)
        if got.exit_code == FOREIGN_EXIT and "qdisc" in got.stdout:
            m = _ROOT.search(got.stdout)
            what = f"{m.group(1)} {m.group(2)}" if m else got.stdout.strip()
            raise ConfigError(f"{node}: {dev} already has a root qdisc {what} that is not jepsy's; "
                              "refusing to replace it")
        if not got.ok:
            raise CommandFailed(got.describe(), got)
        return done

    def heal(self, test: Test) -> None:
        on_nodes(test.nodes, lambda n: test.remote.execute(n, heal_script(["packet"]), sudo=True,
                                                            timeout=HEAL_TIMEOUT))

    def teardown(self, test: Test) -> None:
        """Nothing beyond healing."""


OPTIONS = (
    Option("packet_behaviours", None, "behaviours to draw from, comma-separated: "
           + ", ".join(BEHAVIOURS) + " (default: all that the kernel can do)", parse=names),
    Option("packet_targets", None, "targets to draw from, comma-separated (default: "
           + ",".join(DEFAULT_TARGETS) + ")", parse=names),
)


def family(opts: Mapping[str, Any]) -> Family:
    """Options ``packet_behaviours`` and ``packet_targets`` (comma-separated)."""
    opts = read(OPTIONS, opts)
    behaviours = parse_list(opts.get("packet_behaviours"), list(BEHAVIOURS))
    targets = parse_list(opts.get("packet_targets"), DEFAULT_TARGETS)
    nem = PacketNemesis(behaviours, targets, explicit=bool(opts.get("packet_behaviours")))

    def start(ctx: Any) -> dict[str, Any]:
        # Drawn from the nemesis's list, which setup narrows on kernels without netem.
        return {"f": "start-packet", "value": {"behaviours": [ctx.rng.choice(nem.behaviours)],
                                               "targets": ctx.rng.choice(targets)}}

    return Family("packet", nem, start, {"f": "stop-packet"})


@declare(*OPTIONS)
def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis packet``: a packet fault every ``nemesis_interval`` seconds."""
    return package(family(opts), float(opts.get("nemesis_interval", 5.0)))
