"""``--nemesis none``: no faults at all, for control runs (the default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy.errors import ConfigError
from jepsy.options import declare
from jepsy.protocols import NemesisPackage, Test

__all__ = ["NoNemesis", "no_nemesis"]


class NoNemesis:
    """A nemesis with no fault to inject: every op it is sent is a configuration error."""

    fs: frozenset[str] = frozenset()

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        raise ConfigError(f"no nemesis to do {op['f']!r}")

    def heal(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass


@declare()
def no_nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """The control run's package: no nemesis and no fault schedule."""
    return NemesisPackage(NoNemesis(), None)
