"""Which node a process talked to, so that explanations and the report can say it.

The runner binds worker ``i`` to node ``nodes[i % len(nodes)]`` for the whole run,
and a worker whose op ended in ``info`` continues as process ``p + concurrency``:
so process ``p`` is worker ``p % concurrency``, on node
``nodes[(p % concurrency) % len(nodes)]``.  ``with_nodes`` rewrites a checker's
verdict texts from "process 15" to "process 15 (on n1)": it is applied once, where
the run knows its nodes and concurrency, so that no checker needs to know them
(``jepsy check`` on a bare history has neither, and says "process 15").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["node_of", "with_nodes"]

_PROCESS = re.compile(r"\bprocess (\d+)\b(?! \(on )")


def node_of(process: Any, nodes: Sequence[str], concurrency: int) -> str | None:
    """The node ``process`` (an int) sent its operations to; None for the nemesis or unknown."""
    if not isinstance(process, int) or isinstance(process, bool) or not nodes or concurrency < 1:
        return None
    return nodes[(process % concurrency) % len(nodes)]


def with_nodes(value: Any, nodes: Sequence[str], concurrency: int) -> Any:
    """``value`` (a verdict: dicts, lists, strings) with every "process N" in its strings
    followed by "(on NODE)"."""
    if isinstance(value, str):
        def label(m: re.Match[str]) -> str:
            node = node_of(int(m.group(1)), nodes, concurrency)
            return m.group(0) + (f" (on {node})" if node else "")

        return _PROCESS.sub(label, value)
    if isinstance(value, dict):
        return {k: with_nodes(v, nodes, concurrency) for k, v in value.items()}
    if isinstance(value, list):
        return [with_nodes(v, nodes, concurrency) for v in value]
    return value
