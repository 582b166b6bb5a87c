"""The power-loss page cache without FUSE: writes stay in memory until fsync, a drop loses them."""

from __future__ import annotations

import os
from pathlib import Path

from jepsy.nemeses.powerfs import PAGE, PowerLossCache


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def test_unsynced_writes_are_read_back_but_not_on_disk(tmp_path: Path) -> None:
    cache, f = PowerLossCache(), tmp_path / "f"
    fd = _open(f)
    cache.write(fd, b"hello", 0)
    assert cache.read(fd, 100, 0) == b"hello"
    assert cache.size(cache.key(fd), 0) == 5
    assert f.read_bytes() == b""
    cache.sync(fd)
    assert f.read_bytes() == b"hello"
    os.close(fd)


def test_drop_keeps_exactly_what_was_synced(tmp_path: Path) -> None:
    cache, f = PowerLossCache(), tmp_path / "f"
    fd = _open(f)
    synced = b"a" * (PAGE + 100)
    cache.write(fd, synced, 0)
    cache.sync(fd)
    cache.write(fd, b"b" * 3 * PAGE, len(synced))  # spans the synced file's last page
    cache.write(fd, b"c" * 10, 50)  # overwrites synced bytes in memory only
    assert cache.read(fd, 60, 0) == b"a" * 50 + b"c" * 10
    lost = cache.drop()
    assert lost == {"files": 1, "pages": 5}  # pages 1 to 4, and page 0 of the overwrite
    assert cache.read(fd, 10 * PAGE, 0) == synced
    assert f.read_bytes() == synced
    os.close(fd)


def test_truncate_is_durable_and_cuts_pending_pages(tmp_path: Path) -> None:
    cache, f = PowerLossCache(), tmp_path / "f"
    fd = _open(f)
    cache.write(fd, b"x" * 3 * PAGE, 0)
    cache.truncate(fd, PAGE + 10)
    assert cache.read(fd, 10 * PAGE, 0) == b"x" * (PAGE + 10)
    cache.write(fd, b"y", PAGE + 20)  # a hole of zeros between
    assert cache.read(fd, 100, PAGE) == b"x" * 10 + bytes(10) + b"y"
    cache.sync(fd)
    assert f.read_bytes() == b"x" * (PAGE + 10) + bytes(10) + b"y"
    os.close(fd)


def test_flush_all_writes_every_pending_page(tmp_path: Path) -> None:
    cache = PowerLossCache()
    fds = {name: _open(tmp_path / name) for name in ("a", "b")}
    for name, fd in fds.items():
        cache.write(fd, name.encode() * 10, 0)
    cache.opener = lambda key: next((os.dup(fd) for fd in fds.values() if cache.key(fd) == key), None)
    assert cache.flush_all() == 2
    assert (tmp_path / "a").read_bytes() == b"a" * 10
    assert (tmp_path / "b").read_bytes() == b"b" * 10
    assert cache.drop() == {"files": 0, "pages": 0}
    for fd in fds.values():
        os.close(fd)


def test_nothing_changes_between_the_loss_and_the_restore(tmp_path: Path) -> None:
    import errno

    import pytest

    cache, f = PowerLossCache(), tmp_path / "f"
    fd = _open(f)
    cache.write(fd, b"kept", 0)
    cache.sync(fd)
    cache.drop()
    for change in (lambda: cache.write(fd, b"late", 4), lambda: cache.sync(fd),
                   lambda: cache.truncate(fd, 0)):
        with pytest.raises(OSError) as e:
            change()
        assert e.value.errno == errno.EIO
    cache.restore()
    cache.write(fd, b"!", 4)
    assert cache.read(fd, 10, 0) == b"kept!"
    os.close(fd)
