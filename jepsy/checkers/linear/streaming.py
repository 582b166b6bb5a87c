"""Linearizability of a history file too large to hold: key by key, as the file is read.

An hour of full-rate register ops is ~25 M lines and ~110k keys; as ``Op`` records the
history alone would take ~8 GB.  But keys are independent (P-compositionality, as in
``checker``), and a key's ops end somewhere in the file.  So, two passes over the file
(``jepsy.checkers.chunks``):

1. ``Scan``: pair invocations with completions (strictly, as ``prepare`` does, raising
   the same ``HistoryError``), note each line's key (4 bytes a line) and the position of
   each key's last op;
2. ``Feed``: route each line, undecoded, to its key's bytes; once a key's last line is
   read, decode its ops and set them aside; once the keys set aside hold ``BATCH_OPS``
   ops, check them together with the ordinary checker (``Linearizable.check`` on that
   sub-history) and keep only the result entries.  Keys waiting long for their last
   line (the register workload's final reads) wait on disk (``Feed``).

Memory is then the keys in flight (a handful: the register workload keeps
``active_keys`` live) plus one batch, the line keys, and the result itself, which holds
every key's ``indices`` and ``linearization``.  A key's entry is exactly what the whole-history
check gives it, since the search of a key sees only that key's calls, in the same
order, numbered by the same history indices; ``finish`` orders the keys as the
whole-history check does (by number of calls, then first invocation) and words the
summary the same way.  Two differences, both about budgets shared across keys: the
``timeout`` is for the whole check, so keys reached after it are "unknown" as keys
not yet decided are in one search; and without ``all_keys`` the check stops at the
first invalid *batch* (the keys after it are "not checked"), so with several invalid
keys the one explained may differ from the whole-history check's.

Only Jepsen's ``[key, value]`` convention is streamed (models whose partition is
``independent``'s or the registers' automatic split); ``key_of`` says None for others,
and the caller reads the history whole.
"""

from __future__ import annotations

import os
import tempfile
import time
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from jepsy.checkers.chunks import decode_lines
from jepsy.checkers.linear import models
from jepsy.checkers.linear.models import CRASHED, Model
from jepsy.checkers.linear.prepare import prepare
from jepsy.checkers.linear.schedule import partition
from jepsy.errors import HistoryError
from jepsy.history import Op, Source

if TYPE_CHECKING:
    from jepsy.checkers.linear.checker import Linearizable

__all__ = ["BATCH_OPS", "Feed", "NotSplit", "Scan", "check_file", "key_of"]

# Ops (lines) per checked batch: ~400 keys of the register workload; large enough that
# a batch's fixed cost (a racing process, the caches) is paid rarely, small enough to
# stay a few tens of megabytes.
BATCH_OPS = 50_000

# Lines after which a key not touched is parked on disk: well past the register
# workload's keys in use (a key lives ~120 ops among ~5 live keys), a few MB of lines.
IDLE_OPS = 50_000



class NotSplit(Exception):
    """The history does not follow the ``[key, value]`` convention throughout: the model
    checks it as one register, which needs the whole history (read it whole)."""


def key_of(model: Model) -> Callable[[Any], Hashable] | None:
    """The key of an invocation's value for a model checked per ``[key, value]`` key, else None."""
    if model.partition in (models._split_independent, models._auto_register_partition):
        return _key
    return None


def _key(value: Any) -> Hashable:
    return models._hashable(value[0])


class Scan:
    """Pass 1: each line's key (an ordinal, -1 for other lines: 4 bytes a line) and each
    key's last line; pairing errors raised as ``prepare`` raises them."""

    def __init__(self, model: Model, path: str | os.PathLike[str]) -> None:
        self.auto = model.partition is models._auto_register_partition
        self.source = Source(str(Path(path)))
        self.line_keys = array("i")
        self.last: list[int] = []  # by ordinal
        self.ordinal: dict[Hashable, int] = {}
        self.open: dict[int, tuple[int, int]] = {}

    def feed(self, ops: Iterable[Op]) -> None:
        last, open_, at, ordinal = self.last, self.open, self.source.at, self.ordinal
        append = self.line_keys.append
        for op in ops:
            p = op.process
            if not isinstance(p, int):
                append(-1)
                continue
            if op.type == "invoke":
                prev = open_.get(p)
                if prev is not None:
                    raise HistoryError(f"{at(op.index)}: process {p} invokes again while "
                                       f"{at(prev[1])} is still open")
                v = op.value
                if not (isinstance(v, (list, tuple)) and len(v) == 2) or (
                        self.auto and op.f == "cas"
                        and not (isinstance(v[1], (list, tuple)) and len(v[1]) == 2)):
                    raise NotSplit(f"{at(op.index)}: {op.f} {v!r} is not a [key, value] pair")
                k = models._hashable(v[0])
                o = ordinal.get(k)
                if o is None:
                    o = ordinal[k] = len(last)
                    last.append(0)
                open_[p] = (o, op.index)
            else:
                o_at = open_.pop(p, None)
                if o_at is None:
                    raise HistoryError(f"{at(op.index)}: {op.type} of process {p} has no invoke")
                o = o_at[0]
            last[o] = op.index
            append(o)


class Feed:
    """Pass 2: the history's lines in order in, checked batches of whole keys out.

    Lines are routed by the key ``Scan`` found for them, undecoded; a key's lines are
    held as bytes until its last one is read, then decoded.  The register workload
    reads every key once more at the very end (``final_reads``), so every key waits
    for the end: a key not touched for ``IDLE_OPS`` lines is parked in a temporary
    file (``spill_dir``, unlinked at once) and read back when its last line comes.
    Memory is then the recently touched keys and one batch, however long the history
    (and ``Scan``'s 4 bytes a line).
    """

    def __init__(self, checker: Linearizable, scan: Scan, batch_ops: int | None = None,
                 spill_dir: str | Path | None = None) -> None:
        self.checker, self.source = checker, scan.source
        self.line_keys, self.last = scan.line_keys, scan.last
        self.batch_ops = BATCH_OPS if batch_ops is None else batch_ops
        self.spill_dir = spill_dir
        self.t0 = time.monotonic()
        self.bufs: dict[int, bytearray] = {}
        self.touched: dict[int, int] = {}
        self.parked: dict[int, list[tuple[int, int]]] = {}
        self.spill: IO[bytes] | None = None
        self.spilled_bytes = 0
        self.ready: list[list[Op]] = []
        self.ready_ops = 0
        self.entries: list[tuple[tuple[int, int], str, dict[str, Any]]] = []
        self.calls = self.failed = 0
        self.workers = 1
        self.invalid = False
        self.fed = 0

    def feed_block(self, data: bytes, starts: Sequence[int]) -> None:
        """The next whole lines of the file (``data``, with its ``line_starts``)."""
        bufs, touched, last = self.bufs, self.touched, self.last
        first = self.fed
        keys = self.line_keys[first:first + len(starts) - 1]
        for i, k in enumerate(keys):
            if k < 0:
                continue
            buf = bufs.get(k)
            if buf is None:
                buf = bufs[k] = bytearray()
            buf += data[starts[i]:starts[i + 1]]
            n = first + i
            touched[k] = n
            if n == last[k]:
                self._complete(k)
        self.fed = first + len(keys)
        self._park(self.fed - IDLE_OPS)

    def _complete(self, k: int) -> None:
        raw = bytes(self.bufs.pop(k))
        del self.touched[k]
        segments = self.parked.pop(k, None)
        if segments:
            assert self.spill is not None
            fd = self.spill.fileno()
            raw = b"".join([*(os.pread(fd, n, at) for at, n in segments), raw])
        ops = decode_lines(raw, self.source)
        self.ready.append(ops)
        self.ready_ops += len(ops)
        if self.ready_ops >= self.batch_ops:
            self.flush()

    def _park(self, before: int) -> None:
        idle = [k for k, t in self.touched.items() if t < before]
        if not idle:
            return
        if self.spill is None:
            self.spill = tempfile.TemporaryFile(dir=self.spill_dir, prefix="jepsy-keys-")  # noqa: SIM115
        for k in idle:
            buf = self.bufs.pop(k)
            del self.touched[k]
            at = self.spilled_bytes
            self.spill.write(buf)
            self.spilled_bytes += len(buf)
            self.parked.setdefault(k, []).append((at, len(buf)))
        self.spill.flush()

    def close(self) -> None:
        """Remove the parking file (also done by ``finish``)."""
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def flush(self) -> None:
        """Check the keys set aside, keep their entries, drop their ops."""
        if not self.ready:
            return
        history = [op for ops in self.ready for op in ops]
        self.ready, self.ready_ops = [], 0
        if self.invalid and not self.checker.all_keys:
            self._not_checked(history)
            return
        from jepsy.checkers.linear.checker import Linearizable

        c = self.checker
        left = None if c.timeout is None else max(0.0, c.timeout - (time.monotonic() - self.t0))
        batch = Linearizable(c.model, timeout=left, max_configs=c.max_configs,
                             all_keys=c.all_keys, workers=c.workers, memory_mb=c.memory_mb,
                             engine=c.engine)
        result = batch.check(history, {})
        self.calls += result["ops"]
        self.failed += result["failed_dropped"]
        self.workers = result["workers"]
        for ks, entry in result["keys"].items():
            self._keep(ks, entry)
            if entry["valid"] is False:
                self.invalid = True

    def _keep(self, ks: str, entry: dict[str, Any]) -> None:
        # the whole-history check's order: parts sorted by cost (calls), ties by first call
        self.entries.append(((entry["ops"], entry["indices"][0] if entry["indices"] else -1),
                             ks, entry))

    def _not_checked(self, history: list[Op]) -> None:
        from jepsy.checkers.linear.checker import NOT_CHECKED, _key_str

        prep = prepare(history)
        self.calls += len(prep.calls)
        self.failed += prep.failed
        for part in partition(prep, self.checker.model):
            self._keep(_key_str(part.key), {
                "ops": len(part.calls),
                "crashed": [c.output for c in part.calls].count(CRASHED),
                "indices": [prep.invokes[j].index for j in part.originals],
                "valid": "unknown", "reason": NOT_CHECKED})

    def finish(self) -> dict[str, Any]:
        """The result, worded as ``Linearizable.check`` words it (see its module)."""
        for k in list(self.bufs) + list(self.parked):  # none when the scan saw the same file
            if k in self.bufs or k in self.parked:
                self.bufs.setdefault(k, bytearray())
                self.touched.setdefault(k, 0)
                self._complete(k)
        self.close()
        self.flush()
        self.entries.sort(key=lambda e: e[0])
        keys = {ks: entry for _, ks, entry in self.entries}
        self.entries = []
        from jepsy.checkers.linear.checker import result_of

        c = self.checker
        return result_of(keys, c.model.name, self.calls, self.failed, self.workers, c.engine,
                         self.t0)


def check_file(checker: Linearizable, path: str | os.PathLike[str], opts: Mapping[str, Any],
               batch_ops: int | None = None) -> dict[str, Any]:
    """``checker``'s result for the history in ``path``: streamed (see the module
    docstring) when the model is checked per key and the file can be split, else from
    the whole history read as usual.  ``Linearizable.check_file`` calls this only for
    files of ``STREAM_ABOVE_BYTES`` or more (a small file is read and checked faster whole)."""
    from jepsy.checkers.chunks import NotStreamable, gc_paused, line_starts, read_chunks, read_lines
    from jepsy.history import read_history

    if key_of(checker.model) is not None:
        try:
            with gc_paused():
                scan = Scan(checker.model, path)
                for ops in read_chunks(path, locate=False):
                    scan.feed(ops)
                feed = Feed(checker, scan, batch_ops, spill_dir=Path(path).parent)
                del scan
                try:
                    for data in read_lines(path):
                        feed.feed_block(data, line_starts(data))
                    return feed.finish()
                finally:
                    feed.close()
        except (NotStreamable, NotSplit):
            pass
    return checker.check(read_history(path), opts)
