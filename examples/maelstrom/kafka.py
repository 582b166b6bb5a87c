#!/usr/bin/env python3
"""Kafka, correct (and simple): the first node is the only one that keeps logs; every other
node passes each request on to it and relays its answer.  Offsets are dense and assigned
in one place; while the first node is cut off, requests to the others get no answer (the
client records them as indeterminate), which is unavailable but never wrong."""
from node import Node

node = Node()
logs = {}       # key -> list of messages; a message's offset is its index
committed = {}  # key -> offset


def serve(body):
    t = body["type"]
    if t == "send":
        log = logs.setdefault(body["key"], [])
        log.append(body["msg"])
        return {"type": "send_ok", "offset": len(log) - 1}
    if t == "poll":
        msgs = {}
        for k, start in body["offsets"].items():
            log = logs.get(k, [])
            if start < len(log):
                msgs[k] = [[o, log[o]] for o in range(start, min(len(log), start + 50))]
        return {"type": "poll_ok", "msgs": msgs}
    if t == "commit_offsets":
        for k, o in body["offsets"].items():
            committed[k] = max(committed.get(k, -1), o)
        return {"type": "commit_offsets_ok"}
    return {"type": "list_committed_offsets_ok",
            "offsets": {k: committed[k] for k in body["keys"] if k in committed}}


def handle(msg):
    leader = node.ids[0]
    request = {k: v for k, v in msg["body"].items() if k != "msg_id"}
    if node.id == leader:
        node.reply(msg, serve(request))
    else:
        node.rpc(leader, {**request, "forwarded": True},
                 lambda reply: node.reply(msg, {k: v for k, v in reply.items()
                                                if k not in ("msg_id", "in_reply_to")}))


for t in ("send", "poll", "commit_offsets", "list_committed_offsets"):
    node.on(t)(handle)
node.run()
