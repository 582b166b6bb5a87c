"""How jepsy reads OpenSSH configuration and checks host keys.

``~/.ssh/config`` is read the way OpenSSH reads it, including ``Include``
directives (which paramiko's parser ignores): each ``Include`` line is replaced
by the files its patterns match, relative paths resolved against ``~/.ssh`` as
OpenSSH does for a user's configuration, up to 16 levels deep.  Included text
is spliced where the directive stood, so an ``Include`` inside a ``Host`` block
applies to that block until the included file opens a block of its own.

Host keys: ``HostKeyPolicy`` rejects unknown hosts unless trust-on-first-use
was asked for explicitly, in which case the new key is remembered in the
known_hosts file it names.  A key that differs from a remembered one is always
refused (paramiko raises ``BadHostKeyException`` before any policy runs).
"""

from __future__ import annotations

import glob
import os
import shlex
import threading
from pathlib import Path
from typing import Any

from jepsy.errors import ConfigError

__all__ = ["HostKeyPolicy", "UnknownHostKey", "proxy_jump", "read_config_text", "ssh_config"]

_MAX_DEPTH = 16


def read_config_text(path: Path, base: Path | None = None, depth: int = 0) -> str:
    """The text of an ssh_config file with every ``Include`` expanded."""
    if depth > _MAX_DEPTH:
        raise ConfigError(f"{path}: Include nested more than {_MAX_DEPTH} levels")
    base = base or path.parent
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ""
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    out: list[str] = []
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if words and words[0].lower() == "include" and len(words) == 2:
            for pattern in shlex.split(words[1]):
                pattern = os.path.expanduser(pattern)
                if not os.path.isabs(pattern):
                    pattern = str(base / pattern)
                for match in sorted(glob.glob(pattern)):
                    if os.path.isfile(match):
                        out.append(read_config_text(Path(match), base, depth + 1))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def ssh_config(path: str | None = None) -> Any:
    """A paramiko ``SSHConfig`` of the user's (or the given) file, Includes expanded."""
    import paramiko

    file = Path(os.path.expanduser(path or "~/.ssh/config"))
    return paramiko.SSHConfig.from_text(read_config_text(file, file.parent))


def proxy_jump(node_vars: dict[str, Any]) -> str | None:
    """The jump host(s) an inventory asks for: ``jepsy_proxy_jump``, or ProxyJump / ``-J``
    in ``ansible_ssh_common_args`` (Ansible's way); None when the inventory says nothing
    (then ``~/.ssh/config`` may still name one)."""
    if node_vars.get("jepsy_proxy_jump"):
        return str(node_vars["jepsy_proxy_jump"])
    args = shlex.split(str(node_vars.get("ansible_ssh_common_args", "")))
    for i, a in enumerate(args):
        if a == "-J" and i + 1 < len(args):
            return args[i + 1]
        if a == "-o" and i + 1 < len(args) and args[i + 1].lower().startswith("proxyjump="):
            return args[i + 1].split("=", 1)[1]
        if a.lower().startswith("-oproxyjump="):
            return a.split("=", 1)[1]
    return None


class UnknownHostKey(Exception):
    """A host (a node or a jump host) whose key is in no known_hosts file."""

    def __init__(self, hostname: str) -> None:
        super().__init__(f"host key of {hostname} is unknown")
        self.hostname = hostname


class HostKeyPolicy:
    """Missing-host-key policy: reject, or (trust-on-first-use) remember in ``known_hosts``."""

    _lock = threading.Lock()

    def __init__(self, trust_on_first_use: bool, known_hosts: str | None) -> None:
        self.trust = trust_on_first_use
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if not self.trust:
            raise UnknownHostKey(hostname)
        client.get_host_keys().add(hostname, key.get_name(), key)
        with self._lock:
            os.makedirs(os.path.dirname(self.known_hosts) or ".", exist_ok=True)
            with open(self.known_hosts, "a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
