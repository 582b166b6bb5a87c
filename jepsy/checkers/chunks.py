"""A jepsy JSONL history read in chunks of ops, for checks that stream a file instead of
holding every op (``jepsy.checkers.streaming``, ``jepsy.checkers.linear.streaming``).

An hour of a full-rate run writes ~30 M lines; as ``Op`` records (about 300 bytes each)
they would take ~9 GB.  ``read_chunks(path)`` decodes a few megabytes at a time with
msgspec's decoder, as ``read_history``'s fast reader does, and yields each chunk's ops:
only a chunk is held at once.

Only the files the fast reader takes are streamed: JSONL whose lines are exactly
jepsy's fields, numbered from 0 by line.  Anything else (EDN, other fields, blank
lines, gaps in the numbering) raises ``NotStreamable`` at the chunk where it shows, and
the caller reads the file the ordinary way, whose reader names the line at fault.
Ops carry the file's ``Source``, so ``location(op)`` names file and line as usual.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from itertools import repeat
from operator import attrgetter
from pathlib import Path

import msgspec

from jepsy.history import Op, Source

__all__ = ["CHUNK_BYTES", "NotStreamable", "read_chunks"]

CHUNK_BYTES = 8 << 20  # ~60k ops: decoding cost per call is flat by then, memory small

_DECODER = msgspec.json.Decoder(Op)
_INDEX = attrgetter("index")
_WHERE = getattr(Op, "where")  # noqa: B009  (the slot's descriptor: ops are frozen)


class NotStreamable(Exception):
    """The file is not plain jepsy JSONL: read it whole (``read_history``) instead."""


def read_chunks(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES, *,
                locate: bool = True) -> Iterator[list[Op]]:
    """The ops of ``path`` in order, a list per chunk of about ``chunk_bytes``.

    ``locate=False`` leaves the ops' ``where`` unset (a pass that only looks, and
    renders a location itself with ``source_of(path).at(index)``, saves a tenth).

    Raises ``NotStreamable`` where the file leaves the fast format (possibly after
    some chunks were yielded: a caller that gives up then reads the file whole), and
    ``OSError`` if it cannot be read.
    """
    source = Source(str(Path(path)))
    hidden = b'"jepsy:'
    expected = 0
    rest = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            data = rest + block
            if not block:
                if data.strip():
                    data += b"\n"  # a last line without its newline
                else:
                    return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
            if hidden in data:
                raise NotStreamable(f"{path}: fields jepsy does not write")
            try:
                ops: list[Op] = _DECODER.decode_lines(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise NotStreamable(f"{path}: {e}") from None
            if len(ops) != data.count(b"\n") or (
                    list(map(_INDEX, ops)) != list(range(expected, expected + len(ops)))):
                raise NotStreamable(f"{path}: lines not numbered by position")
            if locate:
                deque(map(_WHERE.__set__, ops, repeat(source)), 0)
            expected += len(ops)
            yield ops
            if not block:
                return
