"""``jepsy test``: its flags, read into a ``wiring.TestSpec`` and run.

Imported only when ``jepsy test`` runs (``cli.LAZY_COMMANDS``): building its thirty
options cost every other command most of a millisecond of start-up.  The helpers it
shares with ``jepsy check`` (``name=value`` options, the availability expectations)
live in ``jepsy.cli``.
"""

from __future__ import annotations

import click

from jepsy.cli import _ARGV, _expect_options, _expectations, _kv
from jepsy.errors import ConfigError

__all__ = ["test_cmd"]


@click.command("test")
@click.option("--inventory", "-i", default=None, help="Ansible-style YAML inventory.")
@click.option("--nodes", default=None, help="Comma-separated node names (SSH host names).")
@click.option("--nodes-file", default=None, help="File with one node name per line.")
@click.option("--db", required=True, help="Database module (see 'jepsy list').")
@click.option("--workload", "-w", default="register", show_default=True)
@click.option("--nemesis", default="none", show_default=True, help="Fault families, comma-separated.")
@click.option("--time-limit", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds of the main phase.")
@click.option("--concurrency", "-c", default=None, type=click.IntRange(min=1),
              help="Client workers [default: 2 per node].")
@click.option("--rate", default=100.0, show_default=True, type=click.FloatRange(min=0),
              help="Target ops per second over all workers (0: as fast as possible).")
@click.option("--seed", default=None, type=int, help="Seed of every random choice [default: random].")
@click.option("--nemesis-interval", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between fault changes.")
@click.option("--recovery", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait after healing before final reads.")
@click.option("--store", default="store", show_default=True, help="Store directory.")
@click.option("--name", "test_name", default=None, help="Test name [default: db-workload-nemesis].")
@click.option("--leave-db-running", is_flag=True, help="Skip teardown (to inspect the nodes).")
@click.option("--db-opt", multiple=True, help="name=value option for the database module.")
@click.option("--workload-opt", multiple=True, help="name=value option for the workload.")
@click.option("--nemesis-opt", multiple=True, help="name=value option for the nemesis.")
@click.option("--bin", "program", default=None, type=click.Path(exists=True),
              help="With --db process or maelstrom: your program (a file, or a directory "
                   "uploaded whole), uploaded to every node.")
@click.option("--cmd", "command", default=None,
              help="With --db process or maelstrom: how to run it, e.g. "
                   "'{bin} --id {node} --peers {peers}'.")
@click.option("--nemesis-schedule", default=None, metavar="FILE",
              help="Replay an explicit fault schedule (JSON/YAML; every run writes its own "
              "schedule.json); its families join --nemesis.")
@click.option("--nemesis-strategy", default="random", show_default=True,
              type=click.Choice(["random", "guided"]),
              help="How faults are chosen: seeded dice, or guided by what the history shows.")
@click.option("--test-count", default=1, show_default=True, type=click.IntRange(min=1),
              help="Run the test this many times (seed+1 each time when --seed is given).")
@click.option("--keep-last", default=None, type=click.IntRange(min=1),
              help="Afterwards, keep only the newest N runs of this test in the store.")
@click.option("--ask-become-pass", is_flag=True, help="Prompt once for the sudo password.")
@click.option("--trust-on-first-use", is_flag=True,
              help="Accept and remember host keys not yet in known_hosts (changed keys still fail).")
@_expect_options
def test_cmd(inventory: str | None, nodes: str | None, nodes_file: str | None, db: str,
             workload: str, nemesis: str, time_limit: float, concurrency: int | None, rate: float,
             seed: int | None, nemesis_interval: float, recovery: float, store: str,
             test_name: str | None, leave_db_running: bool, db_opt: tuple[str, ...],
             workload_opt: tuple[str, ...], nemesis_opt: tuple[str, ...], program: str | None,
             command: str | None, nemesis_schedule: str | None, nemesis_strategy: str,
             test_count: int, keep_last: int | None, ask_become_pass: bool,
             trust_on_first_use: bool, expect_recovery: str | None,
             expect_availability: str | None, recovery_fraction: str | None) -> None:
    """Run a test: provision the database, run the workload under faults, check, store."""
    from jepsy import inventory as inv
    from jepsy.store import keep_last as prune
    from jepsy.wiring import TestSpec, run_one, suite_exit_code

    node_list = inv.load(inventory, nodes, nodes_file)
    db_opts = _kv(db_opt, "--db-opt")
    if program or command:
        if db not in ("process", "maelstrom"):
            raise ConfigError("--bin and --cmd go with --db process or --db maelstrom")
        db_opts.update({k: v for k, v in (("bin", program), ("cmd", command)) if v})
    spec = TestSpec(db=db, workload=workload, nemesis=nemesis, time_limit=time_limit,
                    concurrency=concurrency, rate=rate, seed=seed,
                    nemesis_interval=nemesis_interval, recovery=recovery, store=store,
                    name=test_name, leave_db_running=leave_db_running,
                    db_opts=db_opts, workload_opts=_kv(workload_opt, "--workload-opt"),
                    nemesis_opts=_kv(nemesis_opt, "--nemesis-opt"), command_line=list(_ARGV),
                    nemesis_schedule=nemesis_schedule, nemesis_strategy=nemesis_strategy,
                    **_expectations(expect_recovery, expect_availability, recovery_fraction))
    password = _become_pass() if ask_become_pass else None
    codes = []
    for i in range(test_count):
        if test_count > 1:
            click.echo(f"jepsy: run {i + 1} of {test_count}", err=True)
            if seed is not None:
                spec.seed = seed + i
        results = run_one(node_list, spec, sudo_password=password,
                          trust_on_first_use=trust_on_first_use,
                          echo=lambda m: click.echo(m, err=True))
        codes.append(int(results["exit_code"]))
    if keep_last:
        prune(store, spec.test_name(), keep_last)
    if test_count > 1:
        click.echo(f"jepsy: {test_count} runs, exit codes {codes}", err=True)
    raise SystemExit(suite_exit_code(codes))


def _become_pass() -> str:
    """The sudo password, asked once and kept in memory only."""
    value: str = click.prompt("sudo password", hide_input=True, err=True)
    return value
