"""Operations and histories: the central contract between runner, checkers and reports.

An operation is a frozen record, one line of ``history.jsonl``::

    {"index": 0, "time": 1234567, "type": "invoke", "process": 3, "f": "cas", "value": [1, 4]}

``type`` is ``invoke``, then exactly one of ``ok`` (it happened, with its result),
``fail`` (it definitely did not happen) or ``info`` (unknown: it may have happened,
now or at any later time).  ``time`` is nanoseconds since the test started, from
a monotonic clock.  A process whose op ended in ``info`` never invokes again.

The writer streams and flushes every op as it is recorded, so a crash of jepsy
itself loses at most the op being written.  ``read_history`` reads jepsy JSONL,
JSON arrays (elle-cli), Jepsen EDN (one map per line, or one vector) and the
Plume/PolySI/dbcop text format.
"""

from __future__ import annotations

import errno
import gc
import os
import re
import stat
import threading
import time as _time
from collections import deque
from collections.abc import Mapping
from itertools import repeat
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any, Literal, NoReturn

import msgspec

from jepsy.errors import HistoryError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

# pathlib and json are imported where they are used, not with this module: reading a
# history takes neither (the fast readers), and each is a few ms of ``jepsy check``'s
# start-up (pathlib alone costs what reading a small history does).

# jepsy.edn (its regular expressions) is imported where EDN is read or written: the
# fast readers and a JSONL history never need it.

__all__ = [
    "COMPLETIONS",
    "TYPES",
    "HistoryWriter",
    "Op",
    "dumps_edn",
    "location",
    "pair",
    "pair_positions",
    "read_history",
]

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = frozenset(("ok", "fail", "info"))
_FIELDS = ("index", "time", "type", "process", "f", "value", "error")


class _NoExtra(Mapping[str, Any]):
    """The ``extra`` of an op without other fields: empty, read-only, shared (and so hashable)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> NoReturn:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


_NO_EXTRA = _NoExtra()


class Source:
    """Where the ops of one file came from, shared by all of them (one object per file).

    The fast readers give each op this instead of a "file:line" string of its
    own (a string per op was a tenth of the reading time and of a history's
    memory); ``location`` renders it from the op's index, which they have
    checked is its position.  ``unit`` is ``""`` for lines ("file:12") or the
    name of an element ("file: form 12").
    """

    __slots__ = ("path", "unit")

    def __init__(self, path: str, unit: str = "") -> None:
        self.path = path
        self.unit = unit

    def at(self, index: int) -> str:
        return f"{self.path}: {self.unit} {index + 1}" if self.unit else f"{self.path}:{index + 1}"

    def __repr__(self) -> str:
        return f"Source({self.path!r}, {self.unit!r})"


# What msgspec decodes ``Op.type`` as: a Literal, so that it rejects other types and
# gives every op one shared string per type (not a new one each).  Type checkers see
# ``str``, so that ops can be built from any string (``HistoryWriter.record`` checks).
if TYPE_CHECKING:
    _Type = str
else:
    _Type = Literal["invoke", "ok", "fail", "info"]

# The names ``extra`` and ``where`` have in JSON, for msgspec: none, in effect (a file
# is scanned for '"jepsy:' before the fast reader takes it).  Their fields are not
# part of the file format: other keys go to ``extra`` through the general reader.
_HIDDEN = "jepsy:"


class Op(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One event of a history.

    ``process`` is an int for clients and a string (``"nemesis"``) for faults.
    ``time`` is None only for formats that carry no times (Plume text); checkers
    that need real-time order must treat such ops as unordered.
    ``extra`` keeps any other fields of the source (e.g. Porcupine's ``key``).

    A msgspec Struct: msgspec's decoder builds it in C (five times faster than
    the dataclass it was), it is immutable (``msgspec.structs.replace`` makes a
    changed copy), and ``gc=False`` keeps it out of the cyclic collector, which
    a million ops would otherwise make walk them all (an op holds no cycle: its
    fields are numbers, strings and JSON-like values).  Equality and hashing
    are over the event only, as for a dataclass with ``compare=False`` on
    ``extra`` and ``where``.
    """

    index: int
    time: int | None
    type: _Type
    process: int | str
    f: str
    value: Any = None
    error: Any = None
    # Read-only; one shared empty mapping by default (a new dict per op cost a third
    # of the fast reader's time).
    extra: Mapping[str, Any] = msgspec.field(default=_NO_EXTRA, name=_HIDDEN + "extra")
    # Where the op was read from, for error messages (see ``location``); not part of the op.
    where: Any = msgspec.field(default=None, name=_HIDDEN + "where")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Op:
            return NotImplemented
        o: Op = other
        return (self.index == o.index and self.time == o.time and self.type == o.type
                and self.process == o.process and self.f == o.f and self.value == o.value
                and self.error == o.error)

    def __hash__(self) -> int:
        return hash((self.index, self.time, self.type, self.process, self.f, self.value, self.error))

    def __repr__(self) -> str:
        extra = f", extra={dict(self.extra)!r}" if self.extra else ""
        return (f"Op(index={self.index!r}, time={self.time!r}, type={self.type!r}, "
                f"process={self.process!r}, f={self.f!r}, value={self.value!r}, "
                f"error={self.error!r}{extra})")

    @property
    def is_client(self) -> bool:
        return isinstance(self.process, int)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "value": self.value,
        }
        if self.error is not None:
            d["error"] = self.error
        d.update(self.extra)
        return d


def _plain(value: Any) -> Any:
    """Turn EDN-only types into JSON-able ones (sets -> sorted lists, tuples -> lists)."""
    cls = value.__class__
    if cls is int or cls is str or value is None or cls is bool or cls is float:
        return value  # the common case, first
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    from jepsy import edn  # only EDN values get this far

    if isinstance(value, edn.Tagged):
        return {"tag": value.tag, "value": _plain(value.value)}
    if isinstance(value, edn.Keyword):
        return str(value)
    return value


def _plain_key(k: Any) -> Any:
    if isinstance(k, str):
        return str(k)
    if isinstance(k, (int, float, bool)) or k is None:
        return k
    import json

    return json.dumps(_plain(k))


def op_from_mapping(d: dict[Any, Any], position: int, where: str) -> Op:
    """Build an Op from a decoded JSON object or EDN map; ``where`` names it in errors."""
    typ = d.get("type")
    if typ not in TYPES:
        raise HistoryError(f"{where}: unknown op type {typ!r} (want invoke, ok, fail or info)")
    process = d.get("process", 0)
    if isinstance(process, bool) or not isinstance(process, (int, str)):
        raise HistoryError(f"{where}: process must be an integer or a name, not {process!r}")
    if isinstance(process, str):
        process = str(process)
    f = d.get("f", "txn" if isinstance(d.get("value"), list) else None)
    if f is None:
        raise HistoryError(f"{where}: op has no 'f'")
    t = d.get("time")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))):
        raise HistoryError(f"{where}: time must be a number of nanoseconds, not {t!r}")
    index = d.get("index", position)
    extra = {str(k): _plain(v) for k, v in d.items() if k not in _FIELDS}
    return Op(
        index=int(index) if isinstance(index, int) else position,
        time=None if t is None else int(t),
        type=str(typ),
        process=process,
        f=str(f),
        value=_plain(d.get("value")),
        error=_plain(d.get("error")),
        extra=extra,
        where=where,
    )


# ---- the fast readers -------------------------------------------------------
#
# msgspec decodes JSON straight into ``Op`` in C: the whole file in one call,
# each op's type checked against the Literal and shared, fields other than
# jepsy's refused (``forbid_unknown_fields``).  orjson, which can only give
# dicts, would leave building the ops to Python (benchmarks/bench_read.py
# measures the ways).  EDN, for which no such library exists, is read by
# ``jepsy._fastread`` (C, optional) straight into ``Op`` too.  The fast readers
# take only input whose meaning they are sure of and return None otherwise;
# the general readers below then read it again, with their errors naming file
# and line.

_decoders: dict[str, Any] = {}


def _op_decoder(kind: str) -> Any:
    """msgspec decoders, built once: ``lines`` (JSONL of ops) and ``array`` (a JSON array)."""
    dec = _decoders.get(kind)
    if dec is None:
        dec = _decoders[kind] = msgspec.json.Decoder(Op if kind == "lines" else list[Op])
    return dec


# ``jepsy._fastread`` once imported; False when it was not built (no C compiler).
# Looked up once, not per file: an import statement per call was a few percent of
# reading a small file.
_fastread: Any = None


def _c() -> Any:
    global _fastread
    if _fastread is None:
        try:
            from jepsy import _fastread as module
        except ImportError:
            _fastread = False
        else:
            _fastread = module
    return _fastread


def _located(ops: list[Op], source: Source, data: bytes, by_line: bool) -> list[Op] | None:
    """Give freshly decoded ops their shared ``source``; None if the general reader must
    read the file instead.

    The fast readers number ops by position (line or element), and ``Source``
    renders a location from the index: the two must agree, and with ``by_line``
    (JSONL) the file must have a line per op (msgspec skips blank lines).  A file
    that names the Struct's hidden fields (``extra``, ``where``) goes to the general
    reader, which keeps such keys as extra fields.  Also gives the ops one string
    object per distinct ``f`` (msgspec makes one per op; a history has a handful of
    functions and a million ops, and sharing their names saves about 50 bytes an
    op).  Frozen ops are written at their slots by ``jepsy._fastread.locate``, in
    one C pass with the count of lines, when it is built; else through the slots'
    descriptors by ``map``s over C callables, without a Python frame per op.
    """
    if _HIDDEN_KEY in data:
        return None
    c = _c()
    if c:
        return ops if c.locate(ops, source, data if by_line else None) else None
    if by_line and len(ops) != data.count(b"\n") + (not data.endswith(b"\n")):
        return None
    if list(map(_get_index, ops)) != list(range(len(ops))):
        return None
    deque(map(_WHERE.__set__, ops, repeat(source)), 0)
    fs = list(map(_get_f, ops))
    shared: dict[str, str] = {}
    deque(map(_F.__set__, ops, map(shared.setdefault, fs, fs)), 0)
    return ops


_get_index, _get_f = attrgetter("index"), attrgetter("f")
_F, _WHERE = getattr(Op, "f"), getattr(Op, "where")  # noqa: B009  (slots)
_HIDDEN_KEY = b'"' + _HIDDEN.encode()


def _fast_jsonl(path: str | Path, data: bytes) -> list[Op] | None:
    """JSONL of ops with exactly jepsy's fields, or None (then the general reader runs).

    Unknown fields must go to ``extra``, which msgspec would refuse (the
    Struct forbids them); so would a missing required field or a float time,
    which the general reader converts.  Lines are numbered by position: blank
    lines (which msgspec skips) make fewer ops than lines and send the file to
    the general reader too (``_located``).
    """
    try:
        ops: list[Op] = _op_decoder("lines").decode_lines(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _located(ops, Source(str(path)), data, by_line=True)


def _fast_json_array(path: str | Path, data: bytes) -> list[Op] | None:
    """A JSON array of ops with exactly jepsy's fields (elle-cli's input), or None."""
    try:
        ops: list[Op] = _op_decoder("array").decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _located(ops, Source(str(path), "element"), data, by_line=False)


def _fast_edn(path: str | Path, data: bytes) -> list[Op] | None:
    """Jepsen EDN of plain op maps, read by ``jepsy._fastread`` in C, or None.

    It takes the common subset of Jepsen histories (keywords, numbers, nil,
    booleans, strings with JSON's escapes, vectors, lists, maps with keyword
    keys; see _fastread.c) and gives up on anything else (sets, tags, symbols,
    an index that is not the op's position ...), which the general reader then
    reads.  Its ops are built as that reader builds them, with one ``Source``
    for the file, one string per keyword, and the cyclic collector paused.
    """
    c = _c()
    if not c:
        return None
    ops: list[Op] | None = c.read_edn(data, Op, Source(str(path), "form"), _NO_EXTRA)
    return ops


def _read_jsonl(path: Path, lines: Iterable[str]) -> list[Op]:
    import json

    ops: list[Op] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(d, dict):
            raise HistoryError(f"{path}:{lineno}: expected a JSON object per line")
        ops.append(op_from_mapping(d, len(ops), f"{path}:{lineno}"))
    return ops


def _ops(forms: list[Any], path: Path, label: str) -> list[Op]:
    """Ops from decoded maps; ``label`` names an element in errors ("form", "element")."""
    ops: list[Op] = []
    for i, form in enumerate(forms):
        if not isinstance(form, dict):
            raise HistoryError(f"{path}: {label} {i + 1} is not an op map")
        ops.append(op_from_mapping(form, len(ops), f"{path}: {label} {i + 1}"))
    return ops


def _read_edn(path: Path, text: str) -> list[Op]:
    from jepsy import edn

    try:
        forms = edn.loads_all(text)
    except edn.EDNError as e:
        raise HistoryError(f"{path}:{e.line}: malformed EDN ({e.args[0].split(': ', 1)[-1]})") from None
    if len(forms) == 1 and isinstance(forms[0], list):
        forms = forms[0]
    return _ops(forms, path, "form")


def _read_json_array(path: Path, text: str) -> list[Op]:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise HistoryError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise HistoryError(f"{path}: expected a JSON array of ops")
    return _ops(data, path, "element")


def read_history(path: str | os.PathLike[str]) -> list[Op]:
    """Read a history in any supported format, chosen by content (not by name).

    Raises ``HistoryError`` (one line, with file and line) on malformed input.
    The cyclic garbage collector is paused meanwhile: a history is a million
    young objects none of which is garbage, and every collection their
    allocation triggers would walk them all for nothing (it doubled the time
    of reading a large history).
    """
    name = _name(path)
    was = gc.isenabled()
    gc.disable()
    try:
        return _read_any(name)
    finally:
        if was:
            gc.enable()


def _name(path: str | os.PathLike[str]) -> str:
    """``str(Path(path))``, the name errors and locations give, without a Path when it is
    already that (building one is a tenth of reading a small file)."""
    s = os.fspath(path)
    if (s.__class__ is str and s and "//" not in s and "/." not in s
            and not s.startswith("./") and not s.endswith("/")):
        return s
    from pathlib import Path

    return str(Path(path))


def _slurp(name: str) -> bytes:
    """The bytes of a file, in as few system calls as it takes (``Path.read_bytes``, with
    its file object, was a third of the time of reading a small history)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise HistoryError(f"{name}: no such history file") from None
    except OSError as e:
        raise HistoryError(f"{name}: cannot read ({e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):  # (os.read's error would not name the file)
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        # One byte more than the size: a regular file that gives exactly its size is read
        # whole.  Else (a pipe; a file that grew; past 2 GiB, which one read(2) does not
        # give) read on to the end.
        data = os.read(fd, st.st_size + 1)
        if len(data) != st.st_size or not stat.S_ISREG(st.st_mode):
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError as e:
        raise HistoryError(f"{name}: cannot read ({e})") from None
    finally:
        os.close(fd)


_NON_SPACE = re.compile(rb"\S")


def _read_any(name: str) -> list[Op]:
    data = _slurp(name)
    first = _NON_SPACE.search(data)
    lead = data[first.start()] if first else 0
    fast = None
    if lead == 0x7B:  # "{": JSONL, or EDN maps one per line
        start = first.start() if first else 0
        end = data.find(b"\n", start)
        line = data[start:end if end >= 0 else len(data)].rstrip()
        fast = _fast_jsonl(name, data) if line.endswith(b"}") and b'":' in line \
            else _fast_edn(name, data)
    elif lead in (0x5B, 0x28):  # "[" or "(": Knossos's EDN vector, or a JSON array
        fast = _fast_json_array(name, data) if b'"type"' in data[:2000] else _fast_edn(name, data)
    elif lead == 0x3B:  # ";": EDN after a comment
        fast = _fast_edn(name, data)
    return fast if fast is not None else _read_general(name, data)


def _read_general(name: str, data: bytes) -> list[Op]:
    """The general readers, for any input; their errors name file and line."""
    import json
    from pathlib import Path

    p = Path(name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HistoryError(f"{p}: cannot read ({e})") from None
    head = text.lstrip()[:2]
    if not head:
        return []
    if head[0] == "{":
        first_line = text.lstrip().split("\n", 1)[0]
        try:
            json.loads(first_line)
        except json.JSONDecodeError:
            return _read_edn(p, text)
        return _read_jsonl(p, text.splitlines())
    if head[0] == "[":
        stripped = text.lstrip()
        if stripped[1:].lstrip()[:1] == "{" and '"type"' in stripped[:2000]:
            return _read_json_array(p, text)
        return _read_edn(p, text)
    if head in ("r(", "w("):
        from jepsy.textfmt import read_text_history

        return read_text_history(p, text)
    return _read_edn(p, text)


def location(op: Op) -> str:
    """Where an op came from, for error messages: "file:line" when read from a file."""
    where = op.where
    if where is None:
        return f"op {op.index}"
    return where.at(op.index) if isinstance(where, Source) else str(where)


def pair(history: Sequence[Op]) -> list[tuple[Op, Op | None]]:
    """Match each client invoke with its completion: ``[(invoke, completion or None)]``.

    In history order of the invokes.  A completion with no open invoke, or a
    second invoke while one is open, raises ``HistoryError`` naming the op.
    Non-client ops (the nemesis) are skipped.
    """
    return [(history[i], None if j is None else history[j])
            for i, j in pair_positions(history, strict=True)]


def pair_positions(history: Sequence[Op], strict: bool = False) -> list[tuple[int, int | None]]:
    """The one pairing of invocations with completions, as positions in ``history``.

    ``[(i, j)]``, one per client call, in order of ``i``: ``history[i]`` is the
    invoke and ``history[j]`` its completion, ``j`` None while it has none.
    Non-client ops (the nemesis) are skipped.  Positions, not ops, because the
    checkers and the report index other columns by them.

    Without ``strict``, the loose histories other tools publish are taken as
    they come: a completion with no open invoke (Elle's histories of
    completions only) is a call of its own, ``(j, j)``; an invoke while its
    process has one open leaves the earlier call without completion.  With
    ``strict`` both raise ``HistoryError`` naming the op.
    """
    open_: dict[int | str, int] = {}
    out: list[tuple[int, int | None]] = []
    for pos, op in enumerate(history):
        p = op.process
        if not isinstance(p, int):
            continue
        if op.type == "invoke":
            prev = open_.get(p)
            if prev is not None and strict:
                raise HistoryError(
                    f"{location(op)}: process {p} invokes again while "
                    f"{location(history[out[prev][0]])} is still open")
            open_[p] = len(out)
            out.append((pos, None))
            continue
        k = open_.pop(p, None)
        if k is None:
            if strict:
                raise HistoryError(f"{location(op)}: {op.type} of process {p} has no invoke")
            out.append((pos, pos))
        else:
            out[k] = (out[k][0], pos)
    return out


class HistoryWriter:
    """Append-only, thread-safe, flushed JSONL history.

    ``record`` assigns ``index`` and ``time`` (ns since ``start``, monotonic) under
    one lock, so the file order is the history order.  With ``keep`` (the default)
    it also keeps the ops in memory (``ops``); without it, memory stays flat however
    long the run (the soak benchmark measured about 1 MiB per second of a full-rate
    run otherwise) and ``ops`` is the file read back, once it is closed.
    """

    def __init__(self, path: str | os.PathLike[str], start_ns: int | None = None,
                 keep: bool = True) -> None:
        from json import JSONEncoder
        from pathlib import Path

        self.path = Path(path)
        self._encode = JSONEncoder(default=str).encode  # json.dumps(op, default=str), built once
        self.start_ns = _time.monotonic_ns() if start_ns is None else start_ns
        self._lock = threading.Lock()
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.keep = keep
        self.count = 0
        self._ops: list[Op] = []

    @property
    def ops(self) -> list[Op]:
        """Every op recorded (without ``keep``: read back from the file once it is closed)."""
        if not self.keep and self._file.closed and len(self._ops) != self.count:
            self._ops = read_history(self.path)
        return self._ops

    def now(self) -> int:
        return _time.monotonic_ns() - self.start_ns

    def record(self, type: str, process: int | str, f: str, value: Any = None,
               error: Any = None, extra: dict[str, Any] | None = None) -> Op:
        if type not in TYPES:
            raise ValueError(f"unknown op type {type!r}")
        with self._lock:
            op = Op(index=self.count, time=self.now(), type=type, process=process,
                    f=f, value=value, error=error, extra=extra or {})
            self._file.write(self._encode(op.to_json()) + "\n")
            self._file.flush()
            self.count += 1
            if self.keep:
                self._ops.append(op)
            return op

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_edn_lines(history: Iterable[Op]) -> Iterator[str]:
    """Jepsen EDN, one map per line, with ``type``, ``f`` and nemesis process as keywords."""
    from jepsy import edn

    for op in history:
        d: dict[Any, Any] = {edn.Keyword(k): v for k, v in op.to_json().items()}
        d[edn.Keyword("type")] = edn.Keyword(op.type)
        d[edn.Keyword("f")] = edn.Keyword(op.f)
        if not op.is_client:
            d[edn.Keyword("process")] = edn.Keyword(str(op.process))
        yield edn.dumps(d)


def dumps_edn(history: Iterable[Op]) -> str:
    return "".join(line + "\n" for line in iter_edn_lines(history))
