"""Words and data for a linearizability verdict: which op, in which states, and why.

A verdict alone does not help someone debug their system.  For an invalid key
the search reports the call whose completion it could not get past, every model
state it could reach just before that completion, the longest prefix it could
linearize, and the concurrent calls that might still have taken effect.  This
module turns that into JSON-able data (for ``results.json`` and the report's
timeline) and one paragraph of prose, e.g.::

    read of 3 by process 7 (invoked 12.38 s, returned 12.41 s) cannot be
    linearized: the cas-register could only hold 1 or 4 then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jepsy.checkers.linear.engine import Outcome
from jepsy.checkers.linear.models import CRASHED, Call, Model
from jepsy.checkers.linear.prepare import Prepared

__all__ = ["explain", "op_data", "state_json"]

if TYPE_CHECKING:  # (a Protocol class costs every start-up a millisecond; only types need it)
    from typing import Protocol

    class Calls(Protocol):
        """A partition's calls by position: a list, or calls made on demand (``fused``)."""

        def __getitem__(self, i: int, /) -> Call: ...

_MAX_CANDIDATES = 10
_SCALARS = frozenset((int, str, bool, float, type(None)))


def state_json(v: Any) -> Any:
    """A JSON-serializable copy of a model state or value (sets sorted, tuples as lists)."""
    if v.__class__ in _SCALARS:  # (the common case first: a register holds these)
        return v
    if v is CRASHED:
        return None
    if isinstance(v, (list, tuple)):
        return [state_json(x) for x in v]
    if isinstance(v, (set, frozenset)):
        items = [state_json(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(v, dict):
        return {str(k): state_json(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _secs(ns: int | None) -> str | None:
    return None if ns is None else f"{ns / 1e9:.3f} s"


def op_data(prep: Prepared, call: Call, original: int, model: Model) -> dict[str, Any]:
    """One call as data: history indices, process, f, values, times, and its description."""
    inv = prep.invokes[original]
    comp = prep.completions[original]
    return {
        "index": inv.index,
        "completion_index": None if comp is None else comp.index,
        "process": call.process,
        "f": call.input[0],
        "value": state_json(call.input[1]),
        "output": state_json(call.output),
        "crashed": call.output is CRASHED,
        "invoke_time": inv.time,
        "complete_time": None if comp is None else comp.time,
        "description": model.describe_op(call.input, call.output),
    }


def _when(d: dict[str, Any]) -> str:
    inv, comp = _secs(d["invoke_time"]), _secs(d["complete_time"])
    if inv is None:
        end = "" if d["completion_index"] is None else f", completed at op {d['completion_index']}"
        return f"invoked at op {d['index']}{end}"
    return f"invoked {inv}" + (f", returned {comp}" if comp else ", never returned")


def _either(words: Sequence[str], limit: int = 4) -> str:
    """``"hold 1 or 4"``: alternatives joined, a shared leading verb said once."""
    if len(words) == 1:  # (verb and rest joined again: the word itself)
        return words[0]
    if not words:
        return "be in no state at all"
    verbs = {w.split(" ", 1)[0] for w in words}
    if len(verbs) == 1 and all(" " in w for w in words):
        verb = verbs.pop() + " "
        words = [w[len(verb):] for w in words]
    else:
        verb = ""
    shown = list(words[:limit])
    if len(words) > limit:
        shown.append(f"{len(words) - limit} other states")
    if len(shown) == 1:
        return verb + shown[0]
    return verb + ", ".join(shown[:-1]) + " or " + shown[-1]


def explain(out: Outcome, calls: Calls, originals: Sequence[int], prep: Prepared,
            model: Model, key: str | None, n_ok: int, prefix: list[Any] | None = None) -> dict[str, Any]:
    """The explanation of an invalid partition: data plus a ``text`` paragraph.

    ``calls`` are the partition's calls (as the search numbered them),
    ``originals[i]`` the position of ``calls[i]`` in ``prep``, and ``n_ok`` how
    many of them completed.  Only the calls the explanation names are read:
    the stuck one and those pending.  ``prefix``: the history indices of
    ``out.order``'s invokes, if the caller has them already.
    """
    assert out.stuck is not None
    stuck = calls[out.stuck]
    op = op_data(prep, stuck, originals[out.stuck], model)
    states = out.states
    state_words = list(map(model.describe_state, states))
    where = f" on key {key}" if key is not None else ""
    text = (f"{op['description']} by process {op['process']} ({_when(op)}){where} cannot be "
            f"linearized: the {model.name} could only {_either(state_words)} then.")
    candidates: list[dict[str, Any]] = []
    reasons: list[str] = []
    relevant = 0
    for i in out.pending:
        c = calls[i]
        outcomes: list[dict[str, Any]] = []
        changes: list[str] = []
        for s in out.states:
            ok, nxt = model.step(s, c.input, c.output)
            outcomes.append({"state": state_json(s), "legal": ok,
                             "new_state": state_json(nxt) if ok else None})
            if ok and nxt != s:
                changes.append(model.describe_state(nxt))
        if c.output is CRASHED and not changes:
            continue  # a crashed call that changes nothing cannot matter
        relevant += 1
        if len(candidates) >= _MAX_CANDIDATES:
            continue
        data = op_data(prep, c, originals[i], model)
        candidates.append({"op": data, "outcomes": outcomes})
        why = (f"would make it {_either(sorted(set(changes)), 2)}" if changes
               else "not possible in those states either" if not any(o["legal"] for o in outcomes)
               else "changes nothing")
        reasons.append(f"{data['description']} by process {data['process']} ({why})")
    if prefix is None:
        prefix = [prep.invokes[originals[i]].index for i in out.order]
    text += (f" The longest linearizable prefix found has {len(out.order)} operations"
             f" ({n_ok} completed operations in this {'key' if key is not None else 'history'}).")
    if candidates:
        more = relevant - len(candidates)
        text += (" Concurrent operations that could still take effect before it: "
                 + "; ".join(reasons) + (f"; and {more} more" if more > 0 else "")
                 + ". No order of them makes it legal.")
    else:
        text += " No other operation could take effect before it."
    return {
        "op": op,
        "states": list(map(state_json, states)),
        "state_descriptions": state_words,
        "prefix": prefix,
        "prefix_length": len(prefix),
        "candidates": candidates,
        "text": text,
    }
