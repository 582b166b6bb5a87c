#!/usr/bin/env python3
"""Unique ids: this node's id and a counter of its own, so no two nodes can collide."""
from node import Node

node = Node()
count = 0


@node.on("generate")
def generate(msg):
    global count
    count += 1
    node.reply(msg, {"type": "generate_ok", "id": f"{node.id}-{count}"})


node.run()
