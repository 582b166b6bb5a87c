"""Declared options: every built-in module declares them, the README's tables are the
declarations, ``jepsy list --options`` prints them, misspellings are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsy import options, registry
from jepsy.cli import main
from jepsy.optiondocs import BEGIN, END, listing, readme_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize("group", ["dbs", "workloads", "nemeses", "checkers"])
def test_every_builtin_module_declares_its_options(group: str) -> None:
    undeclared = [n for n in registry.BUILTINS[group]
                  if options.declared(registry.load(group, n)) is None]
    assert undeclared == []


def test_the_readme_tables_are_the_declarations() -> None:
    text = README.read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == readme_tables(), ("README.md's option tables differ from the declarations: "
                                      "run .venv/bin/python -m jepsy.optiondocs README.md")


def test_list_options_prints_type_default_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["list", "--options", "etcd"], capsys)
    assert code == 0 and "database etcd: 13 options" in out
    assert "serializable    boolean, default false: serializable reads" in out
    both = listing("register")  # a workload here; the model of that name has no options
    assert both.startswith("workload register:") and "ops_per_key" in both
    code, _, err = run(["list", "--options", "nope"], capsys)
    assert code == 254 and "no database, workload, nemesis or checker is called 'nope'" in err


@pytest.mark.parametrize("args, message", [
    (["--db", "etcd", "--db-opt", "serialisable=true"],
     "--db-opt serialisable: database 'etcd' has no option 'serialisable' (did you mean "
     "'serializable'?); known: binary, cleanup, election_ms, existing, heartbeat_ms, op_timeout, "
     "package, pre_vote, ready_timeout, release_mirror, serializable, tarball, version"),
    (["--db", "memory", "--workload-opt", "ops_per_kye=5"], "did you mean 'ops_per_key'?"),
    (["--db", "etcd", "--db-opt", "serializable=maybe"],
     "--db-opt serializable=maybe: expected true or false"),
    (["--db", "memory", "--nemesis", "kill,partition", "--nemesis-opt", "kill_target=one"],
     "known: kill_targets, nemesis_max_faults, partition_shapes"),
])
def test_misspelt_or_bad_options_are_one_line_errors(args: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["test", "--nodes", "n1", *args, "--store", str(tmp_path)], capsys)
    assert code == 254 and message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing ran


def test_modules_parse_through_their_declarations() -> None:
    from jepsy.dbs.etcd import EtcdDB
    from jepsy.dbs.etcd_clients import client_for

    db = EtcdDB({"serializable": "yes", "election_ms": "500"})
    assert db.opts["serializable"] is True and db.opts["election_ms"] == 500
    assert db.opts["heartbeat_ms"] == 100  # the declared default
    assert EtcdDB({"serializable": False}).opts["serializable"] is False
    client = client_for("register", {"serializable": "off"})
    assert getattr(client, "serializable", None) is False
