"""The local lab is real enough: own hostname, processes, data and firewall per node; and
``down`` leaves nothing behind."""

from __future__ import annotations

import subprocess
import time

from jepsy import inventory
from jepsy.control import SSHRemote, on_nodes
from tests.integration.conftest import lab_running


def test_lab_nodes_are_separate_hosts_and_down_leaves_nothing() -> None:
    t0 = time.monotonic()
    with lab_running("jtlab", "10.82.0", nodes=3) as lab:
        up_s = time.monotonic() - t0
        nodes = inventory.from_file(lab.inventory_path)
        assert [n.name for n in nodes] == ["n1", "n2", "n3"]
        with SSHRemote(nodes) as remote:
            names = on_nodes(["n1", "n2", "n3"], lambda n: remote.execute(n, "hostname").stdout.strip())
            assert names == {"n1": "n1", "n2": "n2", "n3": "n3"}
            # Own data: a file in n1's /var/lib is not in n2's.
            remote.execute("n1", "mkdir -p /var/lib/jt && echo mine > /var/lib/jt/f")
            assert remote.execute("n2", "cat /var/lib/jt/f", check=False).exit_code != 0
            # Own process list: PID 1 is the node's init (a reaper) with the node's sshd as its
            # child, and the host's processes are invisible.
            init = remote.execute("n1", "cat /proc/1/cmdline | tr '\\0' ' '").stdout
            assert "os.wait()" in init
            assert "sshd_config_jepsy" in remote.execute("n1", "ps -o args= --ppid 1").stdout
            assert int(remote.execute("n1", "ls /proc | grep -c '^[0-9]'").stdout) < 20
            # Names resolve on every node.
            assert "10.82.0.13" in remote.execute("n1", "getent hosts n3").stdout
            # Own firewall: a rule on n1 is not on n2 nor on this machine.
            remote.execute("n1", "iptables -w -N jtlab && iptables -w -A jtlab -j ACCEPT")
            assert "jtlab" not in remote.execute("n2", "iptables -w -S").stdout
            host_rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
            assert "jtlab" not in host_rules
            # The machine's own home directory is not visible on a node.
            assert remote.execute("n1", "ls -A /root").stdout.split() == [".ssh"]
        # Idempotent: a second up of a healthy lab changes nothing.
        before = [s.init_pid for s in lab.status()]
        lab.up(3)
        assert [s.init_pid for s in lab.status()] == before
    assert up_s < 30
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "jtlab-" not in left
    assert subprocess.run(["ip", "link", "show", "jtlab-br"], capture_output=True).returncode != 0
