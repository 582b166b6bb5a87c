"""The ``jepsy`` command line: a thin layer that parses, wires the pieces, and maps errors.

Exit codes (the contract with CI): 0 valid, 1 invalid, 2 unknown, 254 usage or
configuration error (bad flag, inventory, history; unreachable node), 255
internal error.  Every error a user can cause is one line on stderr, never a
traceback; an internal error prints one line and writes the traceback to
``jepsy-crash.log`` in the current directory (or the run directory).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from jepsy import __version__, registry
from jepsy.errors import ConfigError, ExitCode, JepsyError

__all__ = ["cli", "main"]

# The arguments of this invocation, for test.json (a run must say how to repeat it).
_ARGV: list[str] = []


def _kv(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``name=value`` options; values parsed as JSON when they parse, else kept as strings."""
    out: dict[str, Any] = {}
    for p in pairs:
        name, sep, value = p.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag} wants name=value, not {p!r}")
        out[name.replace("-", "_")] = _json_or_str(value)
    return out


def _json_or_str(value: str) -> Any:
    import json  # here, not at start-up (as pathlib below): `jepsy --help` stays fast

    try:
        return json.loads(value)
    except ValueError:
        return value


# Commands that live in their own modules, imported only when used:
# name -> "module:attr" of a click command.
LAZY_COMMANDS: dict[str, str] = {
    "test": "jepsy.testcmd:test_cmd",
    "lab": "jepsy.labcmd:lab_cmd",
    "doctor": "jepsy.doctor:doctor_cmd",
    "test-all": "jepsy.matrix:test_all_cmd",
    "heal": "jepsy.heal:heal_cmd",
    "report": "jepsy.report.cli:report_cmd",
    "serve": "jepsy.report.serve:serve_cmd",
    "inventory": "jepsy.inventory:inventory_cmd",
    "shrink": "jepsy.shrink:shrink_cmd",
}


# Their one-line help, so that ``jepsy --help`` lists them without importing them (it
# imported paramiko, yaml and an HTTP server to print six lines).  A command missing
# here is imported for its help; tests/unit/test_check_many.py holds these to the
# commands' own.
LAZY_HELP: dict[str, str] = {
    "test": "Run a test: provision the database, run the workload under faults, check, store.",
    "lab": "The local lab: cluster nodes made of Linux namespaces on this machine (needs root).",
    "doctor": "Preflight every node: SSH, sudo, iptables, tc, clocks and NTP, disk, the database.",
    "test-all": "Run every test of a matrix file; one summary, one JUnit file, one exit code.",
    "heal": "End every fault jepsy may have left on the nodes (partitions, qdiscs, clocks, pauses).",
    "report": "Regenerate report.html and junit.xml of a stored run.",
    "serve": "Browse stored runs in a web browser: reports, histories, logs, zips.",
    "inventory": "Write inventories from other tools' descriptions of a cluster.",
    "shrink": "Replay an invalid run, then cut faults, durations, run time, workers and keys while "
              "its violation still appears: the smallest reproducer, as a run and a command line.",
}


class _LazyGroup(click.Group):
    """A group whose extra commands are imported on first use (``jepsy --help`` stays fast)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        for name in names:
            if name in LAZY_HELP:
                text = LAZY_HELP[name]
                short = text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."
                rows.append((name, short))
                continue
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            import importlib

            module, _, attr = LAZY_COMMANDS[name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jepsy")
def cli() -> None:
    """jepsy: black-box consistency testing of distributed databases, Jepsen style."""


# ---- shared by test (jepsy.testcmd) and check ---------------------------------

def _expect_options(f: Any) -> Any:
    """--expect-recovery, --expect-availability, --recovery-fraction (jepsy.checkers.availability)."""
    f = click.option("--recovery-fraction", default=None, metavar="FRACTION",
                     help="Share of the pre-fault throughput that counts as recovered "
                     "[default: 0.8].")(f)
    f = click.option("--expect-availability", default=None, metavar="FRACTION",
                     help="In every partition window, at least this fraction of the majority "
                     "side's operations ok; else the run is invalid.")(f)
    return click.option("--expect-recovery", default=None, metavar="SECONDS",
                        help="After every heal, throughput back to 80% of its pre-fault "
                        "baseline (and held 2 s) within this; else the run is invalid.")(f)


def _expectations(recovery: str | None, availability: str | None,
                  fraction: str | None = None) -> dict[str, float | None]:
    """The expectations, checked: one line and exit 254 when not a number in range."""
    from jepsy.checkers.availability import parse_expectation

    return {"expect_recovery": parse_expectation("--expect-recovery", recovery),
            "expect_availability": parse_expectation("--expect-availability", availability,
                                                     fraction=True),
            "recovery_fraction": parse_expectation("--recovery-fraction", fraction, fraction=True)}


# ---- check -------------------------------------------------------------------

@cli.command("check")
@click.argument("histories", nargs=-1, required=True, type=click.Path(), metavar="HISTORY...")
@click.option("--model", default=None, help="Linearizability model (see 'jepsy list').")
@click.option("--init", "init", default=None, help="Initial model state (JSON, or a string).")
@click.option("--checker", default=None, help="A checker by name, e.g. list-append (see 'jepsy list').")
@click.option("--consistency-model", default=None, help="For transactional checkers "
              "[default: strict-serializable].")
@click.option("--timeout", default=None, type=click.FloatRange(min=0), help="Seconds before 'unknown'.")
@click.option("--all-keys", is_flag=True, help="Check every key even after a violation.")
@click.option("--opt", multiple=True, help="name=value option passed to the checker.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (one object per "
              "line for several histories).")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="Also write an HTML report of the history and its verdict (one history only).")
@_expect_options
def check_cmd(histories: tuple[str, ...], model: str | None, init: str | None, checker: str | None,
              consistency_model: str | None, timeout: float | None, all_keys: bool,
              opt: tuple[str, ...], as_json: bool, report_path: str | None,
              expect_recovery: str | None, expect_availability: str | None,
              recovery_fraction: str | None) -> None:
    """Check stored histories (jepsy JSONL, Jepsen EDN, elle-cli JSON, Plume text).

    Several files and directories (searched for .edn, .jsonl, .json and .txt
    histories) are checked in one process, one line per file and a summary.
    """
    if (model is None) == (checker is None):
        raise ConfigError("give exactly one of --model (linearizability) or --checker")
    if checker != "availability" and (expect_recovery is not None or expect_availability is not None
                                      or recovery_fraction is not None):
        raise ConfigError("--expect-recovery, --expect-availability and --recovery-fraction go "
                          "with --checker availability")
    if model is not None:
        from jepsy.checkers.linear import linearizable

        factory = registry.load("models", model)
        the_model = factory(init=_json_or_str(init)) if init is not None else factory()
        the_checker = linearizable(the_model, timeout=timeout, all_keys=all_keys)
    else:
        assert checker is not None
        from jepsy import options  # here, not at start-up: only --checker needs it

        factory = registry.load("checkers", checker)
        opts = options.resolve(f"checker {checker!r}", [options.declared(factory)],
                               _kv(opt, "--opt"), flag="--opt")
        if consistency_model is not None:
            opts["consistency_model"] = consistency_model
        if timeout is not None:
            opts["timeout"] = timeout
        if checker == "availability":  # the node of each process, from the stored run
            from jepsy.checkers.availability import mapping_from_run_dir

            expect = _expectations(expect_recovery, expect_availability, recovery_fraction)
            fraction = expect.pop("recovery_fraction")
            # One history: its run's test.json says which node each process talked to.
            run = mapping_from_run_dir(histories[0]) if len(histories) == 1 else {}
            opts = {**run, **opts,
                    **{k: v for k, v in expect.items() if v is not None},
                    **({"fraction": fraction} if fraction is not None else {})}
        the_checker = factory(**opts)
    files = _history_files(histories)
    if len(files) == 1 and not os.path.isdir(histories[0]):
        raise SystemExit(_check_one(files[0], the_checker, as_json, report_path))
    if report_path:
        raise ConfigError("--report takes one history")
    from jepsy.checkers.many import check_many

    raise SystemExit(check_many(files, the_checker, as_json, click.echo))


HISTORY_SUFFIXES = (".edn", ".jsonl", ".json", ".txt")


def _history_files(args: tuple[str, ...]) -> list[str]:
    """The files named, and the histories under the directories named, in a stable order."""
    files: list[str] = []
    for a in args:
        if os.path.isdir(a):
            from pathlib import Path  # here: a file named needs none (start-up)

            p = Path(a)
            found = sorted(str(f) for f in p.rglob("*") if f.suffix in HISTORY_SUFFIXES and f.is_file())
            if not found:
                raise ConfigError(f"{a}: no histories (*{', *'.join(HISTORY_SUFFIXES)}) in this directory")
            files += found
        else:
            files.append(a)
    return files


def _check_one(history: str, the_checker: Any, as_json: bool, report_path: str | None) -> int:
    """One history, in full: the verdict line and the explanation (or the JSON); its exit code."""
    from jepsy.history import read_history

    if not report_path and hasattr(the_checker, "check_file"):  # e.g. list-append: streams the file
        result = the_checker.check_file(history, {})
    else:
        ops = read_history(history)
        result = the_checker.check(ops, {})
    code = ExitCode.for_valid(result.get("valid"))
    if report_path:
        from jepsy.report import write_report

        for problem in write_report(report_path, ops, result, source=history):
            click.echo(f"jepsy: warning: {problem}", err=True)
    if as_json:
        import json

        click.echo(json.dumps(result, indent=2, default=str))
    else:
        valid = result.get("valid")
        verdict = "valid" if valid is True else "INVALID" if valid is False else "unknown"
        click.echo(f"{history}: {verdict}")
        text = _explanation_text(result)
        if text:
            click.echo(text)
    return int(code)


def _explanation_text(result: dict[str, Any]) -> str:
    expl = result.get("explanation")
    if isinstance(expl, dict) and expl.get("text"):
        counts = result.get("counts")
        if isinstance(counts, dict):  # several keys: how many of each verdict
            return (f"{expl['text']}\nKeys: {counts['linearizable']} linearizable, "
                    f"{counts['invalid']} invalid, {counts['undecided']} undecided.")
        return str(expl["text"])
    if result.get("text"):
        return str(result["text"])
    if result.get("reason"):
        return str(result["reason"])
    return ""


# ---- list --------------------------------------------------------------------

@cli.command("list")
@click.option("--options", "module", default=None, metavar="MODULE",
              help="Show the options MODULE declares (type, default, help) instead.")
def list_cmd(module: str | None) -> None:
    """Databases, workloads, nemeses, checkers and models available."""
    if module is not None:
        from jepsy.optiondocs import listing

        click.echo(listing(module))
        return
    for group in registry.GROUPS:
        click.echo(f"{group}: {', '.join(registry.names(group)) or '-'}")


def _help_width() -> int:
    """The width click would give help text, found without importing shutil (and with it
    bz2, lzma and zlib: a few milliseconds of ``jepsy --help``): COLUMNS, else the
    terminal's width, else 80; at most 80 and at least 50, less a margin of 2."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(min(columns or 80, 80) - 2, 50)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and turn every outcome into one exit code."""
    _ARGV[:] = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=argv, prog_name="jepsy", standalone_mode=False,
                 terminal_width=_help_width())
    except click.exceptions.Abort:
        click.echo("jepsy: aborted", err=True)
        sys.exit(int(ExitCode.CONFIG))
    except click.ClickException as e:
        click.echo(f"jepsy: {e.format_message()}", err=True)
        sys.exit(int(ExitCode.CONFIG))
    except JepsyError as e:
        # One line, always: messages may quote a node's log, which has newlines.
        click.echo("jepsy: " + " | ".join(x.strip() for x in str(e).splitlines() if x.strip()),
                   err=True)
        sys.exit(int(e.exit_code))
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("jepsy: interrupted", err=True)
        sys.exit(int(ExitCode.UNKNOWN))
    except Exception as e:
        import traceback
        from pathlib import Path

        crash = Path(os.environ.get("JEPSY_CRASH_LOG", "jepsy-crash.log"))
        try:
            crash.write_text(traceback.format_exc())
            where = f"; traceback in {crash}"
        except OSError:
            where = ""
        click.echo(f"jepsy: internal error: {type(e).__name__}: {e}{where}", err=True)
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(0)
