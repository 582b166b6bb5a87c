"""Checkers: the protocol and composition (``compose``, ``check_safe``, ``FnChecker``).

A checker is anything with ``check(history, opts) -> dict``.  The result is plain
data (it goes into ``results.json`` as is) with at least::

    {"valid": True | False | "unknown", ...}

``valid`` is True when the history satisfies the property, False when the
checker found a violation (the result must then say what and where), and
"unknown" when it could not decide (time or memory budget spent, history
incomplete).  Checkers never print; they return explanations as data.

Checkers are composed, not subclassed: ``compose({"linear": a, "stats": b})``
runs each and merges ``valid`` with the priority False > "unknown" > True;
``check_safe`` turns a crash into "unknown" with the error attached.

One module per property beside this one; the names ``jepsy check --checker``
takes (``linearizable``, ``list-append`` ...) map to their factories in
``jepsy.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from jepsy.history import Op

__all__ = ["Checker", "check_safe", "compose", "merge_valid"]

Valid = bool | str  # True, False or "unknown"


@runtime_checkable
class Checker(Protocol):
    """Judges a history.

    ``history`` is the whole history (client and nemesis ops, in order).
    ``opts`` carries run context a checker may use (``"time_limit"``, ``"nodes"``,
    ``"store_dir"`` ...); checkers must work with an empty mapping.
    Must be pure with respect to the history: no mutation, no I/O besides
    files a checker deliberately writes under ``opts["store_dir"]``.
    """

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]: ...


def merge_valid(values: Sequence[Any]) -> Valid:
    """False beats "unknown" beats True; an empty sequence is True."""
    if any(v is False for v in values):
        return False
    if any(v is not True for v in values):
        return "unknown"
    return True


class _Composed:
    def __init__(self, checkers: Mapping[str, Checker]) -> None:
        self.checkers = dict(checkers)

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        results = {name: c.check(history, opts) for name, c in self.checkers.items()}
        return {"valid": merge_valid([r.get("valid") for r in results.values()]), **results}


def compose(checkers: Mapping[str, Checker]) -> Checker:
    """One checker that runs each named checker; its result holds each one's result."""
    return _Composed(checkers)


class _Safe:
    def __init__(self, checker: Checker) -> None:
        self.checker = checker

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.checker.check(history, opts)
        except Exception as e:  # a crashing checker must not lose the run
            import traceback  # here: `jepsy check` of a small file should not pay for it

            return {"valid": "unknown", "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc()}


def check_safe(checker: Checker) -> Checker:
    """Wrap a checker so that an exception becomes an "unknown" verdict with the error."""
    return _Safe(checker)


class FnChecker:
    """Adapts a plain function ``(history, opts) -> dict`` to the Checker protocol."""

    def __init__(self, fn: Callable[[Sequence[Op], Mapping[str, Any]], dict[str, Any]]) -> None:
        self.fn = fn

    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        return self.fn(history, opts)
