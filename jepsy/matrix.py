"""``jepsy test-all MATRIX.yaml``: a matrix of tests, as a nightly job runs it.

The matrix file (YAML)::

    inventory: inventories/staging.yaml   # or  nodes: n1,n2,n3
    store: store                          # where runs go (default: store)
    test_count: 2                         # each combination this many times
    keep_last: 30                         # afterwards keep the newest 30 runs per test
    defaults:                             # any 'jepsy test' option, snake_case
      time_limit: 60
      nemesis_interval: 10
    matrix:                               # the cross product of these lists...
      db: [etcd]
      workload: [register, list-append]
      nemesis: [partition, "partition,kill"]
    tests:                                # ...plus these, one by one
      - {db: etcd, workload: register, nemesis: partition, db_opts: {serializable: true}}
      - {db: etcd, nemesis: partition, expect_recovery: 5, expect_availability: 0.6}

Every run is stored as usual; the suite prints a summary table (with each run's
worst recovery after a heal, from the availability checker), writes one
JUnit file for the whole suite (``--junit``, default ``<store>/suite.xml``),
and exits with the suite's code: 255 if any run crashed, else 254 if any was
misconfigured, else 2 if any was unknown, else 1 if any was invalid, else 0.
A run that fails to start (bad option, unreachable node) is recorded as that
run's error and the suite goes on.
"""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import yaml

from jepsy.errors import ConfigError, ExitCode, JepsyError
from jepsy.wiring import TestSpec, run_one, suite_exit_code

__all__ = ["expand", "load_matrix", "test_all_cmd", "worst_recovery"]

_SPEC_FIELDS = set(TestSpec.__dataclass_fields__) - {"command_line", "store"}


def load_matrix(path: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such matrix file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the matrix must be a mapping")
    unknown = set(doc) - {"inventory", "nodes", "nodes_file", "store", "test_count", "keep_last",
                          "defaults", "matrix", "tests", "junit"}
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
    return doc


def _spec(entry: dict[str, Any], where: str) -> dict[str, Any]:
    bad = set(entry) - _SPEC_FIELDS
    if bad:
        raise ConfigError(f"{where}: unknown test options {sorted(bad)}")
    if "db" not in entry:
        raise ConfigError(f"{where}: no db")
    return entry


def expand(doc: dict[str, Any], where: str = "matrix") -> list[dict[str, Any]]:
    """The list of runs a matrix file describes (defaults applied), in file order."""
    defaults = dict(doc.get("defaults") or {})
    runs: list[dict[str, Any]] = []
    axes = doc.get("matrix") or {}
    if not isinstance(axes, dict):
        raise ConfigError(f"{where}: 'matrix' must map option names to lists")
    if axes:
        names = list(axes)
        values = [v if isinstance(v, list) else [v] for v in axes.values()]
        for combo in itertools.product(*values):
            runs.append(_spec({**defaults, **dict(zip(names, combo, strict=True))}, where))
    for i, t in enumerate(doc.get("tests") or []):
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: tests[{i}] must be a mapping")
        runs.append(_spec({**defaults, **t}, f"{where}: tests[{i}]"))
    if not runs:
        raise ConfigError(f"{where}: no tests (give 'matrix' or 'tests')")
    return runs


def _junit(rows: list[dict[str, Any]], path: Path, seconds: float) -> None:
    failures = sum(1 for r in rows if r["code"] == ExitCode.INVALID)
    errors = sum(1 for r in rows if r["code"] not in (ExitCode.VALID, ExitCode.INVALID))
    suite = ET.Element("testsuite", name="jepsy", tests=str(len(rows)), failures=str(failures),
                       errors=str(errors), time=f"{seconds:.1f}")
    for r in rows:
        case = ET.SubElement(suite, "testcase", classname=f"jepsy.{r['name']}", name=r["label"],
                             time=f"{r['seconds']:.1f}")
        if r["code"] == ExitCode.INVALID:
            ET.SubElement(case, "failure", message=r["detail"][:500]).text = r["run_dir"]
        elif r["code"] != ExitCode.VALID:
            ET.SubElement(case, "error", message=r["detail"][:500]).text = r["run_dir"]
        if r.get("recovery_s") is not None:  # for nightly trends of the worst recovery
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="worst_recovery_s", value=f"{r['recovery_s']:g}")
        ET.SubElement(case, "system-out").text = f"run stored in {r['run_dir']}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def worst_recovery(results: dict[str, Any]) -> tuple[float | None, str]:
    """The run's worst recovery after a heal (seconds, or None) and how to show it.

    The longest time below the availability checker's threshold after any heal,
    relapses included; "not recovered (>= N s)" when a heal was never followed by
    a recovery in the calm time available; "-" for runs without heals."""
    avail = (results.get("checker") or {}).get("availability")
    if not isinstance(avail, dict):
        return None, "-"
    worst = avail.get("longest_below_s")
    missed = [r.get("below_for_s") or 0 for r in avail.get("recoveries") or []
              if isinstance(r, dict) and r.get("recovered_after_s") is None and r.get("below_for_s")]
    if missed and (worst is None or max(missed) >= worst):
        return max(missed), f"not recovered (≥ {max(missed):g} s)"
    return (worst, f"{worst:g} s") if isinstance(worst, (int, float)) else (None, "-")


def _detail(results: dict[str, Any]) -> str:
    if results.get("incomplete"):
        return str(results["incomplete"])
    parts = []
    for name, r in (results.get("checker") or {}).items():
        if isinstance(r, dict) and r.get("valid") is not True:
            expl = r.get("explanation")
            text = expl.get("text") if isinstance(expl, dict) else None
            parts.append(f"{name}: {text or r.get('anomaly_types') or r.get('valid')}")
    return "; ".join(parts) or "valid"


@click.command("test-all")
@click.argument("matrix_file", type=click.Path(dir_okay=False))
@click.option("--junit", "junit_path", default=None, help="Suite JUnit file [default: STORE/suite.xml].")
@click.option("--dry-run", is_flag=True, help="List the runs and exit.")
def test_all_cmd(matrix_file: str, junit_path: str | None, dry_run: bool) -> None:
    """Run every test of a matrix file; one summary, one JUnit file, one exit code."""
    from rich.console import Console
    from rich.table import Table

    from jepsy import inventory as inv
    from jepsy.store import keep_last

    doc = load_matrix(matrix_file)
    runs = expand(doc, matrix_file)
    count = int(doc.get("test_count", 1))
    store = str(doc.get("store", "store"))
    if dry_run:
        for r in runs:
            click.echo(" ".join(f"{k}={v}" for k, v in r.items()))
        return
    nodes = inv.load(doc.get("inventory"), doc.get("nodes"), doc.get("nodes_file"))
    rows: list[dict[str, Any]] = []
    t_suite = time.monotonic()
    for entry in runs:
        for i in range(count):
            spec = TestSpec(store=store, command_line=["test-all", matrix_file], **entry)
            label = f"{spec.test_name()}#{i + 1}"
            t0 = time.monotonic()
            recovery: tuple[float | None, str] = (None, "-")
            try:
                results = run_one(nodes, spec, echo=lambda m: click.echo(m, err=True))
                code, detail, run_dir = int(results["exit_code"]), _detail(results), results["run_dir"]
                recovery = worst_recovery(results)
            except JepsyError as e:
                code, detail, run_dir = int(e.exit_code), str(e), ""
            except Exception as e:  # one broken run must not stop the nightly suite
                code, detail, run_dir = int(ExitCode.INTERNAL), f"{type(e).__name__}: {e}", ""
            rows.append({"name": spec.test_name(), "label": label, "code": code, "detail": detail,
                         "run_dir": run_dir, "seconds": time.monotonic() - t0,
                         "recovery_s": recovery[0], "recovery": recovery[1]})
        if doc.get("keep_last"):
            keep_last(store, TestSpec(**entry).test_name(), int(doc["keep_last"]))
    table = Table(title=f"jepsy test-all: {matrix_file}")
    for col in ("run", "verdict", "worst recovery", "detail", "stored in"):
        table.add_column(col)
    names = {0: "[green]valid[/]", 1: "[red]INVALID[/]", 2: "[yellow]unknown[/]",
             254: "[red]config error[/]", 255: "[red]crashed[/]"}
    for r in rows:
        table.add_row(r["label"], names.get(r["code"], str(r["code"])), r.get("recovery", "-"),
                      r["detail"][:120], r["run_dir"])
    Console().print(table)
    junit = Path(junit_path or Path(store) / "suite.xml")
    _junit(rows, junit, time.monotonic() - t_suite)
    click.echo(f"suite JUnit: {junit}", err=True)
    raise SystemExit(suite_exit_code([r["code"] for r in rows]))
