#!/usr/bin/env python3
"""G-counter and PN-counter, correct: a state-based CRDT.  Every node keeps, per node, the
sum of the increments and of the decrements that node accepted, and sends its whole
state to every other node every 200 ms; merging takes each entry's maximum, so lost or
repeated gossip does no harm.  A read is the sum of all increments minus all decrements."""
from node import Node

node = Node()
inc = {}
dec = {}


@node.on("add")
def add(msg):
    delta = msg["body"]["delta"]
    side = inc if delta >= 0 else dec
    side[node.id] = side.get(node.id, 0) + abs(delta)
    node.reply(msg, {"type": "add_ok"})


@node.on("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "value": sum(inc.values()) - sum(dec.values())})


@node.on("state")
def state(msg):
    for mine, theirs in ((inc, msg["body"]["inc"]), (dec, msg["body"]["dec"])):
        for n, v in theirs.items():
            mine[n] = max(mine.get(n, 0), v)


def gossip():
    for n in node.ids:
        if n != node.id:
            node.send(n, {"type": "state", "inc": inc, "dec": dec})


node.every(0.2, gossip)
node.run()
