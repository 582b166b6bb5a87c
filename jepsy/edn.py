"""A small EDN reader and writer, enough for Jepsen, Knossos and Elle histories.

Mapping of EDN to Python (chosen so that histories read from EDN compare equal to
the same histories read from jepsy's JSON):

    nil / true / false      None / True / False
    :keyword                Keyword (a ``str`` subclass: ``Keyword("ok") == "ok"``)
    symbol                  Symbol (a ``str`` subclass)
    "string", \\c           str
    42, 42N, 1.5, 1.5M      int, float
    [..] and (..)           list
    {..}                    dict (vector keys become tuples, so they stay hashable)
    #{..}                   frozenset
    #tag form               Tagged(tag, form) (e.g. ``#object[...]`` in Elle histories)
    #_ form                 discarded; ``;`` comments and commas are whitespace

``loads_all`` reads every top-level form of a text (one map per line, or one vector);
``dumps`` writes a value back, keywords as keywords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EDNError", "Keyword", "Symbol", "Tagged", "dumps", "loads", "loads_all"]


class Keyword(str):
    """An EDN keyword, stored without its colon; equal to the plain string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{self!s}"


class Symbol(str):
    """An EDN symbol, kept as its name."""

    __slots__ = ()


@dataclass(frozen=True)
class Tagged:
    """A tagged literal that jepsy does not interpret (``#inst``, ``#object`` ...)."""

    tag: str
    value: Any


class EDNError(ValueError):
    """Malformed EDN; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,]+|;[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^\s,\[\](){}"]*)
  | (?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|.))
  | (?P<atom>[^\s,\[\](){}";]+)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_DISCARD = object()


def _atom(text: str) -> Any:
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text[0] == ":":
        return Keyword(text[1:])
    if _INT.fullmatch(text):
        return int(text.rstrip("N"))
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    if _RATIO.fullmatch(text):
        num, den = text.split("/")
        return int(num) / int(den)
    return Symbol(text)


def _string(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((repr(k), _hashable(x)) for k, x in v.items()))
    return v


class _Reader:
    """Recursive-descent reader over a token stream (an explicit stack would be
    faster, but histories nest only a few levels deep)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [(m.lastgroup or "", m.group(), m.start()) for m in _TOKEN.finditer(text)
                       if m.lastgroup != "ws"]
        self.pos = 0
        for kind, text, offset in self.tokens:
            if kind == "bad":
                what = "unterminated string" if text == '"' else f"unexpected {text!r}"
                raise EDNError(what, self.line(offset))

    def line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def read(self) -> Any:
        while True:
            value = self._read_one()
            if value is not _DISCARD:
                return value

    def _read_one(self) -> Any:
        if self.at_end():
            raise EDNError("unexpected end of input", self.line(len(self.text)))
        kind, text, offset = self.tokens[self.pos]
        self.pos += 1
        if kind == "atom":
            return _atom(text)
        if kind == "str":
            return _string(text)
        if kind == "open":
            return self._collection(text, offset)
        if kind == "close":
            raise EDNError(f"unexpected {text!r}", self.line(offset))
        if kind == "char":
            name = text[1:]
            if name.startswith("u") and len(name) == 5:
                return chr(int(name[1:], 16))
            return _CHARS.get(name, name)
        if kind == "discard":
            self.read()
            return _DISCARD
        if kind == "tag":
            return Tagged(text[1:], self.read())
        raise EDNError(f"cannot read {text!r}", self.line(offset))

    def _collection(self, opener: str, offset: int) -> Any:
        closer = _CLOSER[opener]
        items: list[Any] = []
        while True:
            if self.at_end():
                raise EDNError(f"{opener!r} opened here is never closed", self.line(offset))
            kind, text, _ = self.tokens[self.pos]
            if kind == "close":
                self.pos += 1
                if text != closer:
                    raise EDNError(f"{opener!r} closed by {text!r}", self.line(offset))
                break
            item = self._read_one()
            if item is not _DISCARD:
                items.append(item)
        if opener == "{":
            if len(items) % 2:
                raise EDNError("map with an odd number of forms", self.line(offset))
            return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}
        if opener == "#{":
            return frozenset(_hashable(x) for x in items)
        return items


def loads(text: str) -> Any:
    """Read exactly one EDN form."""
    reader = _Reader(text)
    value = reader.read()
    if not reader.at_end():
        raise EDNError("more than one form", reader.line(reader.tokens[reader.pos][2]))
    return value


def loads_all(text: str) -> list[Any]:
    """Read every top-level form of ``text``."""
    reader = _Reader(text)
    forms: list[Any] = []
    while not reader.at_end():
        kind = reader.tokens[reader.pos][0]
        if kind == "discard":
            reader.pos += 1
            reader.read()
            continue
        forms.append(reader.read())
    return forms


def dumps(value: Any) -> str:
    """Write ``value`` as EDN.  Strings stay strings unless they are ``Keyword``."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Keyword):
        return ":" + str(value)
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dumps(k)} {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (frozenset, set)):
        return "#{" + " ".join(dumps(v) for v in value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(dumps(v) for v in value) + "]"
    if isinstance(value, Tagged):
        return f"#{value.tag} {dumps(value.value)}"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")
