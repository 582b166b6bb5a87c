#!/usr/bin/env python3
"""Unique ids, subtly wrong: this node's id and a counter of its own.  No two nodes collide,
and under Maelstrom (which never crashes a node) it passes; killed and started again, the
node counts from 1 again and hands out ids it already gave."""
from node import Node

node = Node()
count = 0


@node.on("generate")
def generate(msg):
    global count
    count += 1
    node.reply(msg, {"type": "generate_ok", "id": f"{node.id}-{count}"})


node.run()
