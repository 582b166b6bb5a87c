#!/usr/bin/env python3
"""Broadcast (and g-set), correct: each new message goes to every neighbour in the given topology, and
is sent again every 200 ms until that neighbour acknowledges it (so a partition delays
messages but loses none).  Messages travel in batches: one ``gossip`` carries every
message a neighbour has not acknowledged yet."""
from node import Node

node = Node()
seen = set()
neighbours = []
unacked = {}  # neighbour -> messages it has not acknowledged


@node.on("topology")
def topology(msg):
    global neighbours
    neighbours = list(msg["body"]["topology"].get(node.id) or [n for n in node.ids if n != node.id])
    for n in neighbours:
        unacked.setdefault(n, set())
    node.reply(msg, {"type": "topology_ok"})


def learn(messages, src):
    new = set(messages) - seen
    seen.update(new)
    for n in neighbours or [n for n in node.ids if n != node.id]:
        if n != src and new:
            unacked.setdefault(n, set()).update(new)


@node.on("broadcast")
def broadcast(msg):
    learn([msg["body"]["message"]], None)
    node.reply(msg, {"type": "add_ok" if "element" in msg["body"] else "broadcast_ok"})


@node.on("gossip")
def gossip(msg):
    learn(msg["body"]["messages"], msg["src"])
    node.reply(msg, {"type": "gossip_ok", "messages": msg["body"]["messages"]})


@node.on("add")  # the g-set workload: the same, under other names
def add(msg):
    broadcast({**msg, "body": {**msg["body"], "message": msg["body"]["element"]}})


@node.on("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "messages": sorted(seen), "value": sorted(seen)})


def resend():
    for n, pending in unacked.items():
        if pending:
            node.rpc(n, {"type": "gossip", "messages": sorted(pending)},
                     lambda reply, n=n: unacked[n].difference_update(reply["messages"]))


node.every(0.2, resend)
node.run()
