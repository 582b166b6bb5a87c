"""Module options as text: ``jepsy list --options NAME`` and the README's option tables.

Both are generated from the declarations (``jepsy.options``), so what a user
reads is what ``jepsy test`` accepts.  The README keeps its tables between the
markers ``<!-- options:begin -->`` and ``<!-- options:end -->``;
``readme_tables()`` is what belongs there (``python -m jepsy.optiondocs``
rewrites it, and a unit test fails when the README and the declarations
disagree).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jepsy import options, registry
from jepsy.errors import ConfigError

__all__ = ["BEGIN", "END", "describe", "listing", "readme_tables", "update_readme"]

BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"
_TITLES = {"dbs": "Databases (`--db-opt`)", "workloads": "Workloads (`--workload-opt`)",
           "nemeses": "Nemeses (`--nemesis-opt`)", "checkers": "Checkers (`jepsy check --opt`)"}


def _shown(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def describe(table: dict[str, options.Option] | None) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, help)`` rows, sorted by name (empty: nothing declared)."""
    def kind(o: options.Option) -> str:
        doc = getattr(o.parse, "__doc__", None)  # a choice says what it allows
        return doc if o.kind == "choice" and doc else o.kind

    return [(o.name, kind(o), _shown(o.default), o.help) for _, o in sorted((table or {}).items())]


def _modules(name: str) -> list[tuple[str, Any]]:
    found = []
    for group in _TITLES:
        if name in registry.names(group):
            found.append((group, registry.load(group, name)))
    return found


def listing(name: str) -> str:
    """The options of every module called ``name`` (``register`` is a workload and a model)."""
    found = _modules(name)
    if not found:
        known = sorted({n for g in _TITLES for n in registry.names(g)})
        raise ConfigError(f"no database, workload, nemesis or checker is called {name!r}; "
                          f"known: {', '.join(known)}")
    out = []
    for group, factory in found:
        table = options.declared(factory)
        kind = {"dbs": "database", "workloads": "workload", "nemeses": "nemesis",
                "checkers": "checker"}[group]
        if table is None:
            out.append(f"{kind} {name}: declares no options (any key is passed through unchecked)")
            continue
        rows = describe(table)
        out.append(f"{kind} {name}: " + ("no options" if not rows else f"{len(rows)} options"))
        width = max((len(r[0]) for r in rows), default=0)
        out += [f"  {n.ljust(width)}  {k}, default {d}: {h}" for n, k, d, h in rows]
    return "\n".join(out)


def readme_tables() -> str:
    """One markdown table per group of built-in modules that declare options."""
    parts = []
    for group, title in _TITLES.items():
        rows = []
        for name in sorted(registry.BUILTINS[group]):
            for opt, kind, default, text in describe(options.declared(registry.load(group, name))):
                rows.append(f"| `{name}` | `{opt}` | {kind} | `{default}` | {text} |")
        if rows:
            parts.append(f"**{title}**\n\n| module | option | type | default | meaning |\n"
                         "|---|---|---|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts)


def update_readme(path: Path) -> bool:
    """Rewrite the tables between the markers of ``path``; True when it changed."""
    text = path.read_text()
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ConfigError(f"{path} has no {BEGIN} ... {END} block")
    new = f"{head}{BEGIN}\n{readme_tables()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    print(f"{target}: {'updated' if update_readme(target) else 'already up to date'}")
