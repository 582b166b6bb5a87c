"""What a run may claim: where its faults took effect, and why a verdict is unknown.

A verdict says "under these faults, the database kept its promise".  That is
only true for faults that actually happened, so a nemesis that knows, node by
node, whether its fault took effect returns ``Applied`` from ``invoke``; the
runner records the completion op with two extra fields::

    {"f": "start-kill", "value": {"n2": "killed", "n3": "not running; nothing killed"},
     "took-effect": ["n2"], "missed": {"n3": "not running; nothing killed"}}

``fault_tally(history)`` counts, per fault family, the faults started and
those that took effect on at least one node.  A family whose every fault
missed every node (``never_took_effect``) caps the run's verdict at
``unknown``, with that reason: the history does not show the database under
that fault.  Completions without these fields (plugins, Jepsen histories,
runs from before this was recorded) are taken at their word.

``why_unknown`` gives the one sentence the terminal, ``results.json``
(``reason``) and the report show for every ``unknown`` verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jepsy.errors import JepsyError
from jepsy.history import Op

__all__ = ["Applied", "HealFailed", "fault_tally", "log_tail", "never_took_effect", "unhealed_from",
           "why_unknown"]

_MAX_WHY = 300


@dataclass(frozen=True)
class Applied:
    """A nemesis's account of one op: the completion ``value``, and per node what happened.

    ``took_effect`` lists the nodes where the fault is in force; ``missed``
    maps each targeted node where it is not to one line saying why
    (``"not running; nothing killed"``).  A node in neither was not targeted.
    """

    value: Any
    took_effect: list[str] = field(default_factory=list)
    missed: dict[str, str] = field(default_factory=dict)

    def extra(self) -> dict[str, Any]:
        """The fields the runner adds to the completion op."""
        return {"took-effect": list(self.took_effect), "missed": dict(self.missed)}


class HealFailed(JepsyError):
    """Some fault families could not be healed: ``failures`` lists (family, the error),
    each error a ``RemoteError`` naming its nodes when it has them."""

    def __init__(self, message: str, failures: Sequence[tuple[str, BaseException]]) -> None:
        super().__init__(message)
        self.failures = list(failures)


def unhealed_from(error: BaseException, family: str = "faults") -> dict[str, list[str]]:
    """What a failed heal left, per node: ``{"n2": ["partition: cannot connect ..."]}``.

    Reads the per-node results a ``RemoteError`` carries (``on_nodes`` puts them
    there); an error that names no node is filed under ``"*"`` (every node may
    still carry the fault).
    """
    if isinstance(error, HealFailed):
        out: dict[str, list[str]] = {}
        for fam, e in error.failures:
            for node, lines in unhealed_from(e, fam).items():
                out.setdefault(node, []).extend(lines)
        return out
    results = getattr(error, "results", None)
    if isinstance(results, dict):
        bad = {str(n): r for n, r in results.items() if isinstance(r, BaseException)}
        if bad:
            return {n: [f"{family}: {' '.join(str(r).split())}"] for n, r in bad.items()}
    return {"*": [f"{family}: {' '.join(str(error).split())}"]}


def _family(f: str) -> str | None:
    return f[len("start-"):] if f.startswith("start-") else None


def fault_tally(history: Sequence[Op]) -> dict[str, dict[str, Any]]:
    """Per family: ``started``, ``took_effect`` (faults in force on at least one node),
    ``failed`` (completions with an error) and ``missed`` (node -> the last reason)."""
    out: dict[str, dict[str, Any]] = {}
    pending: dict[str, Op] = {}
    for op in history:
        if op.is_client or op.type != "info":
            continue
        fam = _family(op.f)
        if fam is None:
            continue
        if op.f not in pending:  # the request; its completion comes next
            pending[op.f] = op
            continue
        del pending[op.f]
        t = out.setdefault(fam, {"started": 0, "took_effect": 0, "failed": 0, "missed": {}})
        t["started"] += 1
        if op.error is not None:
            t["failed"] += 1
            t["missed"]["*"] = " ".join(str(op.error).split())
            continue
        took, missed = op.extra.get("took-effect"), op.extra.get("missed")
        if isinstance(missed, dict):
            t["missed"].update({str(k): str(v) for k, v in missed.items()})
        if took is None or (isinstance(took, list) and took):
            t["took_effect"] += 1
    return out


def never_took_effect(tally: Mapping[str, Mapping[str, Any]]) -> str | None:
    """One sentence naming the families none of whose faults took effect anywhere, else None."""
    parts = []
    for fam, t in tally.items():
        if t.get("started") and not t.get("took_effect"):
            missed = t.get("missed") or {}
            why = "; ".join(f"{n}: {w}" if n != "*" else str(w) for n, w in list(missed.items())[:3])
            parts.append(f"no {fam} fault took effect on any node in {t['started']} tries"
                         + (f" ({why})" if why else ""))
    if not parts:
        return None
    return _clip("; ".join(parts))


def log_tail(run_dir: Path | None, logs: Mapping[str, Any]) -> str | None:
    """``"n1's process.log ends with: ..."`` for the first collected node log with a last line."""
    if run_dir is None:
        return None
    for node, names in logs.items():
        if not isinstance(names, list):
            continue
        for name in names:
            path = run_dir / "nodes" / str(node) / str(name)
            try:
                with path.open("rb") as fh:
                    fh.seek(0, 2)
                    fh.seek(max(0, fh.tell() - 4096))
                    lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
            except OSError:
                continue
            lines = [ln for ln in lines if ln]
            if lines:
                return f"{node}'s {name} ends with: {lines[-1]}"
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_WHY else text[:_MAX_WHY - 1] + "…"


def _checker_reasons(checker: Any) -> list[str]:
    from jepsy.report.summary import checker_results, headline

    out = []
    for name, res in checker_results(checker):
        if res.get("valid") not in (True, False):
            line = headline(res)
            out.append(f"{name}: {line}" if line and line != "unknown" else
                       f"{name} could not decide and gave no reason")
    return out


def why_unknown(results: Mapping[str, Any], faults: str | None = None,
                run_dir: Path | None = None) -> str:
    """The one sentence saying why ``results`` is not a definite verdict.

    In order: the run did not finish; a fault family never took effect
    (``faults``, from ``never_took_effect``); no client operation succeeded
    (with the last line of a node's log, which usually says why); what the
    undecided checkers said.
    """
    unhealed = results.get("unhealed")
    if isinstance(unhealed, dict) and unhealed:
        where = "; ".join(f"{n}: {', '.join(v)}" if n != "*" else ", ".join(v)
                          for n, v in unhealed.items())
        return _clip(f"faults may still be in force, the heal failed on {where}; "
                     "run 'jepsy heal' on this inventory")
    if results.get("incomplete"):
        return _clip(f"the run did not finish: {results['incomplete']}")
    if faults:
        return _clip(faults)
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    if stats and not stats.get("ok"):
        logs = results.get("logs")
        tail = log_tail(run_dir, logs if isinstance(logs, dict) else {})
        head = (f"no operation succeeded after setup ({stats.get('fail', 0)} failed, "
                f"{stats.get('info', 0)} indeterminate)")
        return _clip(f"{head}; {tail}" if tail else head)
    reasons = _checker_reasons(results.get("checker"))
    if reasons:
        return _clip("; ".join(reasons))
    return "the checkers gave no definite verdict and no reason"
