"""The node-side heal script and ``jepsy heal``'s logic, over FakeRemote (nothing runs on this machine)."""

from __future__ import annotations

import subprocess

from jepsy.doubles import FakeRemote
from jepsy.errors import ConnectError
from jepsy.heal import heal_nodes, leftovers, verify_script
from jepsy.nemeses.nodestate import FAMILIES, heal_script, parse_healed


def test_heal_script_has_each_familys_part_only_when_asked() -> None:
    full = heal_script()
    assert "iptables -w -X jepsy;" in full and "tc qdisc del" in full and "kill -CONT" in full
    assert "/run/jepsy/faketime" in full and "/run/jepsy/faults/killed" in full
    only = heal_script(["pause"])
    assert "kill -CONT" in only and "iptables" not in only and "tc qdisc" not in only
    for fam in FAMILIES:
        subprocess.run(["sh", "-n", "-c", heal_script([fam])], check=True)
    subprocess.run(["sh", "-n", "-c", verify_script()], check=True)


def test_heal_only_kills_a_strobe_loop_it_can_recognise() -> None:
    # The PID file may be stale and the PID reused: the loop's marker must be in its cmdline.
    part = heal_script(["clock"])
    assert "grep -q jepsy-strobe" in part and part.index("grep -q jepsy-strobe") < part.index("kill $p")


def test_parse_healed() -> None:
    out = "noise\nhealed partition: chain jepsy\nhealed pause: resumed 42\n"
    assert parse_healed(out) == ["healed partition: chain jepsy", "healed pause: resumed 42"]


def test_heal_nodes_reports_per_node_and_keeps_going_past_a_dead_node() -> None:
    def handler(node: str, cmd: str) -> tuple[int, str, str] | None:
        if node == "n3":
            raise ConnectError("n3: cannot connect")
        if node == "n1" and cmd == heal_script():
            return 0, "healed partition: chain jepsy\n", ""
        if node == "n2" and cmd == verify_script():
            return 0, "left qdisc on eth0\n", ""
        return None

    remote = FakeRemote(handler)
    healed = heal_nodes(remote, ["n1", "n2", "n3"])
    assert healed["n1"] == ["healed partition: chain jepsy"] and healed["n2"] == []
    assert isinstance(healed["n3"], ConnectError)
    left = leftovers(remote, ["n1", "n2"])
    assert left == {"n1": [], "n2": ["left qdisc on eth0"]}
    assert all(sudo for _, _, sudo in remote.commands)
