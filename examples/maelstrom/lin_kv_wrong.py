#!/usr/bin/env python3
"""Lin-kv, subtly wrong: writes and cas go to the ``lin-kv`` service, but each node also
remembers the last value it saw for every key and answers reads from that cache, to save
a round trip.  A value another node wrote since is not seen: stale reads."""
from node import Node

node = Node()
cache = {}


def relay(msg):
    body = msg["body"]
    key = json_key = repr(body.get("key"))

    def back(reply):
        if reply.get("type") == "read_ok":
            cache[json_key] = reply["value"]
        elif reply.get("type") == "write_ok":
            cache[json_key] = body["value"]
        elif reply.get("type") == "cas_ok":
            cache[json_key] = body["to"]
        node.reply(msg, {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")})

    if body["type"] == "read" and key in cache:
        node.reply(msg, {"type": "read_ok", "value": cache[key]})
        return
    node.rpc("lin-kv", {k: v for k, v in body.items() if k != "msg_id"}, back)


for t in ("read", "write", "cas"):
    node.on(t)(relay)
node.run()
