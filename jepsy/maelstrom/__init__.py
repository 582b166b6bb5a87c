"""Maelstrom-protocol programs on real nodes: the router jepsy runs beside each program.

``router.py`` is a standalone program (standard library only) uploaded to
every node by ``--db maelstrom`` (``jepsy.dbs.maelstrom``); ``ROUTER`` is its
path in the installed package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROUTER"]

ROUTER = Path(__file__).with_name("router.py")
