"""A transactional history as columns: NumPy arrays per transaction and per micro-op.

A million list-append transactions held as jepsy ``Op`` records and ``Txn``
objects cost about 3 GB (a Python list, tuple and int object per micro-op and
read element).  Here each transaction is one row of a few int64 columns and
each micro-op one row of others; read results are slices of one flat array of
elements.  That is about 60 bytes per micro-op plus 8 per read element, and it
is what lets the list-append fast path (``fastpath.py``) check ten million
transactions in a few gigabytes.

The columns take only what they can hold exactly: client ``txn`` ops whose
micro-ops are ``[f, key, value]`` lists with integer keys, integer appended
or written values, and reads that return None, an integer or a list of
integers.  Anything else (string keys, nested values, malformed micro-ops)
makes the builders return None, and the checker takes the general path on
``Txn`` objects, whose errors and explanations are the reference.

Files are read by a C builder (``_columns.c``) when it is built: the same
columns as this module's Python builder (the reference, which reads whatever
the C one refuses), without a Python object per op, about ten times faster.
Jepsen EDN reaches it as ``read_history``'s ``Op``s (``from_ops``, ``feed_ops`` in C).

Pairing follows ``txn.extract_txns`` exactly (a completion without an invoke
stands alone; an invoke while one is open leaves the first indeterminate),
which is ``jepsy.history.pair_positions``' loose pairing, but it happens here
while the ops stream by, without ``Op`` records to hand to it.  Transactions
are numbered in invoke order, as there.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from jepsy.checkers.elle.txn import Txn

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from numpy.typing import NDArray

    from jepsy.history import Op

__all__ = ["APPEND", "FAIL", "INFO", "NONE", "OK", "OTHER", "READ", "TxnColumns",
           "from_file", "from_jsonl", "from_ops"]

OK, FAIL, INFO = 0, 1, 2
_TYPE_CODE = {"ok": OK, "fail": FAIL, "info": INFO}
_TYPE_NAME = ("ok", "fail", "info")
APPEND, READ, WRITE, OTHER = 0, 1, 2, 3
_F_CODE = {"append": APPEND, "r": READ, "w": WRITE}
_F_NAME = ("append", "r", "w")
NONE = -(1 << 63)  # an absent time, in the int64 time columns
_FLUSH = 1 << 16  # micro-ops gathered before they are turned into columns


class _Unsupported(Exception):
    """The history holds something the columns cannot represent exactly."""


@dataclass
class TxnColumns:
    """Transactions ``0..n-1`` in invoke order, and their micro-ops.

    Per transaction: ``type`` (OK, FAIL, INFO), ``process``, ``index``
    (completion's history index, else the invoke's), ``invoke_index``,
    ``invoke_time`` / ``complete_time`` (``NONE`` when absent; the completion
    time only for ok), and ``mop_start`` / ``mop_count`` (its rows in the
    micro-op columns, contiguous, in program order).  Per micro-op: ``f``
    (APPEND, READ, WRITE), ``key``, ``txn``, and ``value``: the appended or
    written value, or for a read the start of its elements in ``elems`` with
    ``length`` of them (-1: the read returned None).
    """

    type: NDArray[np.int8]
    process: NDArray[np.int64]
    index: NDArray[np.int64]
    invoke_index: NDArray[np.int64]
    invoke_time: NDArray[np.int64]
    complete_time: NDArray[np.int64]
    mop_start: NDArray[np.int64]
    mop_count: NDArray[np.int64]
    f: NDArray[np.int8]
    key: NDArray[np.int64]
    txn: NDArray[np.int64]
    value: NDArray[np.int64]
    length: NDArray[np.int64]
    elems: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.type)

    def txn_objs(self, ids: NDArray[np.int64]) -> list[Txn]:
        """``txn_obj`` of each of ``ids``, gathering the columns once (NumPy scalars are slow)."""
        counts = self.mop_count[ids]
        rows = (np.repeat(self.mop_start[ids] - np.cumsum(counts) + counts, counts)
                + np.arange(int(counts.sum())))
        fs, keys, vals, lens = (a[rows].tolist() for a in (self.f, self.key, self.value, self.length))
        # every read's elements in one gather: ``vals`` of reads become offsets into ``elems``
        is_read = self.f[rows] == READ
        n = np.maximum(self.length[rows], 0) * is_read
        starts = self.value[rows]
        total = int(n.sum())
        runs = np.repeat(starts - np.cumsum(n) + n, n) + np.arange(total) if total else n[:0]
        elems = self.elems[runs].tolist()
        offsets = (np.cumsum(n) - n).tolist()
        out: list[Txn] = []
        j = 0
        for t, cnt, typ, idx, inv, it, ct, proc in zip(
                ids.tolist(), counts.tolist(), self.type[ids].tolist(), self.index[ids].tolist(),
                self.invoke_index[ids].tolist(), self.invoke_time[ids].tolist(),
                self.complete_time[ids].tolist(), self.process[ids].tolist(), strict=True):
            mops: list[tuple[str, Any, Any]] = []
            for i in range(j, j + cnt):
                if fs[i] == READ:
                    m, o = lens[i], offsets[i]
                    mops.append(("r", keys[i], None if m == -1 else elems[o: o + m]))
                else:
                    mops.append((_F_NAME[fs[i]], keys[i], vals[i]))
            j += cnt
            out.append(Txn(id=t, index=idx, invoke_index=inv, process=proc, type=_TYPE_NAME[typ],
                           mops=mops, invoke_time=None if it == NONE else it,
                           complete_time=None if ct == NONE else ct))
        return out


def _same(x: Any) -> Any:
    return x


class _Builder:
    """Pairs ops as they come and gathers their micro-ops into columns, a chunk at a time."""

    def __init__(self, decode: Callable[[Any], Any] = _same, keep: Callable[[Any], Any] = _same) -> None:
        self.decode = decode  # a value as read -> its Python form (JSON text is decoded only if used)
        self.keep = keep  # a value as read -> a form that may outlive the read buffer
        self.type = array("b")
        self.process = array("q")
        self.index = array("q")
        self.invoke_index = array("q")
        self.invoke_time = array("q")
        self.complete_time = array("q")
        self.mop_start = array("q")
        self.mop_count = array("q")
        self.open: dict[int, int] = {}  # process -> its open transaction
        self.raw: dict[int, list[Any]] = {}  # invoke values, kept until the completion says ok
        self.pending: list[Any] = []  # micro-ops not yet in columns
        self.groups = array("q")  # the transaction of each run of pending micro-ops, and its length
        self.group_len = array("q")
        self.mops_done = 0
        self.chunks: list[tuple[NDArray[Any], ...]] = []
        self.elems = array("q")

    def feed(self, ops: Iterable[Any]) -> None:
        """Ops (anything with ``type``, ``process``, ``f``, ``index``, ``time``, ``value``).

        Non-client and non-``txn`` ops are skipped, as ``extract_txns`` does.
        One loop with its lookups bound to locals: it runs once per op.
        """
        open_ = self.open
        raw = self.raw
        types, process, index = self.type, self.process, self.index
        invoke_index, invoke_time, complete_time = self.invoke_index, self.invoke_time, self.complete_time
        mop_start, mop_count = self.mop_start, self.mop_count
        add_mops = self._mops
        codes = _TYPE_CODE
        decode, keep = self.decode, self.keep
        for op in ops:
            p = op.process
            if p.__class__ is not int or op.f != "txn":
                if isinstance(p, int) and op.f == "txn":  # bool: be exact, leave it to Txn objects
                    raise _Unsupported
                continue
            tm = op.time
            if tm is None:
                tm = NONE
            elif tm.__class__ is not int:
                raise _Unsupported
            typ = op.type
            if typ == "invoke":
                prev = open_.pop(p, None)
                if prev is not None:
                    types[prev] = INFO
                t = len(types)
                open_[p] = t
                raw[t] = keep(op.value)
                code = INFO
                ct = NONE
            else:
                code = codes.get(typ, -1)
                if code < 0:
                    raise _Unsupported
                i = open_.pop(p, None)
                if i is not None:
                    types[i] = code
                    index[i] = op.index
                    if code == OK:
                        del raw[i]
                        complete_time[i] = tm
                        add_mops(i, decode(op.value))
                    continue
                t = len(types)
                ct = tm if code == OK else NONE
                tm = NONE
            types.append(code)
            process.append(p)
            index.append(op.index)
            invoke_index.append(op.index)
            invoke_time.append(tm)
            complete_time.append(ct)
            mop_start.append(0)
            mop_count.append(0)
            if typ != "invoke":
                add_mops(t, decode(op.value))

    def _mops(self, t: int, value: Any) -> None:
        if value.__class__ is not list:
            raise _Unsupported
        self.mop_start[t] = self.mops_done + len(self.pending)
        self.mop_count[t] = len(value)
        self.pending += value
        self.groups.append(t)
        self.group_len.append(len(value))
        if len(self.pending) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        """Turn the gathered micro-ops into column chunks (C loops: ``map``, ``array``, NumPy)."""
        pend = self.pending
        if not pend:
            return
        try:
            if set(map(type, pend)) != {list} or set(map(len, pend)) != {3}:
                raise _Unsupported
            fs = np.frombuffer(array("b", map(_F_CODE.__getitem__, map(_first, pend))), dtype=np.int8)
            key = np.frombuffer(array("q", map(_second, pend)), dtype=np.int64)
            vals = list(map(_third, pend))
            is_read = fs == READ
            value = np.zeros(len(pend), dtype=np.int64)
            length = np.zeros(len(pend), dtype=np.int64)
            value[~is_read] = np.frombuffer(array("q", compress(vals, (~is_read).tolist())), dtype=np.int64)
            rv = list(compress(vals, is_read.tolist()))
            if None in rv:
                lens = np.array([-1 if v is None else len(v) for v in rv], dtype=np.int64)
                rv = [v for v in rv if v is not None]
            else:
                lens = np.frombuffer(array("q", map(len, rv)), dtype=np.int64)
            if set(map(type, rv)) - {list}:
                raise _Unsupported
            n = np.maximum(lens, 0)
            value[is_read] = len(self.elems) + np.cumsum(n) - n
            length[is_read] = lens
            self.elems.extend(chain.from_iterable(rv))
        except (KeyError, TypeError, OverflowError):  # unknown f, keys or values not int
            raise _Unsupported from None
        txn = np.repeat(np.frombuffer(self.groups, dtype=np.int64),
                        np.frombuffer(self.group_len, dtype=np.int64))
        self.chunks.append((fs.copy(), key.copy(), txn, value, length))
        self.mops_done += len(pend)
        self.pending = []
        self.groups = array("q")
        self.group_len = array("q")

    def finish(self) -> TxnColumns:
        for t, inv in sorted(self.raw.items()):  # never completed ok: the invoke's micro-ops
            self._mops(t, self.decode(inv))
        self.raw.clear()
        self.flush()

        def col(a: array[int], dtype: Any) -> NDArray[Any]:
            # a view, not a copy: the array keeps its buffer (and can no longer grow)
            return np.frombuffer(a, dtype=dtype) if len(a) else np.zeros(0, dtype=dtype)

        dtypes = (np.int8, np.int64, np.int64, np.int64, np.int64)
        f, key, txn, value, length = (
            np.concatenate([chunk[i] for chunk in self.chunks]) if self.chunks else np.zeros(0, dtype=d)
            for i, d in enumerate(dtypes))
        self.chunks.clear()
        return TxnColumns(
            type=col(self.type, np.int8), process=col(self.process, np.int64),
            index=col(self.index, np.int64), invoke_index=col(self.invoke_index, np.int64),
            invoke_time=col(self.invoke_time, np.int64), complete_time=col(self.complete_time, np.int64),
            mop_start=col(self.mop_start, np.int64), mop_count=col(self.mop_count, np.int64),
            f=f, key=key, txn=txn, value=value, length=length, elems=col(self.elems, np.int64))


_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


def from_ops(history: Iterable[Op], compiled: bool = True) -> TxnColumns | None:
    """Columns of a history already in memory, or None if it holds what they cannot.

    By the C builder's ``feed_ops`` when it is built (``compiled=False`` skips
    it), else, or if it refuses, by the Python builder (the reference).
    """
    if compiled and isinstance(history, (list, tuple)):
        try:
            from jepsy.checkers.elle._columns import Builder
        except ImportError:
            pass
        else:
            c = Builder()
            if c.feed_ops(history):
                cols = _columns(c.finish())
                if cols is not None:
                    return cols
    b = _Builder()
    try:
        b.feed(history)
        return b.finish()
    except (_Unsupported, OverflowError):  # an index or time past int64 (array("q") refuses it)
        return None


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    """One JSONL op as ``from_jsonl`` reads it: its value stays JSON text (``Raw``)."""

    index: int
    time: int | None
    type: str
    process: int | str
    f: str
    value: msgspec.Raw = msgspec.Raw(b"null")
    error: Any = None


def from_jsonl(path: Path, compiled: bool = True) -> TxnColumns | None:
    """Columns straight from a JSONL history, a block at a time, never a whole ``Op`` list.

    Only files the fast JSONL reader of ``jepsy.history`` would take: one op
    object per line with jepsy's fields; anything else returns None (then the
    caller reads the file with ``read_history``, whose errors name the line).
    The C builder (``_columns.c``, when built; ``compiled=False`` skips it)
    reads the common subset of such files; whatever it refuses, this module's
    Python builder reads, with the same columns as the result.
    """
    if compiled:
        cols = _from_jsonl_c(path)
        if cols is not None:
            return cols
    # Values stay JSON text until used: an ok transaction's invoke is never decoded.
    dec = msgspec.json.Decoder(_Line)
    b = _Builder(decode=msgspec.json.decode, keep=msgspec.Raw.copy)
    try:
        for block in _blocks(path):
            b.feed(dec.decode_lines(block))
        return b.finish()
    except (_Unsupported, OverflowError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def from_file(path: Path) -> TxnColumns | None:
    """Columns of a stored history without ``Op`` records: jepsy JSONL (``from_jsonl``) or a
    JSON array of ops; None sends it to the general path (``read_history``, then
    ``from_ops``, which is also how Jepsen EDN reaches the columns)."""
    cols = from_jsonl(path)
    if cols is not None:
        return cols
    with path.open("rb") as f:
        lead = f.read(2000).lstrip()[:1]
    return _from_json_array(path) if lead == b"[" else None


def _from_json_array(path: Path) -> TxnColumns | None:
    """Columns of a JSON array of jepsy ops (``[{"type": ...}, ...]``) by the C builder's
    ``feed_ops_array``, without ``Op`` records; None if it is not built or refuses."""
    try:
        from jepsy.checkers.elle._columns import Builder
    except ImportError:
        return None
    b = Builder()
    if not b.feed_ops_array(path.read_bytes()):
        return None
    return _columns(b.finish())


_DTYPES = (np.int8, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64,
           np.int8, np.int64, np.int64, np.int64, np.int64, np.int64)  # TxnColumns' fields


def _from_jsonl_c(path: Path) -> TxnColumns | None:
    """``from_jsonl`` by the C builder, or None if it is not built or refuses the file."""
    try:
        from jepsy.checkers.elle._columns import Builder
    except ImportError:
        return None
    b = Builder()
    for block in _blocks(path):
        if not b.feed(block):
            return None
    return _columns(b.finish())


def _columns(bufs: tuple[memoryview, ...] | None) -> TxnColumns | None:
    if bufs is None:
        return None
    # views, not copies: each array keeps its buffer, which owns the C builder's memory
    return TxnColumns(*(np.frombuffer(buf, dtype=d) if len(buf) else np.zeros(0, dtype=d)
                        for buf, d in zip(bufs, _DTYPES, strict=True)))


def _blocks(path: Path, size: int = 1 << 24) -> Iterator[bytes]:
    """The file in blocks of whole lines."""
    with open(path, "rb") as fh:
        rest = b""
        while True:
            data = fh.read(size)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut]
        if rest.strip():
            yield rest
