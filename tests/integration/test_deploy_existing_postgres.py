"""``--db postgres --db-opt existing=true`` on a lab node: a PostgreSQL server initialised
and started outside jepsy (own data directory, port 15432, a password user) is tested
under kill and pause; afterwards it runs, a table written before is intact, the run's
schema is gone (``cleanup=true``) and jepsy created no layout of its own.
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
SUBNET = "10.105.0"
D = "/opt/staging/pg"
BIN = "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PASSWORD = "staging-secret"

START = f"""#!/bin/sh
# The staging PostgreSQL of this node, started by its own tooling.
if [ -f {D}/data/postmaster.pid ] && kill -0 "$(head -n 1 {D}/data/postmaster.pid)" 2>/dev/null; then
  exit 0
fi
rm -f {D}/data/postmaster.pid
cd / && su postgres -s /bin/sh -c "setsid {BIN}/postgres -D {D}/data -c port=15432 \\
  -c listen_addresses='*' -c unix_socket_directories={D} >> {D}/log/pg.log 2>&1 < /dev/null &"
"""


@pytest.mark.slow
def test_existing_postgres_under_kill_and_pause(tmp_path: Path) -> None:
    with lab_running("hd5", SUBNET, nodes=1, packages=["postgresql"]) as lab, \
            SSHRemote(inventory.from_file(lab.inventory_path)) as r:
        r.execute("n1", f"mkdir -p {D}/data {D}/log && chown -R postgres {D} && "
                        f"echo {PASSWORD} > {D}/pw && chown postgres {D}/pw && "
                        f"su postgres -s /bin/sh -c '{BIN}/initdb -D {D}/data -U app --pwfile={D}/pw "
                        f"--auth-host=scram-sha-256 --auth-local=trust' > /dev/null && "
                        f"echo 'host all all 0.0.0.0/0 scram-sha-256' >> {D}/data/pg_hba.conf && "
                        f"cat > {D}/start.sh && chmod 755 {D}/start.sh && {D}/start.sh",
                  stdin=START, timeout=120)
        import pg8000.native

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = pg8000.native.Connection("app", host=f"{SUBNET}.11", port=15432,
                                                database="postgres", password=PASSWORD)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        conn.run("CREATE TABLE precious (k int PRIMARY KEY, v text)")
        conn.run("INSERT INTO precious VALUES (1, 'keep me')")
        conn.close()

        data = yaml.safe_load(lab.inventory_path.read_text())
        data["all"]["vars"].update({
            "jepsy_db_pidfile": f"{D}/data/postmaster.pid", "jepsy_db_start": f"{D}/start.sh",
            "jepsy_db_client_port": 15432, "jepsy_db_user": "app",
            "jepsy_db_password_env": "STAGING_PG_PASSWORD", "jepsy_db_logs": [f"{D}/log/*.log"]})
        inv = tmp_path / "staging.yaml"
        inv.write_text(yaml.safe_dump(data))
        store = tmp_path / "store"
        proc = subprocess.run(
            [*JEPSY, "test", "--inventory", str(inv), "--db", "postgres", "--db-opt", "existing=true",
             "--db-opt", "cleanup=true", "--workload", "list-append", "--nemesis", "kill,pause",
             "--time-limit", "12", "--nemesis-interval", "3", "--recovery", "2", "--store", str(store)],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "NO_COLOR": "1", "STAGING_PG_PASSWORD": PASSWORD})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        run = store / "latest"
        ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        assert any(op["f"] == "start-kill" and op["value"] for op in ops)
        assert any(op["f"] == "txn" and op["type"] == "ok" for op in ops)
        info = json.loads((run / "test.json").read_text())
        assert "existing deployment" in info["db_version"]["n1"]
        r.execute("n1", f"kill -0 $(head -n 1 {D}/data/postmaster.pid)")
        assert not r.execute("n1", "test -e /var/lib/jepsy/pg", check=False).ok
        conn = pg8000.native.Connection("app", host=f"{SUBNET}.11", port=15432, database="postgres",
                                        password=PASSWORD)
        try:
            assert conn.run("SELECT v FROM precious WHERE k = 1") == [["keep me"]]
            assert conn.run("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'jepsy%'") == []
        finally:
            conn.close()
