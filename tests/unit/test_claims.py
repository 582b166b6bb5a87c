"""A run claims no more than happened: faults that never took effect, and why a verdict is unknown."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jepsy.claims import Applied, fault_tally, never_took_effect, why_unknown
from jepsy.doubles import MemoryDB
from jepsy.history import Op
from jepsy.live import print_summary
from jepsy.nemeses.family import Family, package
from jepsy.nemeses.process import KillNemesis
from jepsy.protocols import Test as RunSpec
from jepsy.report.summary import headline
from jepsy.run import Plan, run_test
from jepsy.workloads.register import workload as register

from .test_nemesis_targets import fake_test


def nemesis_op(i: int, f: str, value: Any = None, error: Any = None, **extra: Any) -> Op:
    return Op(index=i, time=i, type="info", process="nemesis", f=f, value=value, error=error,
              extra=extra)


def test_a_family_whose_faults_never_took_effect_is_named_with_why() -> None:
    history = [
        nemesis_op(0, "start-kill", "one"),
        nemesis_op(1, "start-kill", {"n2": "not running; nothing killed"}, **{
            "took-effect": [], "missed": {"n2": "not running; nothing killed"}}),
        nemesis_op(2, "stop-kill"), nemesis_op(3, "stop-kill", {}),
        nemesis_op(4, "start-partition", "one"),
        nemesis_op(5, "start-partition", {"n1": ["n2"], "n2": ["n1"]}, **{
            "took-effect": ["n1"], "missed": {"n2": "iptables failed: exit 4"}}),
        nemesis_op(6, "start-packet"), nemesis_op(7, "start-packet", None, "tc failed everywhere"),
        nemesis_op(8, "start-clock"), nemesis_op(9, "start-clock", {"n1": {"offset": 1.0}}),  # no claim
    ]
    tally = fault_tally(history)
    assert tally["kill"] == {"started": 1, "took_effect": 0, "failed": 0,
                             "missed": {"n2": "not running; nothing killed"}}
    assert tally["partition"]["took_effect"] == 1 and tally["clock"]["took_effect"] == 1
    assert tally["packet"] == {"started": 1, "took_effect": 0, "failed": 1,
                               "missed": {"*": "tc failed everywhere"}}
    why = never_took_effect(tally)
    assert why == ("no kill fault took effect on any node in 1 tries (n2: not running; nothing "
                   "killed); no packet fault took effect on any node in 1 tries (tc failed everywhere)")
    assert never_took_effect(fault_tally(history[4:6])) is None


class AlwaysDown(MemoryDB):
    """A memory database whose kill finds nothing to kill: the issue's foreign-etcd case."""

    def running(self, test: RunSpec, node: str) -> bool:
        return False

    def kill(self, test: RunSpec, node: str) -> None:
        pass

    def start(self, test: RunSpec, node: str) -> None:
        pass


def test_a_run_whose_kills_killed_nothing_is_unknown_not_valid(tmp_path: Path) -> None:
    t = fake_test(3)
    db = AlwaysDown(lag=0.0)
    fam = Family("kill", KillNemesis(db, ["one"]), lambda ctx: {"f": "start-kill", "value": "one"},
                 {"f": "stop-kill"})
    pkg = package(fam, 0.2)
    plan = Plan(test=t, db=db, workload=register({"ops_per_key": 20}), nemesis=pkg.nemesis,
                nemesis_generator=pkg.generator, concurrency=3, time_limit=1.5, recovery=0)
    results = run_test(plan, tmp_path)
    assert results["checker"]["valid"] is True  # the history itself is linearizable...
    assert results["valid"] == "unknown" and results["exit_code"] == 2  # ...but nothing was killed
    assert results["reason"].startswith("no kill fault took effect on any node")
    assert "not running; nothing killed" in results["reason"]
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["reason"] == results["reason"] and stored["faults"]["kill"]["took_effect"] == 0
    done = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    kills = [op for op in done if op["f"] == "start-kill" and op.get("took-effect") is not None]
    assert kills and all(set(op["value"].values()) == {"not running; nothing killed"} for op in kills)
    html = (tmp_path / "report.html").read_text()
    assert "no kill fault took effect" in html


def test_no_successful_operation_points_at_the_nodes_log(tmp_path: Path) -> None:
    log = tmp_path / "nodes" / "n1" / "process.log"
    log.parent.mkdir(parents=True)
    log.write_text("starting\nTraceback (most recent call last):\n  File \"x\"\n"
                   "OSError: [Errno 22] Invalid argument\n\n")
    results: dict[str, Any] = {"stats": {"count": 40, "ok": 0, "fail": 40, "info": 0},
                               "logs": {"n1": ["process.log"]}, "checker": {"valid": "unknown"}}
    assert why_unknown(results, None, tmp_path) == (
        "no operation succeeded after setup (40 failed, 0 indeterminate); "
        "n1's process.log ends with: OSError: [Errno 22] Invalid argument")
    assert why_unknown({**results, "incomplete": "interrupted by SIGINT"}).startswith(
        "the run did not finish: interrupted by SIGINT")


def test_an_undecided_checker_is_named_with_its_reason() -> None:
    results: Mapping[str, Any] = {
        "stats": {"ok": 5}, "checker": {"valid": "unknown", "perf": {"valid": True},
                                        "linearizable": {"valid": "unknown",
                                                         "error": "search budget exhausted"}}}
    assert why_unknown(results) == "linearizable: checker error: search budget exhausted"


def test_the_terminal_summary_does_not_cut_explanations(capsys: Any) -> None:
    text = ("2370 elements attempted: 1537 stable, 337 stale, 496 lost, 0 unexpected; e.g. element "
            "795 was known by op 1992 but the read at op 5893 (and every later one) did not show it")
    result = {"valid": False, "text": text}
    assert headline(result, None) == text
    results = {"valid": "unknown", "test": "t", "checker": {"valid": False, "set-full": result},
               "reason": "no kill fault took effect on any node in 3 tries (n2: not running; "
                         "nothing killed)"}
    print_summary(results)
    out = " ".join(capsys.readouterr().out.split())
    assert "did not show it" in out and "why unknown: no kill fault took effect" in out


def test_applied_extra_is_plain_data() -> None:
    a = Applied({"n1": "killed pid 7"}, ["n1"], {})
    assert a.extra() == {"took-effect": ["n1"], "missed": {}}
    json.dumps(a.extra())


class LostNode:
    """A nemesis whose heal cannot reach n2 for the first ``down`` tries."""

    fs: frozenset[str] = frozenset()

    def __init__(self, down: int) -> None:
        self.down, self.tries = down, 0

    def setup(self, test: RunSpec) -> None: ...

    def invoke(self, test: RunSpec, op: Mapping[str, Any]) -> Any: ...

    def heal(self, test: RunSpec) -> None:
        from jepsy.errors import ConnectError, RemoteError

        self.tries += 1
        if self.tries <= self.down:
            lost = ConnectError("n2: cannot connect to 10.9.0.12:22 (No route to host)")
            raise RemoteError("1 of 3 nodes failed", {"n1": None, "n2": lost, "n3": None})

    def teardown(self, test: RunSpec) -> None: ...


def heal_with(nem: LostNode, tmp_path: Path) -> tuple[dict[str, list[str]], list[Op]]:
    from jepsy.history import HistoryWriter
    from jepsy.run import RunState, _heal

    plan = Plan(test=fake_test(3), db=MemoryDB(0.0), workload=register({}), nemesis=nem,
                nemesis_generator=None, concurrency=1, time_limit=0)
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        got = _heal(plan, h, RunState(), tries=3, pause=0.0, budget=0.0)
        return got, h.ops


def test_a_node_lost_for_a_while_is_healed_when_it_comes_back(tmp_path: Path) -> None:
    nem = LostNode(down=2)
    unhealed, ops = heal_with(nem, tmp_path)
    assert unhealed == {} and nem.tries == 3 and [op.f for op in ops] == ["heal"]


def test_a_heal_that_fails_fast_keeps_trying_for_its_budget(tmp_path: Path) -> None:
    """A refused connection (sshd stopped) fails at once: more tries, the same time to come back."""
    from jepsy.history import HistoryWriter
    from jepsy.run import RunState, _heal

    nem = LostNode(down=6)
    plan = Plan(test=fake_test(3), db=MemoryDB(0.0), workload=register({}), nemesis=nem,
                nemesis_generator=None, concurrency=1, time_limit=0)
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        assert _heal(plan, h, RunState(), tries=3, pause=0.001, budget=30.0) == {}
    assert nem.tries == 7


def test_what_could_not_be_healed_is_named_per_node(tmp_path: Path) -> None:
    unhealed, ops = heal_with(LostNode(down=99), tmp_path)
    assert unhealed == {"n2": ["faults: n2: cannot connect to 10.9.0.12:22 (No route to host)"]}
    assert [op.f for op in ops] == ["heal-incomplete"]  # not "heal": the faults may be in force
    results = {"valid": "unknown", "unhealed": unhealed, "incomplete": None}
    assert why_unknown(results).startswith(
        "faults may still be in force, the heal failed on n2: faults: n2: cannot connect")


def test_combined_heal_failures_name_family_and_node() -> None:
    from jepsy.claims import HealFailed, unhealed_from
    from jepsy.errors import ConnectError, RemoteError

    e = HealFailed("heal failed", [("partition", RemoteError("x", {"n1": None, "n2": ConnectError(
        "n2: lost")})), ("clock", RemoteError("n3: boom"))])
    assert unhealed_from(e) == {"n2": ["partition: n2: lost"], "*": ["clock: n3: boom"]}
