"""Power loss: the database dies and every write it had not fsynced is gone.

``--nemesis power`` puts the database's data directory (``HasDataDir``) on
jepsy's power-loss filesystem (``powerfs.py``: FUSE, unsynced file data kept
in memory) on every node before the database is set up (``prepare``).  Then:

* ``start-power`` (value: a target spec, ``one``, ``minority``, ``majority``,
  ``all`` ...; option ``power_targets``) kills the database on the targets
  (``Killable``) and makes their filesystems forget what was not synced and
  refuse every change until the power is back (a write the killed process
  still had in flight must not land after the loss): exactly what a machine
  that lost power keeps.  The completion names the
  nodes and what each lost (files and 4 KiB pages), and is an ``Applied``
  (``jepsy.claims``): the fault took effect on every node it names;
* ``stop-power`` lets the filesystems change again and starts the database
  on them (the power came back);
  ``heal`` does the same for any node still down.

At ``setup`` (after the database is up), every filesystem writes its pending
pages back once: what the provisioning wrote (configuration files) is treated
as long on disk, and from then on only the database's own fsyncs count.
``teardown`` (after the database was torn down) asks each filesystem to write
every pending page back, then unmounts: SIGTERM to its process, which detaches.

State on the nodes for ``jepsy heal``: ``power.mounts`` in the state directory
lists ``PID DIR PIDFILE`` of every filesystem jepsy mounted (``PIDFILE``: the
database's, whose start record starts it again; ``-`` for a module without
one); ``power.down`` (that pidfile's path) marks a node whose database a power
loss left stopped.  The heal script leaves a node as a finished run's teardown
would, with the database running: it stops whatever runs on the filesystem
(which could not outlive the unmount), writes every pending page back,
unmounts (SIGTERM, then ``umount -l`` if the process is gone), and starts the
database again from its start record, on the plain directory
(``jepsy.nemeses.nodestate``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jepsy.claims import Applied
from jepsy.control import on_nodes
from jepsy.dbs.pidfile import Pidfile
from jepsy.errors import ConfigError, RemoteError
from jepsy.options import Option, declare, names
from jepsy.protocols import HasDataDir, HasPrimaries, Killable, NemesisPackage, Test

from .family import Family, chooser, package
from .nodestate import POWER_FS_TYPE, POWER_PROGRAM, POWER_RUN_DIR, STATE_DIR, heal_script, parse_healed
from .targets import TARGETS, parse_list, pick

__all__ = ["FS_TYPE", "PowerNemesis", "family", "nemesis"]

REMOTE_DIR = str(Path(POWER_PROGRAM).parent)
RUN_DIR = POWER_RUN_DIR
LOG_FILE = "/var/log/jepsy/powerfs.log"
FS_TYPE = POWER_FS_TYPE
DEFAULT_TARGETS = ("one", "minority", "all")


def _socket(data_dir: str) -> str:
    return f"{RUN_DIR}/{data_dir.strip('/').replace('/', '_')}.sock"


def _mounted(data_dir: str) -> str:
    return f"grep -q ' {data_dir} {FS_TYPE} ' /proc/mounts"


class PowerNemesis:
    """``start-power`` kills and drops unsynced data; ``stop-power`` restarts. Completion: what was lost."""

    fs = frozenset({"start-power", "stop-power"})

    def __init__(self, db: Any, targets: list[str]) -> None:
        if not isinstance(db, Killable) or not isinstance(db, HasDataDir):
            raise ConfigError("the power nemesis needs a database that can be killed and started "
                              "and names its data directory (Killable, HasDataDir)")
        self.db: Any = db
        self.data_dir = str(db.data_dir)
        self.targets = targets
        self.down: set[str] = set()
        # What ``jepsy heal`` restarts the database from: its pidfile (and that file's start
        # record), or ``-`` for a module without one.
        pidfile = getattr(db, "pidfile", None)
        self.pidfile = pidfile.path if isinstance(pidfile, Pidfile) else "-"

    # -- the filesystem ------------------------------------------------------
    def _ctl(self, test: Test, node: str, request: str) -> dict[str, Any]:
        got = test.remote.execute(node, f"python3 {REMOTE_DIR}/powerfs.py ctl "
                                        f"{_socket(self.data_dir)} {request}", sudo=True, check=False)
        try:
            answer: dict[str, Any] = json.loads(got.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = {"error": got.describe()}
        if "error" in answer:
            raise RemoteError(f"{node}: power-loss filesystem at {self.data_dir}: {answer['error']}")
        return answer

    def mount(self, test: Test, node: str) -> None:
        """Upload the filesystem, mount it over the data directory, wait until it is there."""
        import mfusepy

        r, d = test.remote, self.data_dir
        if not r.execute(node, "ls /usr/lib/*/libfuse3.so.3 >/dev/null 2>&1 && [ -e /dev/fuse ]",
                         check=False).ok:
            raise RemoteError(f"{node}: the power nemesis needs FUSE 3 (apt-get install fuse3; "
                               "/dev/fuse must exist)")
        r.execute(node, f"mkdir -p {REMOTE_DIR} {RUN_DIR} {STATE_DIR} /var/log/jepsy", sudo=True)
        for src in (Path(__file__).with_name("powerfs.py"), Path(mfusepy.__file__)):
            # Through SFTP as the SSH user, then into place as root (stdin is not for 80 KB).
            tmp = f"/tmp/jepsy-{src.name}"
            r.upload(node, str(src), tmp)
            r.execute(node, f"install -m 644 {tmp} {REMOTE_DIR}/{src.name} && rm -f {tmp}", sudo=True)
        r.execute(node, heal_script(["power"]), sudo=True)  # a filesystem a dead run left
        r.execute(node, f"mkdir -p {shlex.quote(d)}", sudo=True)
        start = (f"cd / && {{ PYTHONPATH={REMOTE_DIR} setsid python3 "
                 f"{REMOTE_DIR}/powerfs.py mount {shlex.quote(d)} --socket {_socket(d)} "
                 f">> {LOG_FILE} 2>&1 < /dev/null & }} && "
                 f"echo \"$! {d} {self.pidfile}\" >> {STATE_DIR}/power.mounts")
        r.execute(node, start, sudo=True)
        waited = r.execute(node, f"for i in $(seq 100); do {_mounted(d)} && exit 0; sleep 0.1; done; "
                                 f"tail -n 5 {LOG_FILE}; exit 1", sudo=True, check=False)
        if not waited.ok:
            raise RemoteError(f"{node}: the power-loss filesystem did not mount over {d}: "
                               f"{waited.stdout.strip()[-300:]}")

    # -- Nemesis / PreparesNodes -------------------------------------------
    def prepare(self, test: Test) -> None:
        on_nodes(test.nodes, lambda n: self.mount(test, n))

    def setup(self, test: Test) -> None:
        """What the provisioning wrote is on disk before the first fault."""
        on_nodes(test.nodes, lambda n: self._ctl(test, n, "sync"))

    def invoke(self, test: Test, op: Mapping[str, Any]) -> Any:
        if op["f"] == "start-power":
            spec = op.get("value") or test.rng.choice(self.targets)
            nodes = pick(spec, test.nodes, test.rng, test, self.db)

            mark = "$(date +%s)" if self.pidfile == "-" else self.pidfile

            def cut(node: str) -> dict[str, int]:
                test.remote.execute(node, f"mkdir -p {STATE_DIR} && echo {mark} > {STATE_DIR}/power.down",
                                    sudo=True)
                self.down.add(node)
                self.db.kill(test, node)
                lost: dict[str, int] = self._ctl(test, node, "drop")["dropped"]
                return lost

            lost = on_nodes(nodes, cut)
            # The power is off wherever the filesystem dropped (it raises otherwise); a target
            # spec that names nobody (no primaries known) is a fault that took effect nowhere.
            return Applied(lost, sorted(lost))
        if op["f"] == "stop-power":
            return self.restore(test)
        raise ConfigError(f"power nemesis cannot do {op['f']!r}")

    def restore(self, test: Test) -> list[str]:
        nodes = [n for n in test.nodes if n in self.down]

        def start_one(node: str) -> None:
            self._ctl(test, node, "restore")
            self.db.start(test, node)
            test.remote.execute(node, f"rm -f {STATE_DIR}/power.down", sudo=True)
            self.down.discard(node)

        on_nodes(nodes, start_one)
        return nodes

    def heal(self, test: Test) -> None:
        """The power comes back everywhere (the filesystem stays: the final reads need the data)."""
        self.restore(test)

    def teardown(self, test: Test) -> None:
        """Unmount (after the database was torn down): pending pages are written back first.

        The heal script does the unmount; with ``--leave-db-running`` it stops the
        database that still runs on the filesystem and starts it again on the plain
        directory.  A database a power loss left down stays down: it was torn down.
        """
        def unmount(node: str) -> None:
            try:
                self._ctl(test, node, "sync")
            except RemoteError as e:  # not mounted (a failed prepare), or already gone
                test.log.info("power: no write-back before unmounting on %s: %s", node, e)
            got = test.remote.execute(node, f"rm -f {STATE_DIR}/power.down; " + heal_script(["power"]),
                                      sudo=True)
            for line in parse_healed(got.stdout):
                test.log.info("power teardown on %s: %s", node, line.removeprefix("healed power: "))

        on_nodes(test.nodes, unmount, raise_errors=False)


def family(opts: Mapping[str, Any]) -> Family:
    db = opts.get("database")
    default = [*DEFAULT_TARGETS, *(["primaries"] if isinstance(db, HasPrimaries) else [])]
    targets = parse_list(opts.get("power_targets"), default)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown power_targets {unknown[0]!r}; known: {', '.join(TARGETS)}")
    return Family("power", PowerNemesis(db, targets), chooser("start-power", targets),
                  {"f": "stop-power"})


@declare(Option("power_targets", None, "targets of a power loss: one, minority, majority, random, "
                                       "primaries, all (comma-separated; default one,minority,all)",
                 parse=names))
def nemesis(opts: Mapping[str, Any]) -> NemesisPackage:
    """``--nemesis power``: a power loss, then power back, every ``nemesis_interval`` seconds."""
    return package(family(opts), float(opts.get("nemesis_interval", 5.0)))
