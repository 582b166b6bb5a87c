"""Control: running commands on nodes over SSH (fabric on paramiko), one or many at once.

``Remote`` is the protocol every DB, nemesis and checker uses; ``SSHRemote`` is
the real one and ``jepsy.doubles.FakeRemote`` the double.  Contracts:

* ``execute`` returns a ``Result`` whatever the exit code, unless ``check`` is
  true, in which case a non-zero exit raises ``CommandFailed`` carrying the result.
* Commands are shell strings; build them with ``sh(...)`` (every argument quoted),
  never by pasting untrusted text into a string.
* ``sudo=True`` runs the command as root: directly when the login user is root,
  else through ``sudo -S`` with the password from the environment variable the
  inventory names (``ansible_become_password_env``), never from a file.
* Connections are opened once and kept (faults must apply fast).  A command
  whose connection breaks (EOF, reset, an SSH error) is tried once more on a
  new connection, so commands sent through ``execute`` should be safe to
  repeat; one that times out is not retried (``CommandTimeout``), and its
  connection is dropped.  Host keys (of nodes and of jump hosts) are checked against
  ``~/.ssh/known_hosts`` and the inventory's ``jepsy_known_hosts``; an unknown
  key is an error unless trust-on-first-use was asked for, a changed key always.
* Jump hosts come from the inventory (``jepsy_proxy_jump`` or Ansible's
  ``ansible_ssh_common_args``) or from ``~/.ssh/config`` (with ``Include``).
* ``on_nodes(nodes, fn)`` runs ``fn(node)`` on every node in parallel and
  returns ``{node: result}``; if any raised, a ``RemoteError`` carries the whole
  map (results and exceptions), or with ``raise_errors=False`` the map holds
  the exceptions in place of results.
* ``OpensLines`` is an optional power (``SSHRemote`` has it, the double does
  not): ``open_lines(node, command)`` starts one long-lived command on the open
  connection and exchanges lines with it, so that a question is a line written
  and a line read with no process started per question (``jepsy.clockprobe``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from jepsy.errors import CommandFailed, CommandTimeout, ConfigError, ConnectError, RemoteError
from jepsy.inventory import Node

__all__ = ["Lines", "OpensLines", "Remote", "Result", "SSHRemote", "on_nodes", "sh"]

T = TypeVar("T")


def sh(*args: object) -> str:
    """One shell command with every argument quoted: ``sh("echo", "a b") == "echo 'a b'"``."""
    return shlex.join(str(a) for a in args)


@dataclass(frozen=True)
class Result:
    """What a command did on one node."""

    node: str
    command: str
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        err = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"{self.node}: `{self.command}` exited {self.exit_code}" + (f": {err[-1]}" if err else "")


@runtime_checkable
class Remote(Protocol):
    """Runs commands on nodes by name.  Must be safe to call from many threads at once."""

    def execute(self, node: str, command: str, *, timeout: float = 60.0, sudo: bool = False,
                check: bool = True, stdin: str | None = None) -> Result: ...

    def upload(self, node: str, local: str, remote: str) -> None: ...

    def download(self, node: str, remote: str, local: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Lines(Protocol):
    """A long-lived command on a node, spoken to a line at a time (one thread at a time)."""

    def ask(self, line: str, timeout: float) -> str:
        """Write ``line`` and a newline; return the next line it prints (no newline).

        Raises ``ConnectError`` when the command has ended (EOF) or nothing came in
        ``timeout`` seconds; the channel is then unusable.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class OpensLines(Protocol):
    """A Remote that can keep a command running and exchange lines with it."""

    def open_lines(self, node: str, command: str, *, timeout: float = 20.0) -> Lines: ...


def on_nodes(nodes: Iterable[str], fn: Callable[[str], T], *, raise_errors: bool = True) -> dict[str, Any]:
    """``fn(node)`` on every node in parallel: ``{node: return value or exception}``."""
    names = list(nodes)
    if not names:
        return {}
    results: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=min(32, len(names))) as pool:
        futures = {n: pool.submit(fn, n) for n in names}
        for n, fut in futures.items():
            try:
                results[n] = fut.result()
            except Exception as e:
                results[n] = e
    failed = {n: r for n, r in results.items() if isinstance(r, Exception)}
    if failed and raise_errors:
        first = next(iter(failed.values()))
        if len(failed) == 1 and isinstance(first, RemoteError):
            first.results = results
            raise first
        detail = "; ".join(f"{n}: {e}" for n, e in failed.items())
        raise RemoteError(f"{len(failed)} of {len(names)} nodes failed: {detail}", results)
    return results


_TRANSIENT = (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout)


class SSHRemote:
    """The real Remote: one persistent fabric ``Connection`` per node."""

    def __init__(self, nodes: Iterable[Node], *, connect_timeout: float = 10.0,
                 sudo_password: str | None = None, trust_on_first_use: bool = False) -> None:
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.connect_timeout = connect_timeout
        self.sudo_password = sudo_password
        self.trust_on_first_use = trust_on_first_use
        self._fabric_config: Any = None
        self._conns: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {n: threading.Lock() for n in self.nodes}
        self._build_lock = threading.Lock()

    # -- connections -------------------------------------------------------
    def _node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise ConfigError(f"unknown node {name!r}") from None

    def connection(self, name: str) -> Any:
        """The open fabric Connection to ``name`` (opened on first use)."""
        node = self._node(name)
        with self._locks[name]:
            conn = self._conns.get(name)
            if conn is not None and conn.is_connected:
                return conn
            conn = self._open(node)
            self._conns[name] = conn
            return conn

    def _config(self) -> Any:
        """fabric's Config over the user's ssh_config, read with Includes expanded (once)."""
        from fabric import Config

        if self._fabric_config is None:
            from jepsy.sshconfig import ssh_config

            self._fabric_config = Config(ssh_config=ssh_config())
        return self._fabric_config

    def _secure(self, conn: Any, node: Node) -> None:
        """Verify host keys on ``conn`` and on every gateway before it, against the user's
        ``~/.ssh/known_hosts`` and the inventory's ``jepsy_known_hosts``."""
        from jepsy.sshconfig import HostKeyPolicy

        files = [os.path.expanduser("~/.ssh/known_hosts"), node.known_hosts]
        hop = conn
        while hop is not None and not isinstance(hop, str):
            client = hop.client
            client.set_missing_host_key_policy(HostKeyPolicy(self.trust_on_first_use, node.known_hosts))
            for path in files:
                if path and os.path.exists(path):
                    try:
                        client.load_host_keys(path)
                    except (OSError, ValueError) as e:
                        raise ConfigError(f"{node.name}: cannot read known_hosts {path} ({e})") from None
            hop = hop.gateway

    def _open(self, node: Node) -> Any:
        import paramiko
        from fabric import Connection

        from jepsy.sshconfig import UnknownHostKey, proxy_jump

        connect_kwargs: dict[str, Any] = {"banner_timeout": self.connect_timeout,
                                          "auth_timeout": self.connect_timeout}
        if node.key_file:
            if not os.path.exists(node.key_file):
                raise ConfigError(f"{node.name}: private key {node.key_file} does not exist")
            connect_kwargs["key_filename"] = [node.key_file]
        # Connections are built one at a time, each on its own copy of the config: fabric's
        # Connection() writes to its config, and every write makes invoke rebuild the whole
        # config (empty for a moment), which other threads building theirs then read as
        # "No attribute or config key found for 'gateway'" (seen under load on the lab).
        with self._build_lock:
            config = self._config()
            gateway = None
            jump = proxy_jump(node.vars)
            if jump:
                # A chain "a,b" reaches b through a: build from the first hop outwards.
                for hop in jump.split(","):
                    gateway = Connection(hop.strip(), config=config.clone(), gateway=gateway,
                                         connect_timeout=self.connect_timeout,
                                         connect_kwargs=dict(connect_kwargs))
            conn = Connection(node.host, user=node.user, port=node.port, config=config.clone(),
                              gateway=gateway, connect_timeout=self.connect_timeout,
                              connect_kwargs=connect_kwargs)
        self._secure(conn, node)
        via = f" via {jump}" if jump else ""
        try:
            conn.open()
        except paramiko.BadHostKeyException as e:
            raise ConnectError(f"{node.name}: host key of {e.hostname} does not match known_hosts "
                               "(possible man-in-the-middle, or the host was rebuilt)") from None
        except paramiko.AuthenticationException as e:
            raise ConnectError(f"{node.name}: authentication to {conn.user}@{node.host}{via} failed "
                               f"({e}); check the key and user in the inventory") from None
        except UnknownHostKey as e:
            raise ConnectError(
                f"{node.name}: {e}; add it to known_hosts, set jepsy_known_hosts in the inventory, "
                "or pass --trust-on-first-use") from None
        except paramiko.SSHException as e:
            raise ConnectError(f"{node.name}: SSH to {node.host}{via} failed: {e}") from None
        except (TimeoutError, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise ConnectError(f"{node.name}: cannot connect to {node.host}:{conn.port}{via} "
                               f"({reason})") from None
        # Commands are small request/response exchanges: without TCP_NODELAY, Nagle's
        # algorithm meets delayed ACKs and every command waits ~40 ms more (measured).
        transport = conn.client.get_transport()
        sock = getattr(transport, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A node whose link is cut must not hang a command (or a heal) forever: SSH
            # keepalives keep data in flight, and the kernel gives the connection up when
            # it stays unacknowledged for 15 s; the command then fails as a lost
            # connection and the next one reconnects.
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 15000)
                transport.set_keepalive(5)
        return conn

    def _drop(self, name: str) -> None:
        with self._locks[name]:
            conn = self._conns.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- commands -----------------------------------------------------------
    def _wrap(self, node: Node, command: str, sudo: bool, user: str) -> tuple[str, str | None]:
        if not sudo or user == "root":
            return command, None
        env = node.vars.get("ansible_become_password_env")
        password = os.environ.get(str(env)) if env else self.sudo_password
        prefix = "sudo -S -p '' " if password is not None else "sudo -n "
        return prefix + sh("sh", "-c", command), password

    def execute(self, node: str, command: str, *, timeout: float = 60.0, sudo: bool = False,
                check: bool = True, stdin: str | None = None) -> Result:
        from invoke.exceptions import CommandTimedOut

        spec = self._node(node)
        for attempt in (1, 2):
            conn = self.connection(node)
            full, password = self._wrap(spec, command, sudo, conn.user)
            data = (password + "\n" if password is not None else "") + (stdin or "")
            try:
                r = self._run(conn, full, timeout, data)
                break
            except CommandTimedOut:
                # Its channel is stuck (a lost link looks like this): reconnect next time.
                self._drop(node)
                raise CommandTimeout(f"{node}: `{command}` did not finish in {timeout:g} s") from None
            except _TRANSIENT as e:
                self._drop(node)
                if attempt == 2:
                    raise ConnectError(f"{node}: connection lost running `{command}` ({e!r})") from None
            except Exception as e:
                if type(e).__name__ in ("SSHException", "NoValidConnectionsError", "ChannelException"):
                    self._drop(node)
                    if attempt == 2:
                        raise ConnectError(f"{node}: SSH failed running `{command}` ({e})") from None
                else:
                    raise
        result = Result(node, command, r.stdout, r.stderr, r.exited)
        if check and not result.ok:
            raise CommandFailed(result.describe(), result)
        return result

    @staticmethod
    def _run(conn: Any, command: str, timeout: float, data: str) -> Any:
        import io

        return conn.run(command, hide=True, warn=True, timeout=timeout, pty=False,
                        in_stream=io.StringIO(data) if data else False)

    def open_lines(self, node: str, command: str, *, timeout: float = 20.0) -> Lines:
        """``command`` (as the login user, no sudo) on a new channel of the open connection."""
        try:
            transport = self.connection(node).client.get_transport()
            chan = transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
        except (*_TRANSIENT, OSError) as e:
            self._drop(node)
            raise ConnectError(f"{node}: cannot start `{command}` ({e!r})") from None
        except Exception as e:
            if type(e).__name__ not in ("SSHException", "ChannelException"):
                raise
            self._drop(node)
            raise ConnectError(f"{node}: cannot start `{command}` ({e})") from None
        return _ChannelLines(node, chan)

    def upload(self, node: str, local: str, remote: str) -> None:
        try:
            self.connection(node).put(local, remote)
        except OSError as e:
            raise RemoteError(f"{node}: upload of {local} to {remote} failed ({e})") from None

    def download(self, node: str, remote: str, local: str) -> None:
        try:
            self.connection(node).get(remote, local)
        except OSError as e:
            raise RemoteError(f"{node}: download of {remote} failed ({e})") from None

    def close(self) -> None:
        for name in list(self._conns):
            self._drop(name)

    def __enter__(self) -> SSHRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ChannelLines:
    """``Lines`` over one paramiko channel: bytes in, lines out, stderr ignored."""

    def __init__(self, node: str, chan: Any) -> None:
        self.node = node
        self.chan = chan
        self.buf = b""

    def ask(self, line: str, timeout: float) -> str:
        try:
            self.chan.settimeout(timeout)
            self.chan.sendall(line.encode() + b"\n")
            while b"\n" not in self.buf:
                chunk = self.chan.recv(4096)
                if not chunk:
                    raise ConnectError(f"{self.node}: the command on the channel ended")
                self.buf += chunk
        except (*_TRANSIENT, OSError) as e:
            raise ConnectError(f"{self.node}: channel lost ({e!r})") from None
        out, _, self.buf = self.buf.partition(b"\n")
        return out.decode(errors="replace")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.chan.close()
