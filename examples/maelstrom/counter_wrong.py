#!/usr/bin/env python3
"""G-counter and PN-counter, subtly wrong: every add is applied locally and its delta sent
once to every other node, which adds it to its own total.  Without faults all nodes agree;
a delta sent into a partition is never counted there."""
from node import Node

node = Node()
total = 0


@node.on("add")
def add(msg):
    global total
    delta = msg["body"]["delta"]
    total += delta
    for n in node.ids:
        if n != node.id:
            node.send(n, {"type": "delta", "delta": delta})
    node.reply(msg, {"type": "add_ok"})


@node.on("delta")
def delta(msg):
    global total
    total += msg["body"]["delta"]


@node.on("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "value": total})


node.run()
