"""Bring-your-own programs onto nodes: upload a file or a whole directory, and say plainly
when a script's ``#!`` interpreter is missing there.

Shared by ``--db process`` and ``--db maelstrom``.  A directory travels as one
gzipped tarball (made once per run, unpacked on each node), so a program of
several files, or one that carries its own libraries, arrives whole.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import string
import tarfile
import tempfile
from collections.abc import Collection

from jepsy.control import sh
from jepsy.errors import ConfigError

__all__ = ["bundle", "check_template", "first_program", "interpreter", "interpreter_check"]


def bundle(entries: dict[str, str]) -> str:
    """A temporary ``.tgz`` holding each local path (file or directory) under its name."""
    fd, path = tempfile.mkstemp(prefix="jepsy-bin-", suffix=".tgz")
    os.close(fd)
    atexit.register(_remove, path)  # a copy of the user's program is not left in /tmp
    with tarfile.open(path, "w:gz") as tar:
        for arcname, local in entries.items():
            tar.add(local, arcname=arcname)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def first_program(cmd: str, local_bin: str) -> str | None:
    """The local file ``cmd`` runs first when it starts with ``{bin}`` or ``{bin}/...``
    (whose ``#!`` line is worth checking), else None."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    first = words[0] if words else ""
    if first == "{bin}":
        return local_bin
    if first.startswith("{bin}/"):
        return local_bin + first[len("{bin}"):]
    return None


def interpreter(path: str) -> str | None:
    """The ``#!`` line of local file ``path`` (without ``#!``), or None."""
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    return first[2:].decode(errors="replace").strip() or None


def interpreter_check(path: str) -> str | None:
    """A shell test that passes iff the ``#!`` interpreter of local file ``path`` exists on
    a node (``/usr/bin/env NAME`` looks NAME up on the PATH); None for files without one."""
    line = interpreter(path)
    if line is None:
        return None
    words = line.split()
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        name = next((w for w in words[1:] if not w.startswith("-") and "=" not in w), None)
        return f"command -v {sh(name)} >/dev/null" if name else None
    return f"[ -x {sh(words[0])} ]"


def check_template(cmd: str, placeholders: Collection[str], flag: str) -> None:
    """``ConfigError`` (one line naming ``flag``) unless ``cmd`` is a valid template whose
    every ``{placeholder}`` is one of ``placeholders``."""
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(cmd) if f is not None}
    except ValueError as e:
        raise ConfigError(f"{flag} {cmd!r}: {e}") from None
    unknown = sorted(used - set(placeholders))
    if unknown:
        raise ConfigError(f"{flag}: unknown placeholder {{{unknown[0]}}}; "
                          f"known: {', '.join('{' + p + '}' for p in sorted(placeholders))}")
