"""Which build runs (``jepsy.dbs.build``): options checked on the control machine, releases
downloaded from an HTTP server on 127.0.0.1 with their checksum verified and cached, and
the upload/unpack/version check sent to a node (on a FakeRemote; the lab tests run them)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepsy import options, registry
from jepsy.dbs.build import DEPLOY_OPTIONS, BuildSpec, install, resolve
from jepsy.dbs.etcd import SPEC, EtcdDB, ExistingEtcd, etcd_db
from jepsy.doubles import FakeRemote
from jepsy.errors import ConfigError, DBError
from jepsy.inventory import Node
from jepsy.protocols import Test
from tests.releases import Release, make_tar

WRAPPER = b"#!/bin/sh\necho 'etcd Version: 3.4.99'\n"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JEPSY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Release]:
    root = tmp_path / "www" / "v3.4.99"
    root.mkdir(parents=True)
    archive = make_tar(root / "etcd-v3.4.99-linux-amd64.tar.gz",
                       {"etcd-v3.4.99-linux-amd64/etcd": WRAPPER,
                        "etcd-v3.4.99-linux-amd64/etcdctl": WRAPPER})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (root / "SHA256SUMS").write_text(f"{'0' * 64}  etcd-v3.4.99-darwin-amd64.zip\n"
                                     f"{digest}  etcd-v3.4.99-linux-amd64.tar.gz\n")
    with Release(tmp_path / "www") as r:
        yield r


def test_version_downloads_verifies_and_caches(release: Release, cache: Path) -> None:
    opts = {"version": "3.4.99", "release_mirror": release.url}
    build = resolve(SPEC, opts)
    assert build is not None and build.program == "etcd-v3.4.99-linux-amd64/etcd"
    assert build.archive == cache / "etcd" / "3.4.99" / "etcd-v3.4.99-linux-amd64.tar.gz"
    assert sorted(release.requests) == ["/v3.4.99/SHA256SUMS", "/v3.4.99/etcd-v3.4.99-linux-amd64.tar.gz"]
    again = resolve(SPEC, opts)
    assert again == build and len(release.requests) == 2  # the second run uploads from the cache


def test_version_refuses_an_archive_that_does_not_match_its_checksum(release: Release,
                                                                    cache: Path) -> None:
    (release.root / "v3.4.99" / "SHA256SUMS").write_text(
        f"{'ab' * 32}  etcd-v3.4.99-linux-amd64.tar.gz\n")
    with pytest.raises(ConfigError, match="does not match its published sha256 checksum"):
        resolve(SPEC, {"version": "3.4.99", "release_mirror": release.url})
    assert not list((cache / "etcd" / "3.4.99").glob("*.tar.gz"))  # nothing unverified is cached


def test_version_that_is_not_published(release: Release) -> None:
    with pytest.raises(ConfigError, match=r"version=9\.9\.9: cannot download .*SHA256SUMS"):
        resolve(SPEC, {"version": "9.9.9", "release_mirror": release.url})
    with pytest.raises(ConfigError, match="not a version number"):
        resolve(SPEC, {"version": "../x", "release_mirror": release.url})


def test_tarball_must_hold_the_program(tmp_path: Path, release: Release) -> None:
    good = make_tar(tmp_path / "mine.tar.gz", {"./build/bin/etcd": WRAPPER, "./README": b"hi"})
    build = resolve(SPEC, {"tarball": str(good)})
    assert build is not None and build.program == "build/bin/etcd" and build.unpack == "tar"
    bad = make_tar(tmp_path / "bad.tar.gz", {"build/bin/etcdctl": WRAPPER})
    with pytest.raises(ConfigError, match=r"tarball=.*bad.tar.gz: the archive has no 'etcd'"):
        resolve(SPEC, {"tarball": str(bad)})
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(ConfigError, match="not a tar archive"):
        resolve(SPEC, {"tarball": str(junk)})
    by_url = resolve(SPEC, {"tarball": f"{release.url}/v3.4.99/etcd-v3.4.99-linux-amd64.tar.gz"})
    assert by_url is not None and by_url.program == "etcd-v3.4.99-linux-amd64/etcd"


def test_binary_file_or_build_directory(tmp_path: Path) -> None:
    exe = tmp_path / "etcd-custom"
    exe.write_bytes(WRAPPER)
    exe.chmod(0o755)
    build = resolve(SPEC, {"binary": str(exe)})
    assert build is not None and build.program == "etcd" and build.unpack == "copy"
    exe.chmod(0o644)
    with pytest.raises(ConfigError, match="not executable"):
        resolve(SPEC, {"binary": str(exe)})
    tree = tmp_path / "out"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "etcd").write_bytes(WRAPPER)
    (tree / "bin" / "etcd").chmod(0o755)
    build = resolve(SPEC, {"binary": str(tree)})
    assert build is not None and build.program == "bin/etcd" and build.unpack == "tar"
    with tarfile.open(build.archive) as tar:
        assert "./bin/etcd" in tar.getnames()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no executable 'etcd' in that directory"):
        resolve(SPEC, {"binary": str(tmp_path / "empty")})


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb needed")
def test_package_is_read_with_dpkg_deb(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: etcd-custom\nVersion: 3.4.99\nArchitecture: amd64\nMaintainer: t <t@t>\n"
        "Description: test\n")
    (root / "etc" / "default").mkdir(parents=True)
    (root / "etc" / "default" / "etcd").write_text("ETCD_NAME=x\n")  # not the program
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "etcd").write_bytes(WRAPPER)
    (root / "usr" / "bin" / "etcd").chmod(0o755)
    deb = tmp_path / "etcd.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True)
    build = resolve(SPEC, {"package": str(deb)})
    assert build is not None and build.program == "usr/bin/etcd" and build.unpack == "deb"
    with pytest.raises(ConfigError, match="not a Debian package"):
        resolve(SPEC, {"package": str(tmp_path / "pkg" / "DEBIAN" / "control")})


def test_conflicting_or_unsupported_options() -> None:
    with pytest.raises(ConfigError, match=r"existing=true .* binary= would replace it"):
        etcd_db({"existing": True, "binary": "/usr/bin/etcd"})
    with pytest.raises(ConfigError, match=r"give one of .*got binary=, tarball="):
        resolve(SPEC, {"binary": "/usr/bin/etcd", "tarball": "/x.tar.gz"})
    with pytest.raises(ConfigError, match="no such file"):
        resolve(SPEC, {"binary": "/nonexistent/etcd"})
    only_binary = BuildSpec("redis", "redis-server", "{program} --version", kinds=("binary",))
    with pytest.raises(ConfigError, match=r"redis: cannot honour version= \(it takes binary=\)"):
        resolve(only_binary, {"version": "7.2.4"})
    assert resolve(SPEC, {}) is None
    assert isinstance(etcd_db({}), EtcdDB) and isinstance(etcd_db({"existing": "true"}), ExistingEtcd)


def test_install_uploads_unpacks_once_and_runs_the_version(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "b.tar.gz", {"b/etcd": WRAPPER})
    build = resolve(SPEC, {"tarball": str(archive)})
    assert build is not None
    done: set[str] = set()

    def handler(node: str, command: str) -> tuple[int, str, str] | None:
        if command.startswith("[ -f ") and "jepsy-complete" in command:
            return (0 if node in done else 1, "", "")
        if "touch" in command:
            done.add(node)
        if "--version" in command:
            return (0, "etcd Version: 3.4.99\n", "") if node == "n1" else (
                126, "", "sh: 1: /opt/jepsy/etcd/x/b/etcd: Exec format error\n")
        return None

    remote = FakeRemote(handler)
    test = Test(name="t", nodes=["n1", "n2"], node_specs={n: Node(n, n) for n in ("n1", "n2")},
                remote=remote)
    got = install(test, "n1", SPEC, build)
    assert got.program == f"/opt/jepsy/etcd/{build.digest[:16]}/b/etcd"
    assert any("tar -xf" in c for c in remote.on("n1")) and len(remote.uploads) == 1
    install(test, "n1", SPEC, build)
    assert len(remote.uploads) == 1  # unpacked once per node
    with pytest.raises(DBError, match=r"n2: tarball=.* does not run there .*Exec format error"):
        install(test, "n2", SPEC, build)


def test_every_declared_database_takes_the_deploy_options() -> None:
    """A module that declares its options must include ``*DEPLOY_OPTIONS`` (or the
    build options would be refused as unknown keys)."""
    names = {o.name for o in DEPLOY_OPTIONS}
    for db in ("etcd", "redis", "zookeeper", "postgres", "postgres-replicated", "galera"):
        table = options.declared(registry.load("dbs", db))
        if table is not None:
            assert names <= set(table), f"{db} does not declare {sorted(names - set(table))}"


def test_checksum_files_in_both_published_formats() -> None:
    from jepsy.dbs.build import _checksum

    hexes = "AB12" * 32
    gpg = f"apache-zookeeper-3.8.4-bin.tar.gz: {' '.join(hexes[i:i + 8] for i in range(0, 128, 8))}"
    assert _checksum(gpg[:60] + "\n" + gpg[60:], "apache-zookeeper-3.8.4-bin.tar.gz") == hexes.lower()
    assert _checksum(f"{'c' * 64}  *etcd.tar.gz\n", "etcd.tar.gz") == "c" * 64
    assert _checksum(f"{'d' * 64}\n", "anything.tar.gz") == "d" * 64
    with pytest.raises(ValueError):
        _checksum(f"{'c' * 64}  other.tar.gz\n", "etcd.tar.gz")

