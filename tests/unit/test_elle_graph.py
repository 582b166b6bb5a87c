from __future__ import annotations

from jepsy.checkers.elle.cycles import classify, search_cycles
from jepsy.checkers.elle.graph import DATA, PROCESS, REALTIME, RW, WR, WW, Graph, sccs
from jepsy.checkers.elle.models import boundary, canonical_model, impossible_models
from jepsy.checkers.elle.txn import Txn


def test_sccs_iterative_on_long_chain_and_cycle() -> None:
    g = Graph(100_000)
    for i in range(99_999):
        g.add(i, i + 1, WW)
    assert sccs(g.out, DATA) == []
    g.add(99_999, 0, WR)
    comps = sccs(g.out, DATA)
    assert len(comps) == 1 and len(comps[0]) == 100_000
    assert sccs(g.out, WW) == []


def test_self_edges_dropped() -> None:
    g = Graph(1)
    g.add(0, 0, WW)
    assert g.edge_count() == 0


def test_classify() -> None:
    assert classify([WW, WW]) == "G0"
    assert classify([WW, WR]) == "G1c"
    assert classify([RW, WR]) == "G-single"
    assert classify([RW, WR, RW, WR]) == "G-nonadjacent"
    assert classify([RW, RW]) == "G2-item"
    assert classify([RW, PROCESS]) == "G-single-process"
    assert classify([RW, PROCESS, REALTIME]) == "G-single-realtime"


def _txn(i: int, inv: int, done: int) -> Txn:
    return Txn(id=i, index=i, invoke_index=i, process=i, type="ok", mops=[], invoke_time=inv,
               complete_time=done)


def test_realtime_points_order_only_strictly_earlier_completions() -> None:
    txns = [_txn(0, 0, 10), _txn(1, 5, 20), _txn(2, 10, 30), _txn(3, 21, 40)]
    g = Graph(4)
    g.add_realtime_order(txns)

    def before(a: int, b: int) -> bool:
        seen, todo = {a}, [a]
        while todo:
            v = todo.pop()
            for w in g.out[v]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return b in seen

    assert before(0, 3) and before(1, 3)
    assert not before(0, 2)  # completion at 10 is not before an invoke at 10
    assert not before(0, 1) and not before(2, 3) and not before(3, 0)


def test_search_finds_realtime_cycle_and_collapses_points() -> None:
    txns = [_txn(0, 0, 1), _txn(1, 2, 3)]
    g = Graph(2)
    g.add(1, 0, RW)
    g.add_realtime_order(txns)
    res = search_cycles(g)
    assert [c.name for c in res.cycles] == ["G-single-realtime"]
    assert sorted(res.cycles[0].txns) == [0, 1]


def test_search_budget() -> None:
    g = Graph(3)
    g.add(0, 1, RW)
    g.add(1, 2, RW)
    g.add(2, 0, RW)
    res = search_cycles(g, max_steps=0)
    assert res.unsearched and not res.cycles


def test_model_lattice() -> None:
    assert boundary(["G2-item"]) == (["repeatable-read"], ["serializable", "strict-serializable",
                                                          "strong-session-serializable"])
    assert boundary(["G-single"])[0] == ["repeatable-read", "snapshot-isolation"]
    assert boundary(["G1a"])[0] == ["read-committed"]
    assert boundary(["G0"])[0] == ["read-uncommitted"]
    assert boundary(["G-single-realtime"])[0] == ["strong-snapshot-isolation"]
    assert "causal" in impossible_models(["G1c-process"])
    assert "serializable" not in impossible_models(["G2-item-process"])
    assert canonical_model("PL-3") == "serializable"
    assert boundary([]) == ([], [])
