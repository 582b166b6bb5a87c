#!/usr/bin/env python3
"""The node program bench_maelstrom.py runs on every lab node (standard library only).

Client requests: ``flood {n}``: send ``n`` ``bump`` messages round-robin to the
other nodes, as fast as the program can write them; ``count``: how many bumps
this node received; ``pingpong {to, n}``: ``n`` sequential ``ping``s to node
``to``, each answered by a ``pong``; the answer lists each round trip in
microseconds, measured with this process's own clock.
"""
import json
import sys
import time

node_id = ""
others = []
received = 0
pending = None  # (client request, to, remaining, rtts, sent_at)


def out(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")


def reply(msg, body):
    out(msg["src"], {**body, "in_reply_to": msg["body"]["msg_id"]})
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    t = body.get("type")
    if t == "bump":
        received += 1
        continue
    if t == "init":
        node_id = body["node_id"]
        others = [n for n in body["node_ids"] if n != node_id]
        reply(msg, {"type": "init_ok"})
    elif t == "flood":
        for i in range(body["n"]):
            out(others[i % len(others)], {"type": "bump"})
        sys.stdout.flush()
        reply(msg, {"type": "flood_ok"})
    elif t == "count":
        reply(msg, {"type": "count_ok", "count": received})
    elif t == "ping":
        out(msg["src"], {"type": "pong"})
        sys.stdout.flush()
    elif t == "pingpong":
        pending = [msg, body["to"], body["n"], [], time.perf_counter()]
        out(body["to"], {"type": "ping"})
        sys.stdout.flush()
    elif t == "pong" and pending is not None:
        pending[3].append(round((time.perf_counter() - pending[4]) * 1e6))
        pending[2] -= 1
        if pending[2] == 0:
            reply(pending[0], {"type": "pingpong_ok", "rtts_us": pending[3]})
            pending = None
        else:
            pending[4] = time.perf_counter()
            out(pending[1], {"type": "ping"})
            sys.stdout.flush()
