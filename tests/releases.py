"""A release site on 127.0.0.1 for the build tests: archives made here, served from a
directory by a local HTTP server that counts what it was asked for.

Shared by the unit tests of ``jepsy.dbs.build`` and the lab tests of ``version=``
(etcd and ZooKeeper), so that each builds only its own release's files.
"""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from pathlib import Path

__all__ = ["Release", "make_tar"]


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A gzipped tarball at ``path`` holding ``members`` (name -> bytes), all executable."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


class Release:
    """Serves ``root`` on 127.0.0.1 (``url``) until ``close``; ``requests`` lists the paths
    asked for, in order.  A context manager: ``with Release(root) as site: ...``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        release = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: object, **kw: object) -> None:
                super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                release.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Release:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
