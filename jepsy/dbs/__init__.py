"""Database modules: one per database, each a DB (see ``jepsy.protocols``) with its clients.

``wait_for`` is the one readiness loop they share.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from jepsy.errors import DBError

__all__ = ["wait_for"]


def wait_for(ready: Callable[[], None], timeout: float, what: str,
             check_alive: Callable[[], None] | None = None, interval: float = 0.25) -> None:
    """Call ``ready`` until it returns without raising; ``DBError`` after ``timeout`` seconds.

    ``ready`` raises (anything) while the database is not ready yet; the last
    error is quoted in the timeout message.  ``check_alive`` (optional) raises
    ``DBError`` itself when waiting longer is pointless (the process died).
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            ready()
            return
        except Exception as e:
            last = str(e) or type(e).__name__
        if check_alive is not None:
            check_alive()
        if time.monotonic() >= deadline:
            raise DBError(f"{what} not ready after {timeout:g} s ({last})")
        time.sleep(interval)
