"""``results.json``: the documented, stable result of one run.

CI jobs, ``jepsy serve`` and ``jepsy report`` read this file; the fields below
are a contract.  New fields may be added; these keep their names, types and
meaning (a change is a deliberate, documented break).

=============  =====================================================================
field          meaning
=============  =====================================================================
valid          ``true`` | ``false`` | ``"unknown"``: the overall verdict (checkers
               merged with the priority false > unknown > true; an incomplete run is
               never ``true``)
exit_code      the process exit code: 0 valid, 1 invalid, 2 unknown, 255 crashed
incomplete     ``null``, or one line saying why the run did not finish
test           the test name (``store/<test>/``)
run_dir        the run directory
nodes          node names, in order
stats          operation counts: ``count``, ``ok``, ``fail``, ``info``,
               ``by_f`` {f: {ok, fail, info}}, ``never_ok`` [f]
timings        seconds per phase: ``setup_s``, ``main_s``, ``heal_s``, ``check_s``,
               ``total_s`` (phases that did not run are absent)
logs           {node: [file names under ``nodes/<node>/``]} (or an error text)
checker        the checker's result: ``{"valid": ..., "<name>": {...}, ...}`` for the
               composed checkers of a workload, each named result holding at least
               ``valid`` and, when invalid, its explanation (``explanation.text``
               for linearizability, ``anomaly_types`` / ``anomalies`` for
               transactional checkers), or ``error`` when a checker crashed;
               ``checker.availability`` is in every run: ``windows``,
               ``recoveries``, ``worst_recovery_s`` (see
               ``jepsy.checkers.availability``)
reproducer_of  (optional) written by ``jepsy shrink`` on its final run: one line naming
               the run this run is a minimal reproducer of, and what was cut
               transactional checkers), or ``error`` when a checker crashed
reason         ``null``, or (whenever ``valid`` is ``"unknown"``) one sentence saying
               why, e.g. "no operation succeeded after setup; n1's process.log ends
               with: ..." (added later: absent from older runs)
faults         {family: {``started``, ``took_effect``, ``failed``, ``missed``
               {node: why}}}: the faults started and those that took effect on at
               least one node (see ``jepsy.claims``; absent from older runs)
=============  =====================================================================

``check_results(results)`` lists how a results mapping departs from this
(for tests, and for reports that say what they could not read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIELDS", "check_results"]

# field -> (accepted types, may be null)
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "valid": ((bool, str), False),
    "exit_code": ((int,), False),
    "incomplete": ((str,), True),
    "test": ((str,), False),
    "run_dir": ((str,), False),
    "nodes": ((list,), False),
    "stats": ((dict,), False),
    "timings": ((dict,), False),
    "logs": ((dict, str), False),
    "checker": ((dict,), False),
}


def check_results(results: Mapping[str, Any]) -> list[str]:
    """The ways ``results`` departs from the schema (empty when it conforms)."""
    out: list[str] = []
    for name, (types, nullable) in FIELDS.items():
        if name not in results:
            out.append(f"missing field {name!r}")
            continue
        v = results[name]
        if v is None and nullable:
            continue
        if not isinstance(v, types):
            want = " or ".join(t.__name__ for t in types)
            out.append(f"field {name!r} is {type(v).__name__}, expected {want}")
    valid = results.get("valid")
    if "valid" in results and valid not in (True, False, "unknown"):
        out.append(f"field 'valid' is {valid!r}, expected true, false or \"unknown\"")
    checker = results.get("checker")
    if isinstance(checker, dict) and "valid" not in checker:
        out.append("field 'checker' has no 'valid'")
    return out
