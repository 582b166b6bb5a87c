#!/usr/bin/env python3
"""Unique ids, correct: this node's id, the time this incarnation of the program started (in
nanoseconds), and a counter.  No two nodes collide, and a node killed and started again
does not repeat itself: its new incarnation started at a later time."""
import time

from node import Node

node = Node()
born = time.time_ns()
count = 0


@node.on("generate")
def generate(msg):
    global count
    count += 1
    node.reply(msg, {"type": "generate_ok", "id": f"{node.id}-{born}-{count}"})


node.run()
