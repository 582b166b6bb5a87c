"""Nemeses, one module per fault family. Installed as ``jepsy.nemeses``.

* ``none``: no faults (a control run);
* ``partition``: iptables partitions of many shapes, in jepsy's own chain;
* ``packet``: tc netem delay, loss, duplication, reordering, corruption, rate;
* ``clock``: bump, strobe, scramble, reset (libfaketime in the lab, the real
  clock elsewhere), with offsets measured on every node;
* ``process``: kill and pause, through the database's own powers;
* ``combined``: several families in one seeded random schedule (``combine``);
* ``nodestate``: the fault state left on nodes and the one heal script that
  ends every fault from it (used by ``jepsy heal``);
* ``targets``, ``family``: shared target selection and the family record.

The registry names (``--nemesis partition,packet,clock,kill,pause``) map to
each module's ``nemesis(opts) -> NemesisPackage`` factory.
"""
