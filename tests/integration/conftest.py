"""Lab fixtures for integration tests: every lab built here is torn down, also on failure.

Each test module uses its own lab name, directory and subnet, so labs of
different modules (and a developer's own ``jepsy`` lab) never collide.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jepsy.lab import Lab
from tests.conftest import require_root


@contextmanager
def lab_running(name: str, subnet: str, nodes: int = 3,
                packages: list[str] | None = None) -> Iterator[Lab]:
    """A fresh lab for the duration of the block; ``down`` runs whatever happens inside."""
    require_root()
    lab = Lab(name=name, dir=Path(f"/srv/jepsy-lab-{name}"), subnet=subnet, host_names=False)
    lab.down()  # a crashed earlier run may have left it behind
    try:
        lab.up(nodes, packages)
        yield lab
    finally:
        lab.down()
        left = lab.leftovers()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a test lab's key is not worth keeping
    assert left == [], f"lab {name} left behind: {left}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
