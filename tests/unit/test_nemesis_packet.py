"""netem arguments, the fallbacks without netem, and what the packet nemesis refuses to touch."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest

from jepsy.errors import ConfigError, JepsyError
from jepsy.nemeses.nodestate import heal_script
from jepsy.nemeses.packet import PacketNemesis, fallback_commands, family, netem_args, root_guard

from .test_nemesis_targets import commands, fake_test


def test_netem_args() -> None:
    assert netem_args({"delay": {}}) == ["delay", "50ms", "10ms", "25%", "distribution", "normal"]
    assert netem_args({"loss": {"percent": "5%"}}) == ["loss", "5%", "75%"]
    assert netem_args({"rate": {"rate": "10mbit"}}) == ["rate", "10mbit"]
    assert netem_args({"corrupt": {}}) == ["corrupt", "20%"]
    # netem reorders only delayed packets: a reorder alone brings a delay.
    assert netem_args({"reorder": {}})[:2] == ["delay", "50ms"]
    with pytest.raises(ConfigError, match="unknown packet behaviour"):
        netem_args({"jitterbug": {}})


def test_fallbacks_are_loss_and_rate_only() -> None:
    cmds = fallback_commands("eth0", {"loss": {"percent": "10%"}, "rate": {}}, ["10.0.0.2"])
    joined = " && ".join(cmds)
    assert "tbf rate 1mbit" in joined and "handle fa17:" in joined
    assert "-A jepsy-loss -s 10.0.0.2 -m statistic --mode random --probability 0.1000 -j DROP" in joined
    with pytest.raises(ConfigError, match="no netem"):
        fallback_commands("eth0", {"delay": {}}, [])


def _node(netem: bool, root: str = "qdisc noqueue 0: root refcnt 2") -> Any:
    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if cmd.startswith("ip -o route get"):
            return 0, "10.9.0.12 dev eth0 src 10.9.0.11 uid 0", ""
        if "2>/tmp/.jepsy-netem" in cmd:
            return 0, "yes\n" if netem else "no\n", ""
        if cmd.startswith("cur=$(tc qdisc show") and " 0: root" not in root:
            return 97, root, ""  # what the root guard does on a node with a foreign qdisc
        if "netem" in cmd and not netem:
            return 2, "", "Error: Specified qdisc kind is unknown.\n"
        return None
    return handler


def test_start_puts_netem_on_the_route_device_of_targets_only() -> None:
    t = fake_test(handler=_node(True))
    nem = PacketNemesis(["delay"], ["one"])
    nem.setup(t)
    assert nem.devices == dict.fromkeys(t.nodes, "eth0")
    out = nem.invoke(t, {"f": "start-packet", "value": {"behaviours": ["delay"], "targets": ["n2"]}})
    assert out.value == {"n2": "eth0: netem delay 50ms 10ms 25% distribution normal"}
    assert "; tc qdisc replace dev eth0 root handle fa17: netem delay 50ms" in commands(t, "n2")[-1]
    assert not any("replace" in c for c in commands(t, "n1"))
    nem.invoke(t, {"f": "stop-packet"})
    assert all(commands(t, n)[-1] == heal_script(["packet"]) for n in t.nodes)


def test_a_foreign_root_qdisc_is_never_replaced() -> None:
    t = fake_test(handler=_node(True, "qdisc htb 1: root refcnt 2 r2q 10"))
    nem = PacketNemesis(["delay"], ["all"])
    nem.setup(t)
    with pytest.raises(JepsyError, match="not jepsy's"):
        nem.invoke(t, {"f": "start-packet", "value": {"behaviours": ["delay"], "targets": "all"}})


def test_a_node_whose_tc_fails_is_missed_and_says_why() -> None:
    ok = _node(True)

    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if node == "n3" and "netem delay" in cmd:
            return 2, "", "RTNETLINK answers: Operation not permitted"
        return ok(node, cmd)

    t = fake_test(handler=handler)
    nem = PacketNemesis(["delay"], ["all"])
    nem.setup(t)
    done = nem.invoke(t, {"f": "start-packet", "value": {"behaviours": ["delay"], "targets": ["n2", "n3"]}})
    assert done.took_effect == ["n2"] and "Operation not permitted" in done.missed["n3"]
    assert done.value["n3"] == done.missed["n3"]



@pytest.mark.parametrize(("root", "ours"), [
    ("qdisc noqueue 0: root refcnt 2", True), ("qdisc pfifo_fast 0: root refcnt 2 bands 3", True),
    ("qdisc netem fa17: root refcnt 2 limit 1000 delay 50ms", True), ("", True),
    ("qdisc htb 1: root refcnt 2 r2q 10", False), ("qdisc tbf 8001: root refcnt 2 rate 1Mbit", False),
])
def test_root_guard_in_a_real_shell(root: str, ours: bool) -> None:
    # `tc` is a shell function here: nothing touches this machine's qdiscs.
    script = f"tc() {{ printf '%s\\n' {shlex.quote(root)}; }}; " + root_guard("eth0") + "echo PUT"
    got = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert (got.returncode, "PUT" in got.stdout) == ((0, True) if ours else (97, False)), got


def test_without_netem_defaults_narrow_and_explicit_requests_fail() -> None:
    t = fake_test(handler=_node(False))
    fam = family({})
    fam.nemesis.setup(t)
    assert isinstance(fam.nemesis, PacketNemesis) and fam.nemesis.behaviours == ["loss", "rate"]
    out = fam.nemesis.invoke(t, {"f": "start-packet", "value": {"behaviours": ["loss"],
                                                                "targets": ["n1"]}})
    assert out.value == {"n1": "eth0: no netem; loss via iptables statistic"}
    assert "-A jepsy-loss -s 10.9.0.12" in commands(t, "n1")[-1]
    explicit = family({"packet_behaviours": "delay,loss"}).nemesis
    with pytest.raises(ConfigError, match="delay are impossible"):
        explicit.setup(fake_test(handler=_node(False)))
