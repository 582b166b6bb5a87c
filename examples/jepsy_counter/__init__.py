"""The smallest real extension of jepsy: a database, a workload, a nemesis and a checker.

Each module is one role, written against jepsy's public protocols only, and
the four run together (``tests/unit/test_examples.py`` runs them through
``jepsy.run.run_test`` and type-checks them with the rest of jepsy):

* ``db``: ``CounterDB``, a counter behind a lock, in this process (a real
  database module installs and starts a program on each node: see
  ``jepsy/dbs/redis.py``);
* ``workload``: ``increments``, adds of 1 and reads of the counter;
* ``nemesis``: ``cold-cache``, which drops a random node's page cache;
* ``checker``: ``monotonic-reads``, a read never returns less than a read that
  completed before it was invoked.

Installed as a distribution, they register under jepsy's entry-point groups::

    [project.entry-points."jepsy.dbs"]
    counter = "jepsy_counter.db:counter_db"
    [project.entry-points."jepsy.workloads"]
    increments = "jepsy_counter.workload:workload"
    [project.entry-points."jepsy.nemeses"]
    cold-cache = "jepsy_counter.nemesis:nemesis"
    [project.entry-points."jepsy.checkers"]
    monotonic-reads = "jepsy_counter.checker:monotonic_reads"

and ``jepsy test --db counter --workload increments --nemesis cold-cache``
finds them by name.
"""
