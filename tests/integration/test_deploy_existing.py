"""``--db-opt existing=true`` on lab nodes: an etcd cluster started outside jepsy (its own
paths, PID file, start script and a client port that is not the default) is tested under
kill and partition, and found as it was: running, its data intact, nothing of jepsy's
own database layout created, and what the run wrote removed (``cleanup=true``).

Slow (run with ``pytest -m slow``): ``jepsy doctor --db etcd --db-opt existing=true``,
and the bad inputs of an existing deployment, each one line and exit 254: a PID file
that is missing, ``existing=true`` with ``binary=``, a start command that fails (its
stderr quoted).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jepsy import inventory
from jepsy.control import SSHRemote
from jepsy.dbs import wait_for
from jepsy.lab import Lab
from tests.integration.conftest import lab_running

JEPSY = [sys.executable, "-c", "from jepsy.cli import main; main()"]
SUBNET = "10.102.0"
NODES = ("n1", "n2", "n3")
STAGING = "/opt/staging/etcd"
CLIENT, PEER = 12379, 12380

START = """#!/bin/sh
# The staging etcd of {node}: started by its own tooling, not by jepsy.
D={d}
if [ -f $D/etcd.pid ] && kill -0 "$(cat $D/etcd.pid)" 2>/dev/null; then exit 0; fi
mkdir -p $D/data $D/log
cd /
setsid etcd --name {node} --data-dir $D/data \\
  --listen-peer-urls http://{ip}:{peer} --initial-advertise-peer-urls http://{ip}:{peer} \\
  --listen-client-urls http://{ip}:{client},http://127.0.0.1:{client} \\
  --advertise-client-urls http://{ip}:{client} --initial-cluster {cluster} \\
  --initial-cluster-state new --initial-cluster-token staging \\
  >> $D/log/etcd.log 2>&1 < /dev/null &
echo $! > $D/etcd.pid
"""
BROKEN = "#!/bin/sh\necho 'staging-etcd.service: unit not found' >&2\nexit 5\n"


def _ip(node: str) -> str:
    return f"{SUBNET}.1{node[1:]}"


def _kv(node: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection(_ip(node), CLIENT, timeout=5)
    try:
        conn.request("POST", path, json.dumps(body))
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _get(node: str, key: str) -> str | None:
    kvs = _kv(node, "/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def _count(node: str, prefix: str) -> int:
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    got = _kv(node, "/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end), "count_only": True})
    return int(got.get("count", 0))


def _inventory(lab_inv: Path, dest: Path, **overrides: Any) -> Path:
    data = yaml.safe_load(lab_inv.read_text())
    data["all"]["vars"].update({
        "jepsy_db_pidfile": f"{STAGING}/etcd.pid",
        "jepsy_db_start": f"{STAGING}/start.sh",
        "jepsy_db_stop": f"kill $(cat {STAGING}/etcd.pid)",
        "jepsy_db_client_port": CLIENT,
        "jepsy_db_logs": [f"{STAGING}/log/*.log"],
        **overrides,
    })
    dest.write_text(yaml.safe_dump(data))
    return dest


def _jepsy(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JEPSY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"})


@dataclass
class Staging:
    lab: Lab
    remote: SSHRemote
    inv: Path


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staging]:
    """The lab with its staging etcd cluster (started outside jepsy) and a key written."""
    tmp = tmp_path_factory.mktemp("staging")
    with lab_running("hd2", SUBNET, nodes=3, packages=["etcd-server"]) as lab, \
            SSHRemote(inventory.from_file(lab.inventory_path)) as r:
        cluster = ",".join(f"{n}=http://{_ip(n)}:{PEER}" for n in NODES)
        for n in NODES:
            script = START.format(node=n, d=STAGING, ip=_ip(n), peer=PEER, client=CLIENT,
                                  cluster=cluster)
            r.execute(n, f"mkdir -p {STAGING} && cat > {STAGING}/start.sh && "
                         f"chmod 755 {STAGING}/start.sh && cat > {STAGING}/broken.sh <<'EOF'\n"
                         f"{BROKEN}EOF\nchmod 755 {STAGING}/broken.sh", stdin=script)
        for n in NODES:
            r.execute(n, f"{STAGING}/start.sh")
        wait_for(lambda: _kv("n1", "/v3/kv/put", {"key": _b64("staging/precious"),
                                                  "value": _b64("42")})["header"], 60, "staging etcd")
        yield Staging(lab, r, _inventory(lab.inventory_path, tmp / "staging.yaml"))


def one_line_254(p: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 254, the error (the last line of stderr, after the live view's) names ``words``."""
    err = p.stderr.strip()
    assert p.returncode == 254, p.stdout[-1500:] + p.stderr[-1500:]
    assert "Traceback" not in err
    assert all(w in err.splitlines()[-1] for w in words), p.stdout[-1500:] + err


def test_existing_etcd_under_kill_and_partition(staging: Staging, tmp_path: Path) -> None:
    r, inv = staging.remote, staging.inv
    pids_before = {n: r.execute(n, f"cat {STAGING}/etcd.pid").stdout.strip() for n in NODES}
    store = tmp_path / "store"
    proc = _jepsy("test", "--inventory", str(inv), "--db", "etcd", "--db-opt", "existing=true",
                  "--db-opt", "cleanup=true", "--workload", "register",
                  "--nemesis", "kill,partition", "--time-limit", "8",
                  "--nemesis-interval", "2", "--recovery", "1", "--seed", "3",
                  "--store", str(store))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = store / "latest"
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    killed = [op["value"] for op in ops if op["f"] == "start-kill" and op["value"]]
    assert killed, "the kill nemesis killed nothing"
    info = json.loads((run / "test.json").read_text())
    assert set(info["db_version"]) == set(NODES)
    assert all("3.4" in v for v in info["db_version"].values()), info["db_version"]
    assert (run / "nodes" / "n1" / "etcd.log").stat().st_size > 0

    # As jepsy found it: every member runs (killed ones restarted, with new PIDs) ...
    for n in NODES:
        r.execute(n, f"kill -0 $(cat {STAGING}/etcd.pid)")
        state = r.execute(n, f"ps -o stat= -p $(cat {STAGING}/etcd.pid)").stdout.strip()
        assert not state.startswith("T"), f"{n}: etcd left stopped ({state})"
    pids_after = {n: r.execute(n, f"cat {STAGING}/etcd.pid").stdout.strip() for n in NODES}
    assert pids_after != pids_before
    # ... its data is intact, what the run wrote is gone (cleanup=true) ...
    for n in NODES:
        assert _get(n, "staging/precious") == "42"
    assert _count("n1", "jepsy/") == 0
    # ... and nothing of jepsy's own etcd layout was created.
    for n in NODES:
        for path in ("/var/lib/jepsy/etcd", "/var/log/jepsy/etcd.log", "/run/jepsy/etcd.pid",
                     "/opt/jepsy/etcd"):
            assert not r.execute(n, f"test -e {path}", check=False).ok, f"{n}: {path} exists"



@pytest.mark.slow
def test_existing_etcd_doctor_and_bad_input(staging: Staging, tmp_path: Path) -> None:
    """``jepsy doctor --db etcd --db-opt existing=true``, and bad input: one line, exit 254."""
    inv, store = staging.inv, tmp_path / "store"
    doc = _jepsy("doctor", "--inventory", str(inv), "--db", "etcd", "--db-opt", "existing=true")
    assert doc.returncode == 0, doc.stdout[-2000:] + doc.stderr[-1000:]
    missing = _inventory(staging.lab.inventory_path, tmp_path / "missing.yaml",
                         jepsy_db_pidfile=f"{STAGING}/nope.pid")
    base = ["--db", "etcd", "--db-opt", "existing=true", "--workload", "register",
            "--time-limit", "3", "--store", str(store)]
    one_line_254(_jepsy("test", "--inventory", str(missing), *base, "--nemesis", "kill"),
                 "jepsy_db_pidfile", "nope.pid")
    doc = _jepsy("doctor", "--inventory", str(missing), "--db", "etcd", "--db-opt", "existing=true")
    said = " ".join(doc.stdout.split())  # the table may wrap lines
    assert doc.returncode == 254 and "nope.pid: missing or unreadable" in said, doc.stdout
    one_line_254(_jepsy("test", "--inventory", str(inv), *base, "--db-opt", "binary=/usr/bin/etcd"),
                 "existing=true", "binary=")


@pytest.mark.slow
def test_existing_etcd_start_command_that_fails(staging: Staging, tmp_path: Path) -> None:
    """A kill whose start command fails: the heal cannot end the fault, so the run is
    ``unknown`` (exit 2) and names the node and the command, quoting its stderr."""
    broken = _inventory(staging.lab.inventory_path, tmp_path / "broken.yaml",
                        jepsy_db_start=f"{STAGING}/broken.sh")
    try:
        got = _jepsy("test", "--inventory", str(broken), "--db", "etcd", "--db-opt", "existing=true",
                     "--workload", "register", "--nemesis", "kill", "--nemesis-opt",
                     "kill_targets=one", "--time-limit", "4", "--nemesis-interval", "1",
                     "--store", str(tmp_path / "store"))
        assert got.returncode == 2, got.stdout[-2000:] + got.stderr[-2000:]
        said = " ".join((got.stdout + got.stderr).split())  # the summary may wrap lines
        assert "NOT HEALED on n" in said and "kill: n" in said, said[-2000:]
        assert "jepsy_db_start `/opt/staging/etcd/broken.sh` failed (exit 5): " \
               "staging-etcd.service: unit not found" in said, said[-2000:]
    finally:
        # jepsy could not restart it: the staging tooling does.
        for n in NODES:
            staging.remote.execute(n, f"{STAGING}/start.sh")
