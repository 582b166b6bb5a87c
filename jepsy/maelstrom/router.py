#!/usr/bin/env python3
"""jepsy's Maelstrom router: one per node, between a Maelstrom-protocol program and the network.

Uploaded to every node by ``--db maelstrom`` and run there with the node's own
``python3`` (standard library only, so that nodes need nothing installed).  It

* starts the user's program (``sh -c 'exec CMD'``, a session and process group
  of its own, whose PID it writes to ``--program-pidfile`` so that jepsy's
  kill and pause faults reach the program and its children, never the router),
  sends it ``init`` (and ``topology`` when given) and waits for ``init_ok``;
* reads the program's stdout, one JSON message per line, and routes each by
  its ``dest``: this node (back to its stdin), another node (over TCP to that
  node's router), a client connected here (jepsy's workers), or a service
  (``lin-kv``, ``seq-kv``, ``lww-kv``, ``lin-tso``), which the router of the
  services node provides and every other router reaches over the same TCP
  links as node messages;
* accepts workers on ``--client-port`` (one line ``{"body": {...}}`` per
  request; each connection is one Maelstrom client ``cN``) only once the
  program has answered ``init``;
* on SIGUSR1 starts the program again (and re-sends ``init``) if it is not
  running: that is how jepsy's kill nemesis restarts a node.

What the network between routers guarantees (the README repeats it):

* one TCP connection per ordered pair of nodes, so messages from A to B are
  delivered in the order A sent them, at most once, never duplicated;
* a link whose data stays unacknowledged for ``--stall-ms`` (TCP_USER_TIMEOUT,
  default 1000 ms: a partition, a node gone) is dropped with whatever it held,
  and messages sent while a link is down are dropped (counted in the log), as
  a real network loses datagrams; after a heal the next message reconnects;
* packet loss, delay and reordering (netem) are absorbed by TCP: messages are
  delayed, not lost, unless a stall outlasts ``--stall-ms``;
* messages to a program that is killed are dropped; to a paused program they
  wait in its stdin pipe and are read when it resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

SERVICES = ("lin-kv", "seq-kv", "lww-kv", "lin-tso")
# Maelstrom's error codes the services answer with.
KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22
NOT_SUPPORTED = 10


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} router: {msg}\n")
    sys.stderr.flush()


# ---- services -----------------------------------------------------------------

class KV:
    """A key-value store answering Maelstrom's ``read``/``write``/``cas`` bodies.

    ``mode`` picks which past state a request sees: ``lin`` always the latest
    (linearizable); ``seq`` any state from the last one this client saw onwards
    (sequentially consistent: each client moves forward in one total order,
    updates included); ``lww`` one of several replicas, each write stamped with
    the time, merged last-writer-wins every ``gossip`` seconds (stale reads and
    lost updates, as Maelstrom's ``lww-kv`` intends).
    """

    def __init__(self, mode: str, rng: random.Random, replicas: int = 5,
                 gossip: float = 0.5) -> None:
        self.mode = mode
        self.rng = rng
        self.lock = threading.Lock()
        self.states: list[dict[str, Any]] = [{}]  # seq: every state, oldest first
        self.seen: dict[str, int] = {}
        self.replicas: list[dict[str, tuple[float, Any]]] = [{} for _ in range(replicas)]
        self.gossip = gossip
        self.last_gossip = time.monotonic()

    def handle(self, client: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.mode == "lww":
                return self._lww(body)
            latest = len(self.states) - 1
            if self.mode == "seq":
                lo = min(self.seen.get(client, 0), latest)
                at = self.rng.randint(lo, latest) if body.get("type") == "read" else latest
            else:
                at = latest
            state = self.states[at]
            reply = apply(state, body)
            if "__new__" in reply:
                self.states.append(reply.pop("__new__"))
                at = len(self.states) - 1
                if self.mode == "lin":
                    self.states = self.states[-1:]
                    at = 0
                elif len(self.states) > 10_000:  # bound memory; clients' views are kept recent
                    cut = len(self.states) - 1000
                    self.states = self.states[cut:]
                    self.seen = {c: max(0, s - cut) for c, s in self.seen.items()}
                    at -= cut
            self.seen[client] = at
            return reply

    def _lww(self, body: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        if now - self.last_gossip > self.gossip:
            merged: dict[str, tuple[float, Any]] = {}
            for r in self.replicas:
                for k, tv in r.items():
                    if k not in merged or tv[0] > merged[k][0]:
                        merged[k] = tv
            self.replicas = [dict(merged) for _ in self.replicas]
            self.last_gossip = now
        replica = self.rng.choice(self.replicas)
        reply = apply({k: v for k, (_, v) in replica.items()}, body)
        new = reply.pop("__new__", None)
        if new is not None:
            for k, v in new.items():
                if k not in replica or replica[k][1] != v:
                    replica[k] = (time.time(), v)
        return reply


def apply(state: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The reply to one KV request on ``state``; ``__new__`` holds the next state if it changed."""
    t = body.get("type")
    key = json.dumps(body.get("key"), sort_keys=True)
    if t == "read":
        if key not in state:
            return error(KEY_DOES_NOT_EXIST, "key does not exist")
        return {"type": "read_ok", "value": state[key]}
    if t == "write":
        return {"type": "write_ok", "__new__": {**state, key: body.get("value")}}
    if t == "cas":
        if key not in state:
            if body.get("create_if_not_exists"):
                return {"type": "cas_ok", "__new__": {**state, key: body.get("to")}}
            return error(KEY_DOES_NOT_EXIST, "key does not exist")
        if state[key] != body.get("from"):
            return error(PRECONDITION_FAILED,
                         f"expected {json.dumps(body.get('from'))}, had {json.dumps(state[key])}")
        return {"type": "cas_ok", "__new__": {**state, key: body.get("to")}}
    return error(NOT_SUPPORTED, f"unknown request type {t!r}")


def error(code: int, text: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "text": text}


class Services:
    """``lin-kv``, ``seq-kv``, ``lww-kv`` and ``lin-tso``, answered in this router."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.kvs = {"lin-kv": KV("lin", rng), "seq-kv": KV("seq", rng), "lww-kv": KV("lww", rng)}
        self.ts = 0
        self.ts_lock = threading.Lock()

    def handle(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        body = msg.get("body") or {}
        service, src = msg.get("dest"), str(msg.get("src"))
        if "msg_id" not in body:
            return None  # not a request: nothing to answer
        if service == "lin-tso":
            if body.get("type") == "ts":
                with self.ts_lock:
                    self.ts += 1
                    reply = {"type": "ts_ok", "ts": self.ts}
            else:
                reply = error(NOT_SUPPORTED, "lin-tso answers ts only")
        else:
            reply = self.kvs[str(service)].handle(src, body)
        reply["in_reply_to"] = body["msg_id"]
        return {"src": service, "dest": src, "body": reply}


# ---- links between routers --------------------------------------------------------

class Link:
    """Messages from this router to one other router, in order, over one TCP connection."""

    def __init__(self, name: str, addr: tuple[str, int], stall_ms: int) -> None:
        self.name = name
        self.addr = addr
        self.stall_ms = stall_ms
        self.q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.sock: socket.socket | None = None
        self.last_attempt = 0.0
        self.dropped = 0
        threading.Thread(target=self._run, name=f"link-{name}", daemon=True).start()

    def send(self, line: bytes) -> None:
        self.q.put(line)

    def _connect(self) -> socket.socket | None:
        now = time.monotonic()
        if now - self.last_attempt < 0.1:
            return None
        self.last_attempt = now
        try:
            s = socket.create_connection(self.addr, timeout=0.5)
        except OSError:
            return None
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, self.stall_ms)
        return s

    def _run(self) -> None:
        while True:
            batch = [self.q.get()]
            while len(batch) < 256:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            if self.sock is None:
                self.sock = self._connect()
            if self.sock is None:
                self._drop(len(batch), "link down")
                continue
            try:
                self.sock.sendall(b"".join(batch))
            except OSError as e:
                self._drop(len(batch), str(e))
                self.sock.close()
                self.sock = None

    def _drop(self, n: int, why: str) -> None:
        if self.dropped == 0 or (self.dropped + n) // 1000 > self.dropped // 1000:
            log(f"to {self.name}: {why}; {self.dropped + n} messages dropped so far")
        self.dropped += n


def keepalive(s: socket.socket) -> None:
    """A dead peer connection is noticed within seconds, so its reader thread ends."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, v in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            s.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), v)


# ---- the router ---------------------------------------------------------------------

class Router:
    def __init__(self, a: argparse.Namespace) -> None:
        self.node: str = a.node
        self.nodes: list[str] = a.nodes.split(",")
        addrs = dict(x.split("=", 1) for x in a.peers.split(",")) if a.peers else {}
        self.links = {n: Link(n, (hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])), a.stall_ms)
                      for n, hp in addrs.items() if n != self.node}
        self.services_node: str = a.services_node or self.nodes[0]
        self.services = Services(a.seed) if self.services_node == self.node else None
        self.a = a
        self.topology = json.loads(a.topology) if a.topology else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdin_q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.clients: dict[str, socket.socket] = {}
        self.clients_lock = threading.Lock()
        self.next_client = 0
        self.waiting: dict[int, threading.Event] = {}
        self.restart = threading.Event()
        self.started = threading.Event()

    # -- the program ------------------------------------------------------------
    def spawn(self) -> None:
        self.proc = subprocess.Popen(["sh", "-c", "exec " + self.a.cmd], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, start_new_session=True,
                                     cwd=self.a.dir or None)
        with open(self.a.program_pidfile, "w") as f:
            f.write(f"{self.proc.pid}\n")
        proc = self.proc
        q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.stdin_q = q
        threading.Thread(target=self._stdin_writer, args=(proc, q), daemon=True).start()
        threading.Thread(target=self._stdout_reader, args=(proc, q), daemon=True).start()
        self.rpc_to_program("init", {"type": "init", "node_id": self.node,
                                     "node_ids": self.nodes})
        log(f"program started (pid {proc.pid}) and initialised")
        if self.topology is not None:
            self.rpc_to_program("topology", {"type": "topology", "topology": self.topology})

    def rpc_to_program(self, what: str, body: dict[str, Any]) -> None:
        msg_id = random.randrange(1 << 30)
        ev = threading.Event()
        self.waiting[msg_id] = ev
        self.deliver({"src": "c0", "dest": self.node, "body": {**body, "msg_id": msg_id}})
        if not ev.wait(self.a.init_timeout):
            log(f"no answer to {what} after {self.a.init_timeout:g} s")
        self.waiting.pop(msg_id, None)

    def _stdin_writer(self, proc: subprocess.Popen[bytes], q: queue.SimpleQueue[bytes | None]) -> None:
        assert proc.stdin is not None
        while True:
            line = q.get()
            if line is None:
                return
            try:
                proc.stdin.write(line)
                if q.empty():
                    proc.stdin.flush()
            except (OSError, ValueError):
                return  # the program is gone: messages to it are dropped

    def _stdout_reader(self, proc: subprocess.Popen[bytes],
                       q: queue.SimpleQueue[bytes | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
                dest = msg["dest"]
            except (ValueError, KeyError, TypeError):
                log(f"not a Maelstrom message from the program: {line[:200]!r}")
                continue
            self.route(msg, line if line.endswith(b"\n") else line + b"\n", dest)
        code = proc.wait()
        log(f"program exited with {code}")
        q.put(None)  # ends this program's stdin writer (not a later program's)

    def deliver(self, msg: dict[str, Any]) -> None:
        self.stdin_q.put(json.dumps(msg).encode() + b"\n")

    # -- routing ----------------------------------------------------------------
    def route(self, msg: dict[str, Any], line: bytes, dest: Any) -> None:
        if dest == self.node:
            self.stdin_q.put(line)
        elif dest in self.links:
            self.links[dest].send(line)
        elif dest in SERVICES:
            if self.services is not None:
                self._serve(msg)
            elif self.services_node in self.links:
                self.links[self.services_node].send(line)
        elif dest == "c0":
            ev = self.waiting.get(int((msg.get("body") or {}).get("in_reply_to") or -1))
            if ev is not None:
                ev.set()
        else:
            with self.clients_lock:
                conn = self.clients.get(dest)
            if conn is None:
                log(f"message to unknown destination {dest!r} dropped")
                return
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"src": msg.get("src"), "body": msg.get("body")}).encode()
                             + b"\n")

    def _serve(self, msg: dict[str, Any]) -> None:
        assert self.services is not None
        reply = self.services.handle(msg)
        if reply is not None:
            self.route(reply, json.dumps(reply).encode() + b"\n", reply["dest"])

    # -- listeners ----------------------------------------------------------------
    def listen(self, port: int, handler: Any) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", port))
        srv.listen(128)

        def accept() -> None:
            while True:
                conn, _ = srv.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()

    def peer(self, conn: socket.socket) -> None:
        keepalive(conn)
        with conn, conn.makefile("rb") as f:
            try:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # cut off by a reset: lost with the connection
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    dest = msg.get("dest")
                    if dest in SERVICES and self.services is not None:
                        self._serve(msg)
                    elif dest == self.node:
                        self.stdin_q.put(line)
            except OSError:
                pass

    def client(self, conn: socket.socket) -> None:
        with self.clients_lock:
            self.next_client += 1
            cid = f"c{self.next_client * len(self.nodes) + self.nodes.index(self.node)}"
            self.clients[cid] = conn
        try:
            with conn, conn.makefile("rb") as f:
                for line in f:
                    try:
                        body = json.loads(line)["body"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    self.deliver({"src": cid, "dest": self.node, "body": body})
        except OSError:
            pass
        finally:
            with self.clients_lock:
                self.clients.pop(cid, None)

    def run(self) -> None:
        signal.signal(signal.SIGUSR1, lambda *_: self.restart.set())
        signal.signal(signal.SIGTERM, lambda *_: self.stop(0))
        self.listen(self.a.peer_port, self.peer)
        self.spawn()
        self.listen(self.a.client_port, self.client)
        log(f"{self.node} ready: clients on {self.a.client_port}, peers on {self.a.peer_port}"
            + (", services here" if self.services else f", services on {self.services_node}"))
        while True:
            if self.restart.wait(1.0):
                self.restart.clear()
                if self.proc is not None and self.proc.poll() is None:
                    continue
                self.spawn()

    def stop(self, code: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(code)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--node", required=True)
    p.add_argument("--nodes", required=True, help="every node id, comma-separated")
    p.add_argument("--peers", default="", help="name=ip:port of every node's router")
    p.add_argument("--client-port", type=int, default=8070)
    p.add_argument("--peer-port", type=int, default=8071)
    p.add_argument("--services-node", default="")
    p.add_argument("--topology", default="", help="JSON map: node -> neighbours")
    p.add_argument("--stall-ms", type=int, default=1000)
    p.add_argument("--init-timeout", type=float, default=10.0)
    p.add_argument("--program-pidfile", default="program.pid")
    p.add_argument("--dir", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cmd", required=True, help="the program, a shell command")
    return p.parse_args(argv)


if __name__ == "__main__":
    Router(parse(sys.argv[1:])).run()
