"""Names users type (``--db etcd``, ``--checker list-append``) mapped to code, loaded lazily.

Built-ins are ``"module:attr"`` strings imported on first use, so ``jepsy --help``
never imports paramiko or a checker.  This table is the only place where our own
modules are named by string, and only because a name typed on the command line
must reach its code without importing the other sixty: jepsy's code imports
jepsy's modules with ``import`` (workloads name their checkers that way), and a
name in this table is what a user types (``--db``, ``--workload``, ``--nemesis``,
``--checker``, ``--model``), the same strings third-party entry points give.

Third parties add their own through entry points in the groups ``jepsy.dbs``,
``jepsy.workloads``, ``jepsy.nemeses``, ``jepsy.checkers`` and ``jepsy.models``;
a built-in name wins over a plugin.

Contracts of what each group's attribute is:

* ``dbs``: a factory ``(opts: dict) -> DB`` (see ``jepsy.protocols``).
* ``workloads``: a factory ``(opts: dict) -> Workload``.
* ``nemeses``: a factory ``(opts: dict) -> NemesisPackage``.
* ``checkers``: a factory ``(**opts) -> Checker`` used by ``jepsy check --checker``.
* ``models``: a factory ``(init=...) -> Model`` used by ``jepsy check --model``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from jepsy.errors import ConfigError

GROUPS = ("dbs", "workloads", "nemeses", "checkers", "models")
_KIND = {"dbs": "database", "workloads": "workload", "nemeses": "nemesis",
         "checkers": "checker", "models": "model"}

BUILTINS: dict[str, dict[str, str]] = {
    "dbs": {
        "etcd": "jepsy.dbs.etcd:etcd_db",
        "postgres": "jepsy.dbs.postgres:postgres_db",
        "process": "jepsy.dbs.process:process_db",
        "redis": "jepsy.dbs.redis:redis_db",
        "postgres-replicated": "jepsy.dbs.postgres_replicated:postgres_replicated_db",
        "zookeeper": "jepsy.dbs.zookeeper:zookeeper_db",
        "galera": "jepsy.dbs.galera:galera_db",
        "rabbitmq": "jepsy.dbs.rabbitmq:rabbitmq_db",
        "nats": "jepsy.dbs.nats:nats_db",
        "maelstrom": "jepsy.dbs.maelstrom:maelstrom_db",
        "memory": "jepsy.doubles:memory_db",
        "broken-memory": "jepsy.doubles:broken_memory_db",
    },
    "workloads": {
        "register": "jepsy.workloads.register:workload",
        "list-append": "jepsy.workloads.list_append:workload",
        "rw-register": "jepsy.workloads.rw_register:workload",
        "set": "jepsy.workloads.set:workload",
        "counter": "jepsy.workloads.counter:workload",
        "bank": "jepsy.workloads.bank:workload",
        "queue": "jepsy.workloads.queue:workload",
        "stream": "jepsy.workloads.stream:workload",
        "unique-ids": "jepsy.workloads.unique_ids:workload",
        # Maelstrom's workloads by Maelstrom's names (workloads/maelstrom.py)
        "echo": "jepsy.workloads.maelstrom:echo",
        "broadcast": "jepsy.workloads.maelstrom:broadcast",
        "g-set": "jepsy.workloads.maelstrom:g_set",
        "g-counter": "jepsy.workloads.maelstrom:g_counter",
        "pn-counter": "jepsy.workloads.maelstrom:pn_counter",
        "lin-kv": "jepsy.workloads.maelstrom:lin_kv",
        "txn-list-append": "jepsy.workloads.maelstrom:txn_list_append",
        "txn-rw-register": "jepsy.workloads.maelstrom:txn_rw_register",
        "kafka": "jepsy.workloads.maelstrom:kafka",
    },
    "nemeses": {
        "none": "jepsy.nemeses.none:no_nemesis",
        "partition": "jepsy.nemeses.partition:nemesis",
        "packet": "jepsy.nemeses.packet:nemesis",
        "clock": "jepsy.nemeses.clock:nemesis",
        "kill": "jepsy.nemeses.process:kill",
        "pause": "jepsy.nemeses.process:pause",
        "power": "jepsy.nemeses.power:nemesis",
    },
    "checkers": {
        "linearizable": "jepsy.checkers.linear:linearizable_checker",
        "list-append": "jepsy.checkers.elle:list_append",
        "rw-register": "jepsy.checkers.elle:rw_register",
        "set": "jepsy.checkers.sets:set_checker",
        "set-full": "jepsy.checkers.sets:set_full",
        "counter": "jepsy.checkers.counter:counter",
        "bank": "jepsy.checkers.bank:bank",
        "queue": "jepsy.checkers.queues:queue",
        "total-queue": "jepsy.checkers.queues:total_queue",
        "stream": "jepsy.checkers.streams:stream",
        "unique-ids": "jepsy.checkers.unique_ids:unique_ids",
        "long-fork": "jepsy.checkers.long_fork:long_fork",
        "availability": "jepsy.checkers.availability:availability",
        "kafka": "jepsy.checkers.kafka:kafka",
        "eventual-counter": "jepsy.checkers.eventual_counter:eventual_counter",
    },
    "models": {
        "register": "jepsy.checkers.linear.models:register",
        "cas-register": "jepsy.checkers.linear.models:cas_register",
        "multi-register": "jepsy.checkers.linear.models:multi_register",
        "mutex": "jepsy.checkers.linear.models:mutex",
        "set": "jepsy.checkers.linear.models:set_model",
        "fifo-queue": "jepsy.checkers.linear.models:fifo_queue",
        "unordered-queue": "jepsy.checkers.linear.models:unordered_queue",
        "kv": "jepsy.checkers.linear.models:kv",
    },
}


def _plugins(group: str) -> dict[str, str]:
    # Imported here: reading the installed packages' metadata costs more than the rest of
    # start-up, and a built-in name never needs it.
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=f"jepsy.{group}")}


def names(group: str) -> list[str]:
    """Every name available in ``group``, built-in and plugin, sorted."""
    return sorted({**_plugins(group), **BUILTINS[group]})


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``; ``ConfigError`` if unknown."""
    target = BUILTINS[group].get(name) or _plugins(group).get(name)
    if target is None:
        raise ConfigError(f"unknown {_KIND[group]} {name!r}; known: {', '.join(names(group)) or 'none'}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def builtin_module(group: str, name: str) -> ModuleType | None:
    """The module of built-in ``name`` in ``group`` (for what else it defines beside the
    registered factory, e.g. a nemesis's ``Family``); None for plugins and unknown names."""
    target = BUILTINS[group].get(name)
    return None if target is None else importlib.import_module(target.partition(":")[0])
