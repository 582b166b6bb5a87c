"""Explaining a cycle as a person would check it by hand, and as data a report can draw.

A cycle is a list of transactions, each forced before the next by an edge.
For each edge we say why it exists, in terms of the values read and written
("T2 read key 7 = [1 3], which ends with T1's append of 3, so T1 < T2"), and
the cycle closes the argument: each transaction would have to precede
itself, so no order of the transactions explains what they saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from jepsy.checkers.elle.graph import KIND_NAMES, PROCESS, REALTIME, RW_P, RW_R, WW_P, WW_R

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jepsy.checkers.elle.cycles import Cycle
    from jepsy.checkers.elle.txn import Txn

__all__ = ["Explainer", "explain_cycle"]

_MEANING = {
    "G0": "write cycle: transactions overwrite each other in a loop",
    "G1c": "circular information flow: each transaction saw (or overwrote) the next",
    "G-single": "read skew: exactly one transaction missed a write it should have seen",
    "G-nonadjacent": "a cycle whose missed writes (rw edges) are never adjacent",
    "G2-item": "write skew / anti-dependency cycle: several transactions missed each other's writes",
    "causal-stale-read": "a transaction read a version older than a write in its own causal past",
}


class Explainer(Protocol):
    """What the workload analyses provide: the reason for one data edge."""

    def explain(self, a: int, b: int, kind: int) -> dict[str, Any]: ...


def _order_reason(txns: Sequence[Txn], a: int, b: int, kind: int) -> dict[str, Any]:
    ta, tb = txns[a], txns[b]
    if kind == PROCESS:
        return {"text": f"T{a} and T{b} ran on process {ta.process}, T{a} first, so T{a} < T{b}"}
    return {"text": f"T{a} completed (op {ta.index}, time {ta.complete_time}) before T{b} began "
                    f"(op {tb.invoke_index}, time {tb.invoke_time}), so T{a} < T{b}"}


def explain_cycle(name: str, cycle: Cycle, txns: Sequence[Txn], explainer: Explainer) -> dict[str, Any]:
    """The anomaly instance for one cycle: its transactions, its edges with reasons, and prose."""
    steps: list[dict[str, Any]] = []
    n = len(cycle.txns)
    for i in range(n):
        a, b, kind = cycle.txns[i], cycle.txns[(i + 1) % n], cycle.kinds[i]
        reason = (_order_reason(txns, a, b, kind) if kind in (PROCESS, REALTIME)
                  else explainer.explain(a, b, kind))
        edge = {"from": a, "to": b, "kind": KIND_NAMES[kind], **reason}
        if kind in (WW_P, RW_P):
            edge["via_process"] = True
        if kind in (WW_R, RW_R):
            edge["via_realtime"] = True
        steps.append(edge)
    base = name.removesuffix("-realtime").removesuffix("-process")
    meaning = _MEANING.get(base, "")
    chain = " < ".join(f"T{t}" for t in [*cycle.txns, cycle.txns[0]])
    text = (f"{name} ({meaning}). Let " +
            "; ".join(f"T{t} be op {txns[t].index} (process {txns[t].process})" for t in cycle.txns) +
            ". Then: " + " ".join(f"{s['text']}." for s in steps) +
            f" That makes {chain}: a cycle, so no order of these transactions explains what they saw.")
    return {
        "type": name,
        "cycle": [t for t in cycle.txns],
        "txns": [{"id": t, "op": txns[t].index, "invoke_op": txns[t].invoke_index,
                  "process": txns[t].process, "type": txns[t].type,
                  "value": [list(m) for m in txns[t].mops]} for t in cycle.txns],
        "edges": steps,
        "text": text,
    }
