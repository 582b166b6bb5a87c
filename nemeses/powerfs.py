"""A FUSE filesystem that keeps unsynced file data in memory, so that a power loss can drop it.

This file runs on the database nodes as a program of its own (the power
nemesis uploads it with ``mfusepy``, one pure-Python module, beside it), so it
imports nothing of jepsy.  ``python3 powerfs.py mount DIR --socket S`` opens
``DIR``, then mounts itself *over* ``DIR``: the database keeps its path, and
every operation passes through to the directory underneath, reached through
the descriptor opened before the mount.  ``python3 powerfs.py ctl S drop``
asks the mounted filesystem to lose what was never synced, and prints what it
lost as JSON.

What it models, the page cache of a machine that loses power:

* ``write`` lands in memory (pages of 4 KiB per file, keyed by the backing
  file's inode, so hard links and renames keep their pending data), and reads
  see it, as they would see the page cache;
* ``fsync``/``fdatasync`` of a file writes its pages to the directory
  underneath and fsyncs it there: only then does the data survive;
* files opened ``O_SYNC``/``O_DSYNC`` write through at once;
* ``drop`` (the power loss) forgets every page that was not synced: files fall
  back to their content and size at their last fsync; until ``restore`` (the
  power back) every change fails with EIO, so that a write the dying
  database had in flight when it was killed cannot land after the loss;
* ``sync`` writes every page back, as a clean shutdown would (the nemesis
  asks for it before unmounting); libfuse's clean exit (SIGTERM) tries the
  same, but that path proved unreliable in tests, so nothing relies on it.

What it does not model: metadata (create, rename, unlink, mkdir, truncate,
chmod) is durable at once, as if every directory were fsynced; there are no
torn or reordered writes inside what was synced (a power loss keeps all of a
synced file or none of what followed its last fsync); the kernel's own
periodic writeback (about 30 s on Linux) never happens, so unsynced data lives
until the fault or the unmount.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

PAGE = 4096
_SYNC_FLAGS = os.O_SYNC | os.O_DSYNC


class _Pending:
    """The unsynced state of one file: its pages and its size as readers see it."""

    __slots__ = ("pages", "size")

    def __init__(self, size: int) -> None:
        self.pages: dict[int, bytearray] = {}
        self.size = size


class PowerLossCache:
    """The page cache in front of the backing files; independent of FUSE so it can be tested alone.

    Every method takes the backing file's descriptor (and for reads and writes
    the file's key, ``(st_dev, st_ino)``).  ``lock`` serialises everything:
    the FUSE loop and the control thread both come here.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[tuple[int, int], _Pending] = {}
        self.opener: Callable[[tuple[int, int]], int | None] = lambda key: None
        self.off = False  # between a power loss and its restore: nothing changes

    def powered(self) -> None:
        """Raises EIO while the power is off."""
        if self.off:
            raise OSError(errno.EIO, "power is off")

    @staticmethod
    def key(fd: int) -> tuple[int, int]:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino)

    def size(self, key: tuple[int, int], backing_size: int) -> int:
        p = self.files.get(key)
        return backing_size if p is None else p.size

    def _page(self, fd: int, p: _Pending, index: int) -> bytearray:
        page = p.pages.get(index)
        if page is None:
            page = bytearray(os.pread(fd, PAGE, index * PAGE))
            page.extend(bytes(PAGE - len(page)))
            p.pages[index] = page
        return page

    def write(self, fd: int, data: bytes, offset: int) -> int:
        self.powered()
        key = self.key(fd)
        p = self.files.get(key)
        if p is None:
            p = self.files[key] = _Pending(os.fstat(fd).st_size)
        pos, view = offset, memoryview(data)
        while view:
            index, start = divmod(pos, PAGE)
            n = min(PAGE - start, len(view))
            self._page(fd, p, index)[start:start + n] = view[:n]
            pos += n
            view = view[n:]
        p.size = max(p.size, offset + len(data))
        return len(data)

    def read(self, fd: int, size: int, offset: int) -> bytes:
        key = self.key(fd)
        p = self.files.get(key)
        if p is None:
            return os.pread(fd, size, offset)
        end = min(offset + size, p.size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, start = divmod(pos, PAGE)
            n = min(PAGE - start, end - pos)
            page = p.pages.get(index)
            if page is not None:
                out += page[start:start + n]
            else:
                got = os.pread(fd, n, pos)
                out += got + bytes(n - len(got))
            pos += n
        return bytes(out)

    def truncate(self, fd: int, length: int) -> None:
        """Truncation is metadata: durable at once; pending pages past it go."""
        self.powered()
        key = self.key(fd)
        p = self.files.get(key)
        if p is not None:
            for index in [i for i in p.pages if i * PAGE >= length]:
                del p.pages[index]
            index, start = divmod(length, PAGE)
            if start and index in p.pages:
                p.pages[index][start:] = bytes(PAGE - start)
            p.size = length
        os.ftruncate(fd, length)

    def sync(self, fd: int) -> int:
        """Write ``fd``'s pending pages to the backing file and fsync it; the bytes written."""
        self.powered()
        key = self.key(fd)
        p = self.files.pop(key, None)
        written = 0
        if p is not None:
            written = self._write_back(fd, p)
        os.fsync(fd)
        return written

    @staticmethod
    def _write_back(fd: int, p: _Pending) -> int:
        written = 0
        for index in sorted(p.pages):
            start = index * PAGE
            if start >= p.size:
                continue
            chunk = p.pages[index][:min(PAGE, p.size - start)]
            os.pwrite(fd, chunk, start)
            written += len(chunk)
        if os.fstat(fd).st_size < p.size:
            os.ftruncate(fd, p.size)
        return written

    def forget(self, key: tuple[int, int]) -> None:
        """The file is gone (its last name unlinked): nothing of it can be lost any more."""
        self.files.pop(key, None)

    def drop(self) -> dict[str, int]:
        """The power loss: forget every unsynced page, refuse changes until ``restore``; what was lost."""
        self.off = True
        lost = {"files": len(self.files),
                "pages": sum(len(p.pages) for p in self.files.values())}
        self.files.clear()
        return lost

    def restore(self) -> None:
        """The power is back."""
        self.off = False

    def flush_all(self) -> int:
        """Every pending page to its file, as a clean shutdown or ``sync(1)`` would; pages written.

        ``opener(key)`` (set by the filesystem) opens a backing file by its key,
        or returns None when it is gone.
        """
        pages = 0
        for key, p in list(self.files.items()):
            fd = self.opener(key)
            if fd is not None:
                try:
                    self._write_back(fd, p)
                    os.fsync(fd)
                    pages += len(p.pages)
                finally:
                    os.close(fd)
        self.files.clear()
        return pages


def _operations(root: int, cache: PowerLossCache) -> Any:
    import mfusepy

    def rel(path: str) -> str:
        return path.lstrip("/") or "."

    def owned(path: str) -> None:
        uid, gid, _ = mfusepy.fuse_get_context()
        os.chown(rel(path), uid, gid, dir_fd=root, follow_symlinks=False)

    class Ops(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self) -> None:
            self.mounted = False
            self.fds: dict[int, tuple[int, tuple[int, int]]] = {}  # fh -> (open flags, key)
            self.keyed: dict[tuple[int, int], str] = {}  # key -> a path, for the final flush

        def init(self, path: str) -> None:
            self.mounted = True

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            st = os.fstat(fh) if fh is not None else os.stat(rel(path), dir_fd=root,
                                                              follow_symlinks=False)
            attrs = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid",
                                                 "st_size", "st_atime_ns", "st_mtime_ns",
                                                 "st_ctime_ns", "st_ino", "st_blocks", "st_blksize")}
            for k in ("st_atime", "st_mtime", "st_ctime"):
                attrs[k] = attrs.pop(k + "_ns")
            with cache.lock:
                attrs["st_size"] = cache.size((st.st_dev, st.st_ino), st.st_size)
            return attrs

        def readdir(self, path: str, fh: int) -> list[str]:
            fd = os.open(rel(path), os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
            try:
                return [".", "..", *os.listdir(fd)]
            finally:
                os.close(fd)

        def readlink(self, path: str) -> str:
            return os.readlink(rel(path), dir_fd=root)

        def mknod(self, path: str, mode: int, dev: int) -> None:
            cache.powered()
            os.mknod(rel(path), mode, dev, dir_fd=root)
            owned(path)

        def mkdir(self, path: str, mode: int) -> None:
            cache.powered()
            os.mkdir(rel(path), mode, dir_fd=root)
            owned(path)

        def unlink(self, path: str) -> None:
            cache.powered()
            st = os.stat(rel(path), dir_fd=root, follow_symlinks=False)
            os.unlink(rel(path), dir_fd=root)
            if st.st_nlink <= 1:
                with cache.lock:
                    cache.forget((st.st_dev, st.st_ino))

        def rmdir(self, path: str) -> None:
            cache.powered()
            os.rmdir(rel(path), dir_fd=root)

        def symlink(self, target: str, source: str) -> None:
            cache.powered()
            os.symlink(source, rel(target), dir_fd=root)
            owned(target)

        def rename(self, old: str, new: str) -> None:
            cache.powered()
            os.rename(rel(old), rel(new), src_dir_fd=root, dst_dir_fd=root)

        def link(self, target: str, source: str) -> None:
            cache.powered()
            os.link(rel(source), rel(target), src_dir_fd=root, dst_dir_fd=root)

        def chmod(self, path: str, mode: int) -> None:
            cache.powered()
            os.chmod(rel(path), mode, dir_fd=root)

        def chown(self, path: str, uid: int, gid: int) -> None:
            cache.powered()
            os.chown(rel(path), uid, gid, dir_fd=root, follow_symlinks=False)

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> None:
            cache.powered()
            if times is None:
                os.utime(rel(path), dir_fd=root, follow_symlinks=False)
            else:
                os.utime(rel(path), ns=times, dir_fd=root, follow_symlinks=False)

        def truncate(self, path: str, length: int, fh: int | None = None) -> None:
            fd = fh if fh is not None else os.open(rel(path), os.O_WRONLY, dir_fd=root)
            try:
                with cache.lock:
                    cache.truncate(fd, length)
            finally:
                if fh is None:
                    os.close(fd)

        def _opened(self, fd: int, flags: int, path: str) -> int:
            key = PowerLossCache.key(fd)
            self.fds[fd] = (flags, key)
            self.keyed[key] = path
            return fd

        def open(self, path: str, flags: int) -> int:
            # The kernel may hand O_WRONLY to a file we must also read pages of.
            acc = os.O_RDWR if flags & os.O_ACCMODE != os.O_RDONLY else os.O_RDONLY
            fd = os.open(rel(path), acc, dir_fd=root)
            if flags & os.O_TRUNC:  # through the cache, or its pending pages would come back
                try:
                    with cache.lock:
                        cache.truncate(fd, 0)
                except OSError:
                    os.close(fd)
                    raise
            return self._opened(fd, flags, path)

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            cache.powered()
            fd = os.open(rel(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode, dir_fd=root)
            owned(path)
            return self._opened(fd, fi if isinstance(fi, int) else 0, path)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            with cache.lock:
                return cache.read(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            flags = self.fds.get(fh, (0, (0, 0)))[0]
            with cache.lock:
                n = cache.write(fh, data, offset)
                if flags & _SYNC_FLAGS:
                    cache.sync(fh)
            return n

        def fsync(self, path: str, datasync: int, fh: int) -> None:
            with cache.lock:
                cache.sync(fh)

        def flush(self, path: str, fh: int) -> None:
            """close() is not a sync: nothing reaches the disk here."""

        def release(self, path: str, fh: int) -> None:
            self.fds.pop(fh, None)
            os.close(fh)

        def fsyncdir(self, path: str, datasync: int, fh: int) -> None:
            """Metadata is durable at once in this model."""

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(root)
            return {k: getattr(st, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree",
                                                "f_bavail", "f_files", "f_ffree", "f_favail",
                                                "f_flag", "f_namemax")}

        def access(self, path: str, amode: int) -> None:
            os.stat(rel(path), dir_fd=root, follow_symlinks=False)

        def reopen(self, key: tuple[int, int]) -> int | None:
            """A new descriptor of the backing file ``key``: a dup of an open one, else by its last path."""
            for fh, (_, k) in self.fds.items():
                if k == key:
                    return os.dup(fh)
            name = self.keyed.get(key)
            try:
                fd = os.open(rel(name), os.O_RDWR, dir_fd=root) if name else None
            except OSError:
                return None
            if fd is not None and PowerLossCache.key(fd) != key:
                os.close(fd)
                return None
            return fd

        def destroy(self, path: str) -> None:
            with cache.lock:
                cache.flush_all()

    ops = Ops()
    cache.opener = ops.reopen
    return ops


def _serve_control(path: str, cache: PowerLossCache) -> None:
    """One request a connection: ``drop``, ``restore``, ``sync`` or ``stats`` (pending files and
    pages, and ``off``: whether the power is off); the answer is a JSON line."""
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(4)

    def loop() -> None:
        while True:
            conn, _ = srv.accept()
            with conn:
                req = conn.recv(64).decode().strip()
                with cache.lock:
                    if req == "drop":
                        answer: dict[str, Any] = {"dropped": cache.drop()}
                    elif req == "restore":
                        cache.restore()
                        answer = {"restored": True}
                    elif req == "sync":
                        answer = {"synced": {"pages": cache.flush_all()}}
                    elif req == "stats":
                        answer = {"files": len(cache.files), "off": cache.off,
                                  "pages": sum(len(p.pages) for p in cache.files.values())}
                    else:
                        answer = {"error": f"unknown request {req!r}"}
                conn.sendall((json.dumps(answer) + "\n").encode())

    threading.Thread(target=loop, name="control", daemon=True).start()


mounted: list[Any] = [None]


def mount(directory: str, control: str) -> None:
    """Mount over ``directory`` in the foreground until unmounted (SIGTERM unmounts cleanly)."""
    import mfusepy

    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    cache = PowerLossCache()
    _serve_control(control, cache)
    ops = _operations(root, cache)
    mounted[0] = ops
    # A timeout of 0 for attributes and names: after a drop, sizes shrink under the kernel's feet.
    mfusepy.FUSE(ops, directory, foreground=True, nothreads=True, allow_other=True,
                 default_permissions=True, attr_timeout=0, entry_timeout=0, negative_timeout=0,
                 fsname="jepsy-power", subtype="jepsy-power")


def control(path: str, request: str) -> int:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    try:
        conn.connect(path)
        conn.sendall(request.encode() + b"\n")
        answer = conn.makefile().readline()
    except OSError as e:
        print(json.dumps({"error": f"{path}: {e.strerror or e}"}))
        return 1
    finally:
        conn.close()
    print(answer.strip())
    return 0 if answer and "error" not in json.loads(answer) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="powerfs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mount", help="mount over DIR (foreground)")
    m.add_argument("directory")
    m.add_argument("--socket", required=True, help="the control socket to create")
    c = sub.add_parser("ctl", help="send a request to a mounted filesystem")
    c.add_argument("socket")
    c.add_argument("request", choices=["drop", "restore", "sync", "stats"])
    args = parser.parse_args(argv)
    if args.cmd == "ctl":
        return control(args.socket, args.request)
    try:
        mount(args.directory, args.socket)
    except RuntimeError as e:
        # libfuse returns non-zero when a signal ended its loop, too: only a
        # filesystem that never got mounted is an error.
        if mounted[0] is None or not mounted[0].mounted:
            print(f"powerfs: mounting over {args.directory} failed ({e})", file=sys.stderr)
            return errno.EIO
    return 0


if __name__ == "__main__":
    sys.exit(main())
