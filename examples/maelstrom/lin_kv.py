#!/usr/bin/env python3
"""Lin-kv, correct: every read, write and cas is passed on to the ``lin-kv`` service and its
answer (or error) relayed to the client.  If the service does not answer (a partition),
the client gets nothing and must treat the operation as indeterminate."""
from node import Node

node = Node()


def relay(msg):
    def back(reply):
        body = {k: v for k, v in reply.items() if k not in ("msg_id", "in_reply_to")}
        node.reply(msg, body)

    request = {k: v for k, v in msg["body"].items() if k != "msg_id"}
    node.rpc("lin-kv", request, back)


for t in ("read", "write", "cas"):
    node.on(t)(relay)
node.run()
