#!/usr/bin/env python3
"""Broadcast (and g-set), subtly wrong: each new message is forwarded to the neighbours once, at once,
and never again.  Without faults every node sees every message, quickly; a message
sent into a partition is gone for good."""
from node import Node

node = Node()
seen = set()
neighbours = []


@node.on("topology")
def topology(msg):
    global neighbours
    neighbours = list(msg["body"]["topology"].get(node.id) or [n for n in node.ids if n != node.id])
    node.reply(msg, {"type": "topology_ok"})


def learn(message, src):
    if message in seen:
        return
    seen.add(message)
    for n in neighbours or [n for n in node.ids if n != node.id]:
        if n != src:
            node.send(n, {"type": "forward", "message": message})


@node.on("broadcast")
def broadcast(msg):
    learn(msg["body"]["message"], None)
    node.reply(msg, {"type": "add_ok" if "element" in msg["body"] else "broadcast_ok"})


@node.on("forward")
def forward(msg):
    learn(msg["body"]["message"], msg["src"])


@node.on("add")  # the g-set workload: the same, under other names
def add(msg):
    broadcast({**msg, "body": {**msg["body"], "message": msg["body"]["element"]}})


@node.on("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "messages": sorted(seen), "value": sorted(seen)})


node.run()
