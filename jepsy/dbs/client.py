"""The skeleton every database client shares: run one op, and say whether it happened.

``Client.invoke`` (see ``jepsy.protocols``) must end every op in one of three ways,
and findings depend on the choice: ``ok`` (it happened, with what it read),
``fail`` (it certainly did not happen), ``info`` (it may have; the checker must
allow both).  What an error means is a property of the database and its driver,
so a client says it as data, an ordered list of ``Outcome`` rules (first match
wins), and writes only ``do(f, value)``, which returns the ok value or raises::

    class RegisterClient(DatabaseClient):
        outcomes = (
            Outcome((Definite,), "fail"),                        # the client knows
            Outcome((ConnectionRefusedError,), "fail", refused), # nothing was sent
            Outcome((OSError,), "maybe", timeout_or_reason()),   # sent, answer lost
        )

        def do(self, f, value): ...

A ``fail`` or ``info`` completion carries no value of its own (the runner records
the invoked one), except an ``Indefinite`` that carries one.

``maybe`` is the usual answer for a lost answer: ``info``, unless the op is
``harmless`` (by default: its ``f`` is in ``reads``), which changes nothing and is
therefore ``fail``.  An error no rule matches propagates (the runner records it as
``info``, naming it): a bug is not an outcome.

Two exceptions belong to the skeleton because every client needs them:
``Definite`` (the client itself knows the op did not happen: a compare that did
not match, insufficient funds) and ``Indefinite`` (it knows the op may have
happened, possibly with a partial value).  Clients whose rules do not list them
do not use them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from jepsy.errors import ConfigError
from jepsy.protocols import Client, Test

__all__ = ["DatabaseClient", "Definite", "Indefinite", "Kind", "Outcome", "named", "pick",
           "reason", "refused", "timeout_or_reason"]

Kind = Literal["fail", "info", "maybe", "raise"]
C = TypeVar("C", bound="DatabaseClient")


class Definite(Exception):
    """The operation certainly did not take effect; the message is its ``error``."""


class Indefinite(Exception):
    """The operation may have taken effect; the message is its ``error``, ``value`` (when
    given) what it got before it stopped (a drain's elements, say)."""

    def __init__(self, error: str, value: Any = None) -> None:
        super().__init__(error)
        self.value = value
        self.has_value = value is not None


def reason(e: BaseException) -> str:
    """The exception's text, or its type's name when it has none."""
    return str(e) or type(e).__name__


def refused(e: BaseException) -> str:
    return "connection refused"


def named(e: BaseException) -> str:
    """``Type: text`` (``Type`` alone when there is no text)."""
    return type(e).__name__ + (f": {e}" if str(e) else "")


def timeout_or_reason(*timeouts: type[BaseException]) -> Callable[[BaseException], str]:
    """``"timeout"`` for the given timeout types (default: ``TimeoutError``), else ``reason``."""
    kinds = timeouts or (TimeoutError,)
    return lambda e: "timeout" if isinstance(e, kinds) else reason(e)


@dataclass(frozen=True)
class Outcome:
    """What an error of the given types means for the op.

    ``kind``: ``fail``, ``info``, ``maybe`` (``fail`` for a harmless op, else
    ``info``) or ``raise`` (not an outcome: propagate).  ``error`` makes the op's
    error text; ``when`` narrows the match (an HTTP status, an error code);
    ``drop`` says when the connection is closed (``never``, ``always``, or only
    when the op ends ``info``).
    """

    errors: tuple[type[BaseException], ...]
    kind: Kind
    error: Callable[[BaseException], str] = str
    when: Callable[[Any], bool] | None = None
    drop: Literal["never", "always", "info"] = "never"

    def matches(self, e: BaseException) -> bool:
        return isinstance(e, self.errors) and (self.when is None or self.when(e))


class DatabaseClient:
    """One worker's connection to one node; subclasses write ``do`` and declare ``outcomes``.

    ``open`` binds a fresh copy to the node's address (``self.host``), which
    subclasses extend to find more (a port, a prefix); ``drop`` closes the
    connection, whatever it is, and ``close`` calls it.  Setup and teardown do
    nothing by default: most workloads start from absent keys, and the data goes
    with the data directory.
    """

    outcomes: ClassVar[Sequence[Outcome]] = ()
    reads: ClassVar[frozenset[str]] = frozenset({"read"})
    default_timeout: ClassVar[float] = 2.0

    def __init__(self, opts: Mapping[str, Any]) -> None:
        self.opts = dict(opts)
        self.timeout = float(self.opts.get("op_timeout", self.default_timeout))
        self.host: str | None = None

    def fresh(self: C) -> C:
        """An unbound copy with the same options (and shared state, if any)."""
        return type(self)(self.opts)

    def open(self, test: Test, node: str) -> Client:
        c = self.fresh()
        c.host = test.address(node)
        return c

    def setup(self, test: Test) -> None:
        """Nothing to create: keys start absent."""

    def teardown(self, test: Test) -> None:
        """Data is wiped with the data directory."""

    def drop(self) -> None:
        """Close the connection, if any (the next op opens a new one)."""

    def close(self, test: Test) -> None:
        self.drop()

    def rules(self) -> Sequence[Outcome]:
        """The outcome rules; a method so that drivers imported late can name their types."""
        return self.outcomes

    def harmless(self, op: Mapping[str, Any]) -> bool:
        """Whether ``op`` changes nothing, so that an error certainly left no effect."""
        return op["f"] in self.reads

    def do(self, f: str, value: Any) -> Any:
        """Perform ``f``; its ``ok`` value, or raise."""
        raise NotImplementedError

    def invoke(self, test: Test, op: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return {"type": "ok", "value": self.do(str(op["f"]), op.get("value"))}
        except Exception as e:
            rule = next((r for r in self.rules() if r.matches(e)), None)
            if rule is None or rule.kind == "raise":
                raise
            kind = rule.kind
            if kind == "maybe":
                kind = "fail" if self.harmless(op) else "info"
            if rule.drop == "always" or (rule.drop == "info" and kind == "info"):
                self.drop()
            done = {"type": kind, "error": rule.error(e)}
            if isinstance(e, Indefinite) and e.has_value:
                done["value"] = e.value  # else the runner records the invoked value
            return done


def pick(clients: Mapping[str, type[C]], workload: str, who: str) -> type[C]:
    """The client class for ``workload``; a ``ConfigError`` naming what ``who`` speaks."""
    cls = clients.get(workload)
    if cls is None:
        raise ConfigError(f"{who} has no client for workload {workload!r} "
                          f"(it speaks: {', '.join(sorted(clients))})")
    return cls
