"""Benchmark jepsy's Maelstrom router: messages per second between 5 lab nodes, and the
latency of one hop, program to program.

    sudo .venv/bin/python benchmarks/bench_maelstrom.py [--nodes 5] [--messages 20000]
                                                        [--pings 2000]

Brings up its own lab (``hm9``, 10.129.0.0/24; torn down at the end, also on
failure), starts ``--db maelstrom`` with ``benchmarks/maelstrom_bench_node.py``
on every node, then

* throughput: every node is asked at once to send ``--messages`` messages,
  round-robin to the others; the figure is all messages delivered (counted by
  the receivers) over the time from the first request to the last delivery;
* latency: n1 pings n2 ``--pings`` times, one at a time; a round trip is two
  hops (program, router, TCP, router, program, and back), so one hop is half
  a round trip.  It includes the programs' own JSON work and the veth network,
  so it bounds the router's added latency from above.  A raw TCP round trip
  between the same two nodes (no router, no JSON) is measured too, for scale.

Targets (issue 14): at least 5,000 messages/s, and under 1 ms p50 per hop.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import socket
import statistics
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def rpc(host: str, port: int, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(json.dumps({"body": {**body, "msg_id": 1}}).encode() + b"\n")
        got: dict[str, Any] = json.loads(s.makefile("rb").readline())["body"]
        return got


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def raw_rtt(test: Any, a: str, b: str, n: int) -> list[float]:
    """Round trips of a bare TCP echo between ``a`` and ``b`` (python3 on both, no router)."""
    r = test.remote
    server = ("import socket;s=socket.create_server(('0.0.0.0',8099));c,_=s.accept();"
              "c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
              "while True:\n d=c.recv(64)\n if not d: break\n c.sendall(d)")
    client = (f"import socket,time,json;c=socket.create_connection(('{test.address(b)}',8099));"
              "c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1);o=[]\n"
              f"for i in range({n}):\n t=time.perf_counter();c.sendall(b'x');c.recv(64);"
              "o.append((time.perf_counter()-t)*1e6)\nprint(json.dumps(o))")
    r.execute(b, f"setsid python3 -c {shlex.quote(server)} >/dev/null 2>&1 < /dev/null &", sudo=True)
    time.sleep(0.5)
    got = r.execute(a, f"python3 -c {shlex.quote(client)}", sudo=True, timeout=120)
    return [float(x) for x in json.loads(got.stdout)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--messages", type=int, default=20000, help="per node")
    p.add_argument("--pings", type=int, default=2000)
    a = p.parse_args()

    import random

    from jepsy.control import SSHRemote, on_nodes
    from jepsy.dbs.maelstrom import MaelstromDB
    from jepsy.inventory import load
    from jepsy.lab import Lab
    from jepsy.protocols import Test

    lab = Lab(name="hm9", dir=Path("/srv/jepsy-lab-hm9"), subnet="10.129.0", host_names=False)
    lab.down()
    try:
        lab.up(a.nodes, None)
        nodes = load(str(lab.inventory_path))
        remote = SSHRemote(nodes)
        test = Test(name="bench", nodes=[n.name for n in nodes], node_specs={n.name: n for n in nodes},
                    remote=remote, opts={"seed": 1}, rng=random.Random(1))
        db = MaelstromDB({"bin": str(HERE / "maelstrom_bench_node.py")})
        on_nodes(test.nodes, lambda n: db.setup(test, n))
        hosts = {n: test.address(n) for n in test.nodes}

        t0 = time.perf_counter()
        on_nodes(test.nodes, lambda n: rpc(hosts[n], db.port, {"type": "flood", "n": a.messages}))
        total = a.messages * len(test.nodes)
        while True:
            got = sum(rpc(h, db.port, {"type": "count"})["count"] for h in hosts.values())
            if got >= total or time.perf_counter() - t0 > 120:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        rtts = rpc(hosts["n1"], db.port, {"type": "pingpong", "to": "n2", "n": a.pings})["rtts_us"]
        hops = [x / 2 for x in rtts]
        raw = raw_rtt(test, "n1", "n2", a.pings)
        raw_hops = [x / 2 for x in raw]
        print(f"throughput: {got} of {total} messages between {len(test.nodes)} nodes in "
              f"{elapsed:.2f} s = {got / elapsed:,.0f} messages/s")
        print(f"one hop, program to program via routers: p50 {pct(hops, 0.5):.0f} us, "
              f"p99 {pct(hops, 0.99):.0f} us, mean {statistics.mean(hops):.0f} us ({len(hops)} pings)")
        print(f"one hop, bare TCP (no router, no JSON):    p50 {pct(raw_hops, 0.5):.0f} us, "
              f"p99 {pct(raw_hops, 0.99):.0f} us")
        print(f"router's added latency per hop (difference of p50s): "
              f"{pct(hops, 0.5) - pct(raw_hops, 0.5):.0f} us")
        on_nodes(test.nodes, lambda n: db.teardown(test, n), raise_errors=False)
        remote.close()
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
