#!/usr/bin/env python3
"""Transactions, subtly wrong: every node executes transactions on its own copy at once and
sends its writes to the others afterwards, once, to be applied when they arrive.  Each
node alone is serial; together, nodes read and append to different versions, and writes
sent into a partition never arrive."""
from node import Node

node = Node()
state = {}


def apply(f, key, v):
    if f == "append":
        state.setdefault(key, []).append(v)
    else:
        state[key] = v


@node.on("txn")
def txn(msg):
    out, writes = [], []
    for f, k, v in msg["body"]["txn"]:
        key = repr(k)
        if f == "r":
            got = state.get(key)
            out.append([f, k, list(got) if isinstance(got, list) else got])
        else:
            apply(f, key, v)
            writes.append([f, key, v])
            out.append([f, k, v])
    if writes:
        for n in node.ids:
            if n != node.id:
                node.send(n, {"type": "replicate", "writes": writes})
    node.reply(msg, {"type": "txn_ok", "txn": out})


@node.on("replicate")
def replicate(msg):
    for f, key, v in msg["body"]["writes"]:
        apply(f, key, v)


node.run()
