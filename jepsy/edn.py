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


# One token per match, whitespace, commas and comments before it skipped.  Every
# position matches (a stray character is ``bad``, trailing whitespace ``end``), so
# the scan never resumes inside a comment and nothing is skipped silently.
_TOKEN = re.compile(
    r"""
    (?:[\s,]+|;[^\n]*)*+
    (?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<open>\#\{|[\[({])
    | (?P<close>[\])}])
    | (?P<discard>\#_)
    | (?P<tag>\#[A-Za-z][^\s,\[\](){}"]*)
    | (?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|.))
    | (?P<atom>[^\s,\[\](){}";]+)
    | (?P<bad>.)
    | (?P<end>\Z)
    )
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
_MISSING = object()


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


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _collection(text: str, opener: str, items: list[Any], offset: int) -> Any:
    if opener == "{":
        if len(items) % 2:
            raise EDNError("map with an odd number of forms", _line(text, offset))
        return {(k if k.__class__ is Keyword else _hashable(k)): v
                for k, v in zip(items[::2], items[1::2], strict=True)}
    if opener == "#{":
        return frozenset(_hashable(x) for x in items)
    return items


def _read(text: str) -> tuple[list[Any], list[int]]:
    """Every top-level form of ``text``, and the offset where each starts.

    One pass over the tokens with an explicit stack (histories are long and
    flat: a recursive reader spent most of its time in calls).  ``#_`` and
    ``#tag`` wait, per level, for the next complete form: a discard drops it, a
    tag wraps it.  Atoms repeat (``:type``, ``:invoke``, ``nil``, small numbers),
    so each distinct one is converted once.
    """
    top: list[Any] = []
    starts: list[int] = []
    items = top
    pend: list[Any] = []  # discards and tags waiting for the next form at this level
    stack: list[tuple[str, list[Any], int, list[Any]]] = []
    cache: dict[str, Any] = {}
    start = 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "end"
        if kind == "end":
            continue
        tok = m.group(kind)
        if not stack and not pend:
            start = m.start(kind)
        v: Any
        if kind == "atom":
            v = cache.get(tok, _MISSING)
            if v is _MISSING:
                v = cache[tok] = _atom(tok)
        elif kind == "open":
            stack.append((tok, items, m.start(kind), pend))
            items, pend = [], []
            continue
        elif kind == "close":
            if not stack or pend:
                raise EDNError(f"unexpected {tok!r}", _line(text, m.start(kind)))
            opener, parent, offset, pend = stack.pop()
            if tok != _CLOSER[opener]:
                raise EDNError(f"{opener!r} closed by {tok!r}", _line(text, offset))
            v = _collection(text, opener, items, offset)
            items = parent
        elif kind == "str":
            v = _string(tok)
        elif kind == "discard":
            pend.append(_DISCARD)
            continue
        elif kind == "tag":
            pend.append(tok[1:])
            continue
        elif kind == "char":
            name = tok[1:]
            v = chr(int(name[1:], 16)) if name.startswith("u") and len(name) == 5 \
                else _CHARS.get(name, name)
        else:
            what = "unterminated string" if tok == '"' else f"unexpected {tok!r}"
            raise EDNError(what, _line(text, m.start(kind)))
        while pend:
            prefix = pend.pop()
            if prefix is _DISCARD:
                break  # this form is dropped; earlier prefixes wait for the next one
            v = Tagged(prefix, v)
        else:
            items.append(v)
            if items is top:
                starts.append(start)
    if stack:
        opener, _, offset, _ = stack[-1]
        raise EDNError(f"{opener!r} opened here is never closed", _line(text, offset))
    if pend:
        raise EDNError("unexpected end of input", _line(text, len(text)))
    return top, starts


def loads(text: str) -> Any:
    """Read exactly one EDN form."""
    forms, starts = _read(text)
    if not forms:
        raise EDNError("unexpected end of input", _line(text, len(text)))
    if len(forms) > 1:
        raise EDNError("more than one form", _line(text, starts[1]))
    return forms[0]


def loads_all(text: str) -> list[Any]:
    """Read every top-level form of ``text``."""
    return _read(text)[0]


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
