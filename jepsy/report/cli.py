"""``jepsy report RUN_DIR``: regenerate ``report.html`` and ``junit.xml`` from a stored run.

RUN_DIR is a run directory (``store/<test>/<stamp>``), or anything with a
``latest`` link to one (``store/<test>``, ``store``).  Problems with the stored
data are printed as warnings; the report is written from what could be read.
Exit codes: 0 written, 254 when RUN_DIR is not a run.
"""

from __future__ import annotations

from pathlib import Path

import click

from jepsy.errors import ConfigError

__all__ = ["report_cmd", "resolve_run"]

_RUN_FILES = ("results.json", "history.jsonl", "test.json")


def resolve_run(path: str | Path) -> Path:
    """The run directory ``path`` names, following ``latest`` links; ``ConfigError`` if none."""
    p = Path(path)
    for _ in range(3):
        if any((p / f).is_file() for f in _RUN_FILES):
            return p
        if (p / "latest").exists():
            p = (p / "latest").resolve()
            continue
        break
    raise ConfigError(f"{path}: not a run directory (no results.json, history.jsonl or test.json, "
                      "and no 'latest' link)")


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a web browser.")
def report_cmd(run_dir: str, open_browser: bool) -> None:
    """Regenerate report.html and junit.xml of a stored run."""
    from jepsy.report import write_all

    run = resolve_run(run_dir)
    for problem in write_all(run):
        click.echo(f"jepsy: warning: {problem}", err=True)
    page = run / "report.html"
    if not page.is_file():
        raise ConfigError(f"{run}: the report could not be written")
    click.echo(str(page))
    if open_browser:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
