#!/usr/bin/env python3
"""A toy replicated key-value store speaking jepsy's HTTP+JSON protocol (see README,
"Testing your own system"): the reference program for ``--db process``.

It is primary-backup with a fixed primary, the first node of ``--cluster``.
Two modes show what jepsy finds and what it does not:

* ``--mode safe``: every operation, read or write, is executed by the primary
  under one lock, in one order; the primary keeps its state in a file under
  ``--data`` (written before it answers), so a restart loses nothing
  acknowledged.  A backup forwards requests to the primary and passes its
  answer back: 503 when the primary cannot be reached (nothing was sent), 504
  when the forwarded request was sent but no answer came (it may have been
  applied).  Linearizable, and unavailable while the primary is cut off.
* ``--mode naive``: the primary applies writes and answers at once, then ships
  them to the backups in the background; every node answers reads from its own
  copy, and nothing is persisted.  Reads on a backup are stale while it lags or
  is partitioned away (jepsy's register workload finds that), and a restarted
  primary starts empty.

Standard library only, so it runs on any node that has ``python3``::

    kvserver.py --id n1 --port 8080 --cluster n1=10.0.0.11:8080,n2=10.0.0.12:8080 \\
                --data /var/lib/kv --mode safe
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FORWARD_TIMEOUT = 1.0


class Unsupported(Exception):
    """The request names an operation this server does not have (answered 400)."""


class State:
    """The replicated state machine: registers, one set, append-only lists.

    ``apply`` is deterministic, so applying the same operations in the same
    order on every node gives the same state.  It returns ``(status, body)``.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.kv: dict[str, Any] = {}
        self.elements: list[Any] = []
        if path and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            self.kv, self.elements = saved["kv"], saved["elements"]

    def _save(self) -> None:
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"kv": self.kv, "elements": self.elements}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def apply(self, path: str, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            status, body, wrote = self._apply(path, req)
            if wrote:
                self._save()
            return status, body

    def _apply(self, path: str, req: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        if path == "/register/read":
            return 200, {"value": self.kv.get(f"r{req['key']}")}, False
        if path == "/register/write":
            self.kv[f"r{req['key']}"] = req["value"]
            return 200, {}, True
        if path == "/register/cas":
            key = f"r{req['key']}"
            if self.kv.get(key) != req["from"]:
                return 409, {"error": f"expected {req['from']!r}, found {self.kv.get(key)!r}"}, False
            self.kv[key] = req["to"]
            return 200, {}, True
        if path == "/set/add":
            self.elements.append(req["element"])
            return 200, {}, True
        if path == "/set/read":
            return 200, {"elements": list(self.elements)}, False
        if path == "/txn":
            out, wrote = [], False
            for f, k, v in req["txn"]:
                key = f"t{k}"
                if f == "r":
                    out.append([f, k, self.kv.get(key)])
                elif f == "w":
                    self.kv[key], wrote = v, True
                    out.append([f, k, v])
                elif f == "append":
                    self.kv[key] = [*(self.kv.get(key) or []), v]
                    wrote = True
                    out.append([f, k, v])
                else:
                    raise Unsupported(f"unknown micro-op {f!r}")
            return 200, {"txn": out}, wrote
        raise Unsupported(f"no such operation {path}")


READS = ("/register/read", "/set/read")


class Node:
    """One server: its state, its role and (naive mode) its replication queues."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.id = args.id
        self.mode = args.mode
        self.cluster = dict(p.split("=", 1) for p in args.cluster.split(",") if p)
        self.primary = next(iter(self.cluster))
        self.is_primary = self.id == self.primary
        os.makedirs(args.data, exist_ok=True)
        persist = self.mode == "safe" and self.is_primary
        self.state = State(os.path.join(args.data, "state.json") if persist else None)
        self.outboxes: dict[str, queue.Queue[tuple[str, dict[str, Any]]]] = {}
        if self.mode == "naive" and self.is_primary:
            for peer, addr in self.cluster.items():
                if peer != self.id:
                    self.outboxes[peer] = queue.Queue()
                    threading.Thread(target=self._ship, args=(addr, self.outboxes[peer]),
                                     daemon=True).start()

    def _ship(self, addr: str, box: queue.Queue[tuple[str, dict[str, Any]]]) -> None:
        """Send writes to one backup in order, retrying each until it is delivered."""
        while True:
            path, req = box.get()
            while True:
                try:
                    post(addr, "/replicate", {"path": path, "req": req})
                    break
                except OSError:
                    time.sleep(0.2)

    def handle(self, path: str, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/replicate":  # naive mode: a write the primary already applied
            self.state.apply(req["path"], req["req"])
            return 200, {}
        if self.mode == "naive":
            if path in READS or (path == "/txn" and all(m[0] == "r" for m in req["txn"])):
                return self.state.apply(path, req)
            if not self.is_primary:
                return self.forward(path, req)
            status, body = self.state.apply(path, req)
            if status == 200:
                for box in self.outboxes.values():
                    box.put((path, req))
            return status, body
        # safe mode: the primary does everything, in one order
        if self.is_primary:
            return self.state.apply(path, req)
        return self.forward(path, req)

    def forward(self, path: str, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        addr = self.cluster[self.primary]
        try:
            return post(addr, path, req)
        except urllib.error.URLError as e:
            # urllib reports failures to connect as URLError: no byte of the
            # request reached the primary, so it certainly did not happen.
            return 503, {"error": f"primary unreachable: {e.reason}"}
        except OSError as e:
            # Sent, but no answer (a timeout, a reset): it may have been applied.
            return 504, {"error": f"no answer from the primary: {e or type(e).__name__}"}


def post(addr: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST JSON to ``addr`` (``host:port``); ``(status, body)`` for any HTTP answer."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(f"http://{addr}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def handler_for(node: Node) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"node": node.id, "leader": node.is_primary})
            else:
                self._answer(404, {"error": f"no such path {self.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(length) or b"{}")
                status, body = node.handle(self.path, req)
            except (Unsupported, KeyError, ValueError, TypeError) as e:
                status, body = 400, {"error": f"bad request: {e}"}
            self._answer(status, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the log that jepsy collects

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--id", required=True, help="this node's name, as in --cluster")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--cluster", required=True, help="name=host:port,... in order; the first is primary")
    p.add_argument("--data", default="./data")
    p.add_argument("--mode", choices=("safe", "naive"), default="safe")
    args = p.parse_args()
    node = Node(args)
    server = ThreadingHTTPServer((args.bind, args.port), handler_for(node))
    server.daemon_threads = True
    print(f"{node.id}: {args.mode} mode, primary {node.primary}, listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
