"""A small Maelstrom-protocol node for jepsy's example programs (standard library only).

A program makes one ``Node``, registers a handler per request ``type`` with
``@node.on("type")``, optionally ``node.every(seconds, fn)`` for background
work (gossip, retries), and calls ``node.run()``.  Handlers and timers run one
at a time (under ``node.lock``), so programs need no locking of their own.
``node.rpc(dest, body, callback)`` sends a request and calls ``callback(reply)``
when its answer arrives (never, if the network loses it).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

Body = dict[str, Any]
Msg = dict[str, Any]


class Node:
    def __init__(self) -> None:
        self.id = ""
        self.ids: list[str] = []
        self.lock = threading.RLock()
        self.out = threading.Lock()
        self.handlers: dict[str, Callable[[Msg], None]] = {}
        self.callbacks: dict[int, Callable[[Body], None]] = {}
        self.next_id = 0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def on(self, type_: str) -> Callable[[Callable[[Msg], None]], Callable[[Msg], None]]:
        def register(fn: Callable[[Msg], None]) -> Callable[[Msg], None]:
            self.handlers[type_] = fn
            return fn
        return register

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        self.timers.append((seconds, fn))

    def log(self, text: str) -> None:
        sys.stderr.write(f"{self.id}: {text}\n")
        sys.stderr.flush()

    def send(self, dest: str, body: Body) -> None:
        line = json.dumps({"src": self.id, "dest": dest, "body": body})
        with self.out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def reply(self, req: Msg, body: Body) -> None:
        self.send(req["src"], {**body, "in_reply_to": req["body"]["msg_id"]})

    def rpc(self, dest: str, body: Body, callback: Callable[[Body], None] | None = None) -> None:
        self.next_id += 1
        if callback is not None:
            self.callbacks[self.next_id] = callback
        self.send(dest, {**body, "msg_id": self.next_id})

    def _tick(self, seconds: float, fn: Callable[[], None]) -> None:
        while True:
            time.sleep(seconds)
            with self.lock:
                fn()

    def _handle(self, msg: Msg) -> None:
        body = msg["body"]
        if body.get("type") == "init":
            self.id, self.ids = body["node_id"], list(body["node_ids"])
            self.reply(msg, {"type": "init_ok"})
            for seconds, fn in self.timers:
                threading.Thread(target=self._tick, args=(seconds, fn), daemon=True).start()
            return
        callback = self.callbacks.pop(body.get("in_reply_to", -1), None)
        if callback is not None:
            callback(body)
            return
        handler = self.handlers.get(body.get("type", ""))
        if handler is not None:
            handler(msg)
        elif "msg_id" in body:
            self.reply(msg, {"type": "error", "code": 10, "text": f"no handler for {body.get('type')}"})

    def run(self) -> None:
        for line in sys.stdin:
            msg = json.loads(line)
            with self.lock:
                self._handle(msg)
