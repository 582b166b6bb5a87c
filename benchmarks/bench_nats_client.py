"""What jepsy's thread-to-asyncio bridge costs a nats-py client, on one local JetStream server.

nats-py (nats-io's client, the one Python client with JetStream and key-value
buckets) is asyncio-only; jepsy's workers are threads, so every NATS client
of ``jepsy.dbs.nats_clients`` runs its own event loop in a thread and each
operation crosses over with ``run_coroutine_threadsafe``.  This prints, side
by side in one run, acknowledged publishes per second and key-value
compare-and-sets per second from one worker:

* ``asyncio``: awaited directly in one coroutine (no bridge: the floor);
* ``bridge``: through ``_Loop.run``, exactly as a jepsy worker calls them.

It starts a single ``nats-server -js`` on 127.0.0.1 (a free port, a temporary
store directory), and ends it by its PID.

    .venv/bin/python benchmarks/bench_nats_client.py [--ops 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jepsy.dbs.nats_clients import _Loop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nats-server did not listen on {port}")


async def setup(url: str) -> None:
    import nats
    from nats.js.api import KeyValueConfig, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="bench", subjects=["bench.log"]))
    await js.create_key_value(KeyValueConfig(bucket="bench"))
    await nc.close()


def ops(js: Any, kv: Any) -> dict[str, Callable[[int], Awaitable[Any]]]:
    async def publish(i: int) -> Any:
        return await js.publish("bench.log", str(i).encode())

    async def cas(i: int) -> Any:
        entry = await kv.get("k")
        return await kv.update("k", str(i).encode(), last=entry.revision)

    return {"publish": publish, "cas": cas}


async def handles(url: str) -> tuple[Any, Any, Any]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    kv = await js.key_value("bench")
    await kv.put("k", b"0")
    return nc, js, kv


def direct(url: str, name: str, n: int) -> float:
    async def main() -> float:
        nc, js, kv = await handles(url)
        op = ops(js, kv)[name]
        start = time.perf_counter()
        for i in range(n):
            await op(i)
        took = time.perf_counter() - start
        await nc.close()
        return n / took

    return asyncio.run(main())


def bridged(url: str, name: str, n: int) -> float:
    loop = _Loop(url, 5.0)
    try:
        nc, js, kv = loop.run(lambda: handles(url))
        loop.nc = nc  # closed with the loop
        op = ops(js, kv)[name]
        start = time.perf_counter()
        for i in range(n):
            loop.run(lambda i=i: op(i))  # type: ignore[misc]
        return n / (time.perf_counter() - start)
    finally:
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="jepsy-bench-nats-") as store:
        server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js",
                                   "-sd", store], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            url = f"nats://127.0.0.1:{port}"
            asyncio.run(setup(url))
            print(f"{'operation':<10} {'asyncio ops/s':>14} {'bridge ops/s':>13} {'ratio':>6}"
                  f"   (median of {args.repeat}, {args.ops} ops each, one worker)")
            for name in ("publish", "cas"):
                a, b = [], []
                for _ in range(args.repeat):  # alternate, so that load drifts hit both
                    a.append(direct(url, name, args.ops))
                    b.append(bridged(url, name, args.ops))
                ma, mb = statistics.median(a), statistics.median(b)
                print(f"{name:<10} {ma:>14,.0f} {mb:>13,.0f} {mb / ma:>6.2f}")
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
