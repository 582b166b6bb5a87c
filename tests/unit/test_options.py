"""Declared module options: parsing, unknown keys, defaults, undeclared modules."""

from __future__ import annotations

from typing import Any

import pytest

from jepsy import options
from jepsy.errors import ConfigError
from jepsy.options import Option, boolean, choice, declare, declared, integer, names, number, resolve


@declare(
    Option("serializable", False, "serve reads from any member", parse=boolean),
    Option("op_timeout", 2.0, "seconds per answer", parse=number),
    Option("isolation", "serializable", "isolation level",
           parse=choice("serializable", "read-committed")),
    Option("bin", None, "the program"),
)
def _factory(opts: dict[str, Any]) -> dict[str, Any]:
    return opts


def _undeclared(opts: dict[str, Any]) -> dict[str, Any]:
    return opts


@pytest.mark.parametrize("word,value", [("true", True), ("On", True), ("1", True), (True, True),
                                        ("no", False), ("OFF", False), ("0", False), (False, False)])
def test_boolean_words(word: Any, value: bool) -> None:
    assert boolean(word) is value


@pytest.mark.parametrize("parse,bad", [(boolean, "maybe"), (integer, "5.5"), (integer, True),
                                       (number, "fast"), (choice("a", "b"), "c")])
def test_parsers_reject(parse: Any, bad: Any) -> None:
    with pytest.raises(ValueError):
        parse(bad)


def test_parsers_accept_yaml_and_cli_forms() -> None:
    assert integer("5") == integer(5) == 5
    assert number("0.5") == 0.5
    assert choice("read-committed")("READ_COMMITTED") == "read-committed"
    assert names("one, halves") == names(["one", "halves"]) == ["one", "halves"]


def test_resolve_parses_and_fills_defaults() -> None:
    got = resolve("database 'x'", [declared(_factory)], {"serializable": "yes"}, flag="--db-opt")
    assert got == {"serializable": True, "op_timeout": 2.0, "isolation": "serializable"}
    assert "bin" not in got  # a None default means absent unless given


def test_unknown_key_names_it_the_nearest_and_the_known() -> None:
    with pytest.raises(ConfigError) as e:
        resolve("database 'etcd'", [declared(_factory)], {"serialisable": "true"}, flag="--db-opt")
    msg = str(e.value)
    assert "serialisable" in msg and "did you mean 'serializable'" in msg
    assert "known: bin, isolation, op_timeout, serializable" in msg
    assert "\n" not in msg


def test_bad_value_names_key_and_expectation() -> None:
    with pytest.raises(ConfigError, match=r"--db-opt op_timeout=soon: expected a number"):
        resolve("database 'x'", [declared(_factory)], {"op_timeout": "soon"}, flag="--db-opt")


def test_common_keys_pass_and_undeclared_modules_are_not_checked() -> None:
    got = resolve("x", [declared(_factory)], {"seed": 3}, flag="--db-opt")
    assert got["seed"] == 3
    assert declared(_undeclared) is None
    got = resolve("x", [declared(_factory), declared(_undeclared)], {"anything": "1"}, flag="--nemesis-opt")
    assert got["anything"] == "1"


def test_declaring_a_key_twice_is_a_bug() -> None:
    with pytest.raises(ValueError):
        declare(Option("a", 1, "x"), Option("a", 2, "y"))


def test_kind_words() -> None:
    table = declared(_factory)
    assert table is not None
    assert [table[k].kind for k in ("serializable", "op_timeout", "isolation", "bin")] == \
        ["boolean", "number", "choice", "text"]
    assert options.COMMON[0] == "time_limit"
