"""The store: one directory per run, never overwritten.

Layout (a contract: CI jobs and ``jepsy report``/``serve`` read it)::

    store/<test-name>/<YYYYmmddTHHMMSS>/
        history.jsonl  results.json  report.html  junit.xml  jepsy.log  test.json
        nodes/<node>/  logs collected from that node
    store/<test-name>/latest -> <YYYYmmddTHHMMSS>
    store/latest -> <test-name>/<YYYYmmddTHHMMSS>

``latest`` links are relative, so a store can be moved or archived whole.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from jepsy.errors import ConfigError

__all__ = ["keep_last", "new_run", "write_json"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A test name usable as one directory name."""
    return _SAFE.sub("-", name).strip("-.") or "test"


def _relink(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def new_run(root: str | os.PathLike[str], test_name: str) -> Path:
    """Create and return a fresh run directory, and point the ``latest`` links at it."""
    base = Path(root)
    test_dir = base / safe_name(test_name)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        test_dir.mkdir(parents=True, exist_ok=True)
        run = test_dir / stamp
        n = 1
        while True:
            try:
                run.mkdir()
                break
            except FileExistsError:
                n += 1
                run = test_dir / f"{stamp}-{n}"
        (run / "nodes").mkdir()
        _relink(test_dir / "latest", run.name)
        _relink(base / "latest", f"{test_dir.name}/{run.name}")
    except OSError as e:
        raise ConfigError(f"cannot create a run in store {base}: {e.strerror or e}") from None
    return run


def keep_last(root: str | os.PathLike[str], test_name: str, n: int) -> list[Path]:
    """Delete all but the newest ``n`` runs of a test (never the one ``latest`` points at).

    Returns the directories removed.
    """
    import shutil

    test_dir = Path(root) / safe_name(test_name)
    if not test_dir.is_dir():
        return []
    latest = (test_dir / "latest").resolve() if (test_dir / "latest").exists() else None
    runs = sorted((d for d in test_dir.iterdir() if d.is_dir() and not d.is_symlink()),
                  key=lambda d: d.name, reverse=True)
    removed = []
    for d in runs[n:]:
        if d.resolve() != latest:
            shutil.rmtree(d)
            removed.append(d)
    return removed


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file).

    Encoded into the file piece by piece (``json.dump``): with ``indent`` the encoder is
    Python's, and ``json.dumps`` first holds every piece in a list (80 MB for the results
    of a 1.09 M-op run, 4,513 keys of linearizations; an hour's is 25 times that)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
