"""A nemesis: ``cold-cache`` drops the page cache of one random node (the ``Nemesis`` protocol).

The fault is instantaneous, so ``heal`` has nothing to end; a fault that
lasts (a partition, a pause) must be ended by ``heal`` on every exit path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepsy import generator as gen
from jepsy.errors import ConfigError
from jepsy.options import declare
from jepsy.protocols import NemesisPackage, Test

__all__ = ["ColdCache", "nemesis"]


class ColdCache:
    fs = frozenset({"cold-cache"})

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] != "cold-cache":
            raise ConfigError(f"cold-cache cannot do {op['f']!r}")
        node = test.rng.choice(test.nodes)
        test.remote.execute(node, "sync && echo 3 > /proc/sys/vm/drop_caches", sudo=True)
        return {"node": node}  # what was done, for the history

    def heal(self, test: Test) -> None:
        pass  # nothing lasts

    def teardown(self, test: Test) -> None:
        pass


@declare()
def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis cold-cache``: one node's page cache dropped every ``nemesis_interval`` s."""
    interval = float(opts.get("nemesis_interval", 5.0))
    return NemesisPackage(ColdCache(), gen.cycle([gen.sleep(interval),
                                                  {"f": "cold-cache", "value": None}]))
