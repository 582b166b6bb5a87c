"""Linearizability checking: a history against a sequential model, key by key.

``linearizable(model, ...)`` returns the checker; ``check_history(history,
model, ...)`` is the one-call form; ``linearizable_checker`` is the registry's
factory (``jepsy check --model M``).  The models' catalogue (``Model``, ``Call``,
``CRASHED`` and the built-in factories) is re-exported here.  The modules, one
concept each, in the order a check goes through them:

``models`` (the sequential specifications), ``prepare`` (Jepsen's semantics:
calls from a history), ``engine`` (what the scheduler and the engines agree
on: budgets, outcomes, the ``Engine`` value), ``search`` (the search of one
partition in Python) and ``native`` (the same search in C, ``_linear.c``),
``schedule`` (partitions, horizons, portfolios, the racing process), ``explain``
(words and data for a violation), ``checker`` (the pipeline and the result),
and ``fused``: the same check in one compiled call for the built-in registers
and the mutex, which most small histories take (same results, less fixed cost).
"""

from __future__ import annotations

from jepsy.checkers.linear.checker import (
    DEFAULT_MAX_CONFIGS,
    ENGINES,
    Linearizable,
    check_history,
    linearizable,
    linearizable_checker,
    resolve_engine,
)
from jepsy.checkers.linear.models import (
    CRASHED,
    MODELS,
    Call,
    Model,
    cas_register,
    fifo_queue,
    independent,
    kv,
    multi_register,
    mutex,
    register,
    set_model,
    unordered_queue,
)

__all__ = [
    "CRASHED",
    "DEFAULT_MAX_CONFIGS",
    "ENGINES",
    "MODELS",
    "Call",
    "Linearizable",
    "Model",
    "cas_register",
    "check_history",
    "fifo_queue",
    "independent",
    "kv",
    "linearizable",
    "linearizable_checker",
    "multi_register",
    "mutex",
    "register",
    "resolve_engine",
    "set_model",
    "unordered_queue",
]
