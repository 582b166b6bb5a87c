#!/usr/bin/env python3
"""Echo: answers every ``echo`` with the same payload."""
from node import Node

node = Node()


@node.on("echo")
def echo(msg):
    node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})


node.run()
