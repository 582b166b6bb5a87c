"""ZooKeeper from an upstream-shaped binary distribution, on lab nodes: ``version=`` from a
release mirror on 127.0.0.1 (``apache-zookeeper-X-bin.tar.gz`` and its ``.sha512`` in
``gpg --print-md`` format, as archive.apache.org publishes them) under kills, the
version read from the distribution's own jars.  The archive is assembled from the
machine's ZooKeeper jars (no internet here).  Slow (about a minute): ``pytest -m slow``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.integration.conftest import lab_running
from tests.releases import Release

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
SUBNET = "10.107.0"
VERSION = "3.8.0"


def _distribution(www: Path) -> None:
    top = f"apache-zookeeper-{VERSION}-bin"
    where = www / f"zookeeper-{VERSION}"
    where.mkdir(parents=True)
    archive = where / f"{top}.tar.gz"
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        tar.add("/usr/share/java/zookeeper.jar", f"{top}/lib/zookeeper-{VERSION}.jar")
        tar.add("/usr/share/java/slf4j-log4j12.jar", f"{top}/lib/slf4j-log4j12.jar")
        tar.add("/usr/share/java/log4j-1.2.jar", f"{top}/lib/log4j-1.2.17.jar")
        tar.add("/etc/zookeeper/conf/log4j.properties", f"{top}/conf/log4j.properties")
        script = where / "zkServer.sh"
        script.write_text("#!/bin/sh\necho 'not used by jepsy'\n")
        script.chmod(0o755)
        tar.add(str(script), f"{top}/bin/zkServer.sh")
    digest = hashlib.sha512(archive.read_bytes()).hexdigest().upper()
    groups = " ".join(digest[i:i + 8] for i in range(0, len(digest), 8))
    (where / f"{top}.tar.gz.sha512").write_text(f"{top}.tar.gz: {groups[:70]}\n{groups[70:]}\n")


@pytest.mark.slow
def test_zookeeper_version_from_a_release_mirror(tmp_path: Path) -> None:
    _distribution(tmp_path / "www")

    with Release(tmp_path / "www") as site, \
            lab_running("hd7", SUBNET, nodes=3, packages=["zookeeper"]) as lab:
        store = tmp_path / "store"
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(lab.inventory_path), "--db", "zookeeper",
             "--db-opt", f"version={VERSION}",
             "--db-opt", f"release_mirror={site.url}",
             "--db-opt", "sync=true", "--workload", "register", "--nemesis", "kill",
             "--time-limit", "12", "--nemesis-interval", "3", "--store", str(store)],
            capture_output=True, text=True, timeout=400,
            env={**os.environ, "NO_COLOR": "1", "JEPSY_CACHE_DIR": str(tmp_path / "cache")})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        info = json.loads((store / "latest" / "test.json").read_text())
        assert all(v.startswith(VERSION) for v in info["db_version"].values()), info["db_version"]
        ops = [json.loads(x) for x in (store / "latest" / "history.jsonl").read_text().splitlines()]
        assert any(op["f"] == "start-kill" and op["value"] for op in ops)
        log = (store / "latest" / "nodes" / "n1" / "zookeeper.log").read_text()
        assert "/opt/jepsy/zookeeper/" in log  # the JVM ran the uploaded distribution
