"""Shared test setup: tests never touch the developer's own SSH environment.

Every test runs with HOME pointing at an empty directory (so ``~/.ssh/config``
and ``~/.ssh/known_hosts`` of the machine are invisible to fabric and paramiko)
and without an SSH agent.  ``DATA`` is where the public corpora the tests use live:
``tests/data`` in the repository (where each came from, and its licence, is in
``tests/data/README.md``), so a plain clone tests itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


@pytest.fixture(autouse=True)
def _isolated_ssh_env(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("SSH_AGENT_PID", raising=False)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (the local lab uses namespaces, bridges and mounts)")


@pytest.fixture
def run_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store"
    yield store


def _engines() -> list[Any]:
    from jepsy.checkers.linear import native as linear_native

    skip = pytest.mark.skip(reason="the compiled search is not built (no C compiler at install)")
    return [pytest.param("c", marks=() if linear_native.AVAILABLE else skip), "python"]


@pytest.fixture(scope="module", params=_engines())
def linear_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a module's linearizability tests once per search engine (``JEPSY_LINEAR_ENGINE``).

    Module-scoped, so that hypothesis tests may use it; ``pytestmark =
    pytest.mark.usefixtures("linear_engine")`` opts a module in.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JEPSY_LINEAR_ENGINE", request.param)
        yield request.param
