"""Declared options of modules: what ``--db-opt``, ``--workload-opt``, ``--nemesis-opt``
and ``jepsy check --opt`` may say, with a type, a default and one line of help.

A module factory declares its options with a decorator::

    @declare(
        Option("serializable", False, "serve reads from any member (etcd's serializable reads)",
               parse=boolean),
        Option("op_timeout", 2.0, "seconds to wait for each answer", parse=number),
    )
    def etcd_db(opts: Mapping[str, Any]) -> EtcdDB: ...

``resolve`` then checks what a user typed against the declaration before anything
touches a node: an unknown key is a ``ConfigError`` naming the key, the closest known
one and the whole list; a value its parser rejects names the key and what it expects.
Values arrive as strings from the command line and as YAML values from a matrix file,
so every parser takes both (``"true"`` and ``True``, ``"5"`` and ``5``).

Why a decorator and not a registry of its own: the declaration sits next to the code
that reads the options, and third-party factories that declare nothing keep working
(their options are passed through unchecked, as before).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from jepsy.errors import ConfigError

__all__ = ["COMMON", "Option", "boolean", "choice", "declare", "declared", "integer", "names",
           "number", "read", "resolve", "text"]

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__jepsy_options__"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(value: Any) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case), or a YAML boolean."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false")


def integer(value: Any) -> int:
    """A whole number (``"5"``, ``5``); not ``5.5`` and not a boolean."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def number(value: Any) -> float:
    """A number (``"0.5"``, ``2``)."""
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None


def text(value: Any) -> str:
    """Any text."""
    return str(value)


def names(value: Any) -> list[str]:
    """A comma-separated list (``one,halves``) or a YAML list."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def choice(*allowed: str) -> Callable[[Any], str]:
    """One of ``allowed`` (case-insensitive; ``_`` and ``-`` alike)."""

    def parse(value: Any) -> str:
        word = str(value).strip().lower().replace("_", "-")
        for a in allowed:
            if word == a.lower().replace("_", "-"):
                return a
        raise ValueError(f"expected one of {', '.join(allowed)}")

    parse.__doc__ = f"one of {', '.join(allowed)}"
    return parse


class Option(msgspec.Struct, frozen=True):
    """One option: its key, its default (``None``: absent unless given), one line of help,
    and the parser that turns what a user typed into the value the module reads."""

    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = text

    @property
    def kind(self) -> str:
        """A word for the value's type, for ``jepsy list --options`` and error messages."""
        if isinstance(self.parse, type):
            return self.parse.__name__
        return getattr(self.parse, "__name__", "value").replace("parse", "choice")


# Keys every module receives from the run itself (``jepsy test``'s own flags), which a
# user may also set through the module options.
COMMON = ("time_limit", "concurrency", "rate", "seed", "nemesis_interval")


def declare(*options: Option) -> Callable[[F], F]:
    """Attach ``options`` to a factory (see the module docstring)."""
    table = {o.name: o for o in options}
    if len(table) != len(options):
        raise ValueError("an option is declared twice")

    def attach(factory: F) -> F:
        setattr(factory, _ATTR, table)
        return factory

    return attach


def declared(factory: object) -> dict[str, Option] | None:
    """The factory's declared options by key; ``None`` when it declares none."""
    table = getattr(factory, _ATTR, None)
    return dict(table) if table is not None else None


def resolve(what: str, tables: Iterable[Mapping[str, Option] | None],
            given: Mapping[str, Any], *, flag: str) -> dict[str, Any]:
    """The options a user gave (``given``) checked and parsed against the union of
    ``tables`` (one per module the options reach), plus every declared default that is
    not ``None``.  ``what`` names the module(s) in errors, ``flag`` the option that
    carried the value.  An undeclared module (a ``None`` table) disables the check of
    unknown keys, since any key may be its own.
    """
    known: dict[str, Option] = {}
    checked = True
    for table in tables:
        if table is None:
            checked = False
        else:
            known.update(table)
    out = {k: o.default for k, o in known.items() if o.default is not None}
    for key, value in given.items():
        option = known.get(key)
        if option is None:
            if key in COMMON or not checked:
                out[key] = value
                continue
            listing = ", ".join(sorted(known)) or "none"
            import difflib  # here: only a misspelt option needs it (start-up stays small)

            near = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{flag} {key}: {what} has no option {key!r}{hint}; "
                              f"known: {listing}")
        try:
            out[key] = option.parse(value)
        except ValueError as e:
            raise ConfigError(f"{flag} {key}={value}: {e}") from None
    return out


def read(table: Iterable[Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """What a module reads: ``given`` with every option of ``table`` parsed (its default
    when absent or ``None``), other keys as they are.

    Parsing a value ``resolve`` already parsed gives it back, so a module built directly
    (a test, a plugin, a matrix file) reads its options exactly as one built by
    ``jepsy test``, through the one parser its declaration names.
    """
    out = dict(given)
    for o in table:
        value = given.get(o.name)
        if value is None:
            out[o.name] = o.default
            continue
        try:
            out[o.name] = o.parse(value)
        except ValueError as e:
            raise ConfigError(f"option {o.name}={value}: {e}") from None
    return out

