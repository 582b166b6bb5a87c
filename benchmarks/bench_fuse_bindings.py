"""Per-operation cost of the two Python FUSE bindings: mfusepy (ctypes, libfuse's high-level loop) and
pyfuse3 (Cython, low-level API, trio).

Each binding mounts the same minimal filesystem (one file that accepts writes and discards them),
and this machine writes to it in 4 KiB writes, then in fsyncs, timing both.  That is the path a
database's log takes through the power-loss filesystem, without its page cache, so the figures
compare the bindings alone.  Needs root and /dev/fuse; a binding that is not installed is skipped
(pyfuse3 needs libfuse3-dev and a compiler: ``pip install pyfuse3``).

    sudo .venv/bin/python benchmarks/bench_fuse_bindings.py [--writes 20000]
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MFUSEPY_FS = r'''
import os, stat, sys, mfusepy
class Ops(mfusepy.Operations):
    use_ns = True
    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path == "/f":
            return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": 0}
        raise mfusepy.FuseOSError(2)
    def readdir(self, path, fh):
        return [".", "..", "f"]
    def open(self, path, flags):
        return 1
    def write(self, path, data, offset, fh):
        return len(data)
    def fsync(self, path, datasync, fh):
        return 0
    def truncate(self, path, length, fh=None):
        return 0
mfusepy.FUSE(Ops(), sys.argv[1], foreground=True, nothreads=True)
'''

PYFUSE3_FS = r'''
import errno, os, stat, sys, pyfuse3, trio
class Ops(pyfuse3.Operations):
    async def getattr(self, inode, ctx=None):
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        if inode == pyfuse3.ROOT_INODE:
            a.st_mode, a.st_nlink = stat.S_IFDIR | 0o755, 2
        elif inode == 2:
            a.st_mode, a.st_nlink, a.st_size = stat.S_IFREG | 0o644, 1, 0
        else:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return a
    async def lookup(self, parent, name, ctx=None):
        if parent == pyfuse3.ROOT_INODE and name == b"f":
            return await self.getattr(2)
        raise pyfuse3.FUSEError(errno.ENOENT)
    async def opendir(self, inode, ctx):
        return inode
    async def readdir(self, fh, start_id, token):
        if start_id == 0:
            pyfuse3.readdir_reply(token, b"f", await self.getattr(2), 1)
    async def open(self, inode, flags, ctx):
        return pyfuse3.FileInfo(fh=inode)
    async def write(self, fh, off, buf):
        return len(buf)
    async def fsync(self, fh, datasync):
        pass
    async def setattr(self, inode, attr, fields, fh, ctx):
        return await self.getattr(inode)
opts = set(pyfuse3.default_options)
pyfuse3.init(Ops(), sys.argv[1], opts)
try:
    trio.run(pyfuse3.main)
finally:
    pyfuse3.close()
'''


def measure(name: str, source: str, writes: int) -> tuple[float, float] | None:
    module = name.split("-")[0]
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    if probe.returncode != 0:
        print(f"{name:10s} not installed: skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        mnt = Path(tmp)
        fs = subprocess.Popen([sys.executable, "-c", source, str(mnt)])
        try:
            deadline = time.monotonic() + 10
            while not (mnt / "f").exists():
                if time.monotonic() > deadline or fs.poll() is not None:
                    print(f"{name:10s} did not mount")
                    return None
                time.sleep(0.05)
            fd = os.open(mnt / "f", os.O_WRONLY)
            block = b"x" * 4096
            t0 = time.perf_counter()
            for i in range(writes):
                os.pwrite(fd, block, i * 4096)
            t1 = time.perf_counter()
            for _ in range(writes // 10):
                os.fsync(fd)
            t2 = time.perf_counter()
            os.close(fd)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], check=False)
            fs.terminate()
            fs.wait(timeout=10)
    return writes / (t1 - t0), (writes // 10) / (t2 - t1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20000)
    args = parser.parse_args()
    if os.geteuid() != 0 or not stat.S_ISCHR(os.stat("/dev/fuse").st_mode):
        sys.exit("bench_fuse_bindings: needs root and /dev/fuse")
    print(f"{'binding':10s} {'4 KiB writes/s':>15s} {'fsyncs/s':>10s}")
    for name, source in (("mfusepy", MFUSEPY_FS), ("pyfuse3", PYFUSE3_FS)):
        got = measure(name, source, args.writes)
        if got is not None:
            print(f"{name:10s} {got[0]:15,.0f} {got[1]:10,.0f}")


if __name__ == "__main__":
    main()
