"""The local lab: cluster nodes made of Linux namespaces on one machine.

A node is a network namespace (its own address, routes and iptables) joined to a
bridge by a veth pair, in which ``unshare`` starts a new UTS, mount and PID
namespace whose init starts the node's own sshd (and then stays as PID 1, reaping;
``stop_sshd``/``start_sshd`` end and restart that sshd with the node up).  Inside, ``/etc``, ``/var`` and
``/opt`` are overlays on the host's directories with a per-node upper layer;
``/root`` and ``/home`` are the node's own empty directories, and
``/run`` and ``/tmp`` are fresh tmpfs: every node sees the host's installed programs but has its own data,
logs, configuration, hostname and process list, at the same paths as any other
node.  To SSH, iptables and kill it is a real host; it shares the machine's
kernel and therefore its wall clock.

Teardown kills the PID-namespace init with SIGKILL (which ends everything in the
node at once) and then every process left in the network namespace, deletes the
namespaces and links, and removes the node directories.  Nothing in here ever
kills by name.

Layout of ``Lab.dir`` (default ``/srv/jepsy-lab``)::

    id_ed25519, id_ed25519.pub   the lab key, kept across ``up``/``down``
    known_hosts                  host keys of the nodes (written at ``up``)
    inventory.yaml               the inventory ``jepsy test`` takes
    lab.json                     state: nodes, addresses, init PIDs
    nodes/<node>/                upper/work layers, init script, console log
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jepsy.errors import LabError

__all__ = ["Lab", "NodeStatus"]

OVERLAID = ("etc", "var", "opt")
# Fresh per node (not overlays): the machine's own home directories hold its
# shell start-up files and credentials, which a node must neither run nor see.
PRIVATE = ("root", "home")
BASE_PACKAGES = {"sshd": "openssh-server", "ssh-keygen": "openssh-client", "iptables": "iptables",
                 "ip": "iproute2", "unshare": "util-linux", "tc": "iproute2"}
_HOSTS_BEGIN = "# BEGIN jepsy lab {name} (managed by jepsy; removed by 'jepsy lab down')"
_HOSTS_END = "# END jepsy lab {name}"

_INIT = """#!/bin/sh
# PID 1 of lab node {node}: private mounts, hostname, sshd as a child, then a reaper as PID 1
# (so that sshd can be stopped and started again without ending the node).
set -e
mount --make-rprivate /
for d in {overlaid}; do
  mount -t overlay "overlay-{node}-$d" -o "lowerdir=/$d,upperdir={ndir}/upper/$d,workdir={ndir}/work/$d" "/$d"
done
for d in {private}; do
  mount --bind "{ndir}/$d" "/$d"
done
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/sshd /var/log /var/lib
hostname {node}
/usr/sbin/sshd -D -e -f {sshd_config} &
exec {python} -c '{reaper}'
"""
SSHD_CONFIG = "/etc/ssh/sshd_config_jepsy"
# PID 1 of a node reaps every orphan (daemons started with setsid, sshd sessions whose
# sshd was stopped) and otherwise sleeps; without a handler, no signal from inside the
# node ends it, as for any PID 1.
_REAPER = ("import os, time\n"
           "while True:\n"
           "    try:\n"
           "        os.wait()\n"
           "    except ChildProcessError:\n"
           "        time.sleep(1)\n")

_SSHD_CONFIG = """# sshd of jepsy lab node {node}
Port 22
ListenAddress {ip}
HostKey /etc/ssh/ssh_host_ed25519_key_jepsy
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
MaxStartups 100:30:200
MaxSessions 100
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""


@dataclass
class NodeStatus:
    name: str
    ip: str
    init_pid: int | None
    alive: bool
    ssh: bool


def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=120)
    except FileNotFoundError:
        raise LabError(f"{cmd[0]} is not installed") from None
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _port_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH")
    except OSError:
        return False


def _python() -> str:
    """The system's python3 (a node cannot see a virtualenv under /root or /home)."""
    for p in ("/usr/bin/python3", "/bin/python3", "/usr/local/bin/python3"):
        if os.access(p, os.X_OK):
            return p
    raise LabError("the lab needs the system's python3 (/usr/bin/python3) as its nodes' init: "
                   "apt-get install python3")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (host PIDs; empty once it is gone)."""
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Lab:
    """A lab of ``n1..nN`` nodes on bridge ``<name>-br``, addresses ``<subnet>.11`` upwards.

    Several labs can coexist if they differ in ``name``, ``dir`` and ``subnet``
    (the test suite uses its own).  ``host_names`` adds the node names to the
    machine's ``/etc/hosts`` in a marked block, removed again at ``down``.
    """

    name: str = "jepsy"
    dir: Path = field(default_factory=lambda: Path(os.environ.get("JEPSY_LAB_DIR", "/srv/jepsy-lab")))
    subnet: str = "10.77.0"
    host_names: bool = True

    # ---- names and paths -------------------------------------------------
    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yaml"

    @property
    def key_path(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.dir / "known_hosts"

    def netns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def ip(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"

    def node_dir(self, node: str) -> Path:
        return self.dir / "nodes" / node

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    # ---- preconditions ---------------------------------------------------
    @staticmethod
    def require_root() -> None:
        if os.geteuid() != 0:
            raise LabError("the local lab needs root (namespaces, bridges, mounts): run with sudo")

    @staticmethod
    def install_packages(packages: list[str]) -> None:
        """Install Debian packages on the host (nodes share its /usr and cannot reach registries)."""
        missing = [p for p in packages
                   if _run("dpkg-query", "-W", "-f=${Status}", p, check=False).stdout
                   != "install ok installed"]
        if not missing:
            return
        if shutil.which("apt-get") is None:
            raise LabError(f"cannot install {', '.join(missing)}: no apt-get on this machine")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise LabError(f"apt-get install {' '.join(missing)} failed: {tail}")

    def _ensure_tools(self) -> None:
        missing = sorted({pkg for tool, pkg in BASE_PACKAGES.items()
                          if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()})
        if missing:
            self.install_packages(missing)

    # ---- up ----------------------------------------------------------------
    def up(self, nodes: int = 5, packages: list[str] | None = None) -> Path:
        """Build the lab (idempotent: a healthy lab of the same size is left as is).

        Returns the inventory path.
        """
        self.require_root()
        if not 1 <= nodes <= 50:
            raise LabError("a lab has between 1 and 50 nodes")
        self._ensure_tools()
        if packages:
            self.install_packages(packages)
        state = self.state()
        if state and len(state.get("nodes", [])) == nodes and all(s.ssh for s in self.status()):
            return self.inventory_path
        if state or self._leftovers():
            self.down()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not self.key_path.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jepsy-lab-{self.name}",
                 "-f", str(self.key_path))
        names = [f"n{i}" for i in range(1, nodes + 1)]
        hosts = "".join(f"{self.ip(i)}\t{n}\n" for i, n in enumerate(names, 1))
        try:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            _run("ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            records = [self._start_node(n, i, hosts) for i, n in enumerate(names, 1)]
            self.state_file.write_text(json.dumps(
                {"name": self.name, "subnet": self.subnet, "bridge": self.bridge, "nodes": records},
                indent=2))
            self._wait_for_ssh(records)
            self._write_known_hosts(records)
            self._write_inventory(records)
            if self.host_names:
                self._set_host_names(hosts)
        except BaseException:
            self.down()
            raise
        return self.inventory_path

    def _start_node(self, node: str, i: int, hosts: str) -> dict[str, Any]:
        ndir = self.node_dir(node)
        for d in OVERLAID:
            (ndir / "upper" / d).mkdir(parents=True, exist_ok=True)
            (ndir / "work" / d).mkdir(parents=True, exist_ok=True)
        for d in PRIVATE:
            (ndir / d).mkdir(exist_ok=True)
        os.chmod(ndir / "root", 0o700)
        etc = ndir / "upper" / "etc"
        (etc / "ssh").mkdir(exist_ok=True)
        (etc / "hostname").write_text(node + "\n")
        (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{hosts}")
        (etc / "ssh" / "sshd_config_jepsy").write_text(_SSHD_CONFIG.format(node=node, ip=self.ip(i)))
        hostkey = etc / "ssh" / "ssh_host_ed25519_key_jepsy"
        if not hostkey.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node}", "-f", str(hostkey))
        ssh_dir = ndir / "root" / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(ssh_dir, 0o700)
        (ssh_dir / "authorized_keys").write_text(Path(f"{self.key_path}.pub").read_text())
        init = ndir / "init.sh"
        init.write_text(_INIT.format(node=node, ndir=ndir, overlaid=" ".join(OVERLAID),
                                     private=" ".join(PRIVATE), sshd_config=SSHD_CONFIG,
                                     python=_python(), reaper=_REAPER))

        ns, veth = self.netns(node), f"{self.name}-{node}"
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run("ip", "link", "set", veth, "master", self.bridge, "up")
        _run("ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        with open(ndir / "console.log", "ab") as console:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, "unshare", "--uts", "--mount", "--pid", "--fork",
                 "--mount-proc", "--propagation", "private", "sh", str(init)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console, start_new_session=True)
        init_pid = self._child_of(proc.pid)
        return {"name": node, "ip": self.ip(i), "netns": ns, "veth": veth,
                "unshare_pid": proc.pid, "init_pid": init_pid}

    @staticmethod
    def _child_of(pid: int, timeout: float = 5.0) -> int | None:
        """The forked child of ``unshare`` (PID 1 of the node, seen from the host)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                return None
            if children:
                return int(children[0])
            time.sleep(0.02)
        return None

    def _wait_for_ssh(self, records: list[dict[str, Any]], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {r["name"]: r for r in records}
        while pending and time.monotonic() < deadline:
            for name, r in list(pending.items()):
                if _port_open(r["ip"], 22):
                    del pending[name]
            if pending:
                time.sleep(0.05)
        if pending:
            logs = "; ".join(f"{n}: {(self.node_dir(n) / 'console.log').read_text()[-200:].strip()}"
                             for n in pending)
            raise LabError(f"sshd did not come up on {', '.join(pending)} ({logs})")

    def _write_known_hosts(self, records: list[dict[str, Any]]) -> None:
        lines = []
        for r in records:
            pub = (self.node_dir(r["name"]) / "upper/etc/ssh/ssh_host_ed25519_key_jepsy.pub").read_text()
            kind, key = pub.split()[:2]
            lines.append(f"{r['name']},{r['ip']} {kind} {key}\n")
        self.known_hosts_path.write_text("".join(lines))

    def _write_inventory(self, records: list[dict[str, Any]]) -> None:
        inventory = {
            "all": {
                "vars": {
                    "ansible_user": "root",
                    "ansible_port": 22,
                    "ansible_ssh_private_key_file": str(self.key_path),
                    "jepsy_known_hosts": str(self.known_hosts_path),
                    "jepsy_lab": str(self.dir),
                },
                "hosts": {r["name"]: {"ansible_host": r["ip"]} for r in records},
            }
        }
        header = f"# Written by 'jepsy lab up' for lab {self.name!r}; rewritten at every 'lab up'.\n"
        self.inventory_path.write_text(header + yaml.safe_dump(inventory, sort_keys=False))

    def _set_host_names(self, hosts: str) -> None:
        self._clear_host_names()
        block = (_HOSTS_BEGIN.format(name=self.name) + "\n" + hosts + _HOSTS_END.format(name=self.name)
                 + "\n")
        with open("/etc/hosts", "a") as f:
            f.write(block)

    def _clear_host_names(self) -> None:
        try:
            text = Path("/etc/hosts").read_text()
        except OSError:
            return
        begin, end = _HOSTS_BEGIN.format(name=self.name), _HOSTS_END.format(name=self.name)
        if begin not in text:
            return
        head, _, rest = text.partition(begin + "\n")
        _, _, tail = rest.partition(end + "\n")
        # /etc/hosts may be a bind mount (containers): rewrite in place, never rename.
        with open("/etc/hosts", "w") as f:
            f.write(head + tail)

    # ---- a node's sshd ------------------------------------------------------
    def _init_of(self, node: str) -> int:
        for r in self.state().get("nodes", []):
            if r["name"] == node and _pid_alive(r.get("init_pid")):
                return int(r["init_pid"])
        raise LabError(f"lab {self.name!r} has no running node {node!r}")

    def _sshd_listeners(self, init: int) -> list[int]:
        return [p for p in _children(init) if _exe(p).startswith("/usr/sbin/sshd")]

    def stop_sshd(self, node: str) -> list[int]:
        """Stop ``node``'s sshd as a crash or ``kill`` of every sshd process would.

        The listener dies first (new connections are then refused), then every session
        it forked (every open SSH connection to the node drops); the commands those
        sessions ran are left alone, as they would be on a real host.  The node itself
        (its init, network, database) keeps running.  Returns the host PIDs killed.
        """
        self.require_root()
        killed: list[int] = []
        for listener in self._sshd_listeners(self._init_of(node)):
            sessions: list[int] = []
            todo = _children(listener)
            while todo:  # sshd's privilege-separated children, then their session children
                p = todo.pop()
                if _exe(p).startswith("/usr/sbin/sshd"):
                    sessions.append(p)
                    todo += _children(p)
            for p in [listener, *sessions]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
                    killed.append(p)
        return killed

    def start_sshd(self, node: str, timeout: float = 20.0) -> None:
        """Start ``node``'s sshd again (a no-op while one runs) and wait until it answers."""
        self.require_root()
        init = self._init_of(node)
        if not self._sshd_listeners(init):
            console = self.node_dir(node) / "console.log"
            _run("nsenter", "-t", str(init), "-m", "-u", "-n", "-p", "--", "sh", "-c",
                 f"cd / && /usr/sbin/sshd -D -e -f {SSHD_CONFIG} >> {console} 2>&1 < /dev/null &")
        ip = next(r["ip"] for r in self.state()["nodes"] if r["name"] == node)
        self._wait_for_ssh([{"name": node, "ip": ip}], timeout=timeout)

    # ---- status and down ---------------------------------------------------
    def status(self) -> list[NodeStatus]:
        out = []
        for r in self.state().get("nodes", []):
            alive = _pid_alive(r.get("init_pid"))
            out.append(NodeStatus(r["name"], r["ip"], r.get("init_pid"), alive,
                                  alive and _port_open(r["ip"], 22)))
        return out

    def _leftovers(self) -> list[str]:
        """Namespaces and links of this lab's name that exist without state (after a crash)."""
        found = [ns.split()[0] for ns in _run("ip", "netns", "list", check=False).stdout.splitlines()
                 if ns.startswith(f"{self.name}-n")]
        if Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(self.bridge)
        return found

    def down(self) -> None:
        """Remove everything ``up`` made; safe to call on a half-built or absent lab."""
        self.require_root()
        records = self.state().get("nodes", [])
        for r in records:
            for pid in (r.get("init_pid"), r.get("unshare_pid")):
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        namespaces = {r["netns"] for r in records} | {
            n for n in self._leftovers() if n != self.bridge}
        for ns in namespaces:
            # Anything still in the node's network namespace is ours too.
            for pid in _run("ip", "netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for r in records:
            self._reap(r.get("unshare_pid"))
        for ns in namespaces:
            _run("ip", "netns", "del", ns, check=False)
        for r in records:
            if Path(f"/sys/class/net/{r['veth']}").exists():
                _run("ip", "link", "del", r["veth"], check=False)
        if Path(f"/sys/class/net/{self.bridge}").exists():
            _run("ip", "link", "del", self.bridge, check=False)
        self._clear_host_names()
        shutil.rmtree(self.dir / "nodes", ignore_errors=True)
        for f in (self.state_file, self.inventory_path, self.known_hosts_path):
            f.unlink(missing_ok=True)

    @staticmethod
    def _reap(pid: int | None, timeout: float = 5.0) -> None:
        """Wait for ``unshare`` to exit (reaping it when this process started it)."""
        if not pid:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:  # started by another jepsy: wait for it to vanish
                if not _pid_alive(pid):
                    return
            time.sleep(0.02)

    def leftovers(self) -> list[str]:
        """What of this lab still exists on the machine (empty after a clean ``down``)."""
        left = self._leftovers()
        for r in self.state().get("nodes", []):
            if _pid_alive(r.get("init_pid")):
                left.append(f"process {r['init_pid']}")
        if (self.dir / "nodes").exists():
            left.append(str(self.dir / "nodes"))
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            mounts = ""
        left += [line.split()[1] for line in mounts.splitlines()
                 if f"/run/netns/{self.name}-n" in line]
        return left
