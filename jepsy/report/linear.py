"""Data for the report's linearizability view, in the spirit of Porcupine's visualizer.

For each key the checker found not linearizable, the page shows that key's
operations, the longest partial linearization the search found (in order,
with the model state after each step), the operation that cannot be placed
and the model states it met, and the concurrent operations that might still
have taken effect.  The checker reports the order and the final states; the
states along the way are recomputed here by replaying the model over the
order, and kept only if the replay ends in one of the states the checker
reported (a model built with a different initial state, or a model that is
not registered, simply gets no intermediate states).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from jepsy.history import Op
from jepsy.report.data import json_safe, prune, value_text

__all__ = ["linear_views"]

# A key's sub-history larger than this is shown only around the violation.
_MAX_KEY_OPS = 400


def _key_str(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key, default=repr)


def _explanations(result: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    keys = result.get("keys")
    out: list[tuple[str | None, dict[str, Any]]] = []
    if isinstance(keys, dict):
        for k, entry in keys.items():
            if isinstance(entry, dict) and isinstance(entry.get("explanation"), dict):
                out.append((str(k), entry["explanation"]))
    if not out and isinstance(result.get("explanation"), dict):
        out.append((None, result["explanation"]))
    return out


def _replay(history: Sequence[Op], model_name: Any, key: str | None,
            prefix: list[int], final_states: list[Any]) -> list[Any] | None:
    """Model states after each op of ``prefix`` (invoke indices), or None if unsure."""
    if not isinstance(model_name, str) or not prefix:
        return None
    try:
        from jepsy import registry
        from jepsy.checkers.linear_prepare import prepare

        model = registry.load("models", model_name)()
        prep = prepare(history)
        groups = (model.partition(prep.calls) if model.partition
                  else {None: list(prep.calls)})
        calls = None
        for k, group in groups.items():
            if key is None or k is None or _key_str(k) == key:
                calls = group
                break
        if calls is None:
            return None
        by_index = {prep.invokes[c.id].index: c for c in calls}
        state = model.init()
        raw = []
        for idx in prefix:
            call = by_index.get(idx)
            if call is None:
                return None
            ok, state = model.step(state, call.input, call.output)
            if not ok:
                return None
            raw.append(state)
        if final_states and json_safe(raw[-1]) not in [json_safe(s) for s in final_states]:
            return None
        return [{"state": json_safe(s), "text": model.describe_state(s)} for s in raw]
    except Exception:  # replay is a nicety: any surprise means "no states shown"
        return None


def _key_matcher(key: str) -> Callable[[Op], bool]:
    """Whether an op belongs to ``key`` (Porcupine's ``key`` field, or Jepsen's ``[key, value]``)."""
    try:
        parsed: Any = json.loads(key)
    except ValueError:
        parsed = key
    simple = parsed is None or isinstance(parsed, (str, int, float))

    def same(k: Any) -> bool:
        if simple and not isinstance(k, (list, dict)):
            return bool(k in (parsed, key))
        return _key_str(k) == key

    def match(op: Op) -> bool:
        if "key" in op.extra:
            return same(op.extra["key"])
        v = op.value
        return isinstance(v, list) and len(v) == 2 and same(v[0])
    return match


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _inner(value: Any, key: str | None) -> Any:
    """The value without its ``[key, value]`` wrapper (the view is already about that key)."""
    if key is not None and isinstance(value, list) and len(value) == 2 and _key_str(value[0]) == key:
        return value[1]
    return value


def _labels(history: Sequence[Op], key: str | None, wanted: set[int]) -> dict[int, str]:
    """Short words for the ops whose invoke index is in ``wanted``: ``write 3``, ``read → 3``."""
    open_: dict[int | str, Op] = {}
    out: dict[int, str] = {}
    for op in history:
        if not op.is_client:
            continue
        if op.type == "invoke":
            open_[op.process] = op
            if op.index in wanted:
                out[op.index] = _label(op, None, key)
            continue
        inv = open_.pop(op.process, None)
        if inv is not None and inv.index in wanted:
            out[inv.index] = _label(inv, op, key)
    return out


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
    for key, expl in _explanations(result):
        prefix = [i for i in _list(expl.get("prefix")) if isinstance(i, int)]
        op = expl.get("op")
        stuck = op.get("index") if isinstance(op, dict) and isinstance(op.get("index"), int) else None
        candidates = [c["op"]["index"] for c in _list(expl.get("candidates"))
                      if isinstance(c, dict) and isinstance(c.get("op"), dict)
                      and isinstance(c["op"].get("index"), int)]
        if key is None or key == "null":
            rows = list(row_of_invoke.values())
        else:
            match = _key_matcher(key)
            mine = [o for o in history if o.is_client and match(o)]
            rows = [row_of_invoke[o.index] for o in mine
                    if o.type == "invoke" and o.index in row_of_invoke]
        named = {i for i in [*prefix, *candidates, stuck] if i is not None}
        must = {row_of_invoke[i] for i in named if i in row_of_invoke}
        rows = sorted(set(rows) or must)
        if len(rows) > _MAX_KEY_OPS:
            # Around the violation: the ops before it that led there, a few after.
            at = len(rows)
            if stuck is not None and row_of_invoke.get(stuck) in rows:
                at = rows.index(row_of_invoke[stuck])
            rows = sorted(set(rows[max(0, at - _MAX_KEY_OPS + 50):at + 50]) | must)
        states = _list(expl.get("states"))
        inv_of_row = {r: i for i, r in row_of_invoke.items()}
        rows = sorted(set(rows))
        sub = history if key is None or key == "null" else mine
        labels = _labels(sub, key, {inv_of_row[r] for r in rows if r in inv_of_row})
        views.append({
            "key": key,
            "rows": rows,
            "labels": {str(row_of_invoke[i]): t for i, t in labels.items() if i in row_of_invoke},
            "prefix": [row_of_invoke.get(i, -1) for i in prefix],
            "stuck": row_of_invoke.get(stuck, -1) if stuck is not None else -1,
            "candidates": [row_of_invoke.get(i, -1) for i in candidates],
            "states_after": _replay(sub, result.get("model"), key, prefix, states),
            "explanation": prune(expl, max_items=200),
        })
    return views
