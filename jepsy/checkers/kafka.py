"""The kafka checker: append-only logs per key, read by polls, with committed offsets.

Ops (Maelstrom's kafka workload, as ``jepsy.dbs.maelstrom_clients`` records them):

* ``send``: ok value ``[key, msg, offset]``;
* ``poll``: ok value ``{"from": {key: offset}, "msgs": {key: [[offset, msg], ...]}}``;
* ``commit``: ok value ``{key: offset}`` (committed up to and including);
* ``list-committed``: ok value ``{key: offset}``.

What is known to exist: every ok send's ``(key, offset, msg)`` and every pair a
poll returned.  Anomalies (any makes the history invalid):

* *inconsistent-offsets*: one offset of a key holds two different messages;
* *duplicate*: one message of a key sits at two offsets;
* *internal-nonmonotonic*: a poll's offsets for a key do not strictly
  increase, or start below the offset it asked for;
* *lost*: a poll for a key returned offsets from ``a`` to ``b`` (having asked
  from at most ``a``) and missed an offset between them known to exist (the
  server must answer with contiguous messages; offsets may be sparse, so only
  known offsets count);
* *send-nonmonotonic*: a send completed before another send to the same key
  began, yet got a higher or equal offset;
* *committed-regression*: ``list-committed`` returned an offset below one a
  commit had made before that listing began.

*unobserved* (ok sends no poll ever saw) is reported but allowed: a server
may acknowledge a message and not return it for arbitrarily long.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from jepsy.checkers._util import calls
from jepsy.history import Op
from jepsy.options import declare

__all__ = ["KafkaChecker", "kafka"]

_SHOW = 10


def _key(x: Any) -> str:
    return json.dumps(x, sort_keys=True)


class KafkaChecker:
    def check(self, history: Sequence[Op], opts: Mapping[str, Any]) -> dict[str, Any]:
        cs = [c for c in calls(history) if c.type == "ok" and c.done is not None]
        at: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        where: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        raw: dict[tuple[str, int], Any] = {}
        sends: list[tuple[str, int, Any, int, int]] = []  # key, offset, msg, invoke pos, done pos
        polls: list[tuple[int, dict[str, int], dict[str, list[Any]]]] = []
        anomalies: dict[str, list[Any]] = defaultdict(list)

        def known(k: str, off: int, msg: Any) -> None:
            at[k][off].add(_key(msg))
            where[k][_key(msg)].add(off)
            raw[(k, off)] = msg

        for c in cs:
            v = c.value
            if c.f == "send" and isinstance(v, list) and len(v) == 3 and isinstance(v[2], int):
                k = str(v[0])
                known(k, v[2], v[1])
                sends.append((k, v[2], v[1], c.pos_invoke, c.pos_done or c.pos_invoke))
            elif c.f == "poll" and isinstance(v, dict):
                frm = {str(k): int(o) for k, o in (v.get("from") or {}).items()}
                msgs = {str(k): list(ps or []) for k, ps in (v.get("msgs") or {}).items()}
                polls.append((c.done.index if c.done else -1, frm, msgs))
                for k, ps in msgs.items():
                    for off, msg in ps:
                        known(k, int(off), msg)

        for k, at_offset in at.items():
            for off, held in at_offset.items():
                if len(held) > 1:
                    anomalies["inconsistent-offsets"].append(
                        {"key": k, "offset": off, "msgs": [json.loads(m) for m in sorted(held)]})
        for k, by_msg in where.items():
            for m, placed in by_msg.items():
                if len(placed) > 1:
                    anomalies["duplicate"].append({"key": k, "msg": json.loads(m),
                                                   "offsets": sorted(placed)})
        observed: set[tuple[str, int]] = set()
        for index, frm, got_msgs in polls:
            for k, ps in got_msgs.items():
                offsets = [int(o) for o, _ in ps]
                observed.update((k, o) for o in offsets)
                if not offsets:
                    continue
                asked = frm.get(k)
                if any(b <= a for a, b in itertools.pairwise(offsets)) or (
                        asked is not None and offsets[0] < asked):
                    anomalies["internal-nonmonotonic"].append(
                        {"key": k, "from": asked, "offsets": offsets[:20], "op": index})
                    continue
                if asked is None or asked > offsets[0]:
                    continue
                got = set(offsets)
                missed = [o for o in sorted(at[k]) if asked <= o <= offsets[-1] and o not in got]
                for o in missed:
                    anomalies["lost"].append({"key": k, "offset": o, "msg": raw[(k, o)],
                                              "poll": index, "polled": [offsets[0], offsets[-1]]})
        by_key: dict[str, list[tuple[str, int, Any, int, int]]] = defaultdict(list)
        for s in sends:
            by_key[s[0]].append(s)
        for k, ss in by_key.items():
            ss.sort(key=lambda s: s[4])
            best: tuple[int, int] | None = None  # (offset, done pos) of the highest completed send
            j = 0
            for s in sorted(ss, key=lambda s: s[3]):
                while j < len(ss) and ss[j][4] < s[3]:
                    if best is None or ss[j][1] > best[0]:
                        best = (ss[j][1], ss[j][4])
                    j += 1
                if best is not None and s[1] <= best[0]:
                    anomalies["send-nonmonotonic"].append(
                        {"key": k, "offset": s[1], "msg": s[2], "after_offset": best[0]})
        commits = sorted(((c.pos_done or 0, {str(key): int(o) for key, o in c.value.items()})
                          for c in cs if c.f == "commit" and isinstance(c.value, dict)),
                         key=lambda x: x[0])
        for c in cs:
            if c.f != "list-committed" or not isinstance(c.value, dict):
                continue
            floor: dict[str, int] = {}
            for pos, committed in commits:
                if pos >= c.pos_invoke:
                    break
                for key, o in committed.items():
                    floor[key] = max(floor.get(key, -1), o)
            for key, o in c.value.items():
                if int(o) < floor.get(str(key), -1):
                    anomalies["committed-regression"].append(
                        {"key": key, "listed": o, "committed_before": floor[str(key)]})
        unobserved = [(k, o) for k, o, _, _, _ in sends if (k, o) not in observed]
        counts = ", ".join(f"{t} x{len(xs)}" for t, xs in sorted(anomalies.items()))
        return {
            "valid": not anomalies,
            "text": (f"{len(sends)} acknowledged sends, {len(polls)} polls, {len(unobserved)} sends "
                     f"never polled (allowed); " + (f"anomalies: {counts}" if anomalies else "no anomalies")),
            "anomaly_types": sorted(anomalies),
            "anomalies": {t: xs[:_SHOW] for t, xs in sorted(anomalies.items())},
            "counts": {t: len(xs) for t, xs in sorted(anomalies.items())},
            "send_count": len(sends), "poll_count": len(polls),
            "unobserved_count": len(unobserved), "unobserved": unobserved[:_SHOW],
        }


@declare()
def kafka(**_: Any) -> KafkaChecker:
    return KafkaChecker()
