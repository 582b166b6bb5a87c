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

import gc
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat
from operator import attrgetter
from pathlib import Path

import msgspec

from jepsy.history import Op, Source

__all__ = ["CHUNK_BYTES", "NotStreamable", "decode_lines", "fault_ops", "gc_paused", "line_starts",
           "locate_ops", "read_blocks", "read_chunks", "read_lines"]

CHUNK_BYTES = 8 << 20  # ~60k ops: decoding cost per call is flat by then, memory small

_DECODER = msgspec.json.Decoder(Op)
_INDEX = attrgetter("index")
_WHERE = getattr(Op, "where")  # noqa: B009  (the slot's descriptor: ops are frozen)


class NotStreamable(Exception):
    """The file is not plain jepsy JSONL: read it whole (``read_history``) instead."""


def read_chunks(path: str | os.PathLike[str], chunk_bytes: int | None = None, *,
                locate: bool = True) -> Iterator[list[Op]]:
    """The ops of ``path`` in order, a list per chunk of about ``chunk_bytes`` (see
    ``read_blocks``)."""
    for ops, _ in read_blocks(path, chunk_bytes, locate=locate):
        yield ops


def read_lines(path: str | os.PathLike[str], chunk_bytes: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` in blocks of about ``chunk_bytes``, each of whole lines ending
    in a newline (a last line without one gets it), undecoded."""
    size = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rest = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(size)
            if not block:
                if rest.strip():
                    yield rest + b"\n"
                return
            data = rest + block
            cut = data.rfind(b"\n") + 1
            data, rest = data[:cut], data[cut:]
            if data:
                yield data


def read_blocks(path: str | os.PathLike[str], chunk_bytes: int | None = None, *,
                locate: bool = True) -> Iterator[tuple[list[Op], bytes]]:
    """The ops of ``path`` in order, per chunk of about ``chunk_bytes``, with the chunk's
    bytes: whole lines, one per op, each ending in a newline.

    ``locate=False`` leaves the ops' ``where`` unset (a pass that only looks, and
    renders a location itself with ``source_of(path).at(index)``, saves a tenth).

    Raises ``NotStreamable`` where the file leaves the fast format (possibly after
    some chunks were yielded: a caller that gives up then reads the file whole), and
    ``OSError`` if it cannot be read.
    """
    size = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    source = Source(str(Path(path)))
    hidden = b'"jepsy:'
    expected = 0
    rest = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(size)
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
                locate_ops(ops, source)
            expected += len(ops)
            yield ops, data
            if not block:
                return


def line_starts(data: bytes) -> list[int]:
    """Where each line of ``data`` (whole lines, as ``read_blocks`` gives) begins, and
    one more: its length; line ``i`` is ``data[starts[i]:starts[i + 1]]``."""
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    out: list[int] = [0, *ends.tolist()]
    return out


def decode_lines(data: bytes, source: Source) -> list[Op]:
    """The ops of ``data`` (lines ``read_blocks`` gave, possibly regrouped), located in
    ``source``; numbering is not checked again."""
    ops: list[Op] = _DECODER.decode_lines(data)
    locate_ops(ops, source)
    return ops


def locate_ops(ops: list[Op], source: Source) -> None:
    """Give ``ops`` their file (their index is their position in it), for ``location``."""
    deque(map(_WHERE.__set__, ops, repeat(source)), 0)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused, as ``read_history`` pauses it: a streamed check
    makes millions of young objects (ops' value lists) none of which is garbage in a cycle,
    and every collection they trigger walks all that is alive (the result's keys): with it
    running, the streamed check of a 1.09 M-line soak history took 17.9 CPU s, paused 12.0."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fault_ops(path: str | os.PathLike[str]) -> list[Op]:
    """The first client op and every non-client op of the history in ``path``, in order:
    all ``nemeses.schedule.from_history`` needs, without holding millions of client ops
    (an hour's full-rate history read whole took the process past 10 GB).  Other
    formats are read whole (``read_history``, whose errors name the line at fault)."""
    from jepsy.history import read_history

    out: list[Op] = []
    first = True
    try:
        with gc_paused():
            for ops in read_chunks(path):
                for op in ops:
                    if not isinstance(op.process, int):
                        out.append(op)
                    elif first:
                        out.append(op)
                        first = False
        return out
    except (NotStreamable, OSError):
        pass
    ops = read_history(path)
    client = next((op for op in ops if isinstance(op.process, int)), None)
    return [op for op in ops if op is client or not isinstance(op.process, int)]
