#!/usr/bin/env python3
"""Transactions (txn-list-append and txn-rw-register), correct: the first node executes every
transaction, one at a time, on its own copy; the others pass each one on and relay the
answer.  Serial execution in one place is strict-serializable; while the first node is
cut off, requests to the others go unanswered (indeterminate), never wrong."""
from node import Node

node = Node()
state = {}  # key -> list (append) or value (w)


def execute(txn):
    out = []
    for f, k, v in txn:
        key = repr(k)
        if f == "r":
            got = state.get(key)
            out.append([f, k, list(got) if isinstance(got, list) else got])
        elif f == "append":
            state.setdefault(key, []).append(v)
            out.append([f, k, v])
        else:
            state[key] = v
            out.append([f, k, v])
    return out


@node.on("txn")
def txn(msg):
    leader = node.ids[0]
    if node.id == leader:
        node.reply(msg, {"type": "txn_ok", "txn": execute(msg["body"]["txn"])})
    else:
        node.rpc(leader, {"type": "txn", "txn": msg["body"]["txn"]},
                 lambda reply: node.reply(msg, {k: v for k, v in reply.items()
                                                if k not in ("msg_id", "in_reply_to")}))


node.run()
