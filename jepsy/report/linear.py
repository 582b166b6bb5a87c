"""Data for the report's linearizability view, in the spirit of Porcupine's visualizer.

For each key the checker found not linearizable, the page shows that key's
operations, the longest partial linearization the search found (in order,
with the model state after each step), the operation that cannot be placed
and the model states it met, and the concurrent operations that might still
have taken effect.  Everything comes from the checker's result: the key's
operations are its ``indices``, the states its ``states_after`` (computed by
the checker with its own model, so also for histories checked with ``--init``).
A result without them (stored by an older jepsy) shows every operation and no
intermediate states.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jepsy.errors import HistoryError
from jepsy.history import Op, pair
from jepsy.report.data import prune, value_text

__all__ = ["linear_views"]

# A key's sub-history larger than this is shown only around the violation.
_MAX_KEY_OPS = 400


def _key_str(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key, default=repr)


def _explanations(result: dict[str, Any]) -> list[tuple[str | None, dict[str, Any], dict[str, Any]]]:
    """``(key, explanation, key entry)`` of each invalid key."""
    keys = result.get("keys")
    out: list[tuple[str | None, dict[str, Any], dict[str, Any]]] = []
    if isinstance(keys, dict):
        for k, entry in keys.items():
            if isinstance(entry, dict) and isinstance(entry.get("explanation"), dict):
                out.append((str(k), entry["explanation"], entry))
    if not out and isinstance(result.get("explanation"), dict):
        out.append((None, result["explanation"], {}))
    return out


def _states_after(entry: dict[str, Any], n: int) -> list[Any] | None:
    """The checker's states along the prefix, if it gave one for each of its ``n`` ops."""
    states = entry.get("states_after")
    if not isinstance(states, list) or len(states) != n or not n:
        return None
    return states


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _inner(value: Any, key: str | None) -> Any:
    """The value without its ``[key, value]`` wrapper (the view is already about that key)."""
    if key is not None and isinstance(value, list) and len(value) == 2 and _key_str(value[0]) == key:
        return value[1]
    return value


def _labels(history: Sequence[Op], key: str | None, wanted: set[int]) -> dict[int, str]:
    """Short words for the ops whose invoke index is in ``wanted``: ``write 3``, ``read → 3``."""
    try:
        pairs = pair(history)
    except HistoryError:  # the checker already said so; the view just goes without words
        return {}
    return {inv.index: _label(inv, done, key) for inv, done in pairs if inv.index in wanted}


def _label(inv: Op, done: Op | None, key: str | None) -> str:
    v_in = _inner(inv.value, key)
    v_out = _inner(done.value, key) if done is not None else None
    head = inv.f if v_in is None else f"{inv.f} {value_text(v_in, 40)}"
    if done is None or done.type != "ok":
        return head + (" ?" if done is None or done.type == "info" else " ✗")
    if v_in is None or v_out != v_in:
        return head + " → " + value_text(v_out, 40)
    return head


def linear_views(history: Sequence[Op], result: dict[str, Any],
                 row_of_invoke: dict[int, int]) -> list[dict[str, Any]]:
    """One view per invalid key: its ops (rows of the page's op columns), order, states.

    ``row_of_invoke`` maps an invoke's history index to its row in
    ``data.ops_columns``.  Never raises on odd results: missing parts are left out.
    """
    views = []
    for key, expl, entry in _explanations(result):
        prefix = [i for i in _list(expl.get("prefix")) if isinstance(i, int)]
        op = expl.get("op")
        stuck = op.get("index") if isinstance(op, dict) and isinstance(op.get("index"), int) else None
        candidates = [c["op"]["index"] for c in _list(expl.get("candidates"))
                      if isinstance(c, dict) and isinstance(c.get("op"), dict)
                      and isinstance(c["op"].get("index"), int)]
        indices = [i for i in _list(entry.get("indices")) if isinstance(i, int)]
        if not indices:
            rows = list(row_of_invoke.values())
        else:
            rows = [row_of_invoke[i] for i in indices if i in row_of_invoke]
        named = {i for i in [*prefix, *candidates, stuck] if i is not None}
        must = {row_of_invoke[i] for i in named if i in row_of_invoke}
        rows = sorted(set(rows) or must)
        if len(rows) > _MAX_KEY_OPS:
            # Around the violation: the ops before it that led there, a few after.
            at = len(rows)
            if stuck is not None and row_of_invoke.get(stuck) in rows:
                at = rows.index(row_of_invoke[stuck])
            rows = sorted(set(rows[max(0, at - _MAX_KEY_OPS + 50):at + 50]) | must)
        inv_of_row = {r: i for i, r in row_of_invoke.items()}
        rows = sorted(set(rows))
        labels = _labels(history, key, {inv_of_row[r] for r in rows if r in inv_of_row})
        views.append({
            "key": key,
            "rows": rows,
            "labels": {str(row_of_invoke[i]): t for i, t in labels.items() if i in row_of_invoke},
            "prefix": [row_of_invoke.get(i, -1) for i in prefix],
            "stuck": row_of_invoke.get(stuck, -1) if stuck is not None else -1,
            "candidates": [row_of_invoke.get(i, -1) for i in candidates],
            "states_after": _states_after(entry, len(prefix)),
            "explanation": prune(expl, max_items=200),
        })
    return views
