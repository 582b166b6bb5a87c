"""``--db redis --db-opt existing=true`` on lab nodes: a Redis primary with two replicas and
three sentinels, started outside jepsy (own paths, ports 16379/26380, master name
``stage``), tested under kills; afterwards every server runs, a key written before is
intact, this run's keys are gone (``cleanup=true``) and jepsy created no layout of its own.
Slow (about a minute): run with ``pytest -m slow``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jepsy import inventory
from jepsy.control import SSHRemote
from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
SUBNET = "10.104.0"
NODES = ("n1", "n2", "n3")
D = "/opt/staging/redis"
PORT, SENTINEL = 16379, 26380

START = """#!/bin/sh
# The staging Redis of this node (and its sentinel), started by its own tooling.
D={d}
mkdir -p $D/log
if ! {{ [ -f $D/redis.pid ] && kill -0 "$(cat $D/redis.pid)" 2>/dev/null; }}; then
  cd $D && setsid redis-server $D/redis.conf >> $D/log/redis.log 2>&1 < /dev/null &
  echo $! > $D/redis.pid
fi
if ! {{ [ -f $D/sentinel.pid ] && kill -0 "$(cat $D/sentinel.pid)" 2>/dev/null; }}; then
  cd $D && setsid redis-server $D/sentinel.conf --sentinel >> $D/log/sentinel.log 2>&1 < /dev/null &
  echo $! > $D/sentinel.pid
fi
"""


def _ip(node: str) -> str:
    return f"{SUBNET}.1{node[1:]}"


def _redis(node: str, port: int = PORT) -> object:
    import redis

    return redis.Redis(host=_ip(node), port=port, socket_timeout=3, decode_responses=True)


@pytest.mark.slow
def test_existing_redis_with_sentinel_under_kills(tmp_path: Path) -> None:
    with lab_running("hd4", SUBNET, nodes=3, packages=["redis-server", "redis-sentinel"]) as lab, \
            SSHRemote(inventory.from_file(lab.inventory_path)) as r:
        for n in NODES:
            conf = [f"bind {_ip(n)} 127.0.0.1", f"port {PORT}", "protected-mode no", f"dir {D}",
                    "appendonly yes", f"replica-announce-ip {_ip(n)}"]
            if n != "n1":
                conf.append(f"replicaof {_ip('n1')} {PORT}")
            sentinel = [f"bind {_ip(n)} 127.0.0.1", f"port {SENTINEL}", "protected-mode no",
                        f"dir {D}", f"sentinel announce-ip {_ip(n)}",
                        f"sentinel monitor stage {_ip('n1')} {PORT} 2",
                        "sentinel down-after-milliseconds stage 2000",
                        "sentinel failover-timeout stage 10000"]
            r.execute(n, f"mkdir -p {D} && cat > {D}/start.sh && chmod 755 {D}/start.sh",
                      stdin=START.format(d=D))
            r.execute(n, f"cat > {D}/redis.conf", stdin="\n".join(conf) + "\n")
            r.execute(n, f"cat > {D}/sentinel.conf", stdin="\n".join(sentinel) + "\n")
            r.execute(n, f"{D}/start.sh")
        deadline = time.monotonic() + 30
        while True:
            try:
                _redis("n1").set("staging:precious", "42")  # type: ignore[attr-defined]
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

        data = yaml.safe_load(lab.inventory_path.read_text())
        data["all"]["vars"].update({
            "jepsy_db_pidfile": f"{D}/redis.pid", "jepsy_db_start": f"{D}/start.sh",
            "jepsy_db_client_port": PORT, "jepsy_db_sentinel_port": SENTINEL,
            "jepsy_db_master_name": "stage", "jepsy_db_logs": [f"{D}/log/*.log"]})
        inv = tmp_path / "staging.yaml"
        inv.write_text(yaml.safe_dump(data))
        store = tmp_path / "store"
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(inv), "--db", "redis", "--db-opt", "existing=true",
             "--db-opt", "cleanup=true", "--workload", "set", "--nemesis", "kill",
             "--nemesis-opt", "kill_targets=one", "--time-limit", "12", "--nemesis-interval", "3",
             "--recovery", "2", "--store", str(store)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
        # Redis replication is asynchronous: a kill of the primary may lose writes (exit 1).
        assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
        run = store / "latest"
        ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        assert any(op["f"] == "start-kill" and op["value"] for op in ops)
        assert sum(1 for op in ops if op["f"] == "add" and op["type"] == "ok") > 50
        assert (run / "nodes" / "n1" / "redis.log").exists()
        for n in NODES:
            r.execute(n, f"kill -0 $(cat {D}/redis.pid) && kill -0 $(cat {D}/sentinel.pid)")
            assert not r.execute(n, "test -e /var/lib/jepsy/redis -o -e /run/jepsy/redis.pid",
                                 check=False).ok
        primaries = [n for n in NODES
                     if _redis(n).execute_command("ROLE")[0] == "master"]  # type: ignore[attr-defined]
        assert len(primaries) == 1
        main = _redis(primaries[0])
        assert main.get("staging:precious") == "42"  # type: ignore[attr-defined]
        assert list(main.scan_iter(match="jepsy:*")) == []  # type: ignore[attr-defined]
