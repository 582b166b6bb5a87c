#!/usr/bin/env python3
"""Kafka, subtly wrong: every node appends to its own copy of each log, numbering offsets
itself, and tells the others "offset o of key k holds m", which they store at that offset
if it is free.  Alone it works; with sends to several nodes at once, two nodes hand out
the same offset for different messages."""
from node import Node

node = Node()
logs = {}       # key -> {offset: message}
committed = {}


@node.on("send")
def send(msg):
    k, m = msg["body"]["key"], msg["body"]["msg"]
    log = logs.setdefault(k, {})
    offset = max(log, default=-1) + 1
    log[offset] = m
    for n in node.ids:
        if n != node.id:
            node.send(n, {"type": "replicate", "key": k, "offset": offset, "msg": m})
    node.reply(msg, {"type": "send_ok", "offset": offset})


@node.on("replicate")
def replicate(msg):
    b = msg["body"]
    logs.setdefault(b["key"], {}).setdefault(b["offset"], b["msg"])


@node.on("poll")
def poll(msg):
    msgs = {}
    for k, start in msg["body"]["offsets"].items():
        log = logs.get(k, {})
        got = [[o, log[o]] for o in sorted(log) if o >= start][:50]
        if got:
            msgs[k] = got
    node.reply(msg, {"type": "poll_ok", "msgs": msgs})


@node.on("commit_offsets")
def commit(msg):
    for k, o in msg["body"]["offsets"].items():
        committed[k] = max(committed.get(k, -1), o)
    node.reply(msg, {"type": "commit_offsets_ok"})


@node.on("list_committed_offsets")
def list_committed(msg):
    node.reply(msg, {"type": "list_committed_offsets_ok",
                     "offsets": {k: committed[k] for k in msg["body"]["keys"] if k in committed}})


node.run()
